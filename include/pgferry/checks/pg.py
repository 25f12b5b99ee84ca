"""The logical migration's prechecks, one function each. Every check returns a list of findings.

The rules come from the DTS procedure (seed 003): supported versions, the privileges each side needs,
room on the target, no C-language functions, nothing in the way on the target, and what the chosen
objects depend on (roles, extensions, unchosen tables, rename collisions). A privilege or ownership
finding names the user, the object and, as its `fix`, the statement that grants what is missing.
Every catalog read is a file of sql/.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import psycopg

from include.pgferry.checks.findings import ERROR, WARNING, Finding, names_list
from include.pgferry.model import NOT_NEEDED, PG_PROC, Plan, QualifiedName
from include.pgferry.pg import client_tools
from include.pgferry.pg.catalog import (SourceCatalog, enabled_triggers, fetch, fetch_one, major_version,
                                        version_label)
from include.pgferry.pg.endpoint import switch_off_triggers
from include.pgferry.pg.names import display, quote_ident
from include.pgferry.pg.unmigratable import function_label, shown, unmigratable_dependents

MIN_SOURCE_VERSION = 90200


@dataclass
class Context:
    source: psycopg.Connection
    target: psycopg.Connection
    catalog: SourceCatalog
    plan: Plan
    structure: bool
    data: bool
    keep_owners: bool
    target_free_bytes: int | None
    target_host: str
    skip_unmigratable: bool = False
    extensions: object = None   # logical.extensions.Choice: what the target gets (checks/ does not import logical/)


def _e(check, msg, fix=""):
    return Finding(ERROR, check, msg, fix)


def _w(check, msg, fix=""):
    return Finding(WARNING, check, msg, fix)


def grant(what: str, user: str) -> str:
    """The statement that gives `user` the privilege `what` (already written as SQL: `USAGE ON SCHEMA "s"`)."""
    return f"GRANT {what} TO {quote_ident(user)}"


def _who(conn: psycopg.Connection, side: str) -> str:
    return f"({side} user {display(conn.info.user)} on database {display(conn.info.dbname)})"


def version_findings(source_num: int, target_num: int, clients: list[client_tools.ClientTools]) -> list[Finding]:
    """The servers' versions, and a pg_dump/pg_restore here that serves both (`clients`: those installed)."""
    out = []
    if source_num < MIN_SOURCE_VERSION:
        out.append(_e("versions", f"source PostgreSQL {version_label(source_num)} is older than 9.2, the oldest "
                                  f"version pgferry (like DTS) migrates from"))
    if major_version(target_num) < major_version(source_num):
        out.append(_e("versions", f"target PostgreSQL {version_label(target_num)} is older than the source "
                                  f"{version_label(source_num)}: the target must be the same major version or newer"))
    if client_tools.best_for(clients, source_num, target_num) is None:
        out.append(_e("versions", *client_tools.missing_message(clients, source_num, target_num)))
    return out


def check_versions(ctx: Context) -> list[Finding]:
    unusable = [_w("versions", f"PG_BINDIR names {d}, which holds no executable pg_dump and pg_restore: it is "
                               f"not used", "correct PG_BINDIR (directories separated by ':')")
                for d in client_tools.unusable_bindirs()]
    return version_findings(ctx.source.info.server_version, ctx.target.info.server_version,
                            client_tools.installed()) + unusable


def check_source_privileges(ctx: Context) -> list[Finding]:
    out = []
    c = ctx.source
    user, who = c.info.user, _who(c, "source")
    if not fetch_one(c, "show_catalog_usage")["usage"]:
        out.append(_e("source privileges", f"the source user lacks USAGE on schema pg_catalog (needed to read the "
                                           f"structure) {who}", grant("USAGE ON SCHEMA pg_catalog", user)))
    names = {r.oid: r.source for r in ctx.plan.relations + ctx.plan.sequences}
    oids = list(names)
    schemas = sorted({s.source for s in ctx.plan.schemas})
    rights = {r["schema"]: r for r in fetch(c, "list_schema_privileges", schemas=schemas)}
    no_usage = [s for s in schemas if s in rights and not (rights[s]["usage"] or rights[s]["owned"])]
    if no_usage:
        out.append(_e("source privileges", f"the source user lacks USAGE on schema(s) "
                                           f"{names_list(display(s) for s in no_usage)} {who}",
                      grant("USAGE ON SCHEMA " + ", ".join(quote_ident(s) for s in no_usage), user)))
    rows = fetch(c, "list_table_privileges", oids=oids) if oids else []
    missing = sorted(names[r["oid"]] for r in rows if not r["select"])
    if missing:
        out.append(_e("source privileges", f"the source user lacks SELECT on {names_list(str(m) for m in missing)}: "
                                           f"GRANT SELECT on every migrated table and sequence {who}",
                      grant("SELECT ON " + ", ".join(f"{quote_ident(m.schema)}.{quote_ident(m.name)}"
                                                     for m in missing), user)))
    return out


