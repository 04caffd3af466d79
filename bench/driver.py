"""Builds and runs the C load generator against a server, sampling the server's CPU
exactly around the measured window (the loadgen prints START and END lines)."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import procstat
from servers import Server, ServerSpec

BENCH = Path(__file__).resolve().parent
LOADGEN = BENCH / "loadgen"


class RunRejected(RuntimeError):
    """A run with errors or misses: its numbers must not be reported."""


def build_loadgen() -> Path:
    subprocess.run(["make", "-s", "-C", str(BENCH)], check=True)
    return LOADGEN


@dataclass(frozen=True)
class Workload:
    name: str
    loadgen_args: tuple[str, ...]
    server_args: tuple[str, ...] = ()


WORKLOADS: dict[str, Workload] = {
    "getset": Workload("getset", ("-w", "getset")),
    "multiget": Workload("multiget", ("-w", "multiget", "-m", "20")),
    "pipeget": Workload("pipeget", ("-w", "pipeget", "-D", "32")),
    # Mixed value sizes over a keyspace far larger than 64 MiB: several classes, evictions.
    "setmix": Workload("setmix", ("-w", "setmix"), ("-m", "64")),
    "mg": Workload("mg", ("-w", "mg", "-D", "32")),
}


def run_loadgen(
    server: Server,
    args: list[str],
    timeout: float,
) -> dict[str, object]:
    """Runs one loadgen invocation; returns its JSON result plus server CPU/RSS figures.

    Raises RunRejected when the loadgen reports errors, misses or a failed preload.
    """
    cmd = [str(LOADGEN), "-H", "127.0.0.1", "-p", str(server.port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cpu0 = cpu1 = None
    t0 = t1 = 0.0
    result: dict[str, object] | None = None
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            line = line.strip()
            if line == "START":
                cpu0, t0 = procstat.cpu(server.pid), time.monotonic()
            elif line == "END":
                cpu1, t1 = procstat.cpu(server.pid), time.monotonic()
            elif line.startswith("{"):
                result = json.loads(line)
            if time.monotonic() > deadline:
                break
        proc.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0 or result is None:
        raise RunRejected(
            f"loadgen exit {proc.returncode}: {stderr.strip()}"
            + (f" result={result}" if result else "")
        )
    if cpu0 is not None and cpu1 is not None:
        user = cpu1.user - cpu0.user
        system = cpu1.system - cpu0.system
        ops = float(result["ops"])  # type: ignore[arg-type]
        result.update(
            server_cpu_user_s=round(user, 3),
            server_cpu_sys_s=round(system, 3),
            server_cpu_s=round(user + system, 3),
            ops_per_cpu_s=round(ops / (user + system), 1) if user + system > 0 else None,
            window_s=round(t1 - t0, 3),
        )
    return result


def measure(spec: ServerSpec, workload: Workload, duration: float, conns: int, keys: int):
    """One benchmark run on a fresh server: start, preload+verify, measure, stop."""
    args = [*workload.loadgen_args, "-c", str(conns), "-d", str(duration), "-n", str(keys)]
    server = Server(spec, workload.server_args).start()
    try:
        return run_loadgen(server, args, timeout=duration + 900)
    except RunRejected as e:
        raise RunRejected(f"{e}\nserver log tail:\n{server.log_text()[-1500:]}") from None
    finally:
        server.stop()


def rss_per_item(spec: ServerSpec, items: int, mem_mb: int, conns: int = 50) -> dict[str, float]:
    """VmRSS before and after loading `items` 32-byte keys with 100-byte values
    (pipelined sets, then every key read back: a single miss rejects the figure)."""
    server = Server(spec, ("-m", str(mem_mb))).start()
    try:
        before = procstat.rss_bytes(server.pid)
        args = ["-w", "none", "-n", str(items), "-c", str(conns), "-k", "32", "-v", "100"]
        run_loadgen(server, args, timeout=1800)
        time.sleep(1.0)  # let a background hash-table expansion settle
        after = procstat.rss_bytes(server.pid)
        pss_after = procstat.pss_tree_bytes(server.pid)
    finally:
        server.stop()
    return {
        "items": items,
        "mem_mb": mem_mb,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_item": after / items,
        "delta_bytes_per_item": (after - before) / items,
        # Differs from rss_after only for a server with several worker processes.
        "pss_tree_after": pss_after,
        "pss_tree_bytes_per_item": pss_after / items,
    }
