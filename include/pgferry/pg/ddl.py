"""DDL: pg_dump's schema archive cut into phases, rewritten for renames and column choice, each
statement described once (what it creates), and run on the target.

Rewriting: for renamed schemas, tables and columns and for column selection.

Statements are parsed with pglast (PostgreSQL's own parser) and only statements that change are
printed again; everything else keeps pg_dump's exact text. Names are rewritten where the grammar puts
them (RangeVar, qualified name lists, regclass literals, table-scoped column references), never by
searching the text. Column renames inside views, rules, defaults and policies are left to PostgreSQL:
the structure step creates columns under their source names and renames them in the catalog
(`ALTER TABLE ... RENAME COLUMN`), which rewrites every dependent object's stored parse tree.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
from psycopg import errors
from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType, ObjectType
from pglast.stream import RawStream

from include.pgferry.model import (CONSTRAINT, EVENT_TRIGGER, FOREIGN_KEY, INDEX, OTHER, PUBLICATION, TRIGGER,
                                   DdlStatement, Plan, QualifiedName)
from include.pgferry.pg.client_tools import ClientTools
from include.pgferry.pg.endpoint import PgEndpoint, apply_settings
from include.pgferry.pg.names import NameSyntaxError, display, quote_ident, split_qualified
from include.pgferry.pg.parallel import run_longest_first

log = logging.getLogger("pgferry")

# Fields that hold a (possibly schema-qualified) object name as a list of String nodes.
_QUALIFIED_NAME_FIELDS = {"names", "funcname", "objname", "defnames", "typeName", "domainname", "object",
                          "arg", "opclass", "name", "collname", "opfamilyname", "conversion_name"}
_REG_CASTS = {"regclass", "regtype", "regproc", "regprocedure", "regoper", "regoperator", "regnamespace"}


@dataclass
class RenameContext:
    schemas: dict = field(default_factory=dict)     # source schema -> target schema (changed only)
    tables: dict = field(default_factory=dict)      # (schema, table) -> target table name (changed only)
    columns: dict = field(default_factory=dict)     # (schema, table) -> {source column: target column}
    dropped: dict = field(default_factory=dict)     # (schema, table) -> {columns left out}
    existing_target_schemas: set = field(default_factory=set)  # target schemas pgferry must not (re)create
    dropped_constraints: dict = field(default_factory=dict)    # (schema, table) -> {constraints left out}

    @classmethod
    def from_plan(cls, plan: Plan, existing_target_schemas=()) -> "RenameContext":
        ctx = cls(existing_target_schemas=set(existing_target_schemas))
        for s in plan.schemas:
            if s.target != s.source:
                ctx.schemas[s.source] = s.target
        for r in plan.relations:
            key = (r.source.schema, r.source.name)
            if r.target.name != r.source.name:
                ctx.tables[key] = r.target.name
            cols = {c.name: c.target_name for c in r.columns if c.target_name != c.name}
            if cols:
                ctx.columns[key] = cols
            if r.dropped_columns:
                ctx.dropped[key] = set(r.dropped_columns)
        for d in plan.left_out_dependents:   # a check written inside CREATE TABLE has no TOC entry of its own
            if d.type == "table constraint" and d.table and d.name:
                ctx.dropped_constraints.setdefault((d.table.schema, d.table.name), set()).add(d.name)
        return ctx

    @property
    def empty(self) -> bool:
        return not (self.schemas or self.tables or self.columns or self.dropped or self.existing_target_schemas
                    or self.dropped_constraints)

    def schema(self, s):
        return self.schemas.get(s, s)

    def relation(self, schema, name):
        return self.schema(schema), self.tables.get((schema, name), name)


@dataclass
class Rewritten:
    statements: list[str]
    warnings: list[str]
    nodes: list = field(default_factory=list)   # each statement's parse tree, for describe_statement
    dump_ids: list = field(default_factory=list)   # each statement's TOC entry (split_entries)

    def described(self, entries: list[TocEntry] = ()) -> list[DdlStatement]:
        """The statements as DdlStatements, from the parse trees the rewrite already has, each with its TOC
        entry and what that entry depends on (from `entries`)."""
        depends_on = {e.dump_id: e.depends_on for e in entries}
        ids = self.dump_ids or [None] * len(self.statements)
        return [replace(describe_statement(text, node), dump_id=i, depends_on=depends_on.get(i, ()))
                for text, node, i in zip(self.statements, self.nodes, ids)]


# pg_restore --verbose heads each entry's SQL with this comment: which statements come from which entry
_ENTRY_MARK = re.compile(r"^-- TOC entry (\d+) \(class \d+ OID \d+\)$", re.MULTILINE)


def split_entries(sql: str) -> list[tuple[str, object, int | None]]:
    """(text, parse node, dump id) for each statement of pg_dump/pg_restore output: the dump id of the TOC
    entry it belongs to (None without pg_restore --verbose's entry comments, or before the first one).
    psql meta-commands (\\restrict, \\unrestrict) are dropped: pgferry runs the SQL itself."""
    sql = "\n".join(line for line in sql.splitlines() if not line.startswith("\\"))
    marks = [(m.start(), int(m.group(1))) for m in _ENTRY_MARK.finditer(sql)]
    out, entry, end = [], None, 0
    for raw in parse_sql(sql):
        start = raw.stmt_location or 0
        while marks and marks[0][0] < start:
            pos, dump_id = marks.pop(0)
            if pos >= end:   # not text inside the previous statement (a function body)
                entry = dump_id
        text = sql[start:start + raw.stmt_len] if raw.stmt_len else sql[start:]
        end = start + len(text)
        out.append((text.strip().rstrip(";").strip(), raw.stmt, entry))
    return out


def split_statements(sql: str):
    """(text, parse node) for each statement of pg_dump/pg_restore output (split_entries)."""
    return [(text, stmt) for text, stmt, _ in split_entries(sql)]


class _Rewriter:
    def __init__(self, ctx: RenameContext):
        self.ctx = ctx
        self.changed = False

    # -- names -------------------------------------------------------------------------------
    def _qualified(self, items):
        if len(items) < 2 or not all(isinstance(i, ast.String) for i in items):
            return
        schema, name = items[0].sval, items[1].sval
        if (schema, name) in self.ctx.tables:
            items[1].sval = self.ctx.tables[(schema, name)]
            self.changed = True
        if schema in self.ctx.schemas:
            items[0].sval = self.ctx.schemas[schema]
            self.changed = True

    def _range_var(self, rv: ast.RangeVar, in_query: bool):
        if not rv.schemaname:
            return
        new_schema, new_name = self.ctx.relation(rv.schemaname, rv.relname)
        if (new_schema, new_name) != (rv.schemaname, rv.relname):
            if in_query and rv.alias is None and new_name != rv.relname:
                # pg_dump's view text refers to columns as `table.column`: keep that name valid
                rv.alias = ast.Alias(aliasname=rv.relname)
            rv.schemaname, rv.relname = new_schema, new_name
            self.changed = True

    def _reg_literal(self, cast: ast.TypeCast):
        names = cast.typeName.names if cast.typeName else ()
        if not names or names[-1].sval not in _REG_CASTS:
            return
        if not (isinstance(cast.arg, ast.A_Const) and isinstance(cast.arg.val, ast.String)):
            return
        text = cast.arg.val.sval
        if "(" in text:   # regprocedure('f(int)'): only its schema part
            head, rest = text.split("(", 1)
            rest = "(" + rest
        else:
            head, rest = text, ""
        try:
            parts, end = split_qualified(head, max_parts=2)
        except NameSyntaxError:
            return
        if end != len(head.rstrip()) or len(parts) != 2:
            return
        schema, name = parts
        if names[-1].sval == "regclass":
            new_schema, new_name = self.ctx.relation(schema, name)
        else:
            new_schema, new_name = self.ctx.schema(schema), name
        if (new_schema, new_name) != (schema, name):
            cast.arg.val.sval = f"{quote_ident(new_schema)}.{quote_ident(new_name)}{rest}"
            self.changed = True

    def walk(self, node, in_query=False, field_name=None):
        if isinstance(node, tuple):
            if field_name in _QUALIFIED_NAME_FIELDS:
                self._qualified(node)
            for item in node:
                self.walk(item, in_query)
            return
        if not isinstance(node, ast.Node):
            return
        if isinstance(node, ast.RangeVar):
            self._range_var(node, in_query)
        elif isinstance(node, ast.TypeCast):
            self._reg_literal(node)
        elif isinstance(node, (ast.SelectStmt, ast.RuleStmt)):
            in_query = True
        elif isinstance(node, ast.CreateSchemaStmt) and node.schemaname in self.ctx.schemas:
            node.schemaname = self.ctx.schemas[node.schemaname]
            self.changed = True
        for attr in node:
            value = getattr(node, attr)
            if attr == "object" and isinstance(value, ast.String):
                # single-name objects: only schemas can be renamed (ALTER SCHEMA, COMMENT ON SCHEMA)
                if getattr(node, "objtype", None) == ObjectType.OBJECT_SCHEMA or \
                        getattr(node, "objectType", None) == ObjectType.OBJECT_SCHEMA:
                    if value.sval in self.ctx.schemas:
                        value.sval = self.ctx.schemas[value.sval]
                        self.changed = True
                continue
            if attr == "objects" and isinstance(node, ast.GrantStmt) and node.objtype == ObjectType.OBJECT_SCHEMA:
                for s in value or ():
                    if s.sval in self.ctx.schemas:
                        s.sval = self.ctx.schemas[s.sval]
                        self.changed = True
                continue
            self.walk(value, in_query, attr)


# -- statement-level rules ----------------------------------------------------------------------
def _colref_names(node, qualifier=None) -> list[ast.String]:
    """String nodes naming columns of the statement's one table inside an expression."""
    found = []

    def visit(n):
        if isinstance(n, tuple):
            for x in n:
                visit(x)
            return
        if not isinstance(n, ast.Node):
            return
        if isinstance(n, ast.ColumnRef):
            f = n.fields
            if qualifier is None and len(f) == 1 and isinstance(f[0], ast.String):
                found.append(f[0])
            elif qualifier is not None and len(f) == 2 and isinstance(f[0], ast.String) \
                    and f[0].sval in qualifier and isinstance(f[1], ast.String):
                found.append(f[1])
            return
        if isinstance(n, (ast.SubLink, ast.SelectStmt)):
            return   # a subquery has tables of its own
        for attr in n:
            visit(getattr(n, attr))
    visit(node)
    return found


def _strings(items) -> list[ast.String]:
    return [i for i in (items or ()) if isinstance(i, ast.String)]


def _index_elem_columns(elems) -> list[ast.String]:
    out = []
    for e in elems or ():
        if isinstance(e, tuple):   # exclusion constraint: (IndexElem, operator)
            e = e[0]
        if isinstance(e, ast.IndexElem):
            if e.name:
                out.append(_NameRef(e))
            if e.expr is not None:
                out.extend(_colref_names(e.expr))
    return out


class _NameRef:
    """IndexElem.name is a plain str: wrap it so it can be renamed like a String node."""
    def __init__(self, elem):
        self.elem = elem

    @property
    def sval(self):
        return self.elem.name

    @sval.setter
    def sval(self, value):
        self.elem.name = value


class _RenameOnly(list):
    """Trigger arguments: text the trigger function reads (tsvector_update_trigger's column names). An
    argument that is exactly a renamed column of the table is renamed with it; one that names a left-out
    column does not stop the trigger (precheck warns: the function may not read it as a column)."""


def _table_columns(stmt) -> list[tuple[tuple, list]]:
    """(table key, column name holders) for statements that name columns of one table."""
    if isinstance(stmt, ast.IndexStmt) and stmt.relation is not None:
        key = (stmt.relation.schemaname, stmt.relation.relname)
        cols = _index_elem_columns(stmt.indexParams) + _index_elem_columns(stmt.indexIncludingParams)
        if stmt.whereClause is not None:
            cols += _colref_names(stmt.whereClause)
        return [(key, cols)]
    if isinstance(stmt, ast.AlterTableStmt) and stmt.relation is not None:
        key = (stmt.relation.schemaname, stmt.relation.relname)
        out = [(key, [])]
        for cmd in stmt.cmds or ():
            c = cmd.def_
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(c, ast.Constraint):
                out[0][1].extend(_strings(c.keys) + _strings(c.including) + _strings(c.fk_attrs))
                out[0][1].extend(_index_elem_columns(c.exclusions))
                if c.raw_expr is not None:
                    out[0][1].extend(_colref_names(c.raw_expr))
                if c.where_clause is not None:
                    out[0][1].extend(_colref_names(c.where_clause))
                if c.contype == ConstrType.CONSTR_FOREIGN and c.pktable is not None:
                    out.append(((c.pktable.schemaname, c.pktable.relname), _strings(c.pk_attrs)))
        return out
    if isinstance(stmt, ast.CreateTrigStmt) and stmt.relation is not None:
        key = (stmt.relation.schemaname, stmt.relation.relname)
        cols = _strings(stmt.columns)
        if stmt.whenClause is not None:
            cols += _colref_names(stmt.whenClause, qualifier={"old", "new"})
        return [(key, cols), (key, _RenameOnly(_strings(stmt.args)))]
    return []


def _drop_columns_from_create(stmt: ast.CreateStmt, dropped: set, warnings: list, constraints=frozenset()) -> bool:
    keep, changed = [], False
    for elt in stmt.tableElts or ():
        if isinstance(elt, ast.ColumnDef) and elt.colname in dropped:
            changed = True
            continue
        if isinstance(elt, ast.Constraint) and elt.conname in constraints:
            warnings.append(f"constraint {display(elt.conname)} on "
                            f"{display(stmt.relation.schemaname, stmt.relation.relname)} depends on an object that "
                            f"does not migrate and is not created")
            changed = True
            continue
        if isinstance(elt, ast.Constraint):
            used = {s.sval for s in _strings(elt.keys)} | {s.sval for s in _colref_names(elt.raw_expr)}
            if used & dropped:
                warnings.append(f"constraint {display(elt.conname or '?')} on {display(stmt.relation.schemaname, stmt.relation.relname)} "
                                f"uses a column left out of the migration and is not created")
                changed = True
                continue
        keep.append(elt)
    if changed:
        stmt.tableElts = tuple(keep)
    return changed


def _schema_kept_as_is(stmt, ctx: RenameContext) -> bool:
    """Target schemas that exist already are used, not created, re-owned or re-commented."""
    if isinstance(stmt, ast.CreateSchemaStmt):
        return ctx.schema(stmt.schemaname) in ctx.existing_target_schemas
    if isinstance(stmt, (ast.AlterOwnerStmt, ast.CommentStmt)) and isinstance(stmt.object, ast.String):
        kind = getattr(stmt, "objectType", None) or getattr(stmt, "objtype", None)
        return kind == ObjectType.OBJECT_SCHEMA and ctx.schema(stmt.object.sval) in ctx.existing_target_schemas
    return False


def _leave_out_columns(stmt, ctx: RenameContext, warnings: list) -> tuple[bool, bool]:
    """Column choice in pre-data: (keep the statement, statement changed)."""
    if isinstance(stmt, ast.CreateStmt) and stmt.relation is not None:
        key = (stmt.relation.schemaname, stmt.relation.relname)
        dropped, constraints = ctx.dropped.get(key, set()), ctx.dropped_constraints.get(key, set())
        return True, bool(dropped or constraints) and _drop_columns_from_create(stmt, dropped, warnings, constraints)
    if isinstance(stmt, ast.AlterTableStmt) and stmt.relation is not None:
        dropped = ctx.dropped.get((stmt.relation.schemaname, stmt.relation.relname), set())
        cmds = [c for c in stmt.cmds or () if not (c.name and c.name in dropped)]
        if len(cmds) == len(stmt.cmds or ()):
            return True, False
        stmt.cmds = tuple(cmds)
        return bool(cmds), True
    if isinstance(stmt, ast.CommentStmt) and stmt.objtype == ObjectType.OBJECT_COLUMN:
        parts = [x.sval for x in stmt.object]
        return not (len(parts) == 3 and parts[2] in ctx.dropped.get((parts[0], parts[1]), set())), False
    if isinstance(stmt, ast.AlterSeqStmt):
        for opt in stmt.options or ():
            if opt.defname == "owned_by" and isinstance(opt.arg, tuple) and len(opt.arg) == 3:
                schema, table, column = (x.sval for x in opt.arg)
                if column in ctx.dropped.get((schema, table), set()):
                    return False, False
    return True, False


def _table_scoped_columns(stmt, ctx: RenameContext, rename_columns: bool, text: str) -> tuple[str | None, bool]:
    """Indexes, constraints and triggers: (why the statement is left out, or None; statement changed)."""
    changed = False
    for key, cols in _table_columns(stmt):
        used = [] if isinstance(cols, _RenameOnly) else [c.sval for c in cols if c.sval in ctx.dropped.get(key, set())]
        if used:
            what = " ".join(text.split()[:6])
            return (f"{what} ... uses {', '.join(display(*key, u) for u in used)}, left out of the migration",
                    changed)
        if rename_columns:
            mapping = ctx.columns.get(key, {})
            for c in cols:
                if c.sval in mapping:
                    c.sval = mapping[c.sval]
                    changed = True
    return None, changed


def unknown_setting(stmt, known_settings: frozenset[str] | None) -> str | None:
    """The name a `SET name ...` gives that the target does not know (pg_dump newer than the target writes
    settings of its own release: `SET transaction_timeout = 0` from pg_dump 17 on), else None. Names with
    a dot are placeholders every server accepts."""
    if known_settings is None or not isinstance(stmt, ast.VariableSetStmt) or not stmt.name:
        return None
    name = stmt.name.lower()
    return name if "." not in name and name not in known_settings else None


# Column options every PostgreSQL since 9.0 takes, and the only ones: a server that stores others (a
# patched build stamping its own) makes a newer pg_dump write them, and a stock target refuses them.
ATTRIBUTE_OPTIONS = {"n_distinct", "n_distinct_inherited"}


def drop_unknown_column_options(stmt) -> tuple[bool, list[str]]:
    """(keep the statement?, the options taken out) for `ALTER TABLE ... ALTER COLUMN ... SET (...)`."""
    if not isinstance(stmt, ast.AlterTableStmt):
        return True, []
    dropped, cmds = [], []
    for cmd in stmt.cmds or ():
        if cmd.subtype == AlterTableType.AT_SetOptions and isinstance(cmd.def_, tuple):
            keep = tuple(d for d in cmd.def_ if d.defname in ATTRIBUTE_OPTIONS)
            dropped += [d.defname for d in cmd.def_ if d.defname not in ATTRIBUTE_OPTIONS]
            if not keep:
                continue
            cmd.def_ = keep
        cmds.append(cmd)
    if dropped:
        stmt.cmds = tuple(cmds)
    return bool(cmds), dropped


def rewrite(sql: str, ctx: RenameContext, rename_columns: bool,
            known_settings: frozenset[str] | None = None) -> Rewritten:
    """Rewrite a pg_restore SQL script; returns executable statements (no trailing semicolons). With
    `known_settings` (the target's, pg/catalog.setting_names), session settings the target lacks are left
    out: pg_dump sets them only to lift limits of its own session."""
    statements, warnings, nodes, dump_ids = [], [], [], []
    column_options: dict[str, int] = {}
    for text, stmt, dump_id in split_entries(sql):
        if _schema_kept_as_is(stmt, ctx):
            continue
        unknown = unknown_setting(stmt, known_settings)
        if unknown:
            log.info("left out %s: the target does not know the setting (written by a newer pg_dump)", text)
            continue
        keep, dropped = drop_unknown_column_options(stmt)
        for name in dropped:
            column_options[name] = column_options.get(name, 0) + 1
        if not keep:
            continue
        if dropped:
            text = RawStream()(stmt)
        if ctx.empty:
            statements.append(text)
            nodes.append(stmt)
            dump_ids.append(dump_id)
            continue
        keep, changed = _leave_out_columns(stmt, ctx, warnings)
        if not keep:
            continue
        left_out, renamed = _table_scoped_columns(stmt, ctx, rename_columns, text)
        if left_out:
            warnings.append(f"not created: {left_out}")
            continue
        rw = _Rewriter(ctx)
        rw.walk(stmt)
        statements.append(RawStream()(stmt) if (changed or renamed or rw.changed) else text)
        nodes.append(stmt)
        dump_ids.append(dump_id)
    if column_options:
        log.info("left out column options no PostgreSQL target takes (the source server's own): %s",
                 ", ".join(f"{name} on {n} column(s)" for name, n in sorted(column_options.items())))
    return Rewritten(statements, warnings, nodes, dump_ids)


def column_rename_statements(plan: Plan) -> list:
    """ALTER TABLE ... RENAME COLUMN for every renamed column, on the target (already renamed) tables.
    Partitions inherit the rename from their parent, so only top-level tables are renamed."""
    from psycopg import sql as psql
    out = []
    for r in plan.relations:
        if r.relkind not in ("r", "p") or r.is_partition:
            continue
        for c in r.columns:
            if c.target_name != c.name:
                out.append(psql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
                    r.target.identifier, psql.Identifier(c.name), psql.Identifier(c.target_name)))
    return out