def check_target_privileges(ctx: Context) -> list[Finding]:
    out = []
    t = ctx.target
    user, who = t.info.user, _who(t, "target")
    wanted = sorted({s.target for s in ctx.plan.schemas})
    rights = {r["schema"]: r for r in fetch(t, "list_schema_privileges", schemas=wanted)}
    if ctx.structure and len(rights) < len(wanted):
        db = fetch_one(t, "show_database_privileges")
        if not db["create"]:
            new = [display(s) for s in wanted if s not in rights]
            out.append(_e("target privileges", f"the target user lacks CREATE on the target database, needed to "
                                               f"create schema(s) {names_list(new)} {who}",
                          grant(f"CREATE ON DATABASE {quote_ident(db['database'])}", user)))
    for s, r in rights.items():
        lacking = [p for p in ("usage", "create") if not r[p] and not r["owned"]]
        if ctx.structure and lacking:
            out.append(_e("target privileges", f"the target user lacks {' and '.join(p.upper() for p in lacking)} on "
                                               f"schema {display(s)} (or its ownership; it is owned by "
                                               f"{display(r['owner'])}) {who}",
                          grant(f"{', '.join(p.upper() for p in lacking)} ON SCHEMA {quote_ident(s)}", user)
                          + f", or ALTER SCHEMA {quote_ident(s)} OWNER TO {quote_ident(user)}"))
    if ctx.data and ctx.plan.data_tables:
        out += _copy_schema_rights(t, user, who)
    return out


COPY_SCHEMA = "pgferry_copy"   # logical/claims.py and loaded_blocks.py: the copy lanes' list of units, on the target


def _copy_schema_rights(t: psycopg.Connection, user: str, who: str) -> list[Finding]:
    """The copy lanes take their units from a list in schema pgferry_copy on the target, which they create: the
    user needs CREATE on the database, or the schema there with CREATE and USAGE (or its ownership)."""
    there = fetch(t, "list_schema_privileges", schemas=[COPY_SCHEMA])
    if there:
        r = there[0]
        lacking = [p for p in ("usage", "create") if not r[p] and not r["owned"]]
        if not lacking:
            return []
        return [_e("target privileges", f"the target user lacks {' and '.join(p.upper() for p in lacking)} on "
                                        f"schema {COPY_SCHEMA}, where the copy lanes keep the run's list of units "
                                        f"{who}",
                   grant(f"{', '.join(p.upper() for p in lacking)} ON SCHEMA {COPY_SCHEMA}", user))]
    db = fetch_one(t, "show_database_privileges")
    if db["create"]:
        return []
    return [_e("target privileges", f"the target user lacks CREATE on the target database, needed to create schema "
                                    f"{COPY_SCHEMA}, where the copy lanes keep the run's list of units {who}",
               grant(f"CREATE ON DATABASE {quote_ident(db['database'])}", user)
               + f", or CREATE SCHEMA {COPY_SCHEMA} AUTHORIZATION {quote_ident(user)}")]


def source_bytes(ctx: Context) -> int:
    oids = [r.oid for r in ctx.plan.relations]
    if not oids:
        return 0
    return int(fetch_one(ctx.source, "sum_relation_sizes", oids=oids)["bytes"])


def local_free_bytes(conn: psycopg.Connection, host: str, subdir: str = "") -> int | None:
    """Free space of a server's data directory (or `subdir` of it, such as pg_wal, which may be a link to
    another disk), when the server says where it is and it is on this machine (a local or test server);
    managed services do not say."""
    if host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("/"):
        return None
    try:
        row = fetch_one(conn, "show_data_directory")
    except psycopg.Error:
        return None
    if not row or not row["data_directory"] or not os.path.isdir(os.path.join(row["data_directory"], subdir)):
        return None
    st = os.statvfs(os.path.join(row["data_directory"], subdir))
    return st.f_bavail * st.f_frsize


