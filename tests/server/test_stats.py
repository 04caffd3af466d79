"""`stats` general fields (names and order compared with memcached 1.6.18 run with the same
flags), `stats conns`, the server-owned counters, and watcher delivery."""

from __future__ import annotations

import re
import time

import pytest

from tests.helpers.wire import read_until, request, stats
from tests.server.support import tcp_server

CONN_ROW = re.compile(rb"STAT (\d+):(addr|listen_addr|state|secs_since_last_cmd) (\S+)\r\n")


@pytest.mark.parametrize(
    "flags",
    [[], ["-o", "idle_timeout=30"], ["-o", "no_maxconns_fast"], ["-o", "no_modern"]],
    ids=["default", "idle_timeout", "no_maxconns_fast", "no_modern"],
)
def test_general_stats_names_in_memcached_order(spawn, flags):
    names = {}
    for kind in ("memcached", "slabcache"):
        srv = tcp_server(spawn, *flags, kind=kind)
        names[kind] = list(stats(srv.connect()))
    assert names["slabcache"] == names["memcached"]


def test_fresh_server_values_read_like_memcached(spawn):
    srv = tcp_server(spawn)
    s = srv.connect()
    st = stats(s)
    for _ in range(200):  # until the server has seen the readiness probe's close
        if st["curr_connections"] == "1":
            break
        time.sleep(0.02)
        st = stats(s)
    assert st["pid"] == str(srv.pid)
    assert 2 <= int(st["uptime"]) < 60
    assert st["version"] == "1.6.18"
    assert st["pointer_size"] == "64"
    assert re.fullmatch(r"\d+\.\d{6}", st["rusage_user"])
    assert re.fullmatch(r"\d+\.\d{6}", st["rusage_system"])
    assert st["max_connections"] == "1024"
    assert st["curr_connections"] == "1"
    assert int(st["total_connections"]) >= 2  # the listener counts, as in memcached
    assert st["threads"] == "4"
    assert st["accepting_conns"] == "1"
    assert st["reserved_fds"] == "20"
    assert st["limit_maxbytes"] == str(64 << 20)
    assert st["libevent"]


def test_bytes_read_and_written_count_this_traffic(spawn):
    srv = tcp_server(spawn)
    s = srv.connect()
    before = stats(s)
    cmd = b"set bw 0 0 5\r\nhello\r\n"
    request(s, cmd, b"STORED\r\n")
    after = stats(s)
    stats_cmd = len(b"stats\r\n")
    assert int(after["bytes_read"]) - int(before["bytes_read"]) == len(cmd) + stats_cmd
    assert int(after["bytes_written"]) - int(before["bytes_written"]) >= len(b"STORED\r\n")


def test_conn_yields_count_reqs_per_event(spawn):
    srv = tcp_server(spawn, "-R", "5")
    s = srv.connect()
    s.sendall(b"version\r\n" * 500 + b"get end\r\n")
    got, _ = read_until(s, b"END\r\n", timeout=30)
    assert got == b"VERSION 1.6.18\r\n" * 500 + b"END\r\n"
    assert int(stats(s)["conn_yields"]) > 0


def _conn_rows(reply: bytes) -> dict[int, dict[str, str]]:
    rows: dict[int, dict[str, str]] = {}
    for fd, field, value in CONN_ROW.findall(reply):
        rows.setdefault(int(fd), {})[field.decode()] = value.decode()
    return rows


def test_stats_conns_shape_matches_memcached(spawn):
    shapes = {}
    for kind in ("memcached", "slabcache"):
        srv = tcp_server(spawn, kind=kind)
        other = srv.connect()
        request(other, b"version\r\n", b"\r\n")
        quiet = srv.connect()  # connected, never sent a byte
        me = srv.connect()
        wanted = [f"tcp:{a}:{p}" for a, p in (c.getsockname() for c in (other, quiet, me))]
        for _ in range(100):  # memcached registers accepted sockets from its worker threads
            reply = request(me, b"stats conns\r\n", b"END\r\n")
            if all(w.encode() in reply for w in wanted):
                break
            time.sleep(0.02)
        assert b"".join(m.group(0) for m in CONN_ROW.finditer(reply)) + b"END\r\n" == reply
        rows = _conn_rows(reply)
        fds = sorted(rows)
        listener = rows[fds[0]]
        assert listener["addr"] == f"tcp:127.0.0.1:{srv.port}"
        assert listener["state"] == "conn_listening"
        assert int(listener["secs_since_last_cmd"]) >= 0
        mine = me.getsockname()
        theirs = other.getsockname()
        silent = quiet.getsockname()
        by_addr = {r["addr"]: r for r in rows.values()}
        assert by_addr[f"tcp:{mine[0]}:{mine[1]}"]["state"] == "conn_parse_cmd"
        assert by_addr[f"tcp:{theirs[0]}:{theirs[1]}"]["state"] == "conn_read"
        assert by_addr[f"tcp:{silent[0]}:{silent[1]}"]["state"] == "conn_new_cmd"
        for r in rows.values():
            if r["state"] != "conn_listening":
                assert r["listen_addr"] == f"tcp:127.0.0.1:{srv.port}"
        shapes[kind] = [sorted(rows[fd]) for fd in fds]
    assert shapes["slabcache"] == shapes["memcached"]


def test_watch_streams_fetches_to_the_watcher(spawn):
    srv = tcp_server(spawn)
    watcher = srv.connect()
    assert request(watcher, b"watch fetchers\r\n", b"OK\r\n") == b"OK\r\n"
    client = srv.connect()
    request(client, b"get watched_key\r\n", b"END\r\n")
    line, _ = read_until(watcher, b"\n", timeout=10)
    assert line.startswith(b"ts=")
    assert b"key=watched_key" in line
    st = stats(client)
    assert st["log_watchers"] == "1"
    assert int(st["log_watcher_sent"]) >= 1
    rows = _conn_rows(request(client, b"stats conns\r\n", b"END\r\n"))
    assert "conn_watch" in {r["state"] for r in rows.values()}


def _connevents(srv) -> list[bytes]:
    watcher = srv.connect()
    watcher.sendall(b"watch connevents\r\n")
    got, _ = read_until(watcher, b"\n", timeout=10)
    assert got.startswith(b"OK\r\n")
    client = srv.connect()
    request(client, b"version\r\n", b"\r\n")
    port = client.getsockname()[1]
    client.close()
    mine = f"rport={port} ".encode()
    lines: list[bytes] = []
    while len(lines) < 2:  # events of other sockets (the readiness probe) may come first
        chunk, _ = read_until(watcher, b"\n", timeout=10)
        assert chunk, lines
        lines += [ln for ln in chunk.splitlines() if mine in ln]
    # timestamps, log ids and descriptors differ between servers; the rest must not
    return [re.sub(rb"(ts|gid|cfd|rport)=\S+", rb"\1=N", line) for line in lines]


def test_watch_connevents_like_memcached(spawn):
    shapes = [_connevents(tcp_server(spawn, kind=kind)) for kind in ("memcached", "slabcache")]
    assert shapes[0] == shapes[1]
    assert shapes[1][0].startswith(b"ts=N gid=N type=conn_new rip=127.0.0.1 ")
