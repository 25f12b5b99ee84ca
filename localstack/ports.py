"""Loopback ports: a free one, or whether a given one is free."""
from __future__ import annotations

import socket


def port_free(port: int) -> bool:
    """Can 127.0.0.1:`port` be bound right now (SO_REUSEADDR: a port in TIME_WAIT counts as free)?"""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(taken: set[int] | frozenset[int] = frozenset()) -> int:
    """A port the kernel hands out as free on 127.0.0.1, not one of `taken`."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
