"""Turns the `objects`, `rename` and `exclude` Params into a migration plan against the source catalog.

The plan (model.Plan; its XCom form is plain JSON) says which schemas and relations move, under which
target names, which columns of each table are copied, and which relations pg_dump must leave out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from include.pgferry.model import (Column, ExcludedFunction, LeftOutObject, Plan, QualifiedName, Relation, SchemaMove,
                                   Sequence)
from include.pgferry.pg.catalog import SourceCatalog
from include.pgferry.pg.names import (NameSyntaxError, ObjectSpec, display, parse_bare_name, parse_object_spec,
                                   parse_rename_key, split_qualified)

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


def build_plan(cat: SourceCatalog, objects, rename, exclude) -> tuple[Plan, InputProblems]:
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

    schemas = sorted({cat.by_oid[o]["schema"] for o in chosen} | whole_schemas)

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

    # 4. sequences: owned ones follow their table, free-standing ones their schema
    sequences = []
    for seq in cat.sequences:
        owner = seq["owner_table_oid"]
        if owner is not None:
            keep = owner in chosen and (chosen[owner] is None or seq["owner_column"] in chosen[owner])
        else:
            keep = seq["schema"] in schemas and (seq["schema"], seq["name"]) not in excludes
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
                                 binary_copy_safe(c), c["generated"], c["identity"]) for c in selected),
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
            left_out[(d["dep_kind"], d["dep_oid"])] = LeftOutObject(
                d["dep_kind"], d["dep_name"], relation_key(cat.by_oid[d["dep_table_oid"]]))

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
    )
    return plan, problems


def relation_key(rel: dict) -> str:
    """How messages name a catalog relation (a row of list_relations.sql)."""
    return display(rel["schema"], rel["name"])
