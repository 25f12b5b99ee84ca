"""The validate checksum: equal for the same rows in any order and across databases, different as soon as
any value a copy could change differs, whichever hash the servers allow."""
import psycopg
import pytest

from include.pgferry.pg.endpoint import SESSION_OPTIONS
from include.pgferry.logical.comparison import checksum_query, row_hash

pytestmark = pytest.mark.integration

SCHEMA = """
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN cents AS numeric(12, 2);
    CREATE COLLATION IF NOT EXISTS ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
    CREATE TABLE t (id int PRIMARY KEY, amount numeric, price cents, ratio float8, span interval, tags int[],
                    mood mood, name text COLLATE ci, code char(3), doc jsonb, raw bytea, at timestamptz,
                    point point, uid uuid);
"""
ROWS = [
    """(1, 1.0, 2.50, 0, '1 day', '{1,2,3,4}', 'ok', 'Alice', 'ab', '{"a": [1, 2]}', '\\x00ff',
        '2024-01-01 10:00+00', '(1,2)', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')""",
    "(2, NULL, 0, 1.5, '2 hours', '{}', 'happy', 'bob', NULL, NULL, '', '2024-06-01 00:00+02', NULL, NULL)",
    "(3, -7.125, 1, 'NaN', '0', NULL, NULL, '', 'xyz', '[]', NULL, NULL, '(0,0)', NULL)",
]


def inserts(rows):
    return "".join(f"INSERT INTO t VALUES {r};" for r in rows)


# one change at a time, each of which a type's own hash would miss (1.0 = 1.00, 0 = -0, '1 day' = '24 hours',
# hash ignores array dimensions, 'Alice' = 'alice' under a case-insensitive collation) or that moves a row
CHANGES = {
    "numeric scale": "UPDATE t SET amount = 1.00 WHERE id = 1",
    "float sign of zero": "UPDATE t SET ratio = '-0' WHERE id = 1",
    "interval units": "UPDATE t SET span = '24 hours' WHERE id = 1",
    "array dimensions": "UPDATE t SET tags = '{{1,2},{3,4}}' WHERE id = 1",
    "enum label": "UPDATE t SET mood = 'sad' WHERE id = 2",
    "case under a nondeterministic collation": "UPDATE t SET name = 'alice' WHERE id = 1",
    "domain value": "UPDATE t SET price = 2.51 WHERE id = 1",
    "jsonb": """UPDATE t SET doc = '{"a": [2, 1]}' WHERE id = 1""",
    "bytea": "UPDATE t SET raw = '\\x00fe' WHERE id = 1",
    "timestamptz": "UPDATE t SET at = at + interval '1 microsecond' WHERE id = 1",
    "type without a hash (point)": "UPDATE t SET point = '(1,3)' WHERE id = 1",
    "null to empty": "UPDATE t SET code = '' WHERE id = 2",
    "a row lost": "DELETE FROM t WHERE id = 3",
    "values exchanged between two rows (hashed directly)":
        "UPDATE t SET code = CASE id WHEN 1 THEN 'xyz' ELSE 'ab' END WHERE id IN (1, 3)",
    "values exchanged between two rows (hashed in the record)":
        "UPDATE t SET amount = CASE id WHEN 1 THEN -7.125 ELSE 1.0 END WHERE id IN (1, 3)",
    "a row duplicated": "ALTER TABLE t DROP CONSTRAINT t_pkey; INSERT INTO t SELECT * FROM t WHERE id = 2",
}


@pytest.fixture(scope="module")
def source_db(pg_source):
    pg_source.recreate_db("checksum_src")
    pg_source.execute(SCHEMA + inserts(ROWS), dbname="checksum_src")
    return "checksum_src"


@pytest.fixture
def copied(pg_target, target_db):
    """The same rows on the target, inserted in another order, with the enum under another OID."""
    pg_target.execute("CREATE TYPE shifts_oids AS ENUM ('x');" + SCHEMA, dbname=target_db)
    pg_target.execute(inserts(reversed(ROWS)), dbname=target_db)
    return target_db


def checksum(cluster, dbname, hash_name):
    with psycopg.connect(cluster.dsn(dbname), options=SESSION_OPTIONS, autocommit=True) as conn:
        columns = conn.execute("SELECT attname, atttypid::bigint FROM pg_attribute WHERE attrelid = 't'::regclass "
                               "AND attnum > 0 AND NOT attisdropped ORDER BY attnum").fetchall()
        return tuple(conn.execute(checksum_query("public", "t", columns, hash_name)).fetchone())


def test_servers_of_14_or_later_use_the_columns_hash(pg_source, pg_target):
    assert row_hash(150004, 140010) == "columns"
    assert row_hash(150004, 130000) == "hashtextextended"
    assert row_hash(100000, 150004) == "md5"