def _local_free_bytes(ctx: Context) -> int | None:
    return local_free_bytes(ctx.target, ctx.target_host)


def check_target_space(ctx: Context) -> list[Finding]:
    if not ctx.data:
        return []
    need = source_bytes(ctx)
    free, where = ctx.target_free_bytes, "the target_free_bytes Param"
    if free is None:
        free, where = _local_free_bytes(ctx), "the target's data directory"
    if free is None:
        return [_w("target space", f"the migrated objects take {need / 1e9:.2f} GB on the source; the target "
                                   f"server cannot tell its free space: give target_free_bytes to have it checked")]
    if need > free:
        return [_e("target space", f"the migrated objects take {need / 1e9:.2f} GB on the source but {where} "
                                   f"has only {free / 1e9:.2f} GB free: the target's storage must be larger than "
                                   f"the source's data",
                   f"give the target at least {need / 1e9:.2f} GB free (or correct target_free_bytes)")]
    return []


def _left_out_functions(plan: Plan) -> set[int]:
    """Functions the plan leaves out: excluded, C-language, depending on those, or of a schema brought along
    for some of its objects and not among them."""
    return {oid for c, oid in plan.left_out_entries if c == PG_PROC}


def _in_scope(ctx: Context, d) -> bool:
    """Would this dependent be migrated, were it not for what it depends on?"""
    chosen = {r.oid for r in ctx.plan.relations}
    kind, oid, _ = d.node
    if kind == "pg_class":
        return oid in chosen
    if d.table_oid:
        return d.table_oid in chosen
    return d.schema in {s.source for s in ctx.plan.schemas} or (d.schema is None and ctx.plan.whole_database)


SKIP_FIX = "set skip_unmigratable to true to leave them out, with exactly what depends on them"


def check_c_functions(ctx: Context) -> list[Finding]:
    """C-language functions do not migrate (DTS: 不支持迁移使用C语言编写的function), nor does anything that
    depends on them or on an excluded function: precheck names it all, with skip_unmigratable as the way
    to migrate the rest around them."""
    schemas = {s.source for s in ctx.plan.schemas}
    if ctx.skip_unmigratable:
        left = shown(d for d in ctx.plan.left_out_dependents if d.because != NOT_NEEDED)
        c_left = [f"{display(f.schema, f.name)}({f.args})" for f in ctx.plan.excluded_functions if f.schema in schemas
                  and any(x["oid"] == f.oid and x["language"] == "c" for x in ctx.catalog.functions)]
        if not c_left and not left:
            return []
        return [_w("C-language functions",
                   f"skip_unmigratable: left out C-language function(s) {names_list(c_left, 50)}"
                   + (f" and what depends on them or on excluded functions: {names_list((f'{d.type} {d.identity}' for d in left), 100)}"
                      if left else "")
                   + "; install the functions on the target yourself and create these objects there if needed")]
    excluded = _left_out_functions(ctx.plan)
    found = [f for f in ctx.catalog.functions
             if f["schema"] in schemas and f["language"] == "c" and f["oid"] not in excluded]
    left_out = {e for d in ctx.plan.left_out_dependents for e in d.entries}
    out = []
    if found:
        roots, dependents = unmigratable_dependents(ctx.catalog, [])
        dependents = shown([d for d in dependents if _in_scope(ctx, d) and d.node[1] not in excluded
                            and (d.class_oid, d.node[1]) not in left_out and any(roots.get(n, "") for n in _chain(ctx, d, roots)
                                    if n[0] == "pg_proc" and n[1] in {f["oid"] for f in found})])
        named = [function_label(f) for f in found]
        hint = ", ".join(f'"{display(f["schema"], f["name"])}"' for f in found[:3])
        deps = (f" These depend on them and cannot be created either: "
                f"{names_list((d.describe() for d in dependents), 30)}." if dependents else "")
        out.append(_e("C-language functions",
                      f"C-language functions cannot be migrated: {names_list(named)}. Add them to the exclude Param "
                      f"(for example {hint}) and install them on the target separately.{deps}",
                      ("exclude: [" + ", ".join(f'"{display(f["schema"], f["name"])}"' for f in found) + "]"
                       if not dependents else SKIP_FIX)))
    excluded_rows = [f for f in ctx.catalog.functions if f["oid"] in {x.oid for x in ctx.plan.excluded_functions}]
    if excluded_rows:
        graph = ctx.catalog.graph
        roots = {("pg_proc", f["oid"], 0): function_label(f) for f in excluded_rows}
        on_excluded = shown([d for d in graph.dependents_of(roots) if _in_scope(ctx, d) and d.node[1] not in excluded
                             and (d.class_oid, d.node[1]) not in left_out])
        if on_excluded:
            out.append(_e("dependencies",
                          f"objects depend on excluded function(s) and cannot be created without them: "
                          f"{names_list((d.describe() + ' (needs ' + _root_of(ctx, d, roots) + ')' for d in on_excluded), 30)}",
                          SKIP_FIX + ", or take the functions out of exclude"))
    return out


