#!/usr/bin/env python3
"""RSS per item of the slabcache engine alone vs memcached 1.6.18, side by side.

Loads the same items (32-byte keys, 100-byte values, the loadgen's key and value
format) into memcached over the network (C loadgen: pipelined sets, every key read
back) and into an Engine in a child Python process (direct `store` calls), and reads
VmRSS before and after each load. Issue 2's bound: engine RSS per item <= 1.25x
memcached's. Both get the same -m, large enough that nothing is evicted; every key
is read back after the measurement, so an evicting load is rejected.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys

import driver
import procstat
from servers import ROOT, SPECS, python_exe

BOUND = 1.25
KEY_SIZE = 32
VALUE_SIZE = 100


def key_of(i: int) -> bytes:
    # Same bytes as the loadgen: "key:" + zero-padded decimal (32 bytes); value = key + filler.
    return b"key:%028d" % i


FILLER = bytes(ord("a") + i % 26 for i in range(VALUE_SIZE))


def child(items: int, mem_mb: int) -> dict[str, object]:
    """Runs in a fresh interpreter: nothing but the engine and this loop in memory."""
    from slabcache.engine import Engine, EngineConfig, ManualClock, StoreMode, StoreResult

    engine = Engine(EngineConfig(maxbytes=mem_mb << 20), clock=ManualClock())
    gc.collect()
    before = procstat.rss_bytes_self()
    store, stored, tail = engine.store, StoreResult.STORED, FILLER[: VALUE_SIZE - KEY_SIZE]
    for i in range(items):
        k = key_of(i)
        if store(StoreMode.SET, k, 0, 0, k + tail) is not stored:
            raise SystemExit(f"store of item {i} failed")
    gc.collect()
    after = procstat.rss_bytes_self()
    get = engine.get
    for i in range(items):  # after measuring: a lost item means the figure is void
        k = key_of(i)
        hit = get(k)
        if hit is None or hit[1] != k + tail + b"\r\n":
            raise SystemExit(f"item {i} lost or corrupted after loading")
    return {
        "items": items,
        "mem_mb": mem_mb,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_item": after / items,
        "delta_bytes_per_item": (after - before) / items,
    }


def engine_rss(items: int, mem_mb: int) -> dict[str, object]:
    out = subprocess.run(
        [python_exe(), __file__, "--child", "--items", str(items), "--mb", str(mem_mb)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        timeout=3600,
    )
    if out.returncode != 0:
        raise SystemExit(f"engine child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--mb", type=int, default=1024, help="-m / maxbytes for both")
    p.add_argument("--check", action="store_true", help=f"exit 1 if the ratio > {BOUND}")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.items, args.mb)))
        return 0

    driver.build_loadgen()
    mc = driver.rss_per_item(SPECS["memcached-t1"], args.items, args.mb)
    eng = engine_rss(args.items, args.mb)
    print(f"RSS per item, {args.items:,} items, 32-byte keys, 100-byte values, -m {args.mb}")
    print(f"{'':<22} {'after/items':>12} {'(after-before)/items':>21} {'VmRSS after':>12}")
    for name, m in (("memcached 1.6.18 -t 1", mc), ("slabcache engine", eng)):
        print(
            f"{name:<22} {m['bytes_per_item']:>10.1f} B {m['delta_bytes_per_item']:>19.1f} B "
            f"{m['rss_after'] / 2**20:>9.1f} MiB"
        )
    r_total = eng["bytes_per_item"] / mc["bytes_per_item"]  # type: ignore[operator]
    r_delta = eng["delta_bytes_per_item"] / mc["delta_bytes_per_item"]  # type: ignore[operator]
    verdict = "within" if r_total <= BOUND else "ABOVE"
    print(f"ratio engine/memcached: after {r_total:.3f}, delta {r_delta:.3f} ({verdict} {BOUND}x)")
    print(json.dumps({"memcached": mc, "engine": eng, "ratio": r_total, "ratio_delta": r_delta}))
    return 1 if args.check and r_total > BOUND else 0


if __name__ == "__main__":
    sys.exit(main())
