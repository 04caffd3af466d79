"""Connection handling over real sockets: limits, idle timeout, pipelining, fragmentation,
slow and stuck clients, backpressure."""

from __future__ import annotations

import random
import socket
import time

from tests.helpers.wire import read_until, read_until_closed, request, send_fragmented, stats
from tests.server.support import rss_kib, tcp_server


def _served_connection(srv):
    """A connection the server accepted, once slots held by closed sockets have been freed
    (the server learns of a close asynchronously)."""
    for _ in range(500):
        s = srv.connect()
        s.sendall(b"version\r\n")
        reply, _ = read_until(s, b"\r\n", timeout=10)
        if reply == b"VERSION 1.6.18\r\n":
            return s
        assert reply == b"ERROR Too many open connections\r\n"
        s.close()
        time.sleep(0.02)
    raise AssertionError("no slot ever freed")


def test_connection_limit_rejects_with_memcached_reply(spawn):
    srv = tcp_server(spawn, "-c", "5")
    held = [_served_connection(srv) for _ in range(5)]
    extra = srv.connect()
    data, closed = read_until_closed(extra, timeout=10)
    assert (data, closed) == (b"ERROR Too many open connections\r\n", True)
    held.pop().close()
    s = _served_connection(srv)
    st = stats(s)
    assert int(st["rejected_connections"]) >= 1
    assert st["max_connections"] == "5"
    assert st["curr_connections"] == "5"
    for h in held:
        h.close()
    s.close()


def test_idle_timeout_closes_silently_and_counts(spawn):
    # The one test that waits on the server's wall clock (~2-3 s).
    srv = tcp_server(spawn, "-o", "idle_timeout=1")
    idle = srv.connect()
    assert request(idle, b"version\r\n", b"\r\n") == b"VERSION 1.6.18\r\n"
    data, closed = read_until_closed(idle, timeout=15)
    assert (data, closed) == (b"", True)
    fresh = srv.connect()
    assert stats(fresh)["idle_kicks"] == "1"


def test_thousand_pipelined_commands_in_one_send(spawn):
    srv = tcp_server(spawn)
    s = srv.connect()
    cmds, expect = [], []
    for i in range(1000):
        value = f"value-{i}".encode()
        if i % 2 == 0:
            cmds.append(b"set key%d %d 0 %d\r\n%s\r\n" % (i, i, len(value), value))
            expect.append(b"STORED\r\n")
        else:
            prev = f"value-{i - 1}".encode()
            cmds.append(b"get key%d\r\n" % (i - 1))
            expect.append(b"VALUE key%d %d %d\r\n%s\r\nEND\r\n" % (i - 1, i - 1, len(prev), prev))
    s.sendall(b"".join(cmds) + b"version\r\n")
    got = request(s, b"", b"VERSION 1.6.18\r\n", timeout=30)
    assert got == b"".join(expect) + b"VERSION 1.6.18\r\n"


def test_large_value_in_small_fragments(spawn):
    srv = tcp_server(spawn)
    s = srv.connect()
    rng = random.Random(7)
    value = rng.randbytes(1_000_000)
    payload = b"set big 5 0 %d\r\n%s\r\n" % (len(value), value)
    send_fragmented(s, payload, rng)
    assert read_until(s, b"\r\n", timeout=30)[0] == b"STORED\r\n"
    s.sendall(b"get big\r\n")
    got, _ = read_until(s, b"END\r\n", timeout=30)
    assert got == b"VALUE big 5 %d\r\n%s\r\nEND\r\n" % (len(value), value)


def test_stuck_client_does_not_delay_others(spawn):
    srv = tcp_server(spawn)
    stuck = srv.connect()
    stuck.sendall(b"set half 0 0 100\r\nabc")  # half a command, then silence
    other = srv.connect()
    for i in range(300):
        reply = request(other, b"set k%d 0 0 1\r\nx\r\nget k%d\r\n" % (i, i), b"END\r\n")
        assert reply == b"STORED\r\nVALUE k%d 0 1\r\nx\r\nEND\r\n" % i
    stuck.close()


