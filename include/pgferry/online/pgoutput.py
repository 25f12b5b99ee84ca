"""A decoder of the pgoutput logical replication protocol (version 1), as the source sends it.

pgferry reads changes with `pg_logical_slot_peek_binary_changes(slot, upto_lsn, upto_n, 'proto_version',
'1', 'publication_names', pub)`: each row is (lsn, xid, data), `data` one protocol message. `decode`
turns one message into a typed value; `Transactions` assembles a stream of rows into whole source
transactions (Begin .. Commit), resolving each change's relation from the Relation messages seen
before it (pgoutput sends a relation's description before its first change in every decoding session,
and again after it changes).

Message formats: PostgreSQL's "Logical Replication Message Formats" (protocol-logicalrep-message-formats).
Integers are big-endian; strings end with a NUL byte. Tuple data gives each column as 'n' (null),
'u' (an unchanged TOASTed value the source did not send: the target keeps its own), 't' (text form)
or 'b' (binary form, only when the `binary` option asks for it; pgferry does not).
"""
from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)

# tuple data column kinds
NULL, UNCHANGED, TEXT, BINARY = "n", "u", "t", "b"
# Relation.replica_identity (pg_class.relreplident)
IDENTITY_DEFAULT, IDENTITY_NOTHING, IDENTITY_FULL, IDENTITY_INDEX = "d", "n", "f", "i"
# Truncate option bits
TRUNCATE_CASCADE, TRUNCATE_RESTART_IDENTITY = 1, 2


class ProtocolError(ValueError):
    """Bytes that are not a pgoutput message this decoder knows."""


