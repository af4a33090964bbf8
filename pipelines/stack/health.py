"""Whether a started component answers: an HTTP status endpoint that says 200, or Redis that says PONG to
an authenticated PING. Probes only: what is probed, and when, is the catalogue's and the supervisor's."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def redis_ok(host: str, port: int, password: str | None) -> Callable[[], bool]:
    auth = f"AUTH {password}\r\n".encode() if password else b""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1.0) as conn:
                conn.sendall(auth + b"PING\r\n")
                reply = b""
                while reply.count(b"\r\n") < (2 if auth else 1):
                    chunk = conn.recv(64)
                    if not chunk:
                        break
                    reply += chunk
                return reply.endswith(b"+PONG\r\n")
        except OSError:
            return False

    return check
