"""Raw-socket helpers: send byte streams (optionally fragmented) and read replies."""

from __future__ import annotations

import random
import socket
import time


def send_fragmented(
    sock: socket.socket, data: bytes, rng: random.Random | None, max_delay: float = 0.002
) -> None:
    """Send `data` cut at random points, with small pauses so the server sees the pieces."""
    if rng is None:
        sock.sendall(data)
        return
    pos = 0
    while pos < len(data):
        step = rng.choice((1, 2, 3, 7, 16, 64, 512, 4096, 65536))
        sock.sendall(data[pos : pos + step])
        pos += step
        if rng.random() < 0.05:
            time.sleep(rng.random() * max_delay)


def read_until(sock: socket.socket, marker: bytes, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Read until `marker` ends the buffer, EOF, or `timeout`; returns (data, closed).

    The caller's marker is unique to the stream, so seeing it means every reply
    before it has arrived.
    """
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while not buf.endswith(marker):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return bytes(buf), True
        if not chunk:
            return bytes(buf), True
        buf += chunk
    return bytes(buf), False


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Read everything until EOF (True) or until nothing arrives for `timeout` (False)."""
    buf = bytearray()
    sock.settimeout(timeout)
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return bytes(buf), False
        except ConnectionResetError:
            return bytes(buf), True
        if not chunk:
            return bytes(buf), True
        buf += chunk


def request(sock: socket.socket, data: bytes, marker: bytes, timeout: float = 10.0) -> bytes:
    """Send `data` and return the reply that ends with `marker`; fails on EOF or timeout."""
    sock.sendall(data)
    out, closed = read_until(sock, marker, timeout)
    if not out.endswith(marker):
        raise AssertionError(
            f"no {marker!r} after {data[:200]!r} (closed={closed}): {out[-500:]!r}"
        )
    return out


def parse_stats(reply: bytes) -> dict[str, str]:
    """`STAT name value` lines of one stats reply as a dict (order kept)."""
    stats: dict[str, str] = {}
    for line in reply.split(b"\r\n"):
        if line.startswith(b"STAT "):
            parts = line.decode().split(" ", 2)
            stats[parts[1]] = parts[2] if len(parts) > 2 else ""
    return stats


def stats(sock: socket.socket, family: str = "") -> dict[str, str]:
    cmd = f"stats {family}".strip().encode() + b"\r\n"
    return parse_stats(request(sock, cmd, b"END\r\n"))