def describe_statement(text: str, stmt=None) -> DdlStatement:
    """What a post-data statement creates, read from its pglast parse tree (`stmt`: the tree the rewrite
    already holds; parsed from `text` when not given). A foreign key also gets its columns, its
    referenced table and its NOT VALID form (added, then validated apart). The tree may be changed."""
    stmt = stmt if stmt is not None else parse_sql(text)[0].stmt
    if isinstance(stmt, ast.IndexStmt) and stmt.idxname:
        return DdlStatement(INDEX, QualifiedName(stmt.relation.schemaname, stmt.relation.relname), stmt.idxname, text)
    if isinstance(stmt, ast.AlterTableStmt) and len(stmt.cmds or ()) == 1:
        cmd = stmt.cmds[0]
        con = cmd.def_
        if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(con, ast.Constraint) and con.conname:
            table = QualifiedName(stmt.relation.schemaname, stmt.relation.relname)
            if con.contype != ConstrType.CONSTR_FOREIGN:
                return DdlStatement(CONSTRAINT, table, con.conname, text)
            not_valid = None
            if not con.skip_validation:
                con.skip_validation = True
                con.initially_valid = False
                not_valid = RawStream()(stmt)
            return DdlStatement(FOREIGN_KEY, table, con.conname, text,
                                references=QualifiedName(con.pktable.schemaname, con.pktable.relname),
                                columns=tuple(s.sval for s in con.fk_attrs or ()),
                                referenced_columns=tuple(s.sval for s in con.pk_attrs or ()),
                                not_valid_sql=not_valid)
    if isinstance(stmt, ast.CreateTrigStmt):
        return DdlStatement(TRIGGER, QualifiedName(stmt.relation.schemaname, stmt.relation.relname), stmt.trigname,
                            text)
    if isinstance(stmt, ast.CreateEventTrigStmt):
        return DdlStatement(EVENT_TRIGGER, None, stmt.trigname, text)
    if isinstance(stmt, ast.CreatePublicationStmt):
        return DdlStatement(PUBLICATION, None, stmt.pubname, text)
    return DdlStatement(OTHER, None, None, text)


