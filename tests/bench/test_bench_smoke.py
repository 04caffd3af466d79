"""Smoke tests for the benchmark: the C loadgen builds, every workload runs end to end
against real servers with zero errors and misses, and the loadgen really rejects runs
with misses or wrong values. No timing is asserted: the machine is shared and noisy."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.servers import Server

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
LOADGEN = BENCH / "loadgen"
WORKLOADS = ("getset", "multiget", "pipeget", "setmix", "mg")
# The server serves once its entry point, engine, codec and server layers all exist.
_SERVER_PARTS = ("__main__.py", "engine/store.py", "protocol/text.py", "server/app.py")
SLABCACHE_SERVES = all((ROOT / "src" / "slabcache" / p).exists() for p in _SERVER_PARTS)


@pytest.fixture(scope="module")
def loadgen() -> Path:
    subprocess.run(["make", "-s", "-C", str(BENCH)], check=True, timeout=120)
    assert LOADGEN.exists()
    return LOADGEN


def speaks_meta(server: Server) -> bool:
    """True if the server answers a meta get (rather than ERROR)."""
    with server.connect() as s:
        s.sendall(b"mg bench-probe v\r\n")
        return not s.recv(64).startswith(b"ERROR")


def run_loadgen(loadgen: Path, port: int, *args: str) -> tuple[int, dict[str, object], str]:
    proc = subprocess.run(
        [str(loadgen), "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stdout.splitlines()
    return proc.returncode, json.loads(lines[-1]), proc.stderr


@pytest.mark.parametrize(
    "server",
    [
        "memcached-t1",
        pytest.param(
            "slabcache",
            marks=pytest.mark.skipif(not SLABCACHE_SERVES, reason="slabcache does not serve yet"),
        ),
    ],
)
def test_run_py_all_workloads(
    loadgen: Path, tmp_path: Path, server: str, server_factory: ServerFactory
) -> None:
    workloads = WORKLOADS
    if server == "slabcache" and not speaks_meta(server_factory("slabcache")):
        workloads = tuple(w for w in WORKLOADS if w != "mg")  # meta commands: a later issue
    out = tmp_path / "results.json"
    args = f"--servers {server} --runs 1 --duration 1 --keys 5000 --rss-items 20000 --rss-mb 64"
    args += " --workloads " + ",".join(workloads)
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), *args.split(), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert doc["rejected"] == []
    assert sorted(r["workload"] for r in doc["runs"]) == sorted(workloads)
    for r in doc["runs"]:
        assert r["server"] == server
        assert r["ok"] is True and r["errors"] == 0 and r["misses"] == 0, r
        assert r["ops"] > 0
        assert r["server_cpu_s"] is not None and r["server_cpu_s"] >= 0
        if r["workload"] != "setmix":
            assert r["preloaded"] == 5000 and r["hits"] > 0
        else:
            assert r["sets"] == r["ops"]
    if "mg" in workloads:
        mg = next(r for r in doc["runs"] if r["workload"] == "mg")
        assert mg["ops"] == 32 * mg["batches"] and mg["hits"] == mg["ops"]
    multiget = next(r for r in doc["runs"] if r["workload"] == "multiget")
    assert multiget["keys"] == 20 * multiget["ops"]
    pipeget = next(r for r in doc["runs"] if r["workload"] == "pipeget")
    assert pipeget["ops"] == 32 * pipeget["batches"]
    rss = doc["rss_per_item"][server]
    assert rss["items"] == 20000 and rss["rss_after"] > rss["rss_before"] > 0
    # One progress line per run, then the table.
    assert proc.stdout.count(" run 1: ") == len(workloads)
    assert "medians" in proc.stdout


def test_loadgen_rejects_misses(loadgen: Path, server_factory: ServerFactory) -> None:
    server = server_factory("memcached", "-t", "1")
    # No preload: every get misses, so the run must be rejected.
    rc, res, err = run_loadgen(loadgen, server.port, "-w", "getset", "-d", "0.3", "-P", "0")
    assert rc == 1 and res["ok"] is False
    assert res["misses"] > 0 and res["errors"] == 0
    assert "rejected" in err


def test_loadgen_rejects_wrong_values(loadgen: Path, server_factory: ServerFactory) -> None:
    server = server_factory("memcached", "-t", "1")
    # Preload 50-byte values, then read expecting 100-byte ones.
    rc, res, _ = run_loadgen(loadgen, server.port, "-w", "none", "-n", "2000", "-v", "50")
    assert rc == 0 and res["preloaded"] == 2000
    rc, res, _ = run_loadgen(
        loadgen, server.port, "-w", "mg", "-d", "0.3", "-P", "0", "-n", "2000", "-v", "100"
    )
    assert rc == 1 and res["bad_values"] > 0 and res["hits"] == 0


def test_loadgen_preload_verifies_every_key(loadgen: Path, server_factory: ServerFactory) -> None:
    # 2 MiB of cache cannot hold 50,000 items: the verify pass must notice the evictions.
    server = server_factory("memcached", "-t", "1", "-m", "2")
    proc = subprocess.run(
        [str(loadgen), "-p", str(server.port), "-w", "getset", "-n", "50000", "-d", "0.3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3
    assert "preload verify failed" in proc.stderr


def test_loadgen_hard_time_bound(loadgen: Path) -> None:
    # A server that accepts and never answers: the loadgen ends on its deadline anyway
    # and reports every batch still in flight as a timeout.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        rc, res, err = run_loadgen(loadgen, port, "-w", "mg", "-c", "4", "-d", "0.2", "-P", "0")
        assert rc == 1 and res["timeouts"] == 4 and res["ops"] == 0
        assert "rejected" in err
        proc = subprocess.run(
            [str(loadgen), "-p", str(port), "-w", "getset", "-c", "4", "-T", "0.5"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 3 and "preload failed" in proc.stderr
    finally:
        stop.set()
        t.join()
        for s in accepted:
            s.close()
        listener.close()