def lsn_text(lsn: int) -> str:
    """An LSN as PostgreSQL writes it (16/B374D848)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_int(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def _timestamp(us: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class Value:
    kind: str                    # NULL, UNCHANGED, TEXT or BINARY
    data: bytes | None = None

    @property
    def text(self) -> str | None:
        """The text form (None for a null); an unchanged TOAST value has no value to give."""
        if self.kind == NULL:
            return None
        if self.kind == TEXT:
            return self.data.decode()
        raise ProtocolError(f"a {self.kind!r} column has no text value")


@dataclass(frozen=True)
class Begin:
    final_lsn: int               # the LSN of the transaction's commit record
    commit_time: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int                 # the end of the commit record: where a consumer has read up to
    commit_time: datetime


@dataclass(frozen=True)
class Origin:
    commit_lsn: int
    name: str


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    key: bool                    # part of the replica identity (flag bit 1)


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]

    @property
    def key_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.key)


@dataclass(frozen=True)
class Type:
    oid: int
    schema: str
    name: str


@dataclass(frozen=True)
class Insert:
    relation_oid: int
    new: tuple[Value, ...]


@dataclass(frozen=True)
class Update:
    relation_oid: int
    new: tuple[Value, ...]
    old: tuple[Value, ...] | None = None    # the old row's identity ('K') or whole old row ('O'), when sent
    old_kind: str | None = None             # "K" or "O"


@dataclass(frozen=True)
class Delete:
    relation_oid: int
    old: tuple[Value, ...]
    old_kind: str                           # "K" (identity columns, the others null) or "O" (FULL)


@dataclass(frozen=True)
class Truncate:
    options: int
    relation_oids: tuple[int, ...]

    @property
    def cascade(self) -> bool:
        return bool(self.options & TRUNCATE_CASCADE)

    @property
    def restart_identity(self) -> bool:
        return bool(self.options & TRUNCATE_RESTART_IDENTITY)


@dataclass(frozen=True)
class Message:
    """pg_logical_emit_message(); sent only with the `messages` option."""
    transactional: bool
    lsn: int
    prefix: str
    content: bytes


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError(f"message ends after {len(self.data)} bytes; {self.pos + n} needed")
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        values = struct.unpack(fmt, self.take(size))
        return values if len(values) > 1 else values[0]

    def byte(self) -> str:
        return chr(self.take(1)[0])

    def string(self) -> str:
        end = bytes(self.data[self.pos:]).find(b"\0")
        if end < 0:
            raise ProtocolError("string without its terminating NUL")
        out = bytes(self.data[self.pos:self.pos + end]).decode()
        self.pos += end + 1
        return out

    def tuple_data(self) -> tuple[Value, ...]:
        n = self.unpack(">h")
        values = []
        for _ in range(n):
            kind = self.byte()
            if kind in (NULL, UNCHANGED):
                values.append(Value(kind))
            elif kind in (TEXT, BINARY):
                values.append(Value(kind, self.take(self.unpack(">i"))))
            else:
                raise ProtocolError(f"unknown tuple column kind {kind!r}")
        return tuple(values)

    def done(self):
        if self.pos != len(self.data):
            raise ProtocolError(f"{len(self.data) - self.pos} bytes left after the message")


def decode(data: bytes):
    """One pgoutput message (protocol version 1) as a typed value."""
    r = _Reader(data)
    tag = r.byte()
    if tag == "B":
        lsn, ts, xid = r.unpack(">QqI")
        msg = Begin(lsn, _timestamp(ts), xid)
    elif tag == "C":
        flags, commit_lsn, end_lsn, ts = r.unpack(">BQQq")
        msg = Commit(flags, commit_lsn, end_lsn, _timestamp(ts))
    elif tag == "O":
        lsn = r.unpack(">Q")
        msg = Origin(lsn, r.string())
    elif tag == "R":
        oid = r.unpack(">I")
        schema, name = r.string(), r.string()
        identity = r.byte()
        cols = []
        for _ in range(r.unpack(">h")):
            flags = r.unpack(">B")
            cname = r.string()
            type_oid, typmod = r.unpack(">Ii")
            cols.append(Column(cname, type_oid, typmod, bool(flags & 1)))
        msg = Relation(oid, schema, name, identity, tuple(cols))
    elif tag == "Y":
        oid = r.unpack(">I")
        msg = Type(oid, r.string(), r.string())
    elif tag == "I":
        oid = r.unpack(">I")
        if (marker := r.byte()) != "N":
            raise ProtocolError(f"Insert: expected 'N', found {marker!r}")
        msg = Insert(oid, r.tuple_data())
    elif tag == "U":
        oid = r.unpack(">I")
        old = old_kind = None
        marker = r.byte()
        if marker in ("K", "O"):
            old_kind, old = marker, r.tuple_data()
            marker = r.byte()
        if marker != "N":
            raise ProtocolError(f"Update: expected 'N', found {marker!r}")
        msg = Update(oid, r.tuple_data(), old, old_kind)
    elif tag == "D":
        oid = r.unpack(">I")
        marker = r.byte()
        if marker not in ("K", "O"):
            raise ProtocolError(f"Delete: expected 'K' or 'O', found {marker!r}")
        msg = Delete(oid, r.tuple_data(), marker)
    elif tag == "T":
        n, options = r.unpack(">iB")
        msg = Truncate(options, tuple(r.unpack(">I") for _ in range(n)))
    elif tag == "M":
        flags, lsn = r.unpack(">BQ")
        prefix = r.string()
        msg = Message(bool(flags & 1), lsn, prefix, r.take(r.unpack(">i")))
    else:
        raise ProtocolError(f"unknown pgoutput message {tag!r} (protocol version 1)")
    r.done()
    return msg


@dataclass(frozen=True)
class Change:
    """One row change (Insert, Update, Delete) or a Truncate, with the relations it names."""
    message: Insert | Update | Delete | Truncate
    relations: tuple[Relation, ...]         # one for a row change; every truncated relation for a Truncate

    @property
    def relation(self) -> Relation:
        return self.relations[0]


@dataclass(frozen=True)
class Transaction:
    xid: int
    commit_lsn: int
    end_lsn: int
    commit_time: datetime
    changes: tuple[Change, ...] = ()
    origin: str | None = None

    def __str__(self) -> str:
        return f"transaction {self.xid} (commit {lsn_text(self.commit_lsn)}, {len(self.changes)} change(s))"


@dataclass
class Transactions:
    """Whole transactions from peeked rows. Relations persist across calls, as a decoding session's do."""
    relations: dict[int, Relation] = field(default_factory=dict)
    types: dict[int, Type] = field(default_factory=dict)

    def feed(self, rows: Iterable[tuple]) -> Iterator[Transaction]:
        """Rows (lsn, xid, data) in order, as the peek returns them: each whole transaction in commit order.
        Rows must start at a transaction's Begin and end at a Commit (peek returns whole transactions)."""
        begin: Begin | None = None
        changes: list[Change] = []
        origin = None
        for row in rows:
            msg = decode(row[-1])
            if isinstance(msg, Begin):
                if begin is not None:
                    raise ProtocolError(f"Begin of {msg.xid} inside transaction {begin.xid}")
                begin, changes, origin = msg, [], None
                continue
            if begin is None and not isinstance(msg, (Relation, Type, Message)):
                raise ProtocolError(f"{type(msg).__name__} outside a transaction")
            if isinstance(msg, Relation):
                self.relations[msg.oid] = msg
            elif isinstance(msg, Type):
                self.types[msg.oid] = msg
            elif isinstance(msg, Origin):
                origin = msg.name
            elif isinstance(msg, Truncate):
                changes.append(Change(msg, tuple(self._relation(o) for o in msg.relation_oids)))
            elif isinstance(msg, (Insert, Update, Delete)):
                changes.append(Change(msg, (self._relation(msg.relation_oid),)))
            elif isinstance(msg, Commit):
                if msg.commit_lsn != begin.final_lsn:
                    raise ProtocolError(f"Commit at {lsn_text(msg.commit_lsn)} ends transaction {begin.xid}, "
                                        f"which Begin said commits at {lsn_text(begin.final_lsn)}")
                yield Transaction(begin.xid, msg.commit_lsn, msg.end_lsn, msg.commit_time, tuple(changes), origin)
                begin, changes = None, []
        if begin is not None:
            raise ProtocolError(f"rows end inside transaction {begin.xid}: a peek returns whole transactions")

    def _relation(self, oid: int) -> Relation:
        try:
            return self.relations[oid]
        except KeyError:
            raise ProtocolError(f"a change of relation {oid} came before its Relation message") from None