def _chain(ctx: Context, d, roots) -> list:
    """The nodes from `d` back to its root, following what brought each one into the closure."""
    cache = ctx.__dict__.setdefault("_closure_cache", {})
    key = tuple(sorted(roots))
    if key not in cache:
        cache[key] = ctx.catalog.graph.closure(roots)
    out, node = [], d.because
    while node is not None and node not in out:
        out.append(node)
        node = cache[key].get(node)
    return out


def _root_of(ctx: Context, d, roots) -> str:
    chain = _chain(ctx, d, roots)
    return roots.get(chain[-1], "?") if chain else "?"


def check_existing_objects(ctx: Context) -> list[Finding]:
    rows = fetch(ctx.target, "list_target_objects")
    existing = {(r["kind"], r["schema"], r["name"]) for r in rows}
    relations = {QualifiedName(r["schema"], r["name"]) for r in rows if r["kind"] == "relation"}
    smap = {s.source: s.target for s in ctx.plan.schemas}
    wanted = [r.target for r in ctx.plan.relations + ctx.plan.sequences]
    if not ctx.structure:   # data only: the tables must be there already
        missing = [str(r.target) for r in ctx.plan.data_tables if r.target not in relations]
        if missing:
            return [_e("target objects", f"migration_types has no structure, but the target lacks "
                                         f"{names_list(missing)}: create them or add structure")]
        return []
    clash = sorted({str(q) for q in wanted if q in relations})
    whole = {s.source for s in ctx.plan.schemas}
    excluded = {f.oid for f in ctx.plan.excluded_functions}
    for f in ctx.catalog.functions:
        if f["schema"] in whole and f["oid"] not in excluded and \
                ("function", smap[f["schema"]], f"{f['name']}({f['args']})") in existing:
            clash.append(f"function {display(smap[f['schema']], f['name'])}({f['args']})")
    for t in fetch(ctx.source, "list_types"):
        if t["schema"] in whole and ("type", smap[t["schema"]], t["name"]) in existing:
            clash.append(f"type {display(smap[t['schema']], t['name'])}")
    if clash:
        return [_e("target objects", f"the target already has {names_list(clash)}: drop them, choose other "
                                     f"objects, or rename them with the rename Param")]
    return []


def check_extensions(ctx: Context) -> list[Finding]:
    """What logical/extensions.py chose for the target (precheck hands it over as ctx.extensions): an
    extension the target cannot create in the source's version or a newer one, or has in another schema,
    blocks; one created in another version than the source's, or created at all, is said."""
    choice = ctx.extensions
    if choice is None:
        return []
    out = [_e("extensions", message, fix) for message, fix in choice.errors]
    out += [_w("extensions", w) for w in choice.warnings]
    if choice.to_create:
        out.append(_w("extensions", f"extension(s) {names_list(choice.to_create)} will be created on the target, "
                                    f"each in the source's schema"))
    return out


