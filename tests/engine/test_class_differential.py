"""Class assignment against a running memcached 1.6.18.

For a spread of key lengths, value lengths and flags (every class boundary, on both sides,
plus seeded random sizes and chunked items), the same items go into memcached and into the
engine under the same flags. memcached's `lru_crawler metadump all` tells which class and
ntotal it gave each key, and `stats slabs` the chunk sizes and chunk use per class; the
engine must report exactly the same. The flags are parsed by slabcache's own CLI, so the
mapping from memcached's options to the engine's configuration is tested too.
"""

from __future__ import annotations

import random
import socket

import pytest
from tests.helpers.servers import start_server
from tests.helpers.wire import request, stats

from slabcache.engine import StoreMode
from slabcache.engine.slabclass import build_classes
from slabcache.options import parse_args

CONFIGS = {
    "defaults": [],
    "no-cas": ["-C"],
    "f1.5-n100": ["-f", "1.5", "-n", "100"],
    "n32-f2": ["-n", "32", "-f", "2"],
    "slab-sizes": ["-o", "slab_sizes=100-200-300-1000-4000"],
    "I2m": ["-I", "2m"],
}
MEMORY_MB = 256  # ample: nothing may be evicted, or class use would not compare


def _spread(flag_args: list[str], seed: int) -> list[tuple[bytes, int, int]]:
    """(key, flags, value length) around every class boundary, plus random sizes."""
    cfg = parse_args([*flag_args, "-m", str(MEMORY_MB)]).engine
    overhead = 48 + 1 + 2 + (8 if cfg.use_cas else 0)
    classes = build_classes(cfg)
    rng = random.Random(seed)
    items: list[tuple[bytes, int, int]] = []

    def add(klen: int, flags: int, vlen: int) -> None:
        if vlen < 0 or klen < 4:
            return
        ntotal = overhead + klen + vlen + (4 if flags else 0)
        if ntotal > cfg.item_size_max:
            return
        prefix = b"%03d:" % len(items)
        key = (
            prefix + bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(klen))
        )[:klen]
        items.append((key, flags, vlen))

    for chunk in classes.sizes[1 : classes.power_largest]:
        for flags in (0, 7):
            klen = rng.randint(4, 40)
            room = chunk - overhead - klen - (4 if flags else 0)
            add(klen, flags, room)  # fills the class exactly
            add(klen, flags, room + 1)  # one byte too many: the next class
    for _ in range(60):
        add(rng.randint(4, 250), rng.choice((0, 1, 2**32 - 1)), rng.randint(0, 20000))
    add(10, 0, 600000)  # chunked: header in a small class, chain in the top classes
    add(20, 3, 1048000)
    return items


def _metadump(sock: socket.socket) -> dict[bytes, tuple[int, int]]:
    raw = request(sock, b"lru_crawler metadump all\r\n", b"END\r\n", timeout=30)
    return _parse_dump(raw.split(b"END\r\n")[0].splitlines())


def _parse_dump(lines: list[bytes]) -> dict[bytes, tuple[int, int]]:
    from urllib.parse import unquote_to_bytes

    out = {}
    for line in lines:
        fields = dict(part.split(b"=", 1) for part in line.split())
        out[unquote_to_bytes(fields[b"key"])] = (int(fields[b"cls"]), int(fields[b"size"]))
    return out


def _slab_use(slab_stats: dict[str, str]) -> dict[str, str]:
    keep = ("chunk_size", "chunks_per_page", "total_pages", "used_chunks")
    return {k: v for k, v in slab_stats.items() if k.split(":")[-1] in keep}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_class_assignment_matches_memcached(make_engine, name: str) -> None:
    flag_args = CONFIGS[name]
    items = _spread(flag_args, seed=len(name))
    # no background threads: a crawl or page move must not run while the items go in
    quiet = ["-o", "no_lru_crawler,no_lru_maintainer,slab_automove=0"]
    server = start_server("memcached", [*flag_args, *quiet, "-m", str(MEMORY_MB)])
    try:
        with server.connect() as sock:
            for key, flags, vlen in items:
                line = b"set %s %d 0 %d\r\n%s\r\n" % (key, flags, vlen, b"v" * vlen)
                assert request(sock, line, b"\r\n") == b"STORED\r\n", (key, vlen)
            assert request(sock, b"lru_crawler enable\r\n", b"\r\n") == b"OK\r\n"
            theirs = _metadump(sock)
            their_slabs = _slab_use(stats(sock, "slabs"))
    finally:
        server.stop()

    cfg = parse_args([*flag_args, *quiet, "-m", str(MEMORY_MB)]).engine
    engine, _clock = make_engine(config=cfg)
    for key, flags, vlen in items:
        assert engine.store(StoreMode.SET, key, flags, 0, b"v" * vlen).name == "STORED"
    engine.lru_crawler_enable()
    dump = engine.lru_crawler_metadump("all")
    ours = _parse_dump(list(dump))
    our_slabs = _slab_use({k: str(v) for k, v in engine.stats_slabs()})

    assert len(theirs) == len(items)
    assert ours == theirs
    assert our_slabs == their_slabs