@pytest.mark.parametrize("hash_name", ["columns", "record", "hashtextextended", "md5"])
def test_same_rows_in_another_order_and_database_give_the_same_checksum(hash_name, pg_source, pg_target,
                                                                        source_db, copied):
    src = checksum(pg_source, source_db, hash_name)
    assert src[0] == 3
    assert checksum(pg_target, copied, hash_name) == src


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_kind_of_difference_changes_the_columns_checksum(change, pg_source, pg_target, source_db, copied):
    before = checksum(pg_target, copied, "columns")
    pg_target.execute(CHANGES[change], dbname=copied)
    after = checksum(pg_target, copied, "columns")
    assert after != before, f"{change} went unnoticed"
    assert after != checksum(pg_source, source_db, "columns")


PAIRS = 300
LAYOUTS = {   # column types, and the two values of column b in pair i
    "hashed directly": (("int", "text", "numeric"), lambda i: (f"b{i}", f"c{i}")),
    "all in the record": (("numeric", "numeric", "numeric"), lambda i: (i * 2.25, i * 3.5 + 1)),
}


def _pair_sums(conn, columns, hash_name, b_values, swapped: bool) -> list:
    """The checksum of each of PAIRS two-row tables, as loaded or with column b exchanged between the rows."""
    query = checksum_query("public", "pairs", columns, hash_name)
    out = []
    for i in range(PAIRS):
        conn.execute("TRUNCATE pairs")
        first, second = b_values(i)[::-1] if swapped else b_values(i)
        conn.execute("INSERT INTO pairs VALUES (%s, %s, %s), (%s, %s, %s)",
                     (i, first, i * 1.5, i + 1, second, (i + 1) * 1.5))
        out.append(tuple(conn.execute(query).fetchone()))
    return out


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_exchanging_a_columns_values_between_rows_is_caught_where_the_record_hash_misses_it(layout, pg_source):
    """hash_record_extended combines the column hashes linearly (31 * h + next): exchanging one column's values
    between two rows moves the table's sum by 2^64 or not at all. The "columns" hash mixes nonlinearly, also
    when every column is in its record part (numeric, hashed as text)."""
    types, b_values = LAYOUTS[layout]
    pg_source.recreate_db("checksum_pairs")
    with psycopg.connect(pg_source.dsn("checksum_pairs"), options=SESSION_OPTIONS, autocommit=True) as conn:
        conn.execute("CREATE TABLE pairs (a {}, b {}, c {})".format(*types))
        columns = conn.execute("SELECT attname, atttypid::bigint FROM pg_attribute WHERE attrelid = 'pairs'::regclass "
                               "AND attnum > 0 ORDER BY attnum").fetchall()
        loaded, swapped = (_pair_sums(conn, columns, "columns", b_values, s) for s in (False, True))
        assert all(x != y for x, y in zip(loaded, swapped)), "an exchange went unnoticed by the columns hash"
        missed = sum(x == y for x, y in zip(_pair_sums(conn, columns, "record", b_values, False),
                                             _pair_sums(conn, columns, "record", b_values, True)))
        assert missed > PAIRS // 4, f"the record hash missed only {missed} of {PAIRS} exchanges"
    pg_source.execute('DROP DATABASE "checksum_pairs" WITH (FORCE)')


def test_a_wider_target_column_is_hashed_as_the_source_type(pg_source, pg_target):
    """A data-only load may meet a target table of wider types: the "columns" hash casts each value to the
    source's type first, so equal values give equal sums, and a value changed on the target still shows."""
    pg_source.recreate_db("checksum_wide")
    pg_target.recreate_db("checksum_wide")
    rows = "INSERT INTO w VALUES (1, 7, 'a', '2024-01-01 10:00'), (2, NULL, 'bb', NULL), (3, -3, NULL, 'infinity')"
    pg_source.execute("CREATE TABLE w (id int, n smallint, v varchar(10), at timestamp);" + rows,
                      dbname="checksum_wide")
    pg_target.execute("CREATE TABLE w (id bigint, n int, v text, at timestamp);" + rows, dbname="checksum_wide")
    columns = [("id", 23), ("n", 21), ("v", 1043), ("at", 1114)]

    def sums(cluster):
        with psycopg.connect(cluster.dsn("checksum_wide"), options=SESSION_OPTIONS, autocommit=True) as conn:
            return tuple(conn.execute(checksum_query("public", "w", columns, "columns")).fetchone())

    assert sums(pg_target) == sums(pg_source)
    pg_target.execute("UPDATE w SET n = 8 WHERE id = 1", dbname="checksum_wide")
    assert sums(pg_target) != sums(pg_source)
    for cluster in (pg_source, pg_target):
        cluster.execute('DROP DATABASE "checksum_wide" WITH (FORCE)')
