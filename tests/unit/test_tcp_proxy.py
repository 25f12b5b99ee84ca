"""The fault tests' TCP proxy against a tiny echo server: what it forwards, holds, delays and resets.

No timing assertions: a blackhole or a delay shows as a client-side read timeout being hit (the proxy never
delivers early), and what arrives afterwards is compared byte for byte. Every wait is bounded.
"""
from __future__ import annotations

import socket
import threading

import pytest

from tests.support.tcp_proxy import TO_CLIENT, TO_SERVER, TcpProxy

BOUND = 10.0        # the longest any expected delivery may take before the test fails
QUIET = 0.3         # how long a client waits to show that nothing arrives


class EchoServer:
    """Echoes every byte back; records what it received and how each connection ended."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.endings: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve, daemon=True)]
        self._threads[0].start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            t = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _echo(self, conn: socket.socket):
        conn.settimeout(0.2)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    self.endings.append("reset")
                    return
                if not data:
                    self.endings.append("eof")
                    return
                self.received += data
                conn.sendall(data)

    def close(self):
        self._stop.set()
        for t in self._threads:
            t.join(5)
        self.sock.close()


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def proxy(echo):
    with TcpProxy(echo.port) as p:
        yield p


def client(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=BOUND)


def recv_exactly(sock: socket.socket, n: int, timeout: float = BOUND) -> bytes:
    sock.settimeout(timeout)
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def nothing_arrives(sock: socket.socket) -> bool:
    """True when a read of QUIET seconds times out: neither data nor EOF came."""
    sock.settimeout(QUIET)
    try:
        sock.recv(1)
    except TimeoutError:
        return True
    return False


def test_forwards_both_ways_and_counts_the_bytes(proxy, echo):
    payload = bytes(range(256)) * 4096          # 1 MiB, every byte value
    with client(proxy) as c:
        sender = threading.Thread(target=c.sendall, args=(payload,))
        sender.start()
        assert recv_exactly(c, len(payload)) == payload
        sender.join(BOUND)
    assert bytes(echo.received) == payload
    assert proxy.bytes_forwarded == {TO_SERVER: len(payload), TO_CLIENT: len(payload)}
    assert proxy.connections_accepted == 1


def test_blackhole_to_server_holds_the_bytes_and_keeps_the_flow_open(proxy, echo):
    with client(proxy) as c:
        c.sendall(b"before")
        assert recv_exactly(c, 6) == b"before"
        proxy.blackhole(TO_SERVER)
        c.sendall(b"during")                      # accepted by the kernel: no error reaches the sender
        assert nothing_arrives(c)
        assert bytes(echo.received) == b"before"
        assert proxy.open_flows == 1 and proxy.bytes_forwarded[TO_SERVER] == 6
        proxy.heal()
        assert recv_exactly(c, 6) == b"during"
    assert bytes(echo.received) == b"beforeduring"


def test_blackhole_to_client_lets_the_server_receive_but_returns_nothing(proxy, echo):
    with client(proxy) as c:
        proxy.blackhole(TO_CLIENT)
        c.sendall(b"ping")
        assert nothing_arrives(c)
        assert proxy.bytes_forwarded[TO_SERVER] == 4 and proxy.bytes_forwarded[TO_CLIENT] == 0
        proxy.heal(TO_CLIENT)
        assert recv_exactly(c, 4) == b"ping"
    assert bytes(echo.received) == b"ping"


def test_a_blackholed_sender_fills_the_window_and_blocks(proxy, echo):
    """A writer in front of a blackhole is stopped by TCP itself (zero window), never told anything."""
    with client(proxy) as c:
        proxy.blackhole()
        c.setblocking(False)
        sent, limit = 0, 256 << 20
        with pytest.raises(BlockingIOError):
            while sent < limit:               # the kernel buffers (a few MB on loopback) fill long before
                sent += c.send(b"x" * 65536)
        assert 0 < sent < limit
        assert proxy.bytes_forwarded == {TO_SERVER: 0, TO_CLIENT: 0}
        assert proxy.open_flows == 1
        # heal: everything the sender managed to write arrives, in full
        proxy.heal()
        c.setblocking(True)
        assert recv_exactly(c, sent) == b"x" * sent
    assert len(echo.received) == sent


def test_delay_holds_each_chunk_then_delivers_it_in_order(proxy):
    with client(proxy) as c:
        proxy.delay(2.0, TO_SERVER)
        c.sendall(b"one")
        proxy.delay(0.5, TO_SERVER)                # a shorter delay must not overtake what is held
        c.sendall(b"two")
        assert nothing_arrives(c)                 # QUIET is well under both delays: nothing yet
        assert recv_exactly(c, 6) == b"onetwo"
        proxy.heal()
        c.sendall(b"three")
        assert recv_exactly(c, 5) == b"three"


def test_reset_sends_rst_to_both_sides(proxy, echo):
    with client(proxy) as c:
        c.sendall(b"hello")
        assert recv_exactly(c, 5) == b"hello"
        assert proxy.reset() == 1
        c.settimeout(BOUND)
        with pytest.raises(ConnectionResetError):
            c.recv(1)
    for _ in range(int(BOUND / 0.1)):
        if echo.endings:
            break
        threading.Event().wait(0.1)
    assert echo.endings == ["reset"]
    assert proxy.open_flows == 0
    # the proxy still takes new connections after a reset
    with client(proxy) as c2:
        c2.sendall(b"again")
        assert recv_exactly(c2, 5) == b"again"


def test_reset_of_the_server_side_only_closes_the_client_gracefully(proxy, echo):
    with client(proxy) as c:
        c.sendall(b"hi")
        assert recv_exactly(c, 2) == b"hi"
        proxy.reset("server")
        c.settimeout(BOUND)
        assert c.recv(1) == b""                  # a FIN for the client
    for _ in range(int(BOUND / 0.1)):
        if echo.endings:
            break
        threading.Event().wait(0.1)
    assert echo.endings == ["reset"]


def test_client_eof_reaches_the_server(proxy, echo):
    with client(proxy) as c:
        c.sendall(b"bye")
        c.shutdown(socket.SHUT_WR)
        assert recv_exactly(c, 3) == b"bye"
        c.settimeout(BOUND)
        assert c.recv(1) == b""                  # the server closed after our EOF; the proxy passed it on
    assert echo.endings == ["eof"]


def test_refuses_anything_but_loopback():
    with pytest.raises(ValueError, match="127.0.0.0/8"):
        TcpProxy(5432, target_host="10.0.0.1")
    with pytest.raises(ValueError, match="direction"):
        with TcpProxy(5432) as p:
            p.blackhole("sideways")


def test_close_stops_the_thread_and_the_listener(echo):
    p = TcpProxy(echo.port)
    port = p.port
    with client(p) as c:
        c.sendall(b"x")
        assert recv_exactly(c, 1) == b"x"
        p.close()
        assert not p._thread.is_alive()
        c.settimeout(BOUND)
        assert c.recv(1) == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=BOUND)


def test_blackhole_of_existing_flows_lets_new_connections_through(proxy, echo):
    with client(proxy) as old:
        old.sendall(b"a")
        assert recv_exactly(old, 1) == b"a"
        proxy.blackhole(existing_only=True)
        old.sendall(b"lost")
        assert nothing_arrives(old)
        with client(proxy) as new:                    # a reconnect gets through
            new.sendall(b"fresh")
            assert recv_exactly(new, 5) == b"fresh"
            assert proxy.reset(blackholed_only=True) == 1    # ends the old flow only
            new.sendall(b"still")
            assert recv_exactly(new, 5) == b"still"
        old.settimeout(BOUND)
        with pytest.raises(ConnectionResetError):
            old.recv(1)