# -- the schema archive ---------------------------------------------------------------------------
# Where each pg_dump TOC entry is restored. Everything pre-data goes into `structure`; of post-data:
STRUCTURE_EXTRA = {"RULE", "POLICY"}                 # no effect on COPY: created with the structure
FINAL = {"TRIGGER", "FK CONSTRAINT", "ROW SECURITY", "PUBLICATION", "PUBLICATION TABLE",
         "PUBLICATION TABLES IN SCHEMA", "SUBSCRIPTION", "COMMENT", "SECURITY LABEL", "ACL"}
# the rest of post-data (INDEX, CONSTRAINT, CHECK CONSTRAINT, INDEX ATTACH, STATISTICS, a MATERIALIZED
# VIEW pg_dump places after the keys its query needs, ...) is `indexes`; and no entry goes to an earlier
# phase than an entry it depends on (assign_phases)

# event triggers: the very last DDL, at the end of finalize, or they would fire on pgferry's own DDL
PHASES = ("structure", "indexes", "final", "event_triggers")

PG_CLASS = 1259   # the catalog of a TOC entry that creates a relation

_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")


@dataclass(frozen=True)
class TocEntry:
    line: str
    dump_id: int
    catalog_oid: int
    object_oid: int
    desc: str
    rest: str         # schema, tag and owner as pg_restore prints them
    section: str
    depends_on: tuple[int, ...] = ()   # dump ids (pg_restore --list --verbose)


