"""libmemcached's `memccapable -a` (its ASCII protocol conformance tests).

Run against memcached 1.6.18 first to learn the expected set of tests, then
against slabcache: every test memcached passes must pass there too.
"""

from __future__ import annotations

import re
import subprocess

import pytest

RESULT_LINE = re.compile(r"^(ascii [\w ]+?)\s+\[(\w+)\]\s*$")


def run_memccapable(port: int) -> tuple[dict[str, str], str, int]:
    done = subprocess.run(
        ["memccapable", "-h", "127.0.0.1", "-p", str(port), "-a", "-v", "-t", "5"],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    results = {}
    for line in out.splitlines():
        m = RESULT_LINE.match(line)
        if m:
            results[m.group(1)] = m.group(2)
    return results, out, done.returncode


@pytest.fixture(scope="module")
def memcached_results(module_server_factory) -> dict[str, str]:
    results, out, rc = run_memccapable(module_server_factory("memcached").port)
    assert rc == 0, out
    return results


def test_memcached_passes_every_ascii_test(memcached_results) -> None:
    # The reference point: 27 ASCII tests in libmemcached 1.1, all passing.
    assert len(memcached_results) >= 20, memcached_results
    assert set(memcached_results.values()) == {"pass"}, memcached_results


def test_slabcache_passes_every_ascii_test(server_factory, memcached_results) -> None:
    server = server_factory("slabcache")
    results, out, rc = run_memccapable(server.port)
    failed = {name: r for name, r in results.items() if r != "pass"}
    assert not failed, out
    assert results.keys() == memcached_results.keys(), out
    assert "All tests passed" in out, out
    assert rc == 0, out
    assert server.alive(), server.log()