def check_roles(ctx: Context) -> list[Finding]:
    if not ctx.keep_owners or not ctx.structure:
        return []
    rel_oids = {r.oid for r in ctx.plan.relations + ctx.plan.sequences}
    schemas = {s.source for s in ctx.plan.schemas}
    left_out = _left_out_functions(ctx.plan)   # an owner of left-out functions alone is not needed
    func_oids = {f["oid"] for f in ctx.catalog.functions if f["schema"] in schemas and f["oid"] not in left_out}
    schema_oids = {r["oid"] for r in fetch(ctx.source, "list_schema_oids", schemas=sorted(schemas))}
    wanted = {}
    for r in fetch(ctx.source, "list_roles_used"):
        scope = {"relation": rel_oids, "function": func_oids, "schema": schema_oids}[r["on_kind"]]
        if r["oid"] in scope and r["role"]:
            wanted.setdefault(r["role"], set()).add(r["how"])
    existing = {r["role"] for r in fetch(ctx.target, "list_roles")}
    missing = sorted(set(wanted) - existing)
    if not missing:
        return []
    return [_e("roles", f"role(s) {names_list(display(m) for m in missing)} own or are granted migrated objects "
                        f"but do not exist on the target: create them there, or set keep_owners to false to "
                        f"give everything to the target user",
               "; ".join(f"CREATE ROLE {quote_ident(m)}" for m in missing) + " (on the target), or keep_owners=false")]


def check_rename_collisions(ctx: Context) -> list[Finding]:
    out = []
    seen: dict = {}
    for r in ctx.plan.relations + ctx.plan.sequences:
        seen.setdefault(r.target, []).append(str(r.source))
    for target, sources in seen.items():
        if len(sources) > 1:
            out.append(_e("rename collisions", f"{names_list(sources)} would all become {target}"))
    for r in ctx.plan.relations:
        cols: dict = {}
        for c in r.columns:
            cols.setdefault(c.target_name, []).append(c.name)
        for new, olds in cols.items():
            if len(olds) > 1:
                out.append(_e("rename collisions", f"columns {names_list(display(o) for o in olds)} of "
                                                   f"{r.source} would all be named {display(new)}"))
    return out


def check_dependencies(ctx: Context) -> list[Finding]:
    out = []
    chosen = {r.oid: r for r in ctx.plan.relations}
    by_oid = ctx.catalog.by_oid
    fk_missing = sorted({f"{chosen[fk['table_oid']].source} -> "
                         f"{display(by_oid[fk['referenced_oid']]['schema'], by_oid[fk['referenced_oid']]['name'])}"
                         f" ({display(fk['name'])})"
                         for fk in ctx.catalog.foreign_keys
                         if fk["table_oid"] in chosen and fk["referenced_oid"] not in chosen
                         and fk["referenced_oid"] in by_oid})
    if fk_missing:
        out.append(_e("dependencies", f"foreign key(s) reference tables left out of objects: "
                                      f"{names_list(fk_missing)}. Add the referenced tables to objects"))
    dropped = {(r.oid, c) for r in ctx.plan.relations for c in r.dropped_columns}
    col_names = {(c["table_oid"], c["num"]): c["name"] for c in ctx.catalog.columns}
    view_problems = set()
    for d in ctx.catalog.dependencies:
        ref = d["ref_table_oid"]
        if d["dep_kind"] != "view" or d["dep_oid"] not in chosen:
            continue
        if ref in by_oid and ref not in chosen and by_oid[ref]["relkind"] != "S" and ref != d["dep_oid"]:
            view_problems.add(f"{chosen[d['dep_oid']].source} uses "
                              f"{display(by_oid[ref]['schema'], by_oid[ref]['name'])}, which is not migrated")
        elif (ref, col_names.get((ref, d["column_num"]))) in dropped:
            view_problems.add(f"{chosen[d['dep_oid']].source} uses column "
                              f"{display(col_names[(ref, d['column_num'])])} of {chosen[ref].source}, "
                              f"which is left out")
    skipped = [f"{o.kind} {display(o.name)} on {o.table}" for o in ctx.plan.left_out_objects]
    if ctx.plan.brought_along:
        out.append(_w("dependencies", f"the chosen tables need objects of schemas not chosen, which come along "
                                      f"(alone, without the rest of their schema): "
                                      f"{names_list(ctx.plan.brought_along, 30)}"))
    policy_problems = sorted({f"policy {display(d['dep_name'])} on {chosen[d['dep_table_oid']].source} uses "
                              f"{display(by_oid[d['ref_table_oid']]['schema'], by_oid[d['ref_table_oid']]['name'])}"
                              for d in ctx.catalog.dependencies
                              if d["dep_kind"] == "policy" and d["dep_table_oid"] in chosen
                              and d["ref_table_oid"] in by_oid and d["ref_table_oid"] not in chosen
                              and by_oid[d["ref_table_oid"]]["relkind"] != "S"})
    if policy_problems:
        out.append(_e("dependencies", f"row level security policies use tables that are not migrated: "
                                      f"{names_list(policy_problems)}", "add those tables to objects"))
    if view_problems:
        out.append(_e("dependencies", f"view(s) depend on objects that are not migrated: "
                                      f"{names_list(sorted(view_problems))}. Add them to objects or leave the "
                                      f"view out with exclude"))
    if skipped:
        out.append(_w("dependencies", f"{names_list(skipped)} use(s) columns left out of the migration "
                                      f"and will not be created"))
    return out


