"""What depends on what, from pg_depend (sql/list_object_dependencies.sql), and the closures pgferry needs:

- what cannot be created on the target because it depends, directly or through other objects, on an
  object that does not migrate (a C-language function, an excluded function): types whose I/O
  functions are C, their array types, operators, casts, aggregates and functions using them, columns of
  those types, views, indexes, constraints, defaults and triggers using any of these, and so on;
- which tables a function, type or column needs through its signature (a row type is its table's);
- which sequences chosen tables use through their column defaults (`nextval('seq')`).

A node is (catalog, oid, subid) as the SQL folds it: a column is (pg_class, table oid, attnum), a whole
object has subid 0. A whole object stands for its parts: what depends on any column of a table left
out depends on the table.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

Node = tuple[str, int, int]

TABLE_RELKINDS = ("r", "p", "f")       # relations whose columns can be left out one by one


def obj_node(row: dict) -> Node:
    return (row["obj_class"], row["obj_oid"], row["obj_subid"])


def ref_node(row: dict) -> Node:
    return (row["ref_class"], row["ref_oid"], row["ref_subid"])


@dataclass(frozen=True)
class Dependent:
    """One object of a closure, with the object it depends on that brought it in (`because`)."""
    node: Node
    class_oid: int            # its catalog's oid (a pg_dump TOC entry's catalog oid)
    type: str                 # pg_identify_object's type: "function", "type", "table column", "view", ...
    schema: str | None
    name: str | None
    identity: str             # pg_identify_object's identity: "public.int44in(pg_catalog.cstring)"
    relkind: str | None
    table_oid: int | None     # the table of an index, constraint, trigger, rule or policy
    raw: frozenset            # (catalog oid, oid) of the catalog rows folded into it (TOC entries)
    because: Node | None

    @property
    def is_column(self) -> bool:
        return self.node[0] == "pg_class" and self.node[2] > 0

    def describe(self) -> str:
        return f"{self.type} {self.identity}"


class DependencyGraph:
    """pg_depend of the source's user objects, indexed both ways."""

    def __init__(self, rows: list[dict]):
        self.rows = rows
        self.info: dict[Node, dict] = {}
        self.raw: dict[Node, set] = {}
        self.dependents: dict[tuple[str, int], list[tuple[int, Node]]] = {}   # (class, oid) -> (ref subid, obj)
        self.needs: dict[Node, list[Node]] = {}
        self._row_types: dict[int, int] | None = None
        for r in rows:
            o, ref = obj_node(r), ref_node(r)
            self.info.setdefault(o, r)
            self.raw.setdefault(o, set()).add((r["raw_class_oid"], r["raw_oid"]))
            self.dependents.setdefault(ref[:2], []).append((ref[2], o))
            self.needs.setdefault(o, []).append(ref)

    def closure(self, roots) -> dict[Node, Node | None]:
        """Every node that depends on a root, transitively: node -> the node that brought it in."""
        found: dict[Node, Node | None] = {tuple(r): None for r in roots}
        queue = deque(found)
        while queue:
            node = queue.popleft()
            for ref_subid, obj in self.dependents.get(node[:2], ()):
                # a whole object (subid 0) stands for all its columns; a column only for itself
                if (node[2] == 0 or ref_subid == node[2]) and obj not in found:
                    found[obj] = node
                    queue.append(obj)
        return found

    def dependent(self, node: Node, because: Node | None) -> Dependent | None:
        r = self.info.get(node)
        if r is None:
            return None
        return Dependent(node, r["obj_class_oid"], r["obj_type"], r["obj_schema"], r["obj_name"], r["obj_identity"],
                         r["obj_relkind"], r["obj_table_oid"], frozenset(self.raw.get(node, ())),
                         because)

    def dependents_of(self, roots) -> list[Dependent]:
        """The closure of `roots` without the roots themselves, in a stable order."""
        found = self.closure(roots)
        roots = {tuple(r) for r in roots}
        out = [self.dependent(n, b) for n, b in found.items() if n not in roots]
        return sorted((d for d in out if d is not None), key=lambda d: (d.type, d.identity))

    def row_type_tables(self) -> dict[int, int]:
        """A table's row type oid -> the table's oid (the type is internal to the table)."""
        if self._row_types is None:
            self._row_types = self._read_row_types()
        return self._row_types

    def _read_row_types(self) -> dict[int, int]:
        return {r["obj_oid"]: r["ref_oid"] for r in self.rows
                if r["obj_class"] == "pg_type" and r["ref_class"] == "pg_class" and r["ref_subid"] == 0
                and r["deptype"] == "i"}

    def needed_relations(self, node: Node) -> set[int]:
        """The relations `node` names directly: relations and tables' row types it depends on (an array of a
        row type through its element type)."""
        row_types = self.row_type_tables()
        out = set()
        for ref in self.needs.get(node, ()):
            if ref[0] == "pg_class" and ref[1] != node[1]:
                out.add(ref[1])
            elif ref[0] == "pg_type":
                if ref[1] in row_types:
                    out.add(row_types[ref[1]])
                else:   # an array type needs its element type
                    out |= {row_types[e[1]] for e in self.needs.get(ref, ())
                            if e[0] == "pg_type" and e[1] in row_types}
        return out

    def default_sequences(self, table_oids) -> set[int]:
        """Sequences the columns of these tables use in their defaults (nextval('seq'))."""
        tables = set(table_oids)
        return {r["ref_oid"] for r in self.rows
                if r["obj_class"] == "pg_class" and r["obj_subid"] > 0 and r["obj_oid"] in tables
                and r["raw_class_oid"] != r["obj_class_oid"]     # the default (pg_attrdef), folded into its column
                and r["ref_class"] == "pg_class" and r["ref_subid"] == 0}

    def requirements(self, starts, follow) -> set[Node]:
        """Everything `starts` needs, transitively, through the nodes `follow(node)` accepts."""
        found: set[Node] = set()
        queue = deque(starts)
        while queue:
            node = queue.popleft()
            for ref in self.needs.get(node, ()):
                if ref not in found and follow(ref):
                    found.add(ref)
                    queue.append(ref)
        return found