_DEPENDS_ON = ";\tdepends on:"
# entries that only decorate one object (their dependency): they go where it goes
DECORATIONS = ("COMMENT", "ACL", "SECURITY LABEL")


def left_out_of(toc: list[TocEntry], plan: Plan) -> list[TocEntry]:
    """The TOC without what the plan leaves out (Plan.left_out_entries, the list validate counts by too):
    those entries, the shell types of left-out types, and the comments, grants and security labels of
    all of them; decorations of objects that have no entry of their own (a left-out column, a check
    written inside CREATE TABLE) by their tag (Plan.left_out_tags)."""
    entries, tags = plan.left_out_entries, plan.left_out_tags
    shell_types = {f"{d.schema} {d.name} " for d in plan.left_out_dependents if d.type == "type" and d.name}
    gone = {e.dump_id for e in toc
            if (e.catalog_oid, e.object_oid) in entries
            or (e.desc == "SHELL TYPE" and any(e.rest.startswith(t) for t in shell_types))}
    return [e for e in toc if e.dump_id not in gone and not (
        e.desc in DECORATIONS and (set(e.depends_on) & gone or _tagged(e, tags)))]


def without_publication(toc: list[TocEntry], name: str | None) -> list[TocEntry]:
    """The TOC without publication `name` and what hangs on it (its tables and schemas, its comment): an
    online run's own publication (online/slot.py) exists on the source only while the run follows it."""
    if not name:
        return toc
    gone = {e.dump_id for e in toc if e.desc == "PUBLICATION" and e.rest.split(" ")[:2] == ["-", name]}
    return [e for e in toc if e.dump_id not in gone and not set(e.depends_on) & gone]