def _coming_along(ctx: Context):
    """Schema-level objects pg_dump brings with the chosen schemas (functions, types, operators), as
    dependency-graph nodes, and the columns of the chosen tables."""
    schemas = {s.source for s in ctx.plan.schemas}
    excluded = {f.oid for f in ctx.plan.excluded_functions}
    left_out = {(d.type, d.identity) for d in ctx.plan.left_out_dependents}
    graph = ctx.catalog.graph
    row_types = graph.row_type_tables()
    chosen = {r.oid: r for r in ctx.plan.relations}
    for node, info in graph.info.items():
        kind, oid, sub = node
        if (info["obj_type"], info["obj_identity"]) in left_out:
            continue
        if kind == "pg_class" and sub > 0:
            r = chosen.get(oid)
            name = next((c["name"] for c in ctx.catalog.columns_of.get(oid, []) if c["num"] == sub), None)
            if r is not None and any(c.name == name for c in r.columns):
                yield node, info
        elif kind in ("pg_proc", "pg_operator") and info["obj_schema"] in schemas and oid not in excluded:
            yield node, info
        elif kind == "pg_type" and info["obj_schema"] in schemas and oid not in row_types and \
                not any(n[0] == "pg_type" and n[1] in row_types for n in graph.needs.get(node, ())):
            yield node, info


def check_needed_tables(ctx: Context) -> list[Finding]:
    """Functions, types and operators that come along with their schema, and the chosen columns, whose
    signatures name a table that is not chosen (its row type: `RETURNS SETOF public.customer`): creating
    them would need that table, so precheck refuses with both ways out."""
    chosen = {r.oid for r in ctx.plan.relations}
    by_oid = ctx.catalog.by_oid
    problems, tables, functions = [], set(), set()
    for node, info in _coming_along(ctx):
        missing = sorted(display(by_oid[t]["schema"], by_oid[t]["name"])
                         for t in ctx.catalog.graph.needed_relations(node)
                         if t in by_oid and t not in chosen and by_oid[t]["relkind"] != "S")
        if missing:
            problems.append(f"{info['obj_type']} {info['obj_identity']} needs {', '.join(missing)}")
            tables |= set(missing)
            if node[0] == "pg_proc":
                functions.add(info["obj_identity"].split("(", 1)[0])
    if not problems:
        return []
    fix = f"add {', '.join(sorted(tables))} to objects"
    if functions:
        fix += ", or exclude: [" + ", ".join(f'"{f}"' for f in sorted(functions)) + "]"
    return [_e("dependencies", f"objects that come with the chosen schemas use tables that are not migrated "
                               f"(their row types): {names_list(sorted(problems), 30)}", fix)]


def _words(names) -> re.Pattern | None:
    names = sorted({n for n in names if n}, key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"(?<![\w$])(" + "|".join(re.escape(n) for n in names) + r")(?![\w$])", re.IGNORECASE)


