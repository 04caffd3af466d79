#!/usr/bin/env python3
"""Engine operation cost in ns per call: get hit, get miss, set (overwrite), set of new
keys under eviction pressure, next to the cost of an empty Python method call.

In-process, no I/O, injected ManualClock. Each figure is the median of several timed
passes over pre-built key lists (building keys is outside the timed loop), so it is the
engine's own cost plus the Python call overhead shown on the first row.

The first rows use --n keys (100,000: the working set outgrows the CPU caches, so they
include memory stalls); the "hot" rows repeat get and set over 1,000 keys that stay in
cache, which shows the interpreter cost alone. `--clock cpu` times with the thread's CPU
clock instead of the wall clock, steadier on a shared machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from slabcache.engine import Engine, EngineConfig, ManualClock, StoreMode, StoreResult

VALUE = bytes(ord("a") + i % 26 for i in range(100))


def key_of(i: int, prefix: bytes = b"key:") -> bytes:
    return prefix + b"%028d" % i


CLOCK = time.perf_counter_ns


def timed(fn: Callable[[], int], repeats: int) -> tuple[float, float]:
    """(median, min) ns per operation over `repeats` passes; fn returns its op count."""
    per_op = []
    for _ in range(repeats):
        t0 = CLOCK()
        n = fn()
        per_op.append((CLOCK() - t0) / n)
    return statistics.median(per_op), min(per_op)


class _Noop:
    def get(self, key: bytes) -> None:
        return None


def bench(n: int, repeats: int, seed: int) -> list[tuple[str, float, float]]:
    rng = random.Random(seed)
    engine = Engine(EngineConfig(maxbytes=1024 << 20), clock=ManualClock())
    keys = [key_of(i) for i in range(n)]
    for k in keys:
        if engine.store(StoreMode.SET, k, 0, 0, VALUE) is not StoreResult.STORED:
            raise SystemExit("preload store failed")
    hits = keys[:]
    rng.shuffle(hits)
    misses = [key_of(i, b"mis:") for i in range(n)]
    rows = []

    noop_get = _Noop().get

    def noop() -> int:
        for k in hits:
            noop_get(k)
        return len(hits)

    rows.append(("python method call (floor)", *timed(noop, repeats)))

    get = engine.get

    def get_hit() -> int:
        for k in hits:
            if get(k) is None:
                raise SystemExit("unexpected miss")
        return len(hits)

    def get_miss() -> int:
        for k in misses:
            if get(k) is not None:
                raise SystemExit("unexpected hit")
        return len(misses)

    store, mode, ok = engine.store, StoreMode.SET, StoreResult.STORED

    def set_overwrite() -> int:
        for k in hits:
            if store(mode, k, 0, 0, VALUE) is not ok:
                raise SystemExit("set failed")
        return len(hits)

    rows.append(("get hit", *timed(get_hit, repeats)))
    rows.append(("get miss", *timed(get_miss, repeats)))
    rows.append(("set (overwrite, same class)", *timed(set_overwrite, repeats)))

    # The same calls over a working set that stays in cache: the interpreter's share.
    hot = hits[:1000]
    laps = max(1, n // len(hot))

    def get_hot() -> int:
        for _ in range(laps):
            for k in hot:
                get(k)
        return laps * len(hot)

    def set_hot() -> int:
        for _ in range(laps):
            for k in hot:
                store(mode, k, 0, 0, VALUE)
        return laps * len(hot)

    rows.append(("get hit (1,000 hot keys)", *timed(get_hot, repeats)))
    rows.append(("set overwrite (1,000 hot keys)", *timed(set_hot, repeats)))

    # New keys while memory is still free (free-list pops and fresh pages, no eviction).
    fresh = iter([[key_of(i, b"f%d:" % r) for i in range(n)] for r in range(repeats)])

    def set_fresh() -> int:
        batch = next(fresh)
        for k in batch:
            if store(mode, k, 0, 0, VALUE) is not ok:
                raise SystemExit("set of a new key failed")
        return len(batch)

    rows.append(("set new key, free memory", *timed(set_fresh, repeats)))

    # Eviction pressure: an 8 MiB cache already full, every new key evicts a tail item.
    small = Engine(EngineConfig(maxbytes=8 << 20), clock=ManualClock())
    sstore = small.store
    counter = 0

    def fill(count: int) -> int:
        nonlocal counter
        for _ in range(count):
            if sstore(mode, key_of(counter, b"evk:"), 0, 0, VALUE) is not ok:
                raise SystemExit("set under eviction failed")
            counter += 1
        return count

    fill(200_000)  # ~190 bytes per item: far more than 8 MiB holds
    evictions = int(small.stats_general().get("evictions", 0))
    if evictions == 0:
        raise SystemExit("no evictions: the pressure test would measure plain sets")
    new_keys = [key_of(i, b"new:") for i in range(n * repeats)]
    chunks = iter([new_keys[i * n : (i + 1) * n] for i in range(repeats)])

    def set_evicting() -> int:
        batch = next(chunks)
        for k in batch:
            if sstore(mode, k, 0, 0, VALUE) is not ok:
                raise SystemExit("set under eviction failed")
        return len(batch)

    rows.append(("set new key, evicting", *timed(set_evicting, repeats)))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="keys / operations per pass")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = p.parse_args(argv)
    global CLOCK
    CLOCK = time.thread_time_ns if args.clock == "cpu" else time.perf_counter_ns
    rows = bench(args.n, args.repeats, args.seed)
    print(
        f"engine micro-benchmark: {args.n:,} ops per pass, {args.repeats} passes, "
        f"{args.clock} clock"
    )
    print(f"{'operation':<30} {'median ns/op':>13} {'min ns/op':>10}")
    for name, med, low in rows:
        print(f"{name:<30} {med:>13.0f} {low:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
