"""What pgferry calls its database sessions (application_name): which task of which run, and which try.

A retried copy lane must find the target backends its own earlier tries left behind (a blackholed flow or a
lost worker leaves its backend alive, in a transaction, holding locks, until the server's keepalives end it)
and tell them from every other session, its sibling lanes' included. The name says it in PostgreSQL's 63
bytes (NAMEDATALEN - 1; the server cuts longer names):

    pgferry 3fa1c2d9 copy_lane[1] try 2 u4 copy postgres_logical_migr

the dag id and run id as one short hash (`run_key`), the task id with its map index, the try, the unit the
session is loading (copy sessions only: its number in the run's list of units, logical/claims.py), the session's role in one word ("index build" becomes
"index-build"), and for people the dag id's head, cut to fit. Outside an Airflow task (tests, benchmarks, tools) no identity is configured and the
name is the role alone, as before: `pgferry copy`.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_BYTES = 63
PREFIX = "pgferry "


@dataclass(frozen=True)
class TaskIdentity:
    """One try of one task instance."""
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1

    @classmethod
    def of(cls, ti) -> TaskIdentity:
        """The identity of a running task instance (airflow.sdk's RuntimeTaskInstance)."""
        map_index = getattr(ti, "map_index", -1)
        return cls(ti.dag_id, ti.run_id, ti.task_id, -1 if map_index is None else int(map_index),
                   int(ti.try_number or 1))

    @property
    def run_key(self) -> str:
        return run_key(self.dag_id, self.run_id)

    @property
    def task_label(self) -> str:
        """`copy_lane[1]`, or the bare task id of an unmapped task."""
        return f"{self.task_id}[{self.map_index}]" if self.map_index >= 0 else self.task_id

    def application_name(self, role: str, unit: int | None = None) -> str:
        head = f"{PREFIX}{self.run_key} {self.task_label} try {self.try_number}"
        if unit is not None:
            head += f" u{unit}"
        name = _fit(f"{head} {role.replace(' ', '-')}")
        room = MAX_BYTES - len(name.encode()) - 1
        return f"{name} {self.dag_id[:room]}" if room > 0 else name

    def is_sibling(self, name: SessionName | None) -> bool:
        """A session of this try's running siblings: another map index of the same task in the same run (a
        sibling copy lane, its index builds), or another session of this very try. Their locks are waited
        for: they end by their own bounds."""
        if name is None or (name.run_key, name.task_id) != (self.run_key, self.task_id):
            return False
        return name.map_index != self.map_index or name.try_number == self.try_number

    def is_earlier_try_of_me(self, name: SessionName) -> bool:
        """A session of this task instance (same run, task and map index) from a try before this one."""
        return (name.run_key, name.task_id, name.map_index) == (self.run_key, self.task_id, self.map_index) \
            and name.try_number < self.try_number


def run_key(dag_id: str, run_id: str) -> str:
    return hashlib.sha256(f"{dag_id}\0{run_id}".encode()).hexdigest()[:8]


def _fit(name: str) -> str:
    return name.encode()[:MAX_BYTES].decode(errors="ignore")


@dataclass(frozen=True)
class SessionName:
    """What an application_name written by `TaskIdentity.application_name` says."""
    run_key: str
    task_id: str
    map_index: int
    try_number: int
    unit: int | None
    role: str


_NAME = re.compile(r"pgferry (?P<key>[0-9a-f]{8}) (?P<task>[\w.-]+?)(?:\[(?P<map>\d+)\])? try (?P<try>\d+)"
                   r"(?: u(?P<unit>\d+))?(?: (?P<role>\S+))?")


def parse(application_name: str | None) -> SessionName | None:
    """The identity in a pgferry session's name; None for any other session (or a name without one)."""
    m = _NAME.match(application_name or "")
    if not m:
        return None
    return SessionName(m["key"], m["task"], int(m["map"]) if m["map"] is not None else -1, int(m["try"]),
                       int(m["unit"]) if m["unit"] is not None else None, (m["role"] or "").replace("-", " "))


_identity: TaskIdentity | None = None


def configure(identity: TaskIdentity | None):
    """The identity the sessions this task process opens carry (set per task by dag_factory)."""
    global _identity
    _identity = identity


def current() -> TaskIdentity | None:
    return _identity


def session_name(role: str, unit: int | None = None) -> str:
    """The application_name of a session in role `role` ("copy", "index build", ...) of the current task."""
    if _identity is None:
        return _fit(f"{PREFIX}{role}")
    return _identity.application_name(role, unit)


def tagged(application_name: str) -> str:
    """A name as callers give it ("pgferry copy"), with the current task's identity when one is set."""
    if _identity is None or not (application_name + " ").startswith(PREFIX):
        return _fit(application_name)
    return session_name(application_name[len(PREFIX):].strip() or "session")