def test_client_not_reading_a_huge_multiget_is_paused(spawn):
    srv = tcp_server(spawn, "-m", "64")
    loader = srv.connect()
    value = b"v" * 500_000
    for i in range(10):
        request(loader, b"set big%d 0 0 %d\r\n%s\r\n" % (i, len(value), value), b"STORED\r\n")
    keys = b" ".join(b"big%d" % i for i in range(10))
    base = rss_kib(srv.pid)

    hog = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.connect(("127.0.0.1", srv.port))
    # 400 multigets = 2 GB of replies that the client will never read
    hog.setblocking(False)
    line = b"get " + keys + b"\r\n"
    sent = 0
    blob = line * 400
    deadline = time.monotonic() + 10
    while sent < len(blob) and time.monotonic() < deadline:
        try:
            sent += hog.send(blob[sent:])
        except BlockingIOError:
            time.sleep(0.01)
    # another client is still served promptly while the hog sits on its replies
    for _ in range(20):
        assert request(loader, b"get big0\r\n", b"END\r\n", timeout=10).startswith(b"VALUE big0")
    time.sleep(0.5)
    grown_mib = (rss_kib(srv.pid) - base) / 1024
    assert grown_mib < 64, f"server grew {grown_mib:.0f} MiB for a client that never reads"
    st = stats(loader)
    assert int(st["bytes_written"]) < 200 * 1024 * 1024
    hog.close()


def test_quit_closes_after_earlier_replies(spawn):
    srv = tcp_server(spawn)
    s = srv.connect()
    s.sendall(b"set q 0 0 1\r\n1\r\nget q\r\nquit\r\nget q\r\n")
    data, closed = read_until_closed(s, timeout=10)
    assert closed
    assert data == b"STORED\r\nVALUE q 0 1\r\n1\r\nEND\r\n"


def test_half_closed_client_gets_its_replies(spawn):
    """Replies wait for the end of the loop's pass; a client that shuts down its sending
    side right after its requests still receives them before the close."""
    srv = tcp_server(spawn)
    for stream, reply in (
        (b"get nothing\r\n", b"END\r\n"),
        (b"set k 0 0 1\r\nx\r\nget k\r\n", b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"),
        (b"mg k v\r\n" * 30, b"VA 1\r\nx\r\n" * 30),
    ):
        for _ in range(10):
            s = srv.connect()
            s.sendall(stream)
            s.shutdown(socket.SHUT_WR)
            data, closed = read_until_closed(s, timeout=10)
            s.close()
            assert closed
            assert data == reply


def test_quit_after_a_yield_sends_every_earlier_reply(spawn):
    """The replies before a -R yield go out with the next step's, and before a close."""
    stream = b"set q 0 0 1\r\n1\r\n" + b"get q\r\n" * 7 + b"quit\r\nget q\r\n"
    yields = {}
    for kind in ("memcached", "slabcache"):
        srv = tcp_server(spawn, "-R", "2", kind=kind)
        s = srv.connect()
        s.sendall(stream)
        data, closed = read_until_closed(s, timeout=10)
        assert closed
        assert data == b"STORED\r\n" + b"VALUE q 0 1\r\n1\r\nEND\r\n" * 7
        yields[kind] = stats(srv.connect())["conn_yields"]
    assert yields["slabcache"] == yields["memcached"] != "0"


def test_many_clients_interleaved(spawn):
    srv = tcp_server(spawn)
    socks = [srv.connect() for _ in range(50)]
    for i, s in enumerate(socks):
        s.sendall(b"set c%d 0 0 %d\r\n%d\r\n" % (i, len(str(i)), i))
    for s in socks:
        assert read_until(s, b"\r\n")[0] == b"STORED\r\n"
    for i, s in enumerate(socks):
        n = str(i).encode()
        assert request(s, b"get c%d\r\n" % i, b"END\r\n") == b"VALUE c%d 0 %d\r\n%s\r\nEND\r\n" % (
            i,
            len(n),
            n,
        )
        s.close()


def test_no_maxconns_fast_stops_accepting_until_a_slot_frees(spawn):
    srv = tcp_server(spawn, "-c", "3", "-o", "no_maxconns_fast")
    held = []
    while len(held) < 3:  # the readiness probe may still hold a slot for a moment
        s = srv.connect()
        s.sendall(b"version\r\n")
        reply, _ = read_until(s, b"\r\n", timeout=0.5)
        if reply == b"VERSION 1.6.18\r\n":
            held.append(s)
        else:
            s.close()
    waiting = srv.connect()  # sits in the listen backlog, unanswered
    waiting.sendall(b"version\r\n")
    assert read_until(waiting, b"\r\n", timeout=0.5)[0] == b""
    st = stats(held[0])
    assert st["accepting_conns"] == "0"
    assert int(st["listen_disabled_num"]) >= 1
    assert "rejected_connections" not in st
    held.pop().close()
    assert read_until(waiting, b"\r\n", timeout=10)[0] == b"VERSION 1.6.18\r\n"
