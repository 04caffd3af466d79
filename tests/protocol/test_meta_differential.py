"""Random meta command streams: slabcache's codec and memcached 1.6.18 give the same bytes.

Each seed builds a stream of mg/ms/md/ma/mn/me commands with random flags (quiet mode,
opaques around the 32-byte limit, base64 keys good and bad, invalid and duplicate flags,
bad tokens, wrong data lengths), sends it to a real memcached (started by the shared
fixture, stopped by PID) and feeds it, cut at random points, to a fresh TextProtocol.

Masked because two processes cannot agree on them: CAS values (memcached's counter is
global to the process), remaining TTL / last-access seconds (memcached's clock may tick
during a stream). Named deliberate differences (newer memcached flags that 1.6.18 rejects
or ignores: E, md x, mg C, ms s, ms N) are kept out of the random streams and checked on
their own in `test_deliberate_differences`.
"""

from __future__ import annotations

import base64
import random
import re
import shutil
import socket
import time

import pytest

from tests.protocol.conftest import make_conn

pytestmark = pytest.mark.skipif(shutil.which("memcached") is None, reason="needs memcached")

SENTINEL = b"VERSION 1.6.18\r\n"
# flags each command may get in a random stream (1.6.18 and slabcache agree on them)
POOL = {
    b"mg": ["v", "k", "f", "t", "c", "s", "h", "l", "u", "q", "T30", "T-1", "N30", "R30",
            "R5", "Oop", "P1", "L2", "b"],
    b"ms": ["k", "c", "q", "T30", "T0", "T-1", "F7", "F-1", "ME", "MA", "MP", "MR", "MS",
            "MX", "MSS", "C0", "C1", "C999999999999", "I", "Oop", "b"],
    b"md": ["k", "q", "I", "T30", "C0", "C1", "C999999999999", "Oop", "b"],
    b"ma": ["v", "k", "t", "c", "q", "N0", "N30", "J5", "J-1", "D3", "Dx", "MD", "M-",
            "MI", "M+", "MX", "T30", "C0", "C999999999999", "Oop", "b"],
}  # fmt: skip
# unique letters every command accepts, to reach the token-count limit
_COMMON = ["v", "k", "t", "c", "f", "h", "l", "u", "P", "L", "q", "T1", "R1", "I", "O1"]
MANY = {
    b"mg": [*_COMMON, "s", "N1", "F1", "J1", "D1", "b"],
    b"ms": [*_COMMON, "F1", "J1", "D1", "C999999999999", "MS"],
    b"md": [*_COMMON, "s", "N1", "F1", "J1", "D1", "C999999999999"],
    b"ma": [*_COMMON, "s", "N1", "F1", "J1", "D1", "C999999999999"],
}
BAD = ["Z", "!", "a", "e", "g", "w", "Tx", "T", "Nx", "R", "C-1", "F", "Jx", "\xff"]
KEYS = [b"a", b"b", b"n", b"a", b"b", b"n", b"k" * 250, b"a", b"b", b"n", b"k" * 251]
BINKEYS = [b"\x00\x01", b"foo", b"\xff" * 40, b"a b"]


def _opaque(rng: random.Random) -> str:
    return "O" + "x" * rng.choice((0, 1, 5, 30, 31, 32))


def _flags(rng: random.Random, cmd: bytes) -> tuple[list[str], bool]:
    picked = rng.sample(POOL[cmd], rng.randint(0, 6))
    if rng.random() < 0.15:
        picked.append(rng.choice(BAD))
    if rng.random() < 0.08:
        picked.append(rng.choice(picked or ["v"]))  # duplicate
    if rng.random() < 0.2:
        picked = [_opaque(rng) if f == "Oop" else f for f in picked] or [_opaque(rng)]
    if rng.random() < 0.05:  # around the token limit (17 flags fine, 18 too many)
        picked = rng.sample(MANY[cmd], min(len(MANY[cmd]), rng.randint(14, 19)))
    rng.shuffle(picked)
    binary = "b" in picked
    return picked, binary


def _key(rng: random.Random, prefix: bytes, binary: bool) -> bytes:
    if binary:
        if rng.random() < 0.15:
            return rng.choice([b"Zm9", b"Zm9vYg", b"====", b"Zm!9v", b"Zm9vY==="])
        return base64.b64encode(prefix + rng.choice(BINKEYS))
    k = rng.choice(KEYS)
    return k if len(k) > 200 else prefix + k