def _tagged(e: TocEntry, tags) -> bool:
    return any(e.rest == f"{schema} {tag}" or e.rest.startswith(f"{schema} {tag} ") for schema, tag in tags)


_KNOWN_DESCS = sorted([
    "FK CONSTRAINT", "CHECK CONSTRAINT", "MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "SEQUENCE OWNED BY",
    "SEQUENCE SET", "ROW SECURITY", "TABLE ATTACH", "INDEX ATTACH", "TABLE DATA", "DEFAULT ACL",
    "EVENT TRIGGER", "FOREIGN TABLE", "FOREIGN DATA WRAPPER", "FOREIGN SERVER", "USER MAPPING",
    "PROCEDURAL LANGUAGE", "SHELL TYPE", "OPERATOR CLASS", "OPERATOR FAMILY", "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "PUBLICATION TABLES IN SCHEMA",
    "PUBLICATION TABLE", "SECURITY LABEL", "LARGE OBJECT", "BLOB METADATA", "ACCESS METHOD", "DATABASE PROPERTIES",
], key=len, reverse=True)


def _split_desc(text: str) -> tuple[str, str]:
    for d in _KNOWN_DESCS:
        if text.startswith(d + " "):
            return d, text[len(d) + 1:]
    head, _, rest = text.partition(" ")
    return head, rest


