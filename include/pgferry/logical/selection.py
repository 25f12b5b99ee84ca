"""Turns the `objects`, `rename` and `exclude` Params into a migration plan against the source catalog.

The plan (model.Plan; its XCom form is plain JSON) says which schemas and relations move, under which
target names, which columns of each table are copied, and which relations pg_dump must leave out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from include.pgferry.model import (NOT_NEEDED, PG_CLASS, PG_CONSTRAINT, PG_POLICY, PG_TRIGGER, Column,
                                   ExcludedFunction, LeftOutDependent, LeftOutObject, Plan, QualifiedName, Relation,
                                   SchemaMove, Sequence)
from include.pgferry.pg.catalog import SourceCatalog
from include.pgferry.pg.dependencies import Dependent, Node
from include.pgferry.pg.unmigratable import unmigratable_dependents
from include.pgferry.pg.names import (NameSyntaxError, ObjectSpec, display, dump_ident, parse_bare_name,
                                   parse_object_spec, parse_rename_key, split_qualified)

TABLE_RELKINDS = ("r", "p")      # what `schema.table` may name for a column list
FIRST_USER_OID = 16384           # FirstNormalObjectId: types below it are built in


def binary_copy_safe(column: dict) -> bool:
    """Can binary COPY carry this column between two servers of the same major version? Built-in types
    and arrays of them, enums (sent as their label) and domains over built-in types (sent as the base
    type) can; composites and arrays of user types cannot: their binary form embeds type OIDs, which
    differ between databases."""
    if column["type_oid"] < FIRST_USER_OID:
        return True
    if column["type_kind"] == "e":
        return True
    return column["type_kind"] == "d" and column["base_type_oid"] < FIRST_USER_OID


@dataclass
class InputProblems:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_inputs(objects, rename, exclude) -> tuple[list[ObjectSpec], dict, list, InputProblems]:
    """Syntax only: every malformed entry is reported, none stops the others from being read."""
    problems = InputProblems()
    specs = []
    for text in objects or []:
        try:
            specs.append(parse_object_spec(text))
        except NameSyntaxError as e:
            problems.errors.append(f"objects: {e}")
    renames = {}
    for key, new in (rename or {}).items():
        try:
            k = parse_rename_key(key)
            renames[k] = parse_bare_name(new, f"rename {key!r}")
        except NameSyntaxError as e:
            problems.errors.append(f"rename: {e}")
    excludes = []
    for text in exclude or []:
        try:
            parts, i = split_qualified(text, max_parts=2)
            if len(parts) != 2 or i != len(text.rstrip()):
                raise NameSyntaxError(f"{text!r}: give schema.name of a table, view, sequence or function")
            excludes.append(tuple(parts))
        except NameSyntaxError as e:
            problems.errors.append(f"exclude: {e}")
    return specs, renames, excludes, problems


def dump_tag(d: Dependent, table: dict | None) -> str:
    """How pg_dump tags the COMMENT entry of a left-out object that may have no TOC entry of its own for the
    comment to follow: a check constraint written inside its table's CREATE TABLE. Every other object's
    comments, grants and security labels follow its own entry (SchemaArchive)."""
    if d.type == "table constraint" and table is not None:
        return constraint_tag(own_name(d), table)
    return ""


def constraint_tag(name: str, table: dict) -> str:
    return f"CONSTRAINT {dump_ident(name)} ON {dump_ident(table['name'])}"


LEFT_OUT_CATALOGS = {"index": PG_CLASS, "trigger": PG_TRIGGER, "policy": PG_POLICY}   # the rest: constraints


SCHEMA_LEVEL = ("pg_proc", "pg_type", "pg_operator", "pg_collation", "pg_opclass", "pg_opfamily", "pg_conversion",
                "pg_ts_config", "pg_ts_dict", "pg_statistic_ext")
FOLLOWED = ("pg_type", "pg_proc", "pg_operator", "pg_collation", "pg_opclass", "pg_opfamily", "pg_class")


def required_objects(cat: SourceCatalog, chosen: dict) -> set:
    """What the chosen relations, their columns, indexes, constraints, triggers, rules and policies need, transitively (types, domains, functions, operators,
    collations, sequences), not going through other tables (a table not chosen is a refusal, not something
    to bring along) nor row types of tables."""
    row_types = cat.graph.row_type_tables()
    starts = []
    for oid, cols in chosen.items():
        starts.append(("pg_class", oid, 0))
        starts += [("pg_class", oid, c["num"]) for c in cat.columns_of.get(oid, []) if cols is None or c["name"] in cols]
    # and what belongs to them: indexes, constraints, triggers (a trigger function of another schema), rules, policies
    starts += [n for n, info in cat.graph.info.items() if info["obj_table_oid"] in chosen]

    def follow(node):
        kind, oid, sub = node
        if kind not in FOLLOWED or (kind == "pg_type" and oid in row_types):
            return False
        if kind == "pg_class":
            return sub == 0 and (cat.by_oid.get(oid) or {}).get("relkind") == "S"
        return True
    return cat.graph.requirements(starts, follow)


def own_name(d: Dependent) -> str | None:
    """The bare name of an object that belongs to a table (pg_identify_object: `name on schema.table`)."""
    if d.table_oid and " on " in d.identity:
        head = d.identity.rsplit(" on ", 1)[0]
        return head[1:-1].replace('""', '"') if head.startswith('"') and head.endswith('"') else head
    return d.name


def because_label(cat: SourceCatalog, roots: dict[Node, str], node: Node | None) -> str:
    if node in roots:
        return roots[node]
    info = cat.graph.info.get(node)
    return f"{info['obj_type']} {info['obj_identity']}" if info else "?"


def build_plan(cat: SourceCatalog, objects, rename, exclude, skip_unmigratable: bool = False
               ) -> tuple[Plan, InputProblems]:
    specs, renames, excludes, problems = parse_inputs(objects, rename, exclude)
    schema_names = {s["schema"] for s in cat.schemas}

    # 1. which relations are chosen, and with which columns
    whole_schemas: set[str] = set()
    chosen: dict[int, tuple[str, ...] | None] = {}   # relation oid -> selected columns (None = all)
    if not specs:
        whole_schemas = set(schema_names)
    for spec in specs:
        if spec.schema not in schema_names:
            problems.errors.append(f"objects: schema {display(spec.schema)} does not exist in the source database")
            continue
        if spec.table is None:
            whole_schemas.add(spec.schema)
            continue
        rel = cat.by_name.get((spec.schema, spec.table))
        if rel is None or rel["relkind"] == "S":
            problems.errors.append(f"objects: {display(spec.schema, spec.table)} is not a table or view in the "
                                   f"source database")
            continue
        if spec.columns is not None:
            if rel["relkind"] not in TABLE_RELKINDS:
                problems.errors.append(f"objects: {spec} selects columns of a view; select columns of tables only")
                continue
            known = {c["name"] for c in cat.columns_of.get(rel["oid"], [])}
            missing = [c for c in spec.columns if c not in known]
            if missing:
                problems.errors.append(f"objects: {display(spec.schema, spec.table)} has no column "
                                       f"{', '.join(display(c) for c in missing)}")
                continue
        chosen[rel["oid"]] = spec.columns
    for rel in cat.relations:
        if rel["schema"] in whole_schemas and rel["relkind"] != "S":
            chosen.setdefault(rel["oid"], None)
    # partitions follow their parent, whatever schema they live in
    changed = True
    while changed:
        changed = False
        for rel in cat.relations:
            if rel["parent_oid"] in chosen and rel["oid"] not in chosen and rel["is_partition"]:
                chosen[rel["oid"]] = chosen[rel["parent_oid"]]
                changed = True

    # 2. exclusions
    excluded_functions = []
    for schema, name in excludes:
        rel = cat.by_name.get((schema, name))
        funcs = [f for f in cat.functions if f["schema"] == schema and f["name"] == name]
        if rel is not None:
            chosen.pop(rel["oid"], None)
        elif funcs:
            excluded_functions.extend(funcs)
        else:
            problems.errors.append(f"exclude: {display(schema, name)} is neither a relation nor a function in "
                                   f"the source database")

    # 2b. skip_unmigratable: C-language functions and exactly what depends on them (and on the excluded
    # functions) are left out; a table keeps its other columns when only some depend on them
    left_out_dependents: list[LeftOutDependent] = []
    roots: dict[Node, str] = {}
    if skip_unmigratable:
        c_functions = [f for f in cat.functions if f["language"] == "c"
                       and f["oid"] not in {x["oid"] for x in excluded_functions}]
        roots, dependents = unmigratable_dependents(cat, excluded_functions + c_functions)
        excluded_functions.extend(c_functions)
        functions_by_oid = {f["oid"]: f for f in cat.functions}
        for d in dependents:
            kind, oid, sub = d.node
            if kind == "pg_proc":
                if oid in functions_by_oid and oid not in {x["oid"] for x in excluded_functions}:
                    excluded_functions.append(functions_by_oid[oid])
            elif kind == "pg_class" and sub > 0 and d.relkind in TABLE_RELKINDS + ("f",):
                if oid in chosen:
                    name = next((c["name"] for c in cat.columns_of.get(oid, []) if c["num"] == sub), None)
                    cols = chosen[oid] if chosen[oid] is not None else \
                        tuple(c["name"] for c in cat.columns_of.get(oid, []))
                    chosen[oid] = tuple(c for c in cols if c != name)
            elif kind == "pg_class" and oid in cat.by_oid:
                chosen.pop(oid, None)
            table = cat.by_oid.get(d.table_oid) if d.table_oid else None
            left_out_dependents.append(LeftOutDependent(
                d.type, d.identity, d.schema, because_label(cat, roots, d.because),
                () if d.is_column else tuple(sorted(d.raw | {(d.class_oid, oid)})), dump_tag(d, table),
                QualifiedName(table["schema"], table["name"]) if table else None, own_name(d)))

    # 2c. what the chosen relations need from schemas that do not move (a column's type, a default's
    # function or sequence): that schema comes along with only those objects (and what they need)
    base_schemas = {cat.by_oid[o]["schema"] for o in chosen} | whole_schemas
    brought: list[str] = []
    needed = required_objects(cat, chosen)
    foreign = {n for n in needed if (cat.graph.info.get(n) or {}).get("obj_schema") not in base_schemas | {None}}
    brought_schemas = {cat.graph.info[n]["obj_schema"] for n in foreign}
    for n in sorted(foreign):
        info = cat.graph.info[n]
        brought.append(f"{info['obj_type']} {info['obj_identity']}")
    for kind, oid, _ in needed:   # a sequence a needed function uses (nextval in a BEGIN ATOMIC body)
        if kind == "pg_class" and oid in cat.by_oid:
            chosen.setdefault(oid, None)
    for node, info in cat.graph.info.items():
        if info["obj_schema"] in brought_schemas and node[0] in SCHEMA_LEVEL and node[2] == 0 \
                and node not in needed:
            d = cat.graph.dependent(node, None)
            left_out_dependents.append(LeftOutDependent(
                d.type, d.identity, d.schema, NOT_NEEDED, tuple(sorted(d.raw | {(d.class_oid, node[1])})),
                "", None, d.name))

    schemas = sorted({cat.by_oid[o]["schema"] for o in chosen} | whole_schemas | brought_schemas)

    # 3. renames, checked against what is chosen
    schema_map = {s: s for s in schemas}
    table_map: dict[int, str] = {}
    column_map: dict[tuple[int, str], str] = {}
    for key, new in renames.items():
        where = display(*key)
        if len(key) == 1:
            if key[0] not in schema_map:
                problems.errors.append(f"rename: schema {where} is not among the migrated objects")
                continue
            schema_map[key[0]] = new
            continue
        rel = cat.by_name.get(key[:2])
        if rel is None or rel["oid"] not in chosen:
            problems.errors.append(f"rename: {display(*key[:2])} is not among the migrated objects")
            continue
        if len(key) == 2:
            table_map[rel["oid"]] = new
            continue
        cols = chosen[rel["oid"]]
        known = {c["name"] for c in cat.columns_of.get(rel["oid"], [])}
        if key[2] not in known or (cols is not None and key[2] not in cols):
            problems.errors.append(f"rename: column {where} is not among the migrated columns")
            continue
        column_map[(rel["oid"], key[2])] = new

    # 4. sequences: owned ones follow their table (and column); free-standing ones their schema when it
    # moves whole, otherwise only those a chosen column's default uses (nextval('seq'))
    used = cat.graph.default_sequences(
        o for o, cols in chosen.items() if cat.by_oid[o]["relkind"] != "S")
    used_by_chosen_columns = set()
    for r in cat.graph.rows:
        if r["obj_class"] == "pg_class" and r["obj_subid"] > 0 and r["ref_oid"] in used \
                and r["obj_oid"] in chosen and r["raw_class_oid"] != r["obj_class_oid"]:
            cols = chosen[r["obj_oid"]]
            name = next((c["name"] for c in cat.columns_of.get(r["obj_oid"], []) if c["num"] == r["obj_subid"]), None)
            if cols is None or name in cols:
                used_by_chosen_columns.add(r["ref_oid"])
    needed_oids = {oid for kind, oid, _ in needed if kind == "pg_class"}
    sequences = []
    for seq in cat.sequences:
        owner = seq["owner_table_oid"]
        if owner is not None:
            keep = owner in chosen and (chosen[owner] is None or seq["owner_column"] in chosen[owner])
        else:
            keep = (seq["schema"] in whole_schemas or seq["oid"] in used_by_chosen_columns or seq["oid"] in needed_oids) and \
                (seq["schema"], seq["name"]) not in excludes
        rel = cat.by_name[(seq["schema"], seq["name"])]
        if keep:
            sequences.append(Sequence(seq["oid"], QualifiedName(seq["schema"], seq["name"]),
                                      QualifiedName(schema_map.get(seq["schema"], seq["schema"]), seq["name"]),
                                      owner, seq["owner_column"]))
            chosen.setdefault(rel["oid"], None)

    # 5. tables and views with their target names and column lists
    relations = []
    for oid, cols in chosen.items():
        rel = cat.by_oid[oid]
        if rel["relkind"] == "S":
            continue
        all_cols = cat.columns_of.get(oid, [])
        selected = [c for c in all_cols if cols is None or c["name"] in cols]
        relations.append(Relation(
            oid=oid, source=QualifiedName(rel["schema"], rel["name"]),
            target=QualifiedName(schema_map.get(rel["schema"], rel["schema"]), table_map.get(oid, rel["name"])),
            relkind=rel["relkind"], bytes=rel["bytes"], is_partition=rel["is_partition"], parent_oid=rel["parent_oid"],
            est_rows=rel["est_rows"], owner=rel["owner"], populated=rel["populated"],
            columns=tuple(Column(c["name"], column_map.get((oid, c["name"]), c["name"]), c["type"], c["type_oid"],
                                 binary_copy_safe(c), c["generated"], c["identity"], c.get("type_extension") or "")
                    for c in selected),
            dropped_columns=tuple(c["name"] for c in all_cols if cols is not None and c["name"] not in cols)))
    relations.sort(key=lambda r: r.source)

    # 6. what pg_dump must leave out of the chosen schemas
    chosen_oids = set(chosen)
    excluded_relations = sorted(
        QualifiedName(r["schema"], r["name"]) for r in cat.relations
        if r["schema"] in schemas and r["oid"] not in chosen_oids)

    # indexes, constraints, triggers and policies that need a left-out column are not created
    dropped = {(r.oid, c) for r in relations for c in r.dropped_columns}
    col_names = {(c["table_oid"], c["num"]): c["name"] for c in cat.columns}
    left_out = {}
    for d in cat.dependencies:
        if d["dep_kind"] != "view" and d["dep_table_oid"] in chosen and \
                (d["ref_table_oid"], col_names.get((d["ref_table_oid"], d["column_num"]))) in dropped:
            table = cat.by_oid[d["dep_table_oid"]]
            catalog = LEFT_OUT_CATALOGS.get(d["dep_kind"], PG_CONSTRAINT)
            left_out[(d["dep_kind"], d["dep_oid"])] = LeftOutObject(
                d["dep_kind"], d["dep_name"], relation_key(table), (catalog, d["dep_oid"]), table["schema"],
                constraint_tag(d["dep_name"], table) if catalog == PG_CONSTRAINT else "")

    plan = Plan(
        source_version_num=cat.version_num,
        schemas=tuple(SchemaMove(s, schema_map[s], s in whole_schemas) for s in schemas),
        relations=tuple(relations),
        sequences=tuple(sequences),
        excluded_relations=tuple(excluded_relations),
        excluded_functions=tuple(ExcludedFunction(f["oid"], f["schema"], f["name"], f["args"])
                                 for f in excluded_functions),
        renamed=bool(renames),
        left_out_objects=tuple(sorted(left_out.values(), key=lambda o: (o.kind, o.table, o.name))),
        # no objects given: pg_dump runs without --schema, so database-level objects (event triggers,
        # extensions) come along as in a whole-database DTS migration
        whole_database=not specs,
        left_out_dependents=tuple(left_out_dependents),
        brought_along=tuple(brought),
    )
    return plan, problems


def relation_key(rel: dict) -> str:
    """How messages name a catalog relation (a row of list_relations.sql)."""
    return display(rel["schema"], rel["name"])
