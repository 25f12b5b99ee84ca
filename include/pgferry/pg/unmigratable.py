"""What cannot be created on the target, and how a person reads it: C-language functions (DTS does not
migrate them; the target lacks their shared library), the functions `exclude` names, and everything that
depends on them. Used by the plan (logical/selection.py) and by precheck (checks/pg.py) alike."""
from __future__ import annotations

from typing import TYPE_CHECKING

from include.pgferry.pg.dependencies import Dependent, Node
from include.pgferry.pg.names import display

if TYPE_CHECKING:
    from include.pgferry.pg.catalog import SourceCatalog


def function_label(f: dict) -> str:
    return f"{display(f['schema'], f['name'])}({f['args']})"


def unmigratable_roots(cat: SourceCatalog, excluded_functions) -> dict[Node, str]:
    """What cannot be created on the target: C-language functions (DTS does not migrate them; the target
    lacks their shared library) and the functions `exclude` names. Node -> how messages name it."""
    roots = {("pg_proc", f["oid"], 0): f"C-language function {function_label(f)}"
             for f in cat.functions if f["language"] == "c"}
    for f in excluded_functions:
        roots.setdefault(("pg_proc", f["oid"], 0), f"excluded function {function_label(f)}")
    return roots


def unmigratable_dependents(cat: SourceCatalog, excluded_functions) -> tuple[dict[Node, str], list[Dependent]]:
    """The roots, and everything that depends on them (pg_depend, transitively)."""
    roots = unmigratable_roots(cat, excluded_functions)
    return roots, (cat.graph.dependents_of(roots) if roots else [])


RELATION_TYPES = ("table", "view", "materialized view", "foreign table", "composite type")


def shown(dependents) -> list:
    """The dependents a person needs to read: not the row types of left-out relations, not array types
    (they come and go with their element type or relation)."""
    dependents = list(dependents)
    relations = {d.identity for d in dependents if d.type in RELATION_TYPES}
    return [d for d in dependents if not (d.type == "type" and (d.identity.endswith("[]") or d.identity in relations))]