def check_renamed_text(ctx: Context) -> list[Finding]:
    """Function bodies are text PostgreSQL does not rewrite: warn where they still use an old name (DTS warns
    the same: renaming can break objects that depend on the renamed one), and where they name tables that
    are not migrated (the function fails on the target until they exist)."""
    out = []
    schemas = {s.source for s in ctx.plan.schemas}
    excluded = _left_out_functions(ctx.plan)
    functions = [f for f in ctx.catalog.functions if f["schema"] in schemas and f["oid"] not in excluded
                 and f["language"] in ("sql", "plpgsql")]
    old = {s.source for s in ctx.plan.schemas if s.source != s.target}
    old |= {r.source.name for r in ctx.plan.relations if r.target.name != r.source.name}
    old |= {c.name for r in ctx.plan.relations for c in r.columns if c.target_name != c.name}
    renamed = _words(old)
    if renamed:
        hits = [f"{function_label(f)} ({', '.join(sorted({m.lower() for m in renamed.findall(f['body'])}))})"
                for f in functions if renamed.search(f["body"])]
        if hits:
            out.append(_w("renames", f"the text of {names_list(hits)} mentions renamed objects by their old names; "
                                     f"PostgreSQL does not rewrite function bodies: review them on the target"))
    gone = [f for f in ctx.catalog.functions if f["oid"] in excluded and f["schema"] in schemas]
    calls = re.compile(r"(?<![\w$])(" + "|".join(re.escape(f["name"]) for f in gone) + r")\s*\(", re.IGNORECASE) \
        if gone else None
    if calls:
        hits = [f"{function_label(f)} ({', '.join(sorted({m.lower() for m in calls.findall(f['body'])}))})"
                for f in functions if calls.search(f["body"])]
        if hits:
            out.append(_w("dependencies", f"function bodies call functions that are left out (excluded, C-language, "
                                          f"or depending on those), which fail on the target when called: "
                                          f"{names_list(hits, 30)}"))
    chosen = {r.oid for r in ctx.plan.relations}
    unchosen = [r for r in ctx.catalog.relations if r["oid"] not in chosen and r["relkind"] != "S"]
    missing = _words(r["name"] for r in unchosen)
    if missing and unchosen:
        hits = []
        for f in functions:
            found = {m.lower() for m in missing.findall(f["body"])}
            if found:
                names = sorted(display(r["schema"], r["name"]) for r in unchosen if r["name"].lower() in found)
                hits.append(f"{function_label(f)} uses {', '.join(names)}")
        if hits:
            out.append(_w("dependencies", f"function bodies name tables that are not migrated (the functions fail on "
                                          f"the target until those exist): {names_list(hits, 30)}",
                          "add the tables to objects, or exclude the functions"))
    return out


_REG_TYPES = {"regclass", "regtype", "regproc", "regprocedure", "regoper", "regoperator", "regnamespace"}


def string_constants(text: str, is_query: bool) -> list[str]:
    """The string constants of a view, rule or expression, but not regclass-style literals (the rename
    rewrites those, as names)."""
    from pglast import ast, parse_sql
    try:
        tree = parse_sql(text if is_query else f"SELECT {text}")
    except Exception:   # noqa: BLE001 - text the server printed but this parser does not know: nothing to read
        return []
    found = []

    def visit(node):
        if isinstance(node, tuple):
            for x in node:
                visit(x)
            return
        if not isinstance(node, ast.Node):
            return
        if isinstance(node, ast.TypeCast) and node.typeName and node.typeName.names and \
                node.typeName.names[-1].sval in _REG_TYPES:
            return
        if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
            found.append(node.val.sval)
            return
        for attr in node:
            visit(getattr(node, attr))
    visit(tree)
    return found


def check_renamed_names_in_strings(ctx: Context) -> list[Finding]:
    """View, rule, policy, default and check texts are rewritten as parse trees, so a name inside a string
    constant (`to_regclass('public.film')`, `has_table_privilege('film', 'SELECT')`) keeps its old value:
    warned, naming the object and the constant."""
    if not ctx.plan.renamed:
        return []
    chosen = {r.oid: r for r in ctx.plan.relations}
    old_tables = {r.source.name for r in ctx.plan.relations if r.target.name != r.source.name}
    old_schemas = {s.source for s in ctx.plan.schemas if s.source != s.target}
    hits = []
    for row in fetch(ctx.source, "list_expression_texts"):
        r = chosen.get(row["table_oid"])
        if r is None or not row["definition"]:
            continue
        old_columns = {c.name for c in r.columns if c.target_name != c.name}
        pattern = _words(old_tables | old_schemas | old_columns)
        if pattern is None:
            continue
        for const in string_constants(row["definition"], row["is_query"]):
            if pattern.search(const):
                where = str(r.source) if row["kind"] == "view" else f"{display(row['name'])} on {r.source}"
                hits.append(f"{row['kind']} {where}: {const!r}")
    if not hits:
        return []
    return [_w("renames", f"string constants name renamed objects by their old names, which no rename rewrites "
                          f"(they are text): {names_list(hits, 30)}; review them on the target")]