def phase_of(e: TocEntry, placed: dict | None = None) -> str | None:
    """Which step restores a TOC entry (one of PHASES), or None for what pgferry does not restore (data).

    By its kind, and never before what it depends on: with `placed` (the phases of other entries, by dump
    id), an entry goes to the latest phase of its dependencies if that is later than its kind's (a view
    body, split from its view because it needs a primary key, goes after the key; a policy on such a
    view after the view)."""
    if e.section == "pre-data":
        return "structure"
    if e.section != "post-data":
        return None
    if e.desc in STRUCTURE_EXTRA:
        own = "structure"
    elif e.desc == "EVENT TRIGGER" or (e.desc == "COMMENT" and e.rest.startswith("- EVENT TRIGGER ")):
        own = "event_triggers"
    elif e.desc in FINAL:
        own = "final"
    else:
        own = "indexes"
    after = [placed[d] for d in e.depends_on if (placed or {}).get(d)]
    return max([own, *after], key=PHASES.index)


def assign_phases(entries: list[TocEntry]) -> dict[int, str | None]:
    """Every entry's phase (phase_of), dependencies first: dump id -> phase. Dependencies on entries not
    in `entries` (left out, or not restored) place nothing."""
    by_id = {e.dump_id: e for e in entries}
    placed: dict[int, str | None] = {}
    for e in entries:   # pg_dump's order: mostly dependencies first, so the stack stays short
        if e.dump_id in placed:
            continue
        stack, visiting = [e], {e.dump_id}
        while stack:
            top = stack[-1]
            todo = [by_id[d] for d in top.depends_on
                    if d in by_id and d not in placed and d not in visiting]   # a loop: placed without it
            if todo:
                stack.extend(todo)
                visiting.update(t.dump_id for t in todo)
                continue
            placed[top.dump_id] = phase_of(top, placed)
            stack.pop()
    return placed


