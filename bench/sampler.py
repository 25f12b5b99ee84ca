"""Background sampling while a method runs: server CPU, pg_stat_activity on both sides, and the memory of
pgferry's copy task processes.

Copy task processes are found through PostgreSQL: the target's pg_stat_activity rows of pgferry's copy
sessions (application_name 'pgferry copy', or in a task 'pgferry <run> copy_lane[i] try n uK copy ...',
include/pgferry/pg/session_names.py) give the client's TCP port; the local process owning that socket is
the Airflow task process running copy_lane. Its peak RSS is /proc/PID/status VmHWM (the kernel's
high-water mark of resident memory for the process's whole life, so a 0.5 s sampling interval cannot
miss a short peak as long as the process is seen once before it exits).
"""
from __future__ import annotations

import os
import threading
import time
from collections import Counter

import psycopg

from include.pgferry.pg.session_names import parse as parse_session_name

CLK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()
    return int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) one live process has used so far."""
    st = _stat(pid)
    return st[1] / CLK if st else float("nan")


def postmaster_cpu(pid: int) -> float:
    """CPU seconds of a postmaster and all its children (live ones + reaped ones via cutime/cstime)."""
    st = _stat(pid)
    if not st:
        return float("nan")
    total = st[1] + st[2]
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = _stat(d)
            if s and s[0] == pid:
                total += s[1]
    return total / CLK


def proc_status(pid) -> dict:
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def cmdline(pid) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _socket_inodes_for_ports(ports: set[int]) -> dict[int, int]:
    """{inode: local port} of TCP sockets bound to one of `ports` on this host."""
    out = {}
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            port = int(parts[1].rsplit(":", 1)[1], 16)
            if port in ports:
                out[int(parts[9])] = port
    return out


def pids_owning(inodes: dict[int, int], candidates=None) -> dict[int, int]:
    """{pid: port} of processes holding one of the socket inodes."""
    found = {}
    for d in (candidates or os.listdir("/proc")):
        if not str(d).isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{d}/fd"):
                try:
                    link = os.readlink(f"/proc/{d}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    ino = int(link[8:-1])
                    if ino in inodes:
                        found[int(d)] = inodes[ino]
        except OSError:
            continue
    return found


def is_copy_session(application_name: str) -> bool:
    name = parse_session_name(application_name)
    return application_name == "pgferry copy" or (name is not None and name.role == "copy")


ACTIVITY = ("SELECT coalesce(application_name, ''), coalesce(backend_type, ''), coalesce(state, ''), "
            "coalesce(wait_event_type, ''), coalesce(wait_event, ''), left(regexp_replace(coalesce(query, ''), "
            "'\\s+', ' ', 'g'), 70), client_port FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND datname IS NOT NULL AND backend_type IN ('client backend', 'parallel worker', 'autovacuum worker')")


class Sampler(threading.Thread):
    def __init__(self, source_admin: str, target_admin: str, interval: float = 0.5, track_copy: bool = False):
        super().__init__(daemon=True)
        self.src, self.tgt, self.interval, self.track_copy = source_admin, target_admin, interval, track_copy
        self.stop_ev = threading.Event()
        self.activity = {"source": Counter(), "target": Counter()}
        self.samples = 0
        self.copy_procs: dict[int, dict] = {}   # pid -> {cmd, hwm, rss_max, first, last}
        self.timeline = []                        # (t, n active source, n active target)

    def run(self):
        try:
            conns = {"source": psycopg.connect(self.src, autocommit=True, application_name="pgferry-bench sampler"),
                     "target": psycopg.connect(self.tgt, autocommit=True, application_name="pgferry-bench sampler")}
        except psycopg.Error:
            return
        t0 = time.monotonic()
        try:
            while not self.stop_ev.is_set():
                self.samples += 1
                copy_ports = set()
                active = {}
                for side, c in conns.items():
                    try:
                        rows = c.execute(ACTIVITY).fetchall()
                    except psycopg.Error:
                        continue
                    n = 0
                    for app, btype, state, wtype, wev, q, port in rows:
                        if app.startswith("pgferry-bench"):
                            continue
                        if state == "active" or btype != "client backend":
                            n += 1
                            self.activity[side][(app, btype, state, f"{wtype}:{wev}" if wtype else "CPU", q)] += 1
                        if side == "target" and is_copy_session(app) and port and port > 0:
                            copy_ports.add(port)
                    active[side] = n
                self.timeline.append((round(time.monotonic() - t0, 1), active.get("source", 0),
                                      active.get("target", 0)))
                if self.track_copy:
                    self._track(copy_ports)
                self.stop_ev.wait(self.interval)
        finally:
            for c in conns.values():
                c.close()

    def _track(self, ports):
        now = time.monotonic()
        known = [p for p in self.copy_procs if os.path.exists(f"/proc/{p}")]
        for pid in known:
            self._update(pid, now)
        if ports and not (set(ports) <= {v.get("port") for v in self.copy_procs.values()}):
            inodes = _socket_inodes_for_ports(ports)
            cands = [d for d in os.listdir("/proc") if d.isdigit() and "airflow" in cmdline(d)]
            for pid, port in pids_owning(inodes, cands).items():
                if pid not in self.copy_procs:
                    self.copy_procs[pid] = {"cmd": cmdline(pid)[:160], "port": port, "first": now, "hwm": 0,
                                            "rss_max": 0}
                self._update(pid, now)

    def _update(self, pid, now):
        st = proc_status(pid)
        p = self.copy_procs[pid]
        if st:
            p["hwm"] = max(p["hwm"], st.get("VmHWM", 0))
            p["rss_max"] = max(p["rss_max"], st.get("VmRSS", 0))
            p["last"] = now

    def stop(self):
        self.stop_ev.set()
        self.join(10)

    def summary(self, top: int = 12) -> dict:
        out = {"samples": self.samples, "interval_s": self.interval}
        for side, cnt in self.activity.items():
            out[side] = [{"n": n, "share": round(n / max(1, self.samples), 3), "app": k[0], "backend": k[1],
                          "state": k[2], "wait": k[3], "query": k[4]} for k, n in cnt.most_common(top)]
        out["copy_processes"] = [{"pid": pid, **{k: v for k, v in p.items() if k not in ("first", "last")}}
                                 for pid, p in self.copy_procs.items()]
        idle_tgt = sum(1 for _, _, t in self.timeline if t == 0)
        out["target_idle_share"] = round(idle_tgt / max(1, len(self.timeline)), 3)
        out["timeline"] = self.timeline
        return out
