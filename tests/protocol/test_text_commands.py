"""Byte-string tests: every text command and its error paths, replies as 1.6.18 sends them."""

from __future__ import annotations

import pytest

from slabcache.settings import Settings
from tests.protocol.conftest import make_conn, run


def test_set_get_gets_roundtrip(conn):
    out = run(b"set foo 5 0 3\r\nbar\r\nget foo\r\n", conn)
    assert out == b"STORED\r\nVALUE foo 5 3\r\nbar\r\nEND\r\n"
    out = run(b"gets foo\r\n", conn)
    assert out.startswith(b"VALUE foo 5 3 ") and out.endswith(b"\r\nbar\r\nEND\r\n")


def test_value_containing_crlf(conn):
    out = run(b"set k 0 0 6\r\na\r\nb\r\n\r\nget k\r\n", conn)
    assert out == b"STORED\r\nVALUE k 0 6\r\na\r\nb\r\n\r\nEND\r\n"


def test_multiget_duplicates_and_misses(conn):
    run(b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n", conn)
    assert run(b"get a x b a\r\n", conn) == (
        b"VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nVALUE a 0 1\r\n1\r\nEND\r\n"
    )


def test_bget_alias(conn):
    run(b"set a 0 0 1\r\n1\r\n", conn)
    assert run(b"bget a\r\n", conn) == b"VALUE a 0 1\r\n1\r\nEND\r\n"


def test_get_many_keys_beyond_token_limit(conn):
    run(b"set k7 0 0 1\r\nz\r\n", conn)
    keys = b" ".join(b"k%d" % i for i in range(100))
    assert run(b"get " + keys + b"\r\n", conn) == b"VALUE k7 0 1\r\nz\r\nEND\r\n"
    assert run(b"gets " + keys + b"\r\n", conn).count(b"VALUE k7 0 1 ") == 1


def test_overlong_key_in_multiget_discards_earlier_replies(conn):
    out = run(b"set a 0 0 1\r\nx\r\nget a " + b"k" * 251 + b"\r\n", conn)
    assert out == b"CLIENT_ERROR bad command line format\r\n"


def test_key_length_limit(conn):
    assert run(b"get " + b"k" * 250 + b"\r\n", conn) == b"END\r\n"
    assert (
        run(b"touch " + b"k" * 251 + b" 1\r\n", conn) == b"CLIENT_ERROR bad command line format\r\n"
    )
    assert (
        run(b"delete " + b"k" * 251 + b"\r\n", conn) == b"CLIENT_ERROR bad command line format\r\n"
    )


def test_storage_bad_key_does_not_swallow(conn):
    out = run(b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n", conn)
    assert out == b"CLIENT_ERROR bad command line format\r\nERROR\r\n"


@pytest.mark.parametrize(
    "line,reply",
    [
        (b"set k 0 0\r\n", b"ERROR\r\n"),
        (b"set k 0 0 1 noreply extra\r\n", b"ERROR\r\n"),
        (b"get\r\n", b"ERROR\r\n"),
        (b"\r\n", b"ERROR\r\n"),
        (b"GET foo\r\n", b"ERROR\r\n"),
        (b"incr n\r\n", b"ERROR\r\n"),
        (b"verbosity\r\n", b"ERROR\r\n"),
        (b"delete\r\n", b"ERROR\r\n"),
        (b"flush_all 1 2 3\r\n", b"ERROR\r\n"),
        (b"bogus noreply\r\n", b"ERROR\r\n"),
        (b"misbehave\r\n", b"ERROR\r\n"),
        (b"gat 100\r\n", b"END\r\n"),
        (b"gat x k\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
        (b"version\r\n", b"VERSION 1.6.18\r\n"),
        (b"version extra tokens\r\n", b"VERSION 1.6.18\r\n"),
        (b"verbosity 1\r\n", b"OK\r\n"),
        (b"verbosity abc\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"verbosity 1 noreply\r\n", b""),
        (b"shutdown\r\n", b"ERROR: shutdown not enabled\r\n"),
        (b"incr n abc\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"incr n -1\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"incr n 18446744073709551616\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"incr n abc noreply\r\n", b""),
        (b"incr n 1\r\n", b"NOT_FOUND\r\n"),
        (b"decr n 1\r\n", b"NOT_FOUND\r\n"),
        (b"touch n 10\r\n", b"NOT_FOUND\r\n"),
        (b"touch n x\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
        (b"delete n\r\n", b"NOT_FOUND\r\n"),
        (b"delete n 0\r\n", b"NOT_FOUND\r\n"),
        (b"delete n 0 noreply\r\n", b""),
        (b"delete n noreply\r\n", b""),
        (
            b"delete n 5\r\n",
            b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
        ),
        (b"delete n 5 noreply\r\n", b""),
        (b"flush_all\r\n", b"OK\r\n"),
        (b"flush_all 0\r\n", b"OK\r\n"),
        (b"flush_all noreply\r\n", b""),
        (b"flush_all x\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
        (b"cache_memlimit 4\r\n", b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"),
        (
            b"cache_memlimit 2000000000\r\n",
            b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n",
        ),
        (b"cache_memlimit abc\r\n", b"ERROR\r\n"),
        (b"cache_memlimit\r\n", b"ERROR\r\n"),
        (b"slabs bogus\r\n", b"ERROR\r\n"),
        (b"slabs reassign x 1\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"slabs automove window 5\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"lru_crawler bogus\r\n", b"ERROR\r\n"),
        (b"lru_crawler sleep 2000000\r\n", b"CLIENT_ERROR sleep must be one second or less\r\n"),
        (b"lru_crawler sleep x\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"lru_crawler crawl 99\r\n", b"BADCLASS invalid class id\r\n"),
        (b"lru_crawler crawl 0\r\n", b"BADCLASS invalid class id\r\n"),
        (b"lru tune 50 50 0.1 2.0\r\n", b"ERROR hot and warm pcts must not exceed 80\r\n"),
        (b"lru tune 10 10 0 2.0\r\n", b"ERROR hot/warm age factors must be greater than 0\r\n"),
        (b"lru tune a 10 0.1 2.0\r\n", b"ERROR\r\n"),
        (b"lru mode bogus\r\n", b"ERROR\r\n"),
        (b"lru bogus\r\n", b"ERROR\r\n"),
        (b"watch bogus\r\n", b"ERROR\r\n"),
        (b"stats bogus\r\n", b"ERROR\r\n"),
        (b"stats detail\r\n", b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
        (b"stats detail on\r\n", b"OK\r\n"),
        (b"stats detail dump\r\n", b"END\r\n"),
        (b"stats cachedump 1\r\n", b"CLIENT_ERROR bad command line\r\n"),
        (b"stats cachedump x 0\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"stats cachedump 64 0\r\n", b"CLIENT_ERROR Illegal slab id\r\n"),
    ],
)
def test_single_line_replies(line, reply):
    assert run(line) == reply


@pytest.mark.parametrize(
    "flags,stored",
    [
        (b"4294967295", b"4294967295"),
        (b"4294967296", b"0"),
        (b"4294967297", b"1"),
        (b"+7", b"7"),
        (b"18446744073709551615", b"4294967295"),
    ],
)
def test_flags_truncation(flags, stored):
    out = run(b"set f " + flags + b" 0 1\r\nx\r\nget f\r\n")
    assert out == b"STORED\r\nVALUE f " + stored + b" 1\r\nx\r\nEND\r\n"


@pytest.mark.parametrize(
    "args", [b"18446744073709551616 0 1", b"-1 0 1", b"x 0 1", b"0 1.5 1", b"0 0x1 1", b"0 0 -1"]
)
def test_bad_numbers_do_not_swallow(args):
    out = run(b"set f " + args + b"\r\nx\r\n")
    assert out == b"CLIENT_ERROR bad command line format\r\nERROR\r\n"


def test_bytes_accepts_plus_and_leading_zero():
    assert run(b"set f 0 +5 01\r\nx\r\nset g 0 0 +1\r\ny\r\n") == b"STORED\r\nSTORED\r\n"


def test_bytes_int32_truncation_quirk():
    # 4294967297 truncates to 1 as an int32, as in memcached's safe_strtol
    assert run(b"set f 0 0 4294967297\r\nx\r\nget f\r\n") == (
        b"STORED\r\nVALUE f 0 1\r\nx\r\nEND\r\n"
    )


def test_noreply_only_as_last_token():
    assert run(b"set k 0 0 1 garbage\r\nx\r\n") == b"STORED\r\n"
    assert run(b"set k 0 0 1 noreply\r\nx\r\nget k\r\n") == b"VALUE k 0 1\r\nx\r\nEND\r\n"
    assert run(b"get noreply\r\n") == b"END\r\n"


def test_bad_data_chunk_rest_parsed_as_commands():
    assert run(b"set foo 0 0 3\r\nabcde\r\n") == b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
    assert run(b"set foo 0 0 3 noreply\r\nabcde\r\n") == b"ERROR\r\n"
    # the block is exactly bytes+2 ("x\ng"): the rest, "et foo", is an unknown command
    out = run(b"set foo 0 0 1\r\nx\nget foo\r\n")
    assert out == b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"


def test_too_large_swallows_exactly_bytes_plus_two():
    conn = make_conn()
    run(b"set big 0 0 1\r\nx\r\n", conn)
    n = 2 * 1024 * 1024
    out = run(b"set big 0 0 %d\r\n" % n + b"\r\n" * (n // 2 + 1) + b"get big\r\n", conn)
    assert out == b"SERVER_ERROR object too large for cache\r\nEND\r\n"


def test_too_large_noreply_still_swallows():
    out = run(b"set big 0 0 2000000 noreply\r\n" + b"x" * 2000000 + b"\r\nversion\r\n")
    assert out == b"VERSION 1.6.18\r\n"


def test_item_size_limit_formula():
    # key "big", flags 0: 1048514 data bytes fit in the default 1 MiB item
    n = 1048514
    assert run(b"set big 0 0 %d\r\n" % n + b"a" * n + b"\r\n") == b"STORED\r\n"
    out = run(b"set big 1 0 %d\r\n" % n + b"a" * n + b"\r\n")
    assert out == b"SERVER_ERROR object too large for cache\r\n"


def test_huge_declared_length_is_never_buffered():
    conn = make_conn()
    conn.receive_data(b"set k 0 0 2147483645\r\n" + b"x" * 100000)
    # memcached answers only once the whole block is swallowed (nothing if the client leaves)
    assert conn.data_to_send() == b""
    assert conn.swallowing and not conn.reading_block
    assert len(conn._buf) == 0


def test_too_large_reply_waits_for_the_swallowed_block():
    conn = make_conn()
    conn.receive_data(b"set k 0 0 2000000\r\n")
    assert conn.data_to_send() == b""
    conn.receive_data(b"x" * 1500000)
    assert conn.data_to_send() == b"" and conn.swallowing
    conn.receive_data(b"x" * 500002 + b"get k\r\n")
    assert conn.data_to_send() == b"SERVER_ERROR object too large for cache\r\nEND\r\n"
    assert not conn.swallowing


def test_reading_block_while_a_value_is_awaited():
    conn = make_conn()
    assert not conn.reading_block
    conn.receive_data(b"set k 0 0 5\r\nab")
    assert conn.reading_block and not conn.swallowing
    conn.receive_data(b"cde\r\n")
    assert conn.data_to_send() == b"STORED\r\n" and not conn.reading_block
    conn.receive_data(b"ms k 3\r\na")
    assert conn.reading_block
    conn.receive_data(b"bc\r\n")
    assert conn.data_to_send() == b"HD\r\n" and not conn.reading_block


def test_add_replace_append_prepend_cas():
    conn = make_conn()
    assert run(b"add a 0 0 1\r\n1\r\nadd a 0 0 1\r\n2\r\n", conn) == b"STORED\r\nNOT_STORED\r\n"
    assert run(b"replace z 0 0 1\r\n1\r\nreplace a 3 0 1\r\n3\r\n", conn) == (
        b"NOT_STORED\r\nSTORED\r\n"
    )
    assert run(b"append a 9 0 2\r\n45\r\nprepend a 0 0 1\r\n0\r\n", conn) == b"STORED\r\nSTORED\r\n"
    assert run(b"append z 0 0 1\r\n1\r\n", conn) == b"NOT_STORED\r\n"
    out = run(b"gets a\r\n", conn)
    head, _, _ = out.partition(b"\r\n")
    assert head.startswith(b"VALUE a 3 4 ")
    cas = head.split()[-1]
    assert run(b"cas a 0 0 1 " + cas + b"\r\nz\r\n", conn) == b"STORED\r\n"
    assert run(b"cas a 0 0 1 " + cas + b"\r\nz\r\n", conn) == b"EXISTS\r\n"
    assert run(b"cas q 0 0 1 1\r\nz\r\n", conn) == b"NOT_FOUND\r\n"
    assert run(b"cas a 0 0 1\r\nz\r\n", conn) == b"ERROR\r\nERROR\r\n"


def test_incr_decr(conn):
    run(b"set n 0 0 2\r\n10\r\n", conn)
    assert run(b"decr n 1\r\nget n\r\n", conn) == b"9\r\nVALUE n 0 2\r\n9 \r\nEND\r\n"
    assert run(b"incr n 18446744073709551615\r\n", conn) == b"8\r\n"
    assert run(b"decr n 100\r\n", conn) == b"0\r\n"
    run(b"set s 0 0 1\r\na\r\n", conn)
    assert run(b"incr s 1\r\n", conn) == (
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    )


def test_delete_touch_hits(conn):
    run(b"set k 0 0 1\r\nx\r\n", conn)
    assert run(b"touch k 10\r\ndelete k\r\ndelete k\r\n", conn) == (
        b"TOUCHED\r\nDELETED\r\nNOT_FOUND\r\n"
    )


def test_spaces_and_tabs_in_tokens(conn):
    assert (
        run(b"set  sp   0  0  1 \r\nx\r\nset a\tb 0 0 1\r\ny\r\n", conn) == b"STORED\r\nSTORED\r\n"
    )
    assert run(b"get a\tb sp\r\n", conn) == b"VALUE a\tb 0 1\r\ny\r\nVALUE sp 0 1\r\nx\r\nEND\r\n"


def test_bare_newline_command_lines(conn):
    assert run(b"set lf 0 0 1\nx\r\nget lf\n", conn) == b"STORED\r\nVALUE lf 0 1\r\nx\r\nEND\r\n"


def test_nul_truncates_the_line(conn):
    out = run(b"get\x00x a\r\nset k\x00z 0 0 1\r\nq\r\nget k\r\n", conn)
    assert out == b"ERROR\r\nERROR\r\nERROR\r\nEND\r\n"


def test_quit_closes(conn):
    conn.receive_data(b"get a\r\nquit\r\nget b\r\n")
    assert conn.data_to_send() == b"END\r\n"
    assert conn.closing


def test_http_probe_closes_silently(conn):
    conn.receive_data(b"GET / HTTP/1.1\r\n")
    assert conn.data_to_send() == b""
    assert conn.closing


@pytest.mark.parametrize("n,closed", [(2048, False), (2049, True)])
def test_line_length_guard(n, closed):
    conn = make_conn()
    conn.receive_data(b"x" * n)
    assert conn.closing is closed
    assert conn.data_to_send() == b""


def test_long_get_line_allowed_to_grow():
    conn = make_conn()
    line = b"  get " + b" ".join(b"k%d" % i for i in range(2000))
    for i in range(0, len(line), 100):
        conn.receive_data(line[i : i + 100])
    assert not conn.closing
    conn.receive_data(b"\r\n")
    assert conn.data_to_send() == b"END\r\n"


def test_long_set_line_in_pieces_is_killed():
    conn = make_conn()
    conn.receive_data(b"set " + b"k" * 3000)
    assert conn.closing


def test_shutdown_modes():
    s = Settings(shutdown_enabled=True)
    conn = make_conn(s)
    assert run(b"shutdown bogus\r\n", conn) == b"CLIENT_ERROR invalid shutdown mode\r\n"
    conn.receive_data(b"shutdown graceful\r\n")
    assert conn.closing and conn.ctx.shutdown_requested is True
    conn = make_conn(s)
    conn.receive_data(b"shutdown\r\n")
    assert conn.closing and conn.ctx.shutdown_requested is False


def test_flush_disabled():
    out = run(b"flush_all\r\nflush_all noreply\r\n", make_conn(Settings(flush_enabled=False)))
    assert out == b"CLIENT_ERROR flush_all not allowed\r\n"


def test_flush_all_empties(conn):
    assert run(b"set a 0 0 1\r\n1\r\nflush_all\r\nget a\r\n", conn) == b"STORED\r\nOK\r\nEND\r\n"


def test_dump_and_watch_disabled():
    s = Settings(dump_enabled=False, watch_enabled=False)
    conn = make_conn(s)
    assert run(b"stats cachedump 1 0\r\n", conn) == b"CLIENT_ERROR stats cachedump not allowed\r\n"
    assert run(b"watch\r\n", conn) == b"CLIENT_ERROR watch commands not allowed\r\n"
    assert run(b"lru_crawler metadump all\r\n", conn) == b"ERROR metadump not allowed\r\n"


def test_stats_detail_counts_prefixes(conn):
    run(b"stats detail on\r\nset p:a 0 0 1\r\n1\r\nget p:a p:b\r\ndelete p:a\r\n", conn)
    assert run(b"stats detail dump\r\n", conn) == b"PREFIX p get 2 hit 1 set 1 del 1\r\nEND\r\n"


def test_watch_streams_fetches_and_mutations():
    conn = make_conn()
    watcher = make_conn()
    watcher.ctx = conn.ctx
    assert run(b"watch fetchers mutations\r\n", watcher) == b"OK\r\n"
    run(b"set k 0 0 1\r\nx\r\nget k\r\n", conn)
    log = watcher.watcher.take().decode()
    lines = log.splitlines()
    # memcached's store looks the old item up first (do_store_item -> do_item_get)
    assert " type=item_get key=k status=not_found clsid=0 cfd=0 size=0" in lines[0]
    assert " type=item_store key=k status=stored cmd=set ttl=0 clsid=1 " in lines[1]
    # a hit names the item's slab class, as memcached 1.6.18 does
    assert lines[2].endswith(" type=item_get key=k status=found clsid=1 cfd=0 size=1")
    assert len(lines) == 3
    assert all(line.startswith("ts=") for line in lines)
    # a watcher ignores further input
    watcher.receive_data(b"get k\r\n")
    assert watcher.data_to_send() == b""


def test_watch_refuses_pipelined(conn):
    out = run(b"get a\r\nwatch\r\n", conn)
    assert out == b"END\r\nERROR cannot pipeline other commands before watch\r\n"


def test_reqs_per_event_yields():
    # memcached's first event after a read runs -R + 1 commands, a resumed one -R; the
    # yield is counted as the budget runs out (conn_yields of 1.6.18 with -R 2: 2 here)
    conn = make_conn(max_reqs=2)
    conn.receive_data(b"version\r\n" * 6)
    assert conn.data_to_send() == b"VERSION 1.6.18\r\n" * 3
    assert conn.pending and conn.ctx.conn_yields == 1
    conn.resume()
    assert conn.data_to_send() == b"VERSION 1.6.18\r\n" * 2
    assert conn.pending and conn.ctx.conn_yields == 2
    conn.resume()
    assert conn.data_to_send() == b"VERSION 1.6.18\r\n"
    assert not conn.pending and conn.ctx.conn_yields == 2


def test_counters_as_memcached_keeps_them():
    conn = make_conn()
    eng = conn.engine
    run(b"set k 0 0 1\r\nx\r\n", conn)
    # gat/gats count as touches only
    assert run(b"gat 10 k\r\ngats 10 nope\r\n", conn).endswith(b"END\r\n")
    g = eng.stats_general()
    assert (g["cmd_get"], g["cmd_touch"], g["touch_hits"], g["touch_misses"]) == (0, 2, 1, 1)
    assert (g["get_hits"], g["get_misses"]) == (0, 0)
    # a bad data block was counted as a set before its CRLF was checked
    assert run(b"set k 0 0 5\r\nhelloXX\r\n", conn).startswith(b"CLIENT_ERROR bad data chunk")
    run(b"set k 0 0 1 noreply\r\nxy\r\n", conn)
    assert run(b"ms j 1\r\nab\r\n", conn).startswith(b"CLIENT_ERROR bad data chunk")
    g = eng.stats_general()
    assert g["cmd_set"] == 4 and g["curr_items"] == 1
    # a malformed delay is refused but counted
    assert run(b"flush_all abc\r\n", conn) == b"CLIENT_ERROR invalid exptime argument\r\n"
    assert eng.stats_general()["cmd_flush"] == 1


def test_refused_flush_is_counted():
    conn = make_conn(Settings(flush_enabled=False))
    assert run(b"flush_all\r\n", conn) == b"CLIENT_ERROR flush_all not allowed\r\n"
    assert conn.engine.stats_general()["cmd_flush"] == 1