def _run(cmd: list[str], env: dict | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


class SchemaArchive:
    """A schema-only custom-format dump of the chosen schemas, minus unchosen relations and functions, by
    the run's pg_dump and read by its pg_restore (`tools`, pg/client_tools.py)."""

    def __init__(self, source: PgEndpoint, plan: Plan, tools: ClientTools, keep_owners: bool = True,
                 snapshot: str | None = None, own_publication: str | None = None,
                 exclude_schemas: tuple[str, ...] = ()):
        self.plan = plan
        self.own_publication = own_publication
        self.tools = tools
        self._dir = tempfile.mkdtemp(prefix="pgferry-schema-")
        self.path = os.path.join(self._dir, "schema.dump")
        # publications come along (pg_dump dumps them with the whole database only); subscriptions would
        # connect the target to the source's publishers: left out
        cmd = [tools.path("pg_dump"), "--format=custom", "--schema-only", "--no-subscriptions", f"--file={self.path}"]
        if not keep_owners:
            cmd += ["--no-owner", "--no-privileges"]
        if not plan.whole_database:
            for s in plan.schemas:
                cmd.append(f"--schema={quote_ident(s.source)}")   # quoted patterns match literally
        for q in plan.excluded_relations:
            cmd.append(f"--exclude-table={quote_ident(q.schema)}.{quote_ident(q.name)}")
        for s in exclude_schemas:
            cmd.append(f"--exclude-schema={quote_ident(s)}")
        if snapshot:      # online mode: the structure as of the run's starting point (online/slot.py)
            cmd.append(f"--snapshot={snapshot}")
        _run(cmd + [f"--dbname={source.tool_conninfo('pgferry schema dump')}"], source.tool_env())
        self.entries = self._read_toc()

    def _read_toc(self) -> list[TocEntry]:
        section_of = {}
        for section in ("pre-data", "post-data"):
            for line in _run([self.tools.path("pg_restore"), "--list", f"--section={section}", self.path]).splitlines():
                m = _LINE.match(line)
                if m:
                    section_of[int(m.group(1))] = section
        # --verbose follows each entry's line with the dump ids it depends on (and lists entries pg_restore
        # does not restore, such as DATABASE: the entries themselves come from the plain list)
        depends_on, dump_id = {}, None
        for line in _run([self.tools.path("pg_restore"), "--list", "--verbose", self.path]).splitlines():
            m = _LINE.match(line)
            if m:
                dump_id = int(m.group(1))
            elif line.startswith(_DEPENDS_ON) and dump_id is not None:
                depends_on[dump_id] = tuple(int(x) for x in line[len(_DEPENDS_ON):].split())
        toc = []
        for line in _run([self.tools.path("pg_restore"), "--list", self.path]).splitlines():
            m = _LINE.match(line)
            if m:
                desc, rest = _split_desc(m.group(4))
                toc.append(TocEntry(line, int(m.group(1)), int(m.group(2)), int(m.group(3)), desc, rest,
                                    section_of.get(int(m.group(1)), "none"), depends_on.get(int(m.group(1)), ())))
        return without_publication(left_out_of(toc, self.plan), self.own_publication)

    def phase_entries(self, phase: str) -> list[TocEntry]:
        placed = assign_phases(self.entries)
        chosen = [e for e in self.entries if placed[e.dump_id] == phase]
        if phase == "structure":   # post-data rules and policies after the pre-data they depend on
            chosen.sort(key=lambda e: e.section != "pre-data")
        return chosen

    def relations_after(self, phase: str) -> set[int]:
        """The source oids of the relations created in a later phase than `phase` (a materialized view
        pg_dump places after the primary key its query needs)."""
        placed, rank = assign_phases(self.entries), PHASES.index(phase)
        return {e.object_oid for e in self.entries
                if e.catalog_oid == PG_CLASS and placed[e.dump_id] and PHASES.index(placed[e.dump_id]) > rank}

    def sql(self, entries: list[TocEntry]) -> str:
        if not entries:
            return ""
        listfile = os.path.join(self._dir, "phase.list")
        with open(listfile, "w") as f:
            f.write("\n".join(e.line for e in entries) + "\n")
        # --verbose: each entry's SQL headed by its dump id (split_entries)
        return _run([self.tools.path("pg_restore"), "--verbose", f"--use-list={listfile}", "--file=-", self.path])

    def close(self):
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- running DDL on the target ----------------------------------------------------------------------
class DdlError(RuntimeError):
    pass


def _short(stmt) -> str:
    if isinstance(stmt, DdlStatement):
        stmt = stmt.sql
    text = stmt if isinstance(stmt, str) else repr(stmt)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:300] + " ..."


