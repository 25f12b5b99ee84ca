"""Fingerprint of a database and the comparison of a copy against its source.

Per table (every leaf table, partition and populated materialized view): row count and an
order-independent content checksum, sum(hashtext(row::text)) computed in SQL (each table read once,
tables spread over parallel sessions); sequence states; an inventory of schema objects (indexes,
constraints, triggers, views, functions, types, comments, ...). Both sides are read with the same
session settings, so values render the same way.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg

SESSION = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3"

TABLES = """
SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, coalesce(m.ispopulated, true)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_matviews m ON m.schemaname = n.nspname AND m.matviewname = c.relname
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
ORDER BY pg_relation_size(c.oid) DESC, 1"""

SEQUENCES = """SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences
WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"""

# what the copy must recreate (adapted from ../shared/bench-anchor/fingerprint.sh)
OBJECTS = [
    "select 'index '||schemaname||'.'||tablename||' '||indexname||' '||md5(indexdef) from pg_indexes where schemaname not in ('pg_catalog','information_schema')",
    "select 'constraint '||conrelid::regclass||' '||conname||' '||contype::text||' '||convalidated||' '||md5(pg_get_constraintdef(oid)) from pg_constraint where connamespace='public'::regnamespace",
    "select 'trigger '||tgrelid::regclass||' '||tgname||' '||tgenabled::text from pg_trigger where not tgisinternal",
    "select 'view '||schemaname||'.'||viewname||' '||md5(definition) from pg_views where schemaname='public'",
    "select 'matview '||schemaname||'.'||matviewname||' populated='||ispopulated from pg_matviews",
    "select 'function '||p.oid::regprocedure||' '||md5(p.prosrc) from pg_proc p where pronamespace='public'::regnamespace",
    "select 'type '||t.typname||' '||t.typtype::text from pg_type t where t.typnamespace='public'::regnamespace and t.typtype in ('e','d')",
    "select 'enum '||enumtypid::regtype||' '||string_agg(enumlabel, ',' order by enumsortorder) from pg_enum group by enumtypid",
    "select 'partition '||inhparent::regclass||' '||inhrelid::regclass||' '||pg_get_expr(c.relpartbound, c.oid) from pg_inherits i join pg_class c on c.oid=i.inhrelid where c.relkind in ('r','p')",
    "select 'comment '||classoid::regclass||' '||coalesce(pg_describe_object(classoid, objoid, objsubid),'?')||' '||md5(description) from pg_description d where objoid >= 16384",
    "select 'identity '||attrelid::regclass||'.'||attname||' '||attidentity::text from pg_attribute where attidentity <> '' and attrelid >= 16384",
    "select 'generated '||attrelid::regclass||'.'||attname||' '||attgenerated::text from pg_attribute where attgenerated <> '' and attrelid >= 16384",
    "select 'columns '||a.attrelid::regclass||' '||md5(string_agg(a.attname||':'||format_type(a.atttypid,a.atttypmod)||':'||a.attnotnull||':'||coalesce(pg_get_expr(d.adbin,d.adrelid),''), ',' order by a.attnum)) from pg_attribute a join pg_class c on c.oid=a.attrelid left join pg_attrdef d on d.adrelid=a.attrelid and d.adnum=a.attnum where c.relnamespace='public'::regnamespace and c.relkind in ('r','p','v','m') and a.attnum>0 and not a.attisdropped group by a.attrelid",
]


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True, options=SESSION, application_name="pgferry-bench verify")


def fingerprint(dsn: str, workers: int = 2, data: bool = True) -> dict:
    """{'tables': {name: [kind, rows, checksum]}, 'sequences': {name: [last, called]}, 'objects': [...]}"""
    with connect(dsn) as conn:
        tables = conn.execute(TABLES).fetchall()
        seqs = {}
        for (s,) in conn.execute(SEQUENCES).fetchall():
            last, called = conn.execute(f"SELECT last_value, is_called FROM {s}").fetchone()
            seqs[s] = [int(last), bool(called)]
        objects = sorted(r[0] for q in OBJECTS for r in conn.execute(q).fetchall())
    out = {"tables": {}, "sequences": seqs, "objects": objects}
    todo = []
    for name, kind, populated in tables:
        if not data:
            out["tables"][name] = [kind, None, None]
        elif not populated:
            out["tables"][name] = [kind, "NOT-POPULATED", None]
        else:
            todo.append((name, kind))

    def run(batch):
        with connect(dsn) as c:
            for name, kind in batch:
                rows, digest = c.execute(
                    f"SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM ONLY {name} t").fetchone()
                out["tables"][name] = [kind, int(rows), str(digest)]

    if todo:
        n = max(1, min(workers, len(todo)))
        with ThreadPoolExecutor(n) as pool:   # largest first, dealt round-robin
            list(pool.map(run, [todo[i::n] for i in range(n)]))
    out["tables"] = dict(sorted(out["tables"].items()))
    return out


def compare(source: dict, target: dict) -> tuple[str, list[str]]:
    """('ok' | 'objects-differ' | 'FAIL', differences). FAIL: any table's rows/checksum or a sequence."""
    diffs = []
    for name in sorted(set(source["tables"]) | set(target["tables"])):
        s, t = source["tables"].get(name), target["tables"].get(name)
        if s != t:
            diffs.append(f"table {name}: source {s} target {t}")
    for name in sorted(set(source["sequences"]) | set(target["sequences"])):
        s, t = source["sequences"].get(name), target["sequences"].get(name)
        if s != t:
            diffs.append(f"sequence {name}: source {s} target {t}")
    data_bad = bool(diffs)
    so, to = set(source["objects"]), set(target["objects"])
    diffs += [f"object only on source: {o}" for o in sorted(so - to)]
    diffs += [f"object only on target: {o}" for o in sorted(to - so)]
    if data_bad:
        return "FAIL", diffs
    return ("objects-differ" if diffs else "ok"), diffs
