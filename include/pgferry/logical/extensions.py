"""The extensions a migration needs on the target, as the source has them, and their configuration tables.

Which: every extension pg_dump dumps in a whole-database run; in a run of chosen schemas or tables, those
the chosen objects use (a column's type, an index's operator class, a view's function, ...) and the
extensions these require. Each is created in the source's schema, in the source's version when the
target offers it, else in a newer one the target offers (its default when that is newer, else its newest);
a target that offers neither is a precheck finding. An extension the target has already is used as it is
(in another schema than the source's it is a finding: the migrated objects name the source's schema).

Configuration tables (pg_extension_config_dump) hold rows the extension's users add, which pg_dump dumps
and CREATE EXTENSION does not make: each is planned as a table with the extension's filter condition
(Relation.filter), so the lanes copy exactly the rows pg_dump would, and validate compares those. A
sequence marked so is set to the source's value by the sequences step, as pg_dump sets it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import psycopg
from psycopg import sql

from include.pgferry.logical.selection import binary_copy_safe
from include.pgferry.model import Column, Extension, Plan, QualifiedName, Relation, Sequence
from include.pgferry.pg.catalog import SourceCatalog, fetch

_VERSION_PART = re.compile(r"\d+|[A-Za-z]+")


def version_key(version: str) -> tuple:
    """Orders extension versions as their authors number them: 1.10 after 1.9, 3.3.2next after 3.3.2."""
    return tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in _VERSION_PART.findall(version))


def choose_version(source_version: str, offered, default: str | None) -> str | None:
    """The version to create on the target: the source's when offered; else one newer than it (the
    target's default version when that is newer, else the newest); None when the target offers only
    older versions (the source's objects may use what they lack) or none. Versions that are not numbers
    (`unpackaged`, from before extensions existed) are never chosen."""
    if source_version in offered:
        return source_version
    newer = [v for v in offered if v[:1].isdigit() and version_key(v) > version_key(source_version)]
    if not newer:
        return None
    return default if default in newer else max(newer, key=version_key)


@dataclass
class Choice:
    """What precheck found: the extensions in creation order, their configuration tables, and what to say."""
    extensions: list[Extension] = field(default_factory=list)
    tables: list[Relation] = field(default_factory=list)
    sequences: list[Sequence] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)    # (message, how to fix it)
    warnings: list[str] = field(default_factory=list)
    to_create: list[str] = field(default_factory=list)


def needed(source: psycopg.Connection, plan: Plan) -> list[dict]:
    """The source's extensions the plan needs (rows of list_extensions), required ones first."""
    rows = fetch(source, "list_extensions")
    if plan.whole_database:
        names = {r["name"] for r in rows if r["dumped"]}
    else:
        names = {r["extension"] for r in fetch(source, "list_extensions_used", oids=[r.oid for r in plan.relations],
                                               schemas=[s.source for s in plan.schemas if s.whole])}
        names |= {r["extension"] for r in fetch(source, "list_column_type_extensions",
                                                oids=[r.oid for r in plan.relations])}
        by_name = {r["name"]: r for r in rows}
        todo = list(names)
        while todo:   # and what they require
            for req in by_name[todo.pop()]["requires"]:
                if req not in names:
                    names.add(req)
                    todo.append(req)
        names = {n for n in names if by_name[n]["dumped"]}
    return [r for r in rows if r["name"] in names]   # by OID: an extension is created after those it requires


def choose(source: psycopg.Connection, target: psycopg.Connection, plan: Plan, catalog: SourceCatalog,
           structure: bool = True) -> Choice:
    """Which extensions the target gets, in which schema and version, and their configuration tables."""
    choice = Choice()
    rows = needed(source, plan)
    if not rows:
        return choice
    smap = {s.source: s.target for s in plan.schemas}
    offered = {r["name"]: r for r in fetch(target, "list_extension_versions", names=[r["name"] for r in rows])}
    for r in rows:
        name, schema, version = r["name"], smap.get(r["schema"], r["schema"]), r["version"]
        t = offered.get(name)
        if t is not None and t["installed_version"] is not None:
            if t["installed_schema"] != schema:
                choice.errors.append((
                    f"extension {name} is installed on the target in schema {t['installed_schema']}, but the "
                    f"migrated objects use it in schema {schema}, as the source has it",
                    f"on the target: ALTER EXTENSION {name} SET SCHEMA {schema} (or DROP EXTENSION {name}, "
                    f"and pgferry creates it)"))
                continue
            if t["installed_version"] != version:
                choice.warnings.append(f"extension {name} is installed on the target in version "
                                       f"{t['installed_version']} (the source has {version}): used as it is; "
                                       f"tables with its types copy in text format")
            choice.extensions.append(Extension(name, schema, version, t["installed_version"], installed=True))
            continue
        if not structure:   # data only: the tables already on the target say which types they hold
            continue
        versions = list(t["versions"]) if t is not None else []
        chosen = choose_version(version, versions, t["default_version"] if t is not None else None)
        if chosen is None:
            offer = f"it offers {', '.join(versions)}" if versions else "it offers none"
            choice.errors.append((
                f"extension {name} version {version} (the source's, in schema {r['schema']}) cannot be created on "
                f"the target: {offer}",
                f"install version {version} or newer of {name} on the target server (its package, or allow it on "
                f"the managed service)"))
            continue
        if chosen != version:
            choice.warnings.append(f"extension {name}: the source has version {version}, which the target does "
                                   f"not offer; version {chosen} will be created instead")
        choice.extensions.append(Extension(name, schema, version, chosen))
        choice.to_create.append(name)
    choice.tables, choice.sequences = configuration(source, catalog, [e.name for e in choice.extensions], smap)
    return choice


def configuration(source: psycopg.Connection, catalog: SourceCatalog, names: list[str],
                  smap: dict[str, str]) -> tuple[list[Relation], list[Sequence]]:
    """The extensions' configuration tables as plan relations with their filter, and their configuration
    sequences (pg_dump sets their values)."""
    out, sequences = [], []
    for t in fetch(source, "list_extension_config_tables", names=names) if names else []:
        source_name = QualifiedName(t["schema"], t["name"])
        target_name = QualifiedName(smap.get(t["schema"], t["schema"]), t["name"])
        if t["relkind"] == "S":
            sequences.append(Sequence(t["oid"], source_name, target_name))
        if t["relkind"] != "r":
            continue
        columns = tuple(Column(c["name"], c["name"], c["type"], c["type_oid"], binary_copy_safe(c), c["generated"],
                               c["identity"], c.get("type_extension") or "")
                        for c in catalog.columns_of.get(t["oid"], []))
        out.append(Relation(oid=t["oid"], source=source_name, target=target_name, relkind="r",
                            bytes=t["bytes"], est_rows=t["est_rows"], owner=t["owner"], columns=columns,
                            filter=t["condition"]))
    return out, sequences


def with_choice(plan: Plan, choice: Choice) -> Plan:
    return replace(plan, extensions=tuple(choice.extensions), extension_tables=tuple(choice.tables),
                   extension_sequences=tuple(choice.sequences))


# -- structure ------------------------------------------------------------------------------------------
def create_statements(plan: Plan) -> list[sql.Composable]:
    """CREATE EXTENSION for each extension the target does not have yet, in the source's schema and the
    chosen version; IF NOT EXISTS, as pg_dump writes it (the target's own, plpgsql, is never touched)."""
    return [sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {} VERSION {}").format(
                sql.Identifier(e.name), sql.Identifier(e.schema), sql.Literal(e.version))
            for e in plan.extensions if not e.installed]


def schemas_to_create(plan: Plan, created_by_dump: set[str], existing: set[str]) -> list[sql.Composable]:
    """The extensions' schemas that neither the target has nor the dump creates (a run of chosen schemas
    leaves the extension's own schema out)."""
    wanted = sorted({e.schema for e in plan.extensions if not e.installed} - created_by_dump - existing)
    return [sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(s)) for s in wanted]