def check_trigger_arguments(ctx: Context) -> list[Finding]:
    """Trigger arguments are text the trigger function reads; one that is exactly a renamed column of its
    table is renamed with it (tsvector_update_trigger('fts', 'pg_catalog.english', 'title')); one that
    names a left-out column would make every write fail on the target, so precheck refuses it."""
    from pglast import ast, parse_sql
    chosen = {r.oid: r for r in ctx.plan.relations}
    not_created = {(o.table, o.name) for o in ctx.plan.left_out_objects if o.kind == "trigger"} | \
        {(str(d.table), d.name) for d in ctx.plan.left_out_dependents if d.type == "trigger"}
    renamed, blocked = [], []
    for t in fetch(ctx.source, "list_triggers"):
        r = chosen.get(t["table_oid"])
        if r is None or not t["nargs"] or (str(r.source), t["name"]) in not_created:
            continue
        stmt = parse_sql(t["definition"])[0].stmt
        args = [a.sval for a in stmt.args or () if isinstance(a, ast.String)]
        new = {c.name: c.target_name for c in r.columns if c.target_name != c.name}
        for a in args:
            if a in new:
                renamed.append(f"{display(t['name'])} on {r.source}: {a!r} -> {new[a]!r}")
            elif a in r.dropped_columns:
                blocked.append(f"{display(t['name'])} on {r.source} passes {a!r}, a column left out")
    out = []
    if renamed:
        out.append(_w("renames", f"trigger arguments that name a renamed column are renamed with it: "
                                 f"{names_list(renamed)}"))
    if blocked:
        out.append(_e("dependencies", f"trigger arguments name columns left out of the migration (every write "
                                      f"would fail on the target): {names_list(blocked)}",
                      "add the columns to the table's column list"))
    return out


def can_switch_off_triggers(conn: psycopg.Connection) -> bool:
    """May this user set session_replication_role = replica (superuser, rds_superuser, or SET granted)?"""
    return switch_off_triggers(conn, probe_only=True)


def check_data_only_triggers(ctx: Context) -> list[Finding]:
    """Loading into existing tables: their triggers and foreign keys must be switched off for the load."""
    if ctx.structure or not ctx.data or can_switch_off_triggers(ctx.target):
        return []
    wanted = {r.target for r in ctx.plan.data_tables}
    hit = sorted(str(QualifiedName(*k)) for k in enabled_triggers(ctx.target) if QualifiedName(*k) in wanted)
    if not hit:
        return []
    user = ctx.target.info.user
    return [_e("target privileges", f"{names_list(hit)} have triggers or foreign keys on the target that would "
                                    f"act on every loaded row, and the target user may not set "
                                    f"session_replication_role = replica to switch them off during the load: use "
                                    f"a user allowed to (superuser, rds_superuser, or GRANT SET ON PARAMETER "
                                    f"session_replication_role), or migrate structure and data together "
                                    f"{_who(ctx.target, 'target')}",
               grant("SET ON PARAMETER session_replication_role", user) + " (PostgreSQL 15+), or add structure "
               "to migration_types")]


def check_unsupported_content(ctx: Context) -> list[Finding]:
    out = []
    foreign = [str(r.source) for r in ctx.plan.relations if r.relkind == "f"]
    if foreign:
        out.append(_w("content", f"foreign table(s) {names_list(foreign)}: the definition moves, the data stays "
                                 f"where it lives"))
    large_objects = fetch_one(ctx.source, "count_large_objects")["n"]
    if large_objects and not ctx.plan.whole_database:   # a whole-database run moves them (task large_objects)
        out.append(_w("content", f"the source has {large_objects} large object(s) (pg_largeobject); they move only "
                                 f"with the whole database (objects empty), as with pg_dump: not in this run"))
    return out


def check_write_activity(ctx: Context) -> list[Finding]:
    rows = fetch(ctx.source, "list_write_sessions")
    if not rows:
        return []
    who = [f"pid {r['pid']} ({r['user']}, {r['application_name'] or 'no application name'}, {r['state']})"
           for r in rows]
    return [_w("write freeze", f"session(s) with open write transactions on the source: {names_list(who)}. "
                               f"Stop all writes before the load: this mode has no incremental sync, and "
                               f"validate fails if the source changes")]


ALL_CHECKS = [check_versions, check_source_privileges, check_target_privileges, check_target_space,
              check_c_functions, check_existing_objects, check_extensions, check_roles, check_rename_collisions,
              check_dependencies, check_needed_tables, check_renamed_text, check_renamed_names_in_strings,
              check_trigger_arguments,
              check_unsupported_content, check_write_activity,
              check_data_only_triggers]
