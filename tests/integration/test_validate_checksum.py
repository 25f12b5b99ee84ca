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


def test_servers_of_14_or_later_use_the_record_hash(pg_source, pg_target):
    assert row_hash(150004, 140010) == "record"
    assert row_hash(150004, 130000) == "hashtextextended"
    assert row_hash(100000, 150004) == "md5"


@pytest.mark.parametrize("hash_name", ["record", "hashtextextended", "md5"])
def test_same_rows_in_another_order_and_database_give_the_same_checksum(hash_name, pg_source, pg_target,
                                                                        source_db, copied):
    src = checksum(pg_source, source_db, hash_name)
    assert src[0] == 3
    assert checksum(pg_target, copied, hash_name) == src


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_kind_of_difference_changes_the_record_checksum(change, pg_source, pg_target, source_db, copied):
    before = checksum(pg_target, copied, "record")
    pg_target.execute(CHANGES[change], dbname=copied)
    after = checksum(pg_target, copied, "record")
    assert after != before, f"{change} went unnoticed"
    assert after != checksum(pg_source, source_db, "record")
