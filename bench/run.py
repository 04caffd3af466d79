#!/usr/bin/env python3
"""Benchmarks slabcache against memcached 1.6.18 (-t 1 and -t 2) with the C loadgen.

Every run uses a fresh server (start, preload 100,000 keys and verify them, measure,
stop by PID); servers are interleaved (A B C A B C ...) so machine noise spreads
evenly. Medians of the runs and the slabcache/memcached(-t 1) ratios are printed and
written to bench/results/<timestamp>.json. Any run with an error or a miss is rejected:
it is reported, left out of the medians, and the script exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import driver
from servers import SPECS

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = "memcached-t1"
METRICS = ("ops_per_s", "keys_per_s", "server_cpu_user_s", "server_cpu_sys_s", "ops_per_cpu_s")
METRICS += ("p50_us", "p99_us", "loadgen_cpu_s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="runs per server and workload")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--conns", type=int, default=50)
    p.add_argument("--keys", type=int, default=100_000, help="preloaded keys")
    p.add_argument("--servers", default=",".join(SPECS), help="comma list of " + ",".join(SPECS))
    p.add_argument("--workloads", default=",".join(driver.WORKLOADS))
    p.add_argument("--rss-items", type=int, default=1_000_000, help="0 skips the RSS check")
    p.add_argument("--rss-mb", type=int, default=1024, help="-m for the RSS check (no evictions)")
    p.add_argument("--out", type=Path, default=None, help="results file (default: results/)")
    return p.parse_args(argv)


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def print_table(summary: dict[str, dict[str, dict[str, float | None]]]) -> None:
    head = (
        f"{'workload':<9} {'server':<13} {'ops/s':>11} {'keys/s':>11} {'cpu usr':>8} "
        f"{'cpu sys':>8} {'ops/cpu-s':>11} {'p50 us':>8} {'p99 us':>8}"
    )
    print("\nmedians")
    print(head)
    print("-" * len(head))
    for wl, per_server in summary.items():
        for name, m in per_server.items():
            print(
                f"{wl:<9} {name:<13} {fmt(m['ops_per_s']):>11} {fmt(m['keys_per_s']):>11} "
                f"{fmt(m['server_cpu_user_s'], 2):>8} {fmt(m['server_cpu_sys_s'], 2):>8} "
                f"{fmt(m['ops_per_cpu_s']):>11} {fmt(m['p50_us'], 1):>8} "
                f"{fmt(m['p99_us'], 1):>8}"
            )
    print(f"\nratio slabcache / {REFERENCE}")
    print(f"{'workload':<9} {'ops/s':>8} {'ops/cpu-s':>10} {'p50':>8} {'p99':>8}")
    for wl, per_server in summary.items():
        a, b = per_server.get("slabcache"), per_server.get(REFERENCE)
        if not a or not b:
            continue
        cells = [ratio(a[k], b[k]) for k in ("ops_per_s", "ops_per_cpu_s", "p50_us", "p99_us")]
        print(f"{wl:<9} " + " ".join(f"{fmt(c, 3):>8}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    for s in servers:
        if s not in SPECS:
            sys.exit(f"unknown server {s!r}; known: {', '.join(SPECS)}")
    for w in workloads:
        if w not in driver.WORKLOADS:
            sys.exit(f"unknown workload {w!r}; known: {', '.join(driver.WORKLOADS)}")
    driver.build_loadgen()
    started = dt.datetime.now(dt.UTC)
    runs: list[dict[str, object]] = []
    rejected: list[dict[str, object]] = []
    total = len(workloads) * args.runs * len(servers)
    n = 0
    for wl in workloads:
        for r in range(args.runs):
            for name in servers:  # interleaved: A B C A B C ...
                n += 1
                t0 = time.monotonic()
                try:
                    res = driver.measure(
                        SPECS[name], driver.WORKLOADS[wl], args.duration, args.conns, args.keys
                    )
                except (driver.RunRejected, RuntimeError) as e:
                    rejected.append({"workload": wl, "server": name, "run": r, "error": str(e)})
                    print(f"[{n}/{total}] {wl:<9} {name:<13} run {r + 1}: REJECTED: {e}")
                    continue
                res.update(workload=wl, server=name, run=r)
                runs.append(res)
                print(
                    f"[{n}/{total}] {wl:<9} {name:<13} run {r + 1}: "
                    f"{res['ops_per_s']:>11,.0f} ops/s  "
                    f"cpu {res.get('server_cpu_s', 0):.2f}s  "
                    f"p50 {res['p50_us']:.0f}us p99 {res['p99_us']:.0f}us  "
                    f"({time.monotonic() - t0:.1f}s)",
                    flush=True,
                )

    summary: dict[str, dict[str, dict[str, float | None]]] = {}
    for wl in workloads:
        for name in servers:
            mine = [x for x in runs if x["workload"] == wl and x["server"] == name]
            if mine:
                summary.setdefault(wl, {})[name] = {
                    k: median([x.get(k) for x in mine])  # type: ignore[misc]
                    for k in METRICS
                }
    print_table(summary)

    rss: dict[str, object] = {}
    if args.rss_items > 0:
        print(f"\nRSS per item after {args.rss_items:,} items (32-byte keys, 100-byte values)")
        for name in servers:
            try:
                rss[name] = driver.rss_per_item(SPECS[name], args.rss_items, args.rss_mb)
            except (driver.RunRejected, RuntimeError) as e:
                rejected.append({"workload": "rss", "server": name, "error": str(e)})
                print(f"{name:<13} REJECTED: {e}")
                continue
            m = rss[name]
            print(
                f"{name:<13} -m {args.rss_mb}: after/items {m['bytes_per_item']:.1f} B, "  # type: ignore[index]
                f"(after-before)/items {m['delta_bytes_per_item']:.1f} B"  # type: ignore[index]
            )

    RESULTS.mkdir(exist_ok=True)
    out = args.out or RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    doc = {
        "started": started.isoformat(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "reference": REFERENCE,
        "runs": runs,
        "rejected": rejected,
        "medians": summary,
        "rss_per_item": rss,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nresults: {out}")
    if rejected:
        print(f"{len(rejected)} run(s) rejected", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
