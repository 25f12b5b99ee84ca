"""A TCP proxy on loopback for fault tests: forwards client <-> server and, on command, breaks the flow.

    with TcpProxy(server_port) as proxy:           # listens on 127.0.0.1:proxy.port
        ... connect clients to proxy.port ...
        proxy.blackhole()                          # both directions; or proxy.blackhole(TO_SERVER)
        proxy.delay(2.0, TO_CLIENT)                # hold each chunk 2 s before passing it on
        proxy.heal()                               # forward again (what was held is delivered, in order)
        proxy.reset()                              # RST every open flow (SO_LINGER 0), both sides or one
        proxy.bytes_forwarded                      # {"to_server": n, "to_client": n}

A blackhole stops forwarding but keeps both sockets open, as a NAT or firewall that drops a flow does: the
proxy stops reading the sender's socket, so the sender's writes fill the kernel buffers and then block
(zero window); nothing is closed and no error reaches either side.

What a loopback proxy cannot imitate: the proxy's kernel still ACKs every segment, keepalive probes
included. So a blackholed peer is detected by `tcp_user_timeout` only on a side that has data to send
(Linux >= 5.11 aborts a flow stuck on a zero window after TCP_USER_TIMEOUT); a side that only waits to read
sees its keepalives answered and waits until an application-level timeout ends it. Real drops lose the
keepalives too, so a real network is detected sooner than this proxy's blackhole, never later.

One thread runs every flow with select(); every loop has a stop and every socket is closed on exit. Only
127.0.0.0/8 addresses may be proxied (tests must not touch anything off the machine).
"""
from __future__ import annotations

import collections
import ipaddress
import select
import socket
import struct
import threading
import time

TO_SERVER = "to_server"
TO_CLIENT = "to_client"
BOTH = (TO_SERVER, TO_CLIENT)
CHUNK = 65536
# bytes read from a sender and not yet delivered, per direction of a flow: beyond this the proxy stops
# reading, so a slow (delayed) receiver pushes back on the sender as a real path does
MAX_PENDING = 1 << 20
LOOP_TICK = 0.05


def _directions(direction: str | None) -> tuple[str, ...]:
    if direction in (None, "both"):
        return BOTH
    if direction not in BOTH:
        raise ValueError(f"direction must be {TO_SERVER!r}, {TO_CLIENT!r} or 'both', not {direction!r}")
    return (direction,)


def _require_loopback(host: str):
    addr = ipaddress.ip_address(socket.gethostbyname(host))
    if addr not in ipaddress.ip_network("127.0.0.0/8"):
        raise ValueError(f"TcpProxy only proxies loopback (127.0.0.0/8) addresses, not {host!r} ({addr})")