def execute_in_transaction(conn: psycopg.Connection, statements, what: str):
    """All or nothing: a failure rolls back every statement and names the one that failed."""
    with conn.transaction():
        for stmt in statements:
            try:
                conn.execute(stmt.sql if isinstance(stmt, DdlStatement) else stmt)
            except psycopg.Error as e:
                raise DdlError(f"{what}: {e.diag.message_primary or e} -- while running: {_short(stmt)}") from e


def prerequisites(statements: list[DdlStatement]) -> list[list[int]]:
    """For each statement, the positions of the statements it waits for: those of the TOC entries its entry
    depends on, and the earlier statements of its own entry (CREATE MATERIALIZED VIEW before its ALTER
    ... OWNER). Entries outside `statements` were created by an earlier step, or an earlier try."""
    at: dict[int, list[int]] = {}
    for i, s in enumerate(statements):
        if s.dump_id is not None:
            at.setdefault(s.dump_id, []).append(i)
    return [[j for d in s.depends_on if d != s.dump_id for j in at.get(d, ())] +
            [j for j in at.get(s.dump_id, ()) if j < i] if s.dump_id is not None else []
            for i, s in enumerate(statements)]


def execute_parallel(target: PgEndpoint, statements: list, workers: int, what: str,
                     session_settings: dict | None = None, cost=None, existing_ok: bool = False) -> list[float]:
    """Statements over `workers` sessions, longest first by `cost`, each once what it depends on ran
    (prerequisites: pg_dump's dependencies); every failure is reported, and every statement not run because
    something it depends on failed, with what that was. `existing_ok`: a statement without a catalog
    identity that finds its object there (made by an earlier try) counts as run. Returns each statement's
    duration."""
    def session():
        conn = target.connect(autocommit=True, application_name=f"pgferry {what}")
        apply_settings(conn, session_settings or {})
        return conn

    def run(conn, stmt):
        t0 = time.monotonic()
        try:
            conn.execute(stmt.sql if isinstance(stmt, DdlStatement) else stmt)
            return time.monotonic() - t0, None
        except (errors.DuplicateObject, errors.DuplicateTable) as e:
            if existing_ok and not (isinstance(stmt, DdlStatement) and stmt.identity):
                log.info("%s: already there from an earlier try, left as it is: %s", what, _short(stmt))
                return time.monotonic() - t0, None
            return time.monotonic() - t0, f"{e.diag.message_primary or e} -- while running: {_short(stmt)}"
        except psycopg.Error as e:
            return time.monotonic() - t0, f"{e.diag.message_primary or e} -- while running: {_short(stmt)}"

    def not_run(stmt, waited):
        return 0.0, (f"not run: it depends on what failed ({'; '.join(_short(w) for w in waited)}) -- "
                     f"{_short(stmt)}")

    after = prerequisites(statements) if all(isinstance(s, DdlStatement) for s in statements) else None
    outcomes = run_longest_first(statements, workers, session, run, cost, after=after,
                                 failed=lambda outcome: outcome[1] is not None, not_run=not_run)
    problems = [err for _, err in outcomes if err]
    if problems:
        failed = sum(1 for e in problems if not e.startswith("not run: "))
        raise DdlError(f"{what}: {failed} statement(s) failed, {len(problems) - failed} not run as they depend on "
                       f"one that failed:\n" + "\n".join(problems))
    return [d for d, _ in outcomes]
