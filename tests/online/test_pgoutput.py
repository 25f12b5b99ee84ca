"""The pgoutput decoder on bytes a real PostgreSQL 15 sent: a slot on a cluster with wal_level=logical,
known writes, a peek, and the decoded transactions compared with the writes."""
from __future__ import annotations

import pytest

from include.pgferry.online import pgoutput as po
from tests.online.conftest import connect

pytestmark = pytest.mark.integration

DB = "decode"
BIG = "x" * 9000      # stored out of line (STORAGE EXTERNAL): an UPDATE that keeps it sends 'u'
PEEK = ("SELECT lsn::text, xid::text::bigint, data FROM pg_logical_slot_peek_binary_changes("
        "'decode_slot', NULL, NULL, 'proto_version', '1', 'publication_names', 'decode_pub')")


@pytest.fixture(scope="module")
def transactions(logical_source):
    logical_source.recreate_db(DB)
    with connect(logical_source, DB) as c:
        c.execute("CREATE SCHEMA app")
        c.execute("CREATE TABLE app.items (id int PRIMARY KEY, qty int NOT NULL, body text)")
        c.execute("ALTER TABLE app.items ALTER body SET STORAGE EXTERNAL")
        c.execute("CREATE TABLE app.nokey (a int, b text)")
        c.execute("ALTER TABLE app.nokey REPLICA IDENTITY FULL")
        c.execute("CREATE PUBLICATION decode_pub FOR TABLE app.items, app.nokey")
        c.execute("SELECT pg_create_logical_replication_slot('decode_slot', 'pgoutput')")
        with c.transaction():
            c.execute("INSERT INTO app.items VALUES (1, 10, %s), (2, 20, NULL)", (BIG,))
        with c.transaction():
            c.execute("UPDATE app.items SET qty = 11 WHERE id = 1")
            c.execute("UPDATE app.items SET id = 3 WHERE id = 2")
        with c.transaction():
            c.execute("DELETE FROM app.items WHERE id = 3")
            c.execute("INSERT INTO app.nokey VALUES (7, 'seven')")
            c.execute("UPDATE app.nokey SET b = 'SEVEN'")
            c.execute("DELETE FROM app.nokey")
        c.execute("TRUNCATE app.nokey RESTART IDENTITY")
        rows = c.execute(PEEK).fetchall()
        # the peek leaves the slot where it was: a second look decodes the same
        assert c.execute(PEEK).fetchall() == rows
        c.execute("SELECT pg_drop_replication_slot('decode_slot')")
    return rows, list(po.Transactions().feed(rows))


def texts(values):
    return [v.kind if v.kind in (po.NULL, po.UNCHANGED) else v.text for v in values]


def test_every_write_decoded_in_commit_order(transactions):
    rows, txs = transactions
    assert len(txs) == 4
    assert [t.commit_lsn for t in txs] == sorted(t.commit_lsn for t in txs)
    assert all(t.end_lsn > t.commit_lsn for t in txs)
    # the peek reports a Commit row at the end of the commit record: where the slot may advance to
    commits = [po.lsn_int(lsn) for lsn, _, data in rows if data[:1] == b"C"]
    assert commits == [t.end_lsn for t in txs]
    kinds = [[type(c.message).__name__ for c in t.changes] for t in txs]
    assert kinds == [["Insert", "Insert"], ["Update", "Update"], ["Delete", "Insert", "Update", "Delete"],
                     ["Truncate"]]
    assert len({t.xid for t in txs}) == 4 and all(t.xid == rows_xid for t, rows_xid in
                                                    zip(txs, [r[1] for r in rows if r[2][:1] == b"B"]))


def test_relation_messages_carry_names_identity_and_key(transactions):
    _, txs = transactions
    items = txs[0].changes[0].relation
    assert (items.schema, items.name, items.replica_identity) == ("app", "items", po.IDENTITY_DEFAULT)
    assert [(c.name, c.type_oid, c.key) for c in items.columns] == [("id", 23, True), ("qty", 23, False),
                                                                    ("body", 25, False)]
    nokey = txs[2].changes[1].relation
    assert nokey.replica_identity == po.IDENTITY_FULL
    assert all(c.key for c in nokey.columns)       # FULL: every column identifies the row


def test_tuple_data_text_null_and_unchanged_toast(transactions):
    _, txs = transactions
    first, second = (c.message for c in txs[0].changes)
    assert texts(first.new) == ["1", "10", BIG] and texts(second.new) == ["2", "20", "n"]
    kept, moved = (c.message for c in txs[1].changes)
    # the UPDATE that left the out-of-line body alone does not send it
    assert texts(kept.new) == ["1", "11", "u"] and kept.old is None
    # a changed key sends the old key ('K'), other columns null
    assert moved.old_kind == "K" and texts(moved.old) == ["2", "n", "n"] and texts(moved.new) == ["3", "20", "n"]


def test_delete_full_identity_and_truncate(transactions):
    _, txs = transactions
    gone, _, upd, full_delete = (c.message for c in txs[2].changes)
    assert gone.old_kind == "K" and texts(gone.old) == ["3", "n", "n"]
    assert upd.old_kind == "O" and texts(upd.old) == ["7", "seven"] and texts(upd.new) == ["7", "SEVEN"]
    assert full_delete.old_kind == "O" and texts(full_delete.old) == ["7", "SEVEN"]
    trunc = txs[3].changes[0]
    assert trunc.message.restart_identity and not trunc.message.cascade
    assert [(r.schema, r.name) for r in trunc.relations] == [("app", "nokey")]


def test_a_stream_cut_inside_a_transaction_is_refused(transactions):
    rows, _ = transactions
    with pytest.raises(po.ProtocolError, match="rows end inside transaction"):
        list(po.Transactions().feed(rows[:-1]))
    with pytest.raises(po.ProtocolError, match="bytes left"):
        po.decode(bytes(rows[-1][2]) + b"\0")