def _abort(sock: socket.socket):
    """Close with SO_LINGER 0: the peer gets a RST, not a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Flow:
    """One client connection and its server connection, with what each direction holds in transit."""

    def __init__(self, client: socket.socket, server: socket.socket, blackholed: dict):
        self.client, self.server = client, server
        self.blackholed = dict(blackholed)
        # per direction: deque of (release_at, bytes), bytes held, sender at EOF, receiver shut for writing
        self.queue = {d: collections.deque() for d in BOTH}
        self.held = {d: 0 for d in BOTH}
        self.eof = {d: False for d in BOTH}
        self.shut = {d: False for d in BOTH}

    def src(self, direction: str) -> socket.socket:
        return self.client if direction == TO_SERVER else self.server

    def dst(self, direction: str) -> socket.socket:
        return self.server if direction == TO_SERVER else self.client

    def finished(self) -> bool:
        return all(self.shut.values())


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", listen_host: str = "127.0.0.1",
                 listen_port: int = 0, connect_timeout: float = 5.0):
        _require_loopback(target_host)
        _require_loopback(listen_host)
        self.target = (target_host, int(target_port))
        self.connect_timeout = connect_timeout
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, listen_port))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()
        self._lock = threading.RLock()
        self._blackholed = {d: False for d in BOTH}
        self._delay = {d: 0.0 for d in BOTH}
        self._commands: collections.deque = collections.deque()
        self._flows: list[_Flow] = []
        self._forwarded = {d: 0 for d in BOTH}
        self._accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()

    # -- commands (any thread) ---------------------------------------------------------------------------
    def blackhole(self, direction: str | None = None, existing_only: bool = False):
        """Stop forwarding `direction` (default both); sockets stay open, held bytes stay held.
        `existing_only`: only the flows open now (a NAT that lost their state); new connections pass, as a
        client's reconnect through a fresh NAT mapping does."""
        dirs = _directions(direction)

        def apply():
            for flow in self._flows:
                flow.blackholed.update({d: True for d in dirs})
            if not existing_only:
                self._blackholed.update({d: True for d in dirs})
        self._command(apply)

    def delay(self, seconds: float, direction: str | None = None):
        """Hold every chunk read from now on `seconds` before delivering it (order is kept)."""
        if seconds < 0:
            raise ValueError("delay must be >= 0 seconds")
        dirs = _directions(direction)
        self._command(lambda: self._delay.update({d: float(seconds) for d in dirs}))

    def heal(self, direction: str | None = None):
        """Forward again without delay; what a blackhole held is delivered first."""
        dirs = _directions(direction)

        def apply():
            self._blackholed.update({d: False for d in dirs})
            self._delay.update({d: 0.0 for d in dirs})
            for flow in self._flows:
                flow.blackholed.update({d: False for d in dirs})
        self._command(apply)

    def reset(self, side: str = "both", timeout: float = 5.0, blackholed_only: bool = False) -> int:
        """RST every open flow on `side` ('client', 'server' or 'both'); the other side, if spared, gets a
        FIN. `blackholed_only`: only flows blackholed now (e.g. to end, as a server's own keepalives would,
        the backends a blackhole orphaned). New connections are still accepted. Returns how many flows."""
        if side not in ("client", "server", "both"):
            raise ValueError(f"side must be 'client', 'server' or 'both', not {side!r}")

        def apply():
            flows = [f for f in self._flows if not blackholed_only or any(f.blackholed.values())]
            for flow in flows:
                self._drop(flow, abort_client=side in ("client", "both"), abort_server=side in ("server", "both"))
            return len(flows)
        return self._command(apply, timeout)

    def _command(self, apply, timeout: float = 5.0):
        """Run `apply` in the proxy thread between two loops and wait for it: once a command returns, no
        byte moves under the old rules."""
        done, result = threading.Event(), []
        self._commands.append((apply, done, result))
        if not done.wait(timeout):
            raise TimeoutError(f"proxy on port {self.port} did not take a command within {timeout} s")
        return result[0]

    # -- state -------------------------------------------------------------------------------------------
    @property
    def bytes_forwarded(self) -> dict[str, int]:
        with self._lock:
            return dict(self._forwarded)

    @property
    def connections_accepted(self) -> int:
        with self._lock:
            return self._accepted

    @property
    def open_flows(self) -> int:
        with self._lock:
            return len(self._flows)

    def dsn_params(self) -> dict:
        return {"host": self.host, "port": self.port}

    # -- lifecycle ---------------------------------------------------------------------------------------
    def close(self, timeout: float = 5.0):
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"proxy thread on port {self.port} did not stop within {timeout} s")
        for flow in self._flows:
            flow.client.close()
            flow.server.close()
        self._flows.clear()
        self._listener.close()

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the loop (proxy thread only) --------------------------------------------------------------------
    def _run(self):
        while not self._stop.is_set():
            self._run_commands()
            with self._lock:
                delay = dict(self._delay)
            now = time.monotonic()
            readers, writers, wake = [self._listener], [], LOOP_TICK
            for flow in self._flows:
                blackholed = flow.blackholed
                for d in BOTH:
                    if not blackholed[d] and not flow.eof[d] and flow.held[d] < MAX_PENDING:
                        readers.append(flow.src(d))
                    if not blackholed[d] and flow.queue[d] and not flow.shut[d]:
                        due = flow.queue[d][0][0]
                        if due <= now:
                            writers.append(flow.dst(d))
                        else:
                            wake = min(wake, due - now)
            readable, writable, _ = select.select(readers, writers, [], max(wake, 0.0))
            if self._listener in readable:
                self._accept(delay)
            now = time.monotonic()
            for flow in list(self._flows):
                try:
                    for d in BOTH:
                        if flow.src(d) in readable and not flow.eof[d]:
                            self._read(flow, d, now + delay[d])
                    for d in BOTH:
                        if flow.dst(d) in writable and not flow.blackholed[d]:
                            self._write(flow, d, now)
                        if flow.eof[d] and not flow.queue[d] and not flow.shut[d]:
                            flow.dst(d).shutdown(socket.SHUT_WR)
                            flow.shut[d] = True
                except OSError:
                    # one side broke (reset, refused): end the flow abruptly on both sides, as a path would
                    self._drop(flow, abort_client=True, abort_server=True)
                    continue
                if flow.finished():
                    self._drop(flow)

    def _accept(self, delay: dict):
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            server = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError:
            _abort(client)
            return
        for s in (client, server):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._flows.append(_Flow(client, server, self._blackholed))
            self._accepted += 1

    def _read(self, flow: _Flow, d: str, release_at: float):
        try:
            data = flow.src(d).recv(CHUNK)
        except BlockingIOError:
            return
        if not data:
            flow.eof[d] = True
            return
        q = flow.queue[d]
        # a shorter delay set later must not overtake bytes already held
        release_at = max(release_at, q[-1][0]) if q else release_at
        q.append((release_at, data))
        flow.held[d] += len(data)

    def _write(self, flow: _Flow, d: str, now: float):
        q = flow.queue[d]
        while q and q[0][0] <= now:
            release_at, data = q[0]
            # send and count under the lock, so that a reader of the counters who already holds the bytes
            # never sees a count without them
            with self._lock:
                try:
                    sent = flow.dst(d).send(data)
                except BlockingIOError:
                    return
                self._forwarded[d] += sent
            flow.held[d] -= sent
            if sent < len(data):
                q[0] = (release_at, data[sent:])
                return
            q.popleft()

    def _drop(self, flow: _Flow, abort_client: bool = False, abort_server: bool = False):
        (_abort if abort_client else socket.socket.close)(flow.client)
        (_abort if abort_server else socket.socket.close)(flow.server)
        with self._lock:
            self._flows.remove(flow)

    def _run_commands(self):
        while self._commands:
            apply, done, result = self._commands.popleft()
            with self._lock:
                result.append(apply())
            done.set()