def make_stream(seed: int) -> bytes:
    rng = random.Random(seed)
    prefix = b"s%d_" % seed
    out = []
    for _ in range(rng.randint(5, 40)):
        roll = rng.random()
        if roll < 0.04:
            out.append(rng.choice([b"mn", b"mn x y", b"mx", b"m", b"mg", b"me", b"ms k"]))
            continue
        if roll < 0.1:
            key = _key(rng, prefix, rng.random() < 0.3)
            out.append(b"me " + key + (b" b" if rng.random() < 0.5 else b""))
            continue
        cmd = rng.choice([b"mg", b"mg", b"ms", b"ms", b"md", b"ma"])
        flags, binary = _flags(rng, cmd)
        key = _key(rng, prefix, binary)
        fl = " ".join(flags).encode("latin-1")
        if cmd == b"ms":
            value = rng.choice([b"", b"1", b"42", b"hello", b"x" * 300, b"99"])
            n = len(value)
            if rng.random() < 0.05:
                n = rng.choice([n + 1, -1, "x"])  # bad chunk / bad length
            n_tok = str(n).encode()
            out.append(b"ms " + key + b" " + n_tok + (b" " + fl if fl else b""))
            out.append(value)
        else:
            out.append(cmd + b" " + key + (b" " + fl if fl else b""))
    out.append(b"mn")  # a bad length may eat into the next line: never the sentinel
    return b"".join(line + b"\r\n" for line in out)


_MASKS = [
    (re.compile(rb"(?<= c)\d+"), b"#"),
    (re.compile(rb"cas=\d+"), b"cas=#"),
    (re.compile(rb"(?<= t)\d+"), b"#"),
    (re.compile(rb"(?<= l)\d+"), b"#"),
    (re.compile(rb"la=\d+"), b"la=#"),
    (re.compile(rb"exp=-?(?!1 )\d+"), b"exp=#"),
]


def mask(b: bytes) -> bytes:
    for rx, rep in _MASKS:
        b = rx.sub(rep, b)
    return b


# Burn CAS ids so C1 is lower than every item's CAS on both sides (the stale path of I).
WARMUP = b"".join(b"ms warm 1 q\r\nx\r\n" for _ in range(5)) + b"md warm q\r\n"


def via_memcached(server, data: bytes) -> bytes:
    s = socket.create_connection(server.address, timeout=5)
    try:
        s.sendall(data + b"version\r\n")
        out = b""
        deadline = time.monotonic() + 10
        while not out.endswith(SENTINEL) and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        assert out.endswith(SENTINEL), out[-300:]
        return out[: -len(SENTINEL)]
    finally:
        s.close()


def via_codec(data: bytes, rng: random.Random) -> bytes:
    conn = make_conn()
    conn.receive_data(WARMUP)
    conn.data_to_send()
    pos = 0
    out = b""
    while pos < len(data):
        step = rng.choice((1, 3, 17, 200, 5000))
        conn.receive_data(data[pos : pos + step])
        out += conn.data_to_send()
        pos += step
    return out


@pytest.mark.parametrize("seed", range(120))
def test_random_meta_stream(memcached_server, seed):
    via_memcached(memcached_server, b"flush_all\r\n" + WARMUP)
    stream = make_stream(seed)
    want = via_memcached(memcached_server, stream)
    got = via_codec(stream, random.Random(seed))
    assert mask(got) == mask(want), stream


PIPELINE = b"".join(b"ms p%d 2 q T0\r\nv%d\r\n" % (i, i % 10) for i in range(200))
PIPELINE += b"".join(b"mg p%d v q k\r\nmg miss%d v q\r\n" % (i, i) for i in range(200))
PIPELINE += b"mn\r\n"


def test_quiet_pipeline_matches(memcached_server):
    """Hundreds of quiet commands: only hits come back, then MN, as one joined reply."""
    via_memcached(memcached_server, b"flush_all\r\n")
    want = via_memcached(memcached_server, PIPELINE)
    conn = make_conn()
    conn.receive_data(PIPELINE)
    got = conn.data_to_send()
    assert got == want
    assert got.count(b"VA 2 k") == 200 and got.endswith(b"MN\r\n")
    assert b"EN" not in got and b"HD" not in got


# (stream, what 1.6.18 says, what slabcache says): newer memcached features, on purpose
DELIBERATE = [
    (b"ms e 1 E5000 c\r\nx\r\n", b"CLIENT_ERROR invalid flag\r\n", b"HD c5000\r\n"),
    (b"ms e 1\r\nx\r\nmd e x q\r\nmg e v s\r\n",
     b"HD\r\nCLIENT_ERROR invalid or duplicate flag\r\nVA 1 s1\r\nx\r\n",
     b"HD\r\nVA 0 s0\r\n\r\n"),
    (b"ms e 1 E77\r\nx\r\nmg e v C77\r\n", b"CLIENT_ERROR invalid flag\r\nEN\r\n", b"HD\r\nHD\r\n"),
    (b"ms e 3 s\r\nabc\r\n", b"HD\r\n", b"HD s3\r\n"),
    (b"ms e 1 MA N30\r\nx\r\nmg e v t\r\n", b"NS\r\nEN\r\n", b"HD\r\nVA 1 t30\r\nx\r\n"),
]  # fmt: skip


@pytest.mark.parametrize("stream,old,new", DELIBERATE, ids=lambda x: repr(x)[:24])
def test_deliberate_differences(memcached_server, stream, old, new):
    via_memcached(memcached_server, b"flush_all\r\n")
    assert via_memcached(memcached_server, stream) == old
    conn = make_conn()
    conn.receive_data(stream)
    assert conn.data_to_send() == new
