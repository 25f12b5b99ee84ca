"""The typed pieces of a logical migration's plan, each with a stable XCom form (plain JSON).

Tasks share only XCom, so what one task decides travels as JSON; these classes parse it once, at the
task's edge (`from_xcom`), and the code inside works on typed values. `to_xcom` gives the JSON back.

- QualifiedName: a schema-qualified object name (the source's or the target's side of a relation).
- DdlStatement: one post-data statement with what it creates (kind, table, name), found by pglast
  once (pg.ddl.describe_statement, when the lanes are planned); later steps read these fields instead
  of parsing the SQL again.
- Column, Relation, Sequence, SchemaMove, Plan: what the precheck decided moves, under which names.
- Unit: one piece of work for a copy lane (a whole table, a key range of one, or a block range of one).
- Lane: the units one mapped copy task works through, biggest first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from psycopg import sql

from include.pgferry.pg.names import display, dump_ident


@dataclass(frozen=True, order=True)
class QualifiedName:
    schema: str
    name: str

    def __str__(self) -> str:
        return display(self.schema, self.name)

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def to_xcom(self) -> list[str]:
        return [self.schema, self.name]

    @classmethod
    def from_xcom(cls, value) -> QualifiedName:
        schema, name = value
        return cls(schema, name)

    @classmethod
    def source_of(cls, obj: dict) -> QualifiedName:
        """Where a plan relation or sequence lives on the source."""
        return cls(obj["schema"], obj["name"])

    @classmethod
    def target_of(cls, obj: dict) -> QualifiedName:
        """Where a plan relation or sequence (or a unit) goes on the target, after renames."""
        return cls(obj["target_schema"], obj["target_name"])


DATA_RELKINDS = ("r",)           # relations with rows of their own (partitions included)


@dataclass(frozen=True)
class Column:
    name: str
    target_name: str
    type: str
    type_oid: int | None
    binary_safe: bool
    generated: str        # "s": a stored generated column (the target computes it again)
    identity: str
    extension: str = ""   # the extension whose base type the column holds (binary COPY needs its version alike)

    @property
    def copied(self) -> bool:
        return self.generated != "s"

    def to_xcom(self) -> dict:
        return {"name": self.name, "target_name": self.target_name, "type": self.type, "type_oid": self.type_oid,
                "binary_safe": self.binary_safe, "generated": self.generated, "identity": self.identity,
                "extension": self.extension}

    @classmethod
    def from_xcom(cls, d: dict) -> Column:
        return cls(d["name"], d["target_name"], d.get("type", ""), d.get("type_oid"), d.get("binary_safe", True),
                   d.get("generated", ""), d.get("identity", ""), d.get("extension", ""))


@dataclass(frozen=True)
class Relation:
    """A migrated table, partition, view, materialized view or foreign table."""
    oid: int
    source: QualifiedName
    target: QualifiedName
    relkind: str
    bytes: int = 0
    is_partition: bool = False
    parent_oid: int | None = None
    est_rows: int = 0
    owner: str | None = None
    populated: bool = True
    columns: tuple[Column, ...] = ()
    dropped_columns: tuple[str, ...] = ()   # left out by a column list
    # an extension's configuration table: the rows pg_dump dumps ('' all, else a WHERE clause from
    # pg_extension.extcondition); None for every other relation
    filter: str | None = None

    @property
    def has_data(self) -> bool:
        """Rows of its own: ordinary tables and partitions (partitioned parents hold none)."""
        return self.relkind in DATA_RELKINDS

    @property
    def copy_columns(self) -> tuple[Column, ...]:
        """Columns COPY moves: generated columns are computed again by the target."""
        return tuple(c for c in self.columns if c.copied)

    def to_xcom(self) -> dict:
        return {"oid": self.oid, "schema": self.source.schema, "name": self.source.name, "relkind": self.relkind,
                "is_partition": self.is_partition, "parent_oid": self.parent_oid,
                "target_schema": self.target.schema, "target_name": self.target.name, "bytes": self.bytes,
                "est_rows": self.est_rows, "owner": self.owner, "populated": self.populated,
                "columns": [c.to_xcom() for c in self.columns], "dropped_columns": list(self.dropped_columns),
                "filter": self.filter}

    @classmethod
    def from_xcom(cls, d: dict) -> Relation:
        return cls(oid=d["oid"], source=QualifiedName.source_of(d), target=QualifiedName.target_of(d),
                   relkind=d["relkind"], bytes=d.get("bytes", 0), is_partition=d.get("is_partition", False),
                   parent_oid=d.get("parent_oid"), est_rows=d.get("est_rows", 0), owner=d.get("owner"),
                   populated=d.get("populated", True),
                   columns=tuple(Column.from_xcom(c) for c in d.get("columns") or ()),
                   dropped_columns=tuple(d.get("dropped_columns") or ()), filter=d.get("filter"))


@dataclass(frozen=True)
class Sequence:
    oid: int
    source: QualifiedName
    target: QualifiedName
    owner_table_oid: int | None = None
    owner_column: str | None = None

    def to_xcom(self) -> dict:
        return {"oid": self.oid, "schema": self.source.schema, "name": self.source.name,
                "target_schema": self.target.schema, "target_name": self.target.name,
                "owner_table_oid": self.owner_table_oid, "owner_column": self.owner_column}

    @classmethod
    def from_xcom(cls, d: dict) -> Sequence:
        return cls(d["oid"], QualifiedName.source_of(d), QualifiedName.target_of(d), d.get("owner_table_oid"),
                   d.get("owner_column"))


@dataclass(frozen=True)
class SchemaMove:
    source: str
    target: str
    whole: bool      # every object of the schema moves (not only chosen tables)

    def to_xcom(self) -> dict:
        return {"source": self.source, "target": self.target, "whole": self.whole}

    @classmethod
    def from_xcom(cls, d: dict) -> SchemaMove:
        return cls(d["source"], d["target"], d["whole"])


@dataclass(frozen=True)
class Extension:
    """An extension the target must have, as the source has it: its schema (after renames) and the version
    structure creates (the source's when the target offers it; see pg/extensions.py)."""
    name: str
    schema: str              # on the target
    source_version: str
    version: str             # created on the target, or found there already
    installed: bool = False  # the target had it before the run: left as it is

    @property
    def same_version(self) -> bool:
        return self.version == self.source_version

    def to_xcom(self) -> dict:
        return {"name": self.name, "schema": self.schema, "source_version": self.source_version,
                "version": self.version, "installed": self.installed}

    @classmethod
    def from_xcom(cls, d: dict) -> Extension:
        return cls(d["name"], d["schema"], d["source_version"], d["version"], d.get("installed", False))


@dataclass(frozen=True)
class ExcludedFunction:
    oid: int
    schema: str
    name: str
    args: str

    def to_xcom(self) -> dict:
        return {"oid": self.oid, "schema": self.schema, "name": self.name, "args": self.args}

    @classmethod
    def from_xcom(cls, d: dict) -> ExcludedFunction:
        return cls(d["oid"], d["schema"], d["name"], d["args"])


# Catalog oids (fixed since PostgreSQL 7): how pg_dump's table of contents and pg_depend name a catalog
PG_CLASS, PG_PROC, PG_TYPE, PG_CONSTRAINT, PG_TRIGGER, PG_POLICY = 1259, 1255, 1247, 2606, 2620, 3256


@dataclass(frozen=True)
class LeftOutObject:
    """An index, constraint, trigger or policy of a migrated table that needs a left-out column and is not
    created. `entry` is its (catalog oid, object oid), as its pg_dump TOC entry and the source's object
    listing name it; `tag` how pg_dump names it in COMMENT entries when it may have no entry of its own
    (a check constraint written inside CREATE TABLE), with `schema`."""
    kind: str
    name: str
    table: str        # the relation it belongs to, as messages name it
    entry: tuple[int, int] | None = None
    schema: str | None = None
    tag: str = ""

    def to_xcom(self) -> dict:
        return {"kind": self.kind, "name": self.name, "table": self.table,
                "entry": list(self.entry) if self.entry else None, "schema": self.schema, "tag": self.tag}

    @classmethod
    def from_xcom(cls, d: dict) -> LeftOutObject:
        return cls(d["kind"], d["name"], d["table"], tuple(d["entry"]) if d.get("entry") else None,
                   d.get("schema"), d.get("tag", ""))


# LeftOutDependent.because of what a selection leaves out only because the chosen objects do not need it
NOT_NEEDED = "not needed by the chosen objects"


@dataclass(frozen=True)
class LeftOutDependent:
    """An object left out of the schema dump because it depends, directly or through others, on an object
    that does not migrate (a C-language function, an excluded function): skip_unmigratable. `entries` are
    the (catalog oid, object oid) of its pg_dump TOC entries (their COMMENT, ACL and SECURITY LABEL entries
    follow them); `tag` is how pg_dump names an object that has no entry of its own in the tags of its
    COMMENT entries (`CONSTRAINT note_distance ON readings`, a check written inside CREATE TABLE)."""
    type: str                 # pg_identify_object's type: "type", "operator", "table column", "trigger", ...
    identity: str             # pg_identify_object's identity
    schema: str | None
    because: str              # the object it depends on
    entries: tuple[tuple[int, int], ...] = ()
    tag: str = ""
    table: QualifiedName | None = None    # the table of a constraint (left out of its CREATE TABLE)
    name: str | None = None

    def to_xcom(self) -> dict:
        return {"type": self.type, "identity": self.identity, "schema": self.schema, "because": self.because,
                "entries": [list(e) for e in self.entries], "tag": self.tag,
                "table": self.table.to_xcom() if self.table else None, "name": self.name}

    @classmethod
    def from_xcom(cls, d: dict) -> LeftOutDependent:
        return cls(d["type"], d["identity"], d.get("schema"), d.get("because", ""),
                   tuple(tuple(e) for e in d.get("entries") or ()), d.get("tag", ""),
                   QualifiedName.from_xcom(d["table"]) if d.get("table") else None, d.get("name"))


@dataclass(frozen=True)
class Plan:
    """What moves, under which names: the precheck's decision, which every later task reads."""
    source_version_num: int = 0
    schemas: tuple[SchemaMove, ...] = ()
    relations: tuple[Relation, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    excluded_relations: tuple[QualifiedName, ...] = ()   # what pg_dump leaves out of the chosen schemas
    excluded_functions: tuple[ExcludedFunction, ...] = ()
    renamed: bool = False
    left_out_objects: tuple[LeftOutObject, ...] = ()
    whole_database: bool = False     # no objects given: database-level objects come along too
    left_out_dependents: tuple[LeftOutDependent, ...] = ()   # skip_unmigratable: what depends on them
    brought_along: tuple[str, ...] = ()   # objects of schemas not chosen that the chosen tables need
    extensions: tuple[Extension, ...] = ()   # created by structure, in this order (required ones first)
    # the configuration tables of those extensions: CREATE EXTENSION makes them, the lanes copy the rows
    # pg_dump would dump (Relation.filter)
    extension_tables: tuple[Relation, ...] = ()
    extension_sequences: tuple[Sequence, ...] = ()   # marked as configuration too: pg_dump sets their values

    @property
    def data_tables(self) -> tuple[Relation, ...]:
        """Relations whose rows are copied: the chosen tables, and the extensions' configuration tables."""
        return tuple(r for r in self.relations if r.has_data) + self.extension_tables

    @property
    def all_sequences(self) -> tuple[Sequence, ...]:
        """Sequences whose values are set: the chosen ones, and those extensions mark as configuration."""
        return self.sequences + self.extension_sequences

    @property
    def left_out_entries(self) -> frozenset[tuple[int, int]]:
        """(catalog oid, object oid) of every object of the migrated schemas and tables that is left out on
        purpose: excluded and unmigratable functions, what depends on them, what needs a left-out column.
        The one list both sides read: structure leaves these entries (and their comments, grants and
        security labels) out of pg_dump's table of contents, validate leaves them out of the source's
        object counts."""
        return frozenset({(PG_PROC, f.oid) for f in self.excluded_functions}
                         | {tuple(e) for d in self.left_out_dependents for e in d.entries}
                         | {o.entry for o in self.left_out_objects if o.entry})

    @property
    def left_out_tags(self) -> frozenset[tuple[str, str]]:
        """(schema, pg_dump tag) of COMMENT, ACL and SECURITY LABEL entries whose object has no TOC entry of its
        own to follow: left-out columns (`COLUMN readings.reading`) and check constraints written inside
        CREATE TABLE (`CONSTRAINT note_distance ON readings`)."""
        tags = {(d.schema or "-", d.tag) for d in self.left_out_dependents if d.tag}
        tags |= {(o.schema or "-", o.tag) for o in self.left_out_objects if o.tag}
        tags |= {(r.source.schema, f"COLUMN {dump_ident(r.source.name)}.{dump_ident(c)}")
                 for r in self.relations for c in r.dropped_columns}
        return frozenset(tags)

    def to_xcom(self) -> dict:
        return {"source_version_num": self.source_version_num, "schemas": [s.to_xcom() for s in self.schemas],
                "relations": [r.to_xcom() for r in self.relations], "sequences": [s.to_xcom() for s in self.sequences],
                "excluded_relations": [q.to_xcom() for q in self.excluded_relations],
                "excluded_functions": [f.to_xcom() for f in self.excluded_functions], "renamed": self.renamed,
                "left_out_objects": [o.to_xcom() for o in self.left_out_objects],
                "whole_database": self.whole_database,
                "left_out_dependents": [o.to_xcom() for o in self.left_out_dependents],
                "brought_along": list(self.brought_along),
                "extensions": [e.to_xcom() for e in self.extensions],
                "extension_tables": [r.to_xcom() for r in self.extension_tables],
                "extension_sequences": [q.to_xcom() for q in self.extension_sequences]}

    @classmethod
    def from_xcom(cls, d: dict) -> Plan:
        return cls(source_version_num=d.get("source_version_num", 0),
                   schemas=tuple(SchemaMove.from_xcom(s) for s in d.get("schemas") or ()),
                   relations=tuple(Relation.from_xcom(r) for r in d.get("relations") or ()),
                   sequences=tuple(Sequence.from_xcom(s) for s in d.get("sequences") or ()),
                   excluded_relations=tuple(QualifiedName.from_xcom(q) for q in d.get("excluded_relations") or ()),
                   excluded_functions=tuple(ExcludedFunction.from_xcom(f) for f in d.get("excluded_functions") or ()),
                   renamed=d.get("renamed", False),
                   left_out_objects=tuple(LeftOutObject.from_xcom(o) for o in d.get("left_out_objects") or ()),
                   whole_database=d.get("whole_database", False),
                   left_out_dependents=tuple(LeftOutDependent.from_xcom(o) for o in d.get("left_out_dependents") or ()),
                   brought_along=tuple(d.get("brought_along") or ()),
                   extensions=tuple(Extension.from_xcom(e) for e in d.get("extensions") or ()),
                   extension_tables=tuple(Relation.from_xcom(r) for r in d.get("extension_tables") or ()),
                   extension_sequences=tuple(Sequence.from_xcom(q) for q in d.get("extension_sequences") or ()))


# What a post-data statement creates; OTHER for everything else (partition index attachments, view
# rules, materialized views placed after their keys, comments, grants, ...), never skipped by name.
INDEX, CONSTRAINT, FOREIGN_KEY, TRIGGER, EVENT_TRIGGER, OTHER = (
    "index", "constraint", "foreign key", "trigger", "event trigger", "other")
PUBLICATION = "publication"      # CREATE PUBLICATION: created afresh on every try (its tables follow it)
TABLE_BUILDS = (INDEX, CONSTRAINT)   # built by the lane that loaded the table


@dataclass(frozen=True)
class DdlStatement:
    kind: str
    table: QualifiedName | None      # the table an index, constraint or trigger belongs to
    name: str | None                 # the object's own name (index, constraint, trigger, event trigger)
    sql: str
    references: QualifiedName | None = None          # a foreign key's referenced table
    columns: tuple[str, ...] = ()                    # a foreign key's referencing columns
    referenced_columns: tuple[str, ...] = ()         # ... and the referenced ones (empty: its primary key)
    not_valid_sql: str | None = None                 # the same ADD FOREIGN KEY, NOT VALID (None: it is already)
    dump_id: int | None = None                       # the pg_dump TOC entry it comes from ...
    depends_on: tuple[int, ...] = ()                 # ... and the entries that must exist before it (pg_dump's)

    @property
    def identity(self) -> tuple | None:
        """(kind, schema, table, name): how the target's catalog finds what the statement created."""
        if self.kind in (INDEX, CONSTRAINT, FOREIGN_KEY, TRIGGER) and self.table and self.name:
            return (self.kind, self.table.schema, self.table.name, self.name)
        return None

    def to_xcom(self) -> dict:
        return {"kind": self.kind, "table": self.table.to_xcom() if self.table else None, "name": self.name,
                "sql": self.sql, "references": self.references.to_xcom() if self.references else None,
                "columns": list(self.columns), "referenced_columns": list(self.referenced_columns),
                "not_valid_sql": self.not_valid_sql, "dump_id": self.dump_id, "depends_on": list(self.depends_on)}

    @classmethod
    def from_xcom(cls, d: dict) -> DdlStatement:
        return cls(kind=d["kind"], table=QualifiedName.from_xcom(d["table"]) if d.get("table") else None,
                   name=d.get("name"), sql=d["sql"],
                   references=QualifiedName.from_xcom(d["references"]) if d.get("references") else None,
                   columns=tuple(d.get("columns") or ()), referenced_columns=tuple(d.get("referenced_columns") or ()),
                   not_valid_sql=d.get("not_valid_sql"), dump_id=d.get("dump_id"),
                   depends_on=tuple(d.get("depends_on") or ()))


@dataclass(frozen=True)
class KeyRange:
    """Rows of a unit: `column` >= lo and < hi; an open end (None) takes everything beyond it."""
    column: str
    lo: int | None
    hi: int | None

    def to_xcom(self) -> dict:
        return {"column": self.column, "lo": self.lo, "hi": self.hi}

    @classmethod
    def from_xcom(cls, d: dict | None) -> KeyRange | None:
        return cls(d["column"], d["lo"], d["hi"]) if d else None


@dataclass(frozen=True)
class BlockRange:
    """Rows of a unit by where they lie: blocks `lo` up to (not including) `hi` of the source table's main
    fork, read as `ctid >= '(lo,0)' AND ctid < '(hi,0)'`; `hi` None: every block from `lo` on (the table's
    last range, which also takes blocks added after planning). `cut` names the whole cut of the table (its
    digest: logical/units.py, cut_digest): the target's bookkeeping of loaded ranges (logical/loaded_blocks.py)
    trusts only rows of the same cut."""
    lo: int
    hi: int | None
    cut: str

    def to_xcom(self) -> dict:
        return {"lo": self.lo, "hi": self.hi, "cut": self.cut}

    @classmethod
    def from_xcom(cls, d: dict | None) -> BlockRange | None:
        return cls(d["lo"], d["hi"], d["cut"]) if d else None


@dataclass(frozen=True)
class Unit:
    id: str                          # how logs and the UI name it: the source table, plus " [i/n]" for a range
    oid: int                         # the source table's oid
    source: QualifiedName
    target: QualifiedName
    columns: tuple[str, ...]         # copied columns on the source ...
    target_columns: tuple[str, ...]  # ... and their names on the target, in the same order
    binary: bool
    range: KeyRange | None
    bytes: int
    index_builds: tuple[DdlStatement, ...] = ()   # the table's index and constraint builds
    table_parts: int = 1             # how many units the table was cut into (over all lanes)
    filter: str | None = None        # an extension configuration table's rows: Relation.filter
    blocks: BlockRange | None = None   # a block range of a table without a single-column integer key

    @property
    def whole(self) -> bool:
        """The whole table (TRUNCATE + COPY FREEZE), not a key or block range of it."""
        return self.range is None and self.blocks is None

    @property
    def table(self) -> str:
        """The source table as the report names it."""
        return str(self.source)

    @property
    def target_range_column(self) -> str:
        return self.target_columns[self.columns.index(self.range.column)]

    def to_xcom(self) -> dict:
        return {"id": self.id, "oid": self.oid, "source": self.source.to_xcom(), "target": self.target.to_xcom(),
                "columns": list(self.columns), "target_columns": list(self.target_columns), "binary": self.binary,
                "range": self.range.to_xcom() if self.range else None, "bytes": self.bytes,
                "index_builds": [s.to_xcom() for s in self.index_builds], "table_parts": self.table_parts,
                "filter": self.filter, "blocks": self.blocks.to_xcom() if self.blocks else None}

    @classmethod
    def from_xcom(cls, d: dict) -> Unit:
        return cls(id=d["id"], oid=d["oid"], source=QualifiedName.from_xcom(d["source"]),
                   target=QualifiedName.from_xcom(d["target"]), columns=tuple(d["columns"]),
                   target_columns=tuple(d["target_columns"]), binary=d["binary"], range=KeyRange.from_xcom(d["range"]),
                   bytes=d["bytes"], index_builds=tuple(DdlStatement.from_xcom(s) for s in d.get("index_builds") or ()),
                   table_parts=d.get("table_parts", 1), filter=d.get("filter"),
                   blocks=BlockRange.from_xcom(d.get("blocks")))


@dataclass(frozen=True)
class Lane:
    """One copy lane's share of the units, as plan_lanes dealt them (largest first); its XCom form is the list of
    its units. A lane takes any unit of the run from the target's list (logical/claims.py); its share is what
    it writes to that list, and all it loads when the list is gone."""
    units: tuple[Unit, ...] = field(default_factory=tuple)

    @property
    def bytes(self) -> int:
        return sum(u.bytes for u in self.units)

    def to_xcom(self) -> list[dict]:
        return [u.to_xcom() for u in self.units]

    @classmethod
    def from_xcom(cls, units) -> Lane:
        return cls(tuple(Unit.from_xcom(u) for u in units or ()))


@dataclass(frozen=True)
class PostData:
    """The post-data statements of the steps after the lanes, by phase, with the rewrite's warnings."""
    phases: dict = field(default_factory=dict)    # phase -> (tuple[DdlStatement, ...], tuple[str, ...])

    def statements(self, phase: str) -> tuple[DdlStatement, ...]:
        return self.phases.get(phase, ((), ()))[0]

    def warnings(self, phase: str) -> tuple[str, ...]:
        return self.phases.get(phase, ((), ()))[1]

    def __bool__(self) -> bool:
        return bool(self.phases)

    def to_xcom(self) -> dict:
        return {p: {"statements": [s.to_xcom() for s in st], "warnings": list(w)}
                for p, (st, w) in self.phases.items()}

    @classmethod
    def from_xcom(cls, d: dict | None) -> PostData:
        return cls({p: (tuple(DdlStatement.from_xcom(s) for s in v["statements"]), tuple(v["warnings"]))
                    for p, v in (d or {}).items()})
