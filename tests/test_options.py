"""memcached's command line: what each flag sets, and startup errors compared with memcached.

The differential half runs /usr/bin/memcached (1.6.18) and `python -m slabcache` on the same
bad command lines and requires the same stderr and exit status. Deliberate differences are
listed in DIFFERENT with what slabcache does instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slabcache.engine.config import EngineConfig
from slabcache.options import InfoRequest, OptionExit, atoi, parse_args, safe_strtoul
from slabcache.settings import Settings

MEMCACHED = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
IS_ROOT = os.geteuid() == 0
MiB = 1024 * 1024


def parse(*argv: str) -> Settings:
    return parse_args(list(argv), warn=lambda text: None)


def error_of(*argv: str) -> OptionExit:
    with pytest.raises(OptionExit) as info:
        parse(*argv)
    return info.value


# --- what each flag sets ----------------------------------------------------------------------


def test_defaults_are_memcached_defaults_except_listen() -> None:
    s = parse()
    assert s == Settings()
    assert s.listen == ["127.0.0.1"]  # memcached: every interface (documented in -h)
    e = s.engine
    assert (e.maxbytes, e.chunk_size, e.factor, e.item_size_max) == (64 * MiB, 48, 1.25, MiB)
    assert (e.slab_chunk_max, e.hash_algorithm, e.lru_segmented) == (MiB // 2, "murmur3", True)


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["-p", "11311"], "port", 11311),
        (["-p12abc"], "port", 12),
        (["--port=0"], "port", 0),
        (["--po", "5"], "port", 5),
        (["-p", "-1"], "port", -1),
        (["-U", "0"], "udp_port", 0),
        (["-s", "/tmp/x.sock"], "unix_socket", "/tmp/x.sock"),
        (["--unix-socket=/tmp/y"], "unix_socket", "/tmp/y"),
        (["-a", "0766"], "unix_mask", 0o766),
        (["-a", "777"], "unix_mask", 0o777),
        (["-a", "9"], "unix_mask", 0),
        (["-A"], "shutdown_enabled", True),
        (["--enable-shutdown"], "shutdown_enabled", True),
        (["-l", "10.0.0.1"], "listen", ["10.0.0.1"]),
        (["-l", "a", "-l", "b", "-l", "a"], "listen", ["a", "b"]),
        (["--listen=*"], "listen", ["*"]),
        (["-l", "notls:127.0.0.1:1,[::1]:2"], "listen", ["notls:127.0.0.1:1,[::1]:2"]),
        (["-d"], "daemonize", True),
        (["-r"], "enable_coredumps", True),
        (["-u", "nobody"], "user", "nobody"),
        (["-c", "10"], "maxconns", 10),
        (["--conn-limit", "4096"], "maxconns", 4096),
        (["-v"], "verbose", 1),
        (["-vv"], "verbose", 2),
        (["-vvv"], "verbose", 3),
        (["-v", "--verbose", "--verbose=9"], "verbose", 3),
        (["-P", "/tmp/p.pid"], "pidfile", "/tmp/p.pid"),
        (["-t", "1"], "threads", 1),
        (["-t", "65"], "threads", 65),
        (["-R", "5"], "reqs_per_event", 5),
        (["-R", "-3"], "reqs_per_event", -3),
        (["-D", "#"], "prefix_delimiter", "#"),
        (["-D", "#"], "detail_enabled", True),
        (["-D", "ab"], "prefix_delimiter", "a"),
        (["-b", "10"], "backlog", 10),
        (["-B", "ascii"], "protocol", "ascii"),
        (["-B", "auto"], "protocol", "auto"),
        (["-F"], "flush_enabled", False),
        (["-X"], "dump_enabled", False),
        (["-W"], "watch_enabled", False),
        (["-o", "maxconns_fast"], "maxconns_fast", True),
        (["-o", "no_maxconns_fast"], "maxconns_fast", False),
        (["-o", "maxconns_fast=whatever"], "maxconns_fast", True),
        (["-o", "idle_timeout=30"], "idle_timeout", 30),
        (["-o", "idle_timeout=-5"], "idle_timeout", -5),
        (["-o", "read_buf_mem_limit=16"], "read_buf_mem_limit", 16),
        (["-o", "watcher_logbuf_size=10"], "watcher_logbuf_size", 10 * 1024),
        (["-o", "worker_logbuf_size=32"], "worker_logbuf_size", 32 * 1024),
        (["-o", "no_modern"], "maxconns_fast", False),
    ],
)
def test_flag_sets_setting(argv: list[str], field: str, value: object) -> None:
    assert getattr(parse(*argv), field) == value


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["-m", "128"], "maxbytes", 128 * MiB),
        (["--memory-limit=1024"], "maxbytes", 1024 * MiB),
        (["-m", "-1"], "maxbytes", (-MiB) % (1 << 64)),  # (size_t)-1 * 1 MiB, as memcached
        (["-M"], "evict_to_free", False),
        (["--disable-evictions"], "evict_to_free", False),
        (["-C"], "use_cas", False),
        (["-f", "1.5"], "factor", 1.5),
        (["-f", "2abc"], "factor", 2.0),
        (["-n", "100"], "chunk_size", 100),
        (["-n", "-1"], "chunk_size", -1),
        (["-I", "2m"], "item_size_max", 2 * MiB),
        (["-I", "2M"], "item_size_max", 2 * MiB),
        (["-I", "1.5m"], "item_size_max", MiB),  # atoi("1.5") is 1
        (["-I", "1024k", "-m", "100"], "item_size_max", MiB),
        (["-I", "1048576"], "item_size_max", MiB),
        (["-I", "2m"], "slab_chunk_max", MiB // 2),
        (["-I", "128k", "-o", "slab_chunk_max=65536"], "slab_chunk_max", 65536),
        (["-o", "slab_chunk_max=16384"], "slab_chunk_max", 16384),  # bytes in 1.6.18
        (["-o", "no_chunked_items", "-I", "2m"], "slab_chunk_max", MiB // 2),
        (["-o", "no_chunked_items"], "slab_chunk_max", MiB),
        (["-o", "hashpower=20"], "hashpower_init", 20),
        (["-o", "no_hashexpand"], "hash_expand", False),
        (["-o", "hash_algorithm=jenkins"], "hash_algorithm", "jenkins"),
        (["-o", "hash_algorithm=xxh3"], "hash_algorithm", "xxh3"),
        (["-o", "no_lru_crawler"], "lru_crawler", False),
        (["-o", "no_lru_crawler,lru_crawler"], "lru_crawler", True),
        (["-o", "lru_crawler_sleep=0"], "lru_crawler_sleep", 0),
        (["-o", "lru_crawler_tocrawl=500"], "lru_crawler_tocrawl", 500),
        (["-o", "lru_crawler_tocrawl=5000000000"], "lru_crawler_tocrawl", 5000000000 % 2**32),
        (["-o", "no_lru_maintainer"], "lru_maintainer", False),
        (["-o", "no_lru_maintainer"], "lru_segmented", True),  # memcached leaves it on
        (["-o", "no_modern,lru_maintainer"], "lru_segmented", True),
        (["-o", "hot_lru_pct=10"], "hot_lru_pct", 10),
        (["-o", "warm_lru_pct=60"], "warm_lru_pct", 60),
        (["-o", "hot_max_factor=0.5"], "hot_max_factor", 0.5),
        (["-o", "warm_max_factor=3"], "warm_max_factor", 3.0),
        (["-o", "temporary_ttl=30"], "temporary_ttl", 30),
        (["-o", "temporary_ttl=30"], "temp_lru", True),
        (["-o", "slab_reassign"], "slab_reassign", True),
        (["-o", "no_slab_reassign"], "slab_reassign", False),
        (["-o", "slab_automove"], "slab_automove", 1),
        (["-o", "slab_automove=2"], "slab_automove", 2),
        (["-o", "slab_automove=0"], "slab_automove", 0),
        (["-o", "no_slab_automove"], "slab_automove", 0),
        (["-o", "slab_automove_ratio=0.5"], "slab_automove_ratio", 0.5),
        (["-o", "slab_automove_window=10"], "slab_automove_window", 10),
        (["-o", "tail_repair_time=60"], "tail_repair_time", 60),
        (["-o", "track_sizes"], "track_sizes", True),
        (["-o", "slab_sizes=100-200-300"], "slab_sizes", (100, 200, 300)),
        (["-o", "slab_sizes=-100--200-"], "slab_sizes", (100, 200)),
    ],
)
def test_flag_sets_engine_config(argv: list[str], field: str, value: object) -> None:
    assert getattr(parse(*argv).engine, field) == value


def test_no_modern_is_engine_configs_no_modern() -> None:
    assert parse("-o", "no_modern").engine == EngineConfig.no_modern()


def test_no_modern_keeps_an_explicit_slab_chunk_max() -> None:
    assert parse("-o", "slab_chunk_max=262144,no_modern").engine.slab_chunk_max == 262144


def test_modern_and_no_effect_suboptions_change_nothing() -> None:
    argv = ("-o", "modern,inline_ascii_resp,no_inline_ascii_resp,no_drop_privileges")
    assert parse(*argv) == Settings()


def test_deprecated_resp_obj_mem_limit_warns_and_continues() -> None:
    said: list[str] = []
    s = parse_args(["-o", "resp_obj_mem_limit=5", "-p", "1"], warn=said.append)
    assert s.port == 1
    assert said == ["DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,\n"]


def test_many_threads_warn_like_memcached() -> None:
    said: list[str] = []
    assert parse_args(["-t", "100"], warn=said.append).threads == 100
    assert said[0].startswith("WARNING: Setting a high number of workerthreads")


def test_udp_port_becomes_tcp_port_when_p_is_absent() -> None:
    # -U alone would set the TCP port too (memcached), but non-zero UDP is refused.
    assert "UDP" in error_of("-U", "11311").stderr


def test_stray_words_are_ignored_like_memcached() -> None:
    assert parse("-p", "0", "stray", "-A").shutdown_enabled


def test_double_dash_ends_options() -> None:
    assert parse("-p", "1", "--", "-V").port == 1


@pytest.mark.parametrize(
    ("argv", "what"),
    [(["-h"], "help"), (["-V"], "version"), (["--lic"], "license"), (["-vV"], "version")],
)
def test_info_flags(argv: list[str], what: str) -> None:
    with pytest.raises(InfoRequest) as info:
        parse(*argv)
    assert info.value.what == what


def test_flags_act_in_order() -> None:
    # memcached validates -c before it ever sees the later -V, and -V before a later typo.
    assert error_of("-c", "0", "-V").status == 1
    with pytest.raises(InfoRequest):
        parse("-V", "--bogus")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["-U", "5", "-p", "0"], "-U (UDP)"),
        (["-Z"], "-Z (TLS)"),
        (["-e", "/tmp/mem"], "-e (memory file"),
        (["-L"], "-L (large pages"),
        (["-k"], "-k (mlockall)"),
        (["-N", "2"], "-N (NAPI ids)"),
        (["-Y", "/tmp/auth"], "-Y (ASCII authentication file)"),
        (["-o", "ext_path=/tmp/x:1G"], "-o ext_path"),
        (["-o", "ssl_chain_cert=/tmp/c"], "-o ssl_chain_cert"),
        (["-o", "slab_automove_freeratio=0.1"], "-o slab_automove_freeratio"),
        (["-o", "sock_cookie_id=3"], "-o sock_cookie_id"),
        (["-o", "drop_privileges"], "-o drop_privileges"),
        (["-o", "proxy_config=/tmp/p.lua"], "-o proxy_config"),
    ],
)
def test_unsupported_features_are_refused_by_name(argv: list[str], named: str) -> None:
    err = error_of(*argv)
    assert err.status == 1
    assert err.stderr.startswith("slabcache: ")
    assert named in err.stderr


def test_refusals_are_listed_together() -> None:
    assert error_of("-k", "-L").stderr == (
        "slabcache: not supported by slabcache: -k (mlockall), -L (large pages / preallocation)\n"
    )


# --- properties -------------------------------------------------------------------------------


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1), st.sampled_from(["", "x", " 9"]))
def test_atoi_is_lenient_and_c_sized(n: int, tail: str) -> None:
    assert atoi(f"  {n}{tail}") == n
    assert atoi(str(n + 2**32)) == n  # strtol then (int): the low 32 bits


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_safe_strtoul_reads_uint32(n: int) -> None:
    assert safe_strtoul(str(n)) == n
    assert safe_strtoul(f"{n}x") is None


@given(st.integers(min_value=1, max_value=65535))
@settings(max_examples=50)
def test_port_spellings_agree(port: int) -> None:
    spellings = [
        ["-p", str(port)],
        [f"-p{port}"],
        [f"--port={port}"],
        ["--port", str(port)],
        ["--po", str(port)],
    ]
    assert {parse(*argv).port for argv in spellings} == {port}


@given(st.lists(st.sampled_from(["-A", "-F", "-X", "-W", "-C", "-M", "-v"]), max_size=6))
@settings(max_examples=50)
def test_clustered_short_flags_equal_separate_ones(flags: list[str]) -> None:
    clustered = ["-" + "".join(f[1] for f in flags)] if flags else []
    assert parse(*clustered) == parse(*flags)


@given(st.integers(min_value=1, max_value=4096))
@settings(max_examples=50)
def test_memory_limit_in_megabytes(mb: int) -> None:
    assert parse("-m", str(mb), "-I", "1k", "-o", "slab_chunk_max=1024").engine.maxbytes == (
        mb * MiB
    )


# --- differential: startup errors against memcached 1.6.18 -----------------------------------

# Each case exits before binding in both. A port is added (-p 0) when the case names none, so
# a case that wrongly starts never takes the default port.
SAME: list[str] = [
    "-p 70000",
    "-p65536",
    "--port=99999",
    "-U 70000 -l 127.0.0.1",
    "-c 0",
    "-c -5",
    "-c abc",
    "-f 1",
    "-f 1.0",
    "-f abc",
    "-n 0",
    "-t 0",
    "-t -2",
    "-R 0",
    "-D ''",
    "-B foo",
    "-B ''",
    "-I 100",
    "-I 1023",
    "-I 1024",
    "-I 1k",
    "-I 64k",
    "-I 1500k",
    "-I 2g",
    "-I 0m",
    "-I m",
    "-I 40m",
    "-I 33m -m 64",
    "-I 2000m -m 4000",
    "-I 1025m -m 4000",
    "-I 4194304k -m 100000",
    "-m 0",
    "-m 1",
    "-N 0",
    "-N 5",
    "-N 9 -t 8",
    "-N 9 -I 10",
    "-x",
    "--bogus",
    "--bogus=1",
    "-p",
    "--port",
    "--dis",
    "--mem=64",
    "--help=1",
    "-V --bogus",
    "-c 0 -V",
    "-o bogus",
    "-o bogus=1",
    "-o ,",
    "-o hashpower=12,,track_sizes",
    "-o hashpower",
    "-o hashpower=11",
    "-o hashpower=33",
    "-o hashpower=abc",
    "-o slab_automove=3",
    "-o slab_automove=-1",
    "-o slab_automove_ratio",
    "-o slab_automove_ratio=0",
    "-o slab_automove_ratio=1.5",
    "-o slab_automove_window",
    "-o slab_automove_window=2",
    "-o tail_repair_time",
    "-o tail_repair_time=5",
    "-o hash_algorithm",
    "-o hash_algorithm=foo",
    "-o lru_crawler_sleep",
    "-o lru_crawler_sleep=1000001",
    "-o lru_crawler_sleep=-1",
    "-o lru_crawler_tocrawl",
    "-o lru_crawler_tocrawl=abc",
    "-o lru_crawler_tocrawl=-1",
    "-o hot_lru_pct",
    "-o hot_lru_pct=0",
    "-o hot_lru_pct=80",
    "-o warm_lru_pct=80",
    "-o warm_lru_pct=0",
    "-o hot_lru_pct=50,warm_lru_pct=40",
    "-o hot_lru_pct=41 -o warm_lru_pct=40",
    "-o hot_max_factor",
    "-o hot_max_factor=0",
    "-o warm_max_factor",
    "-o warm_max_factor=-1",
    "-o temporary_ttl",
    "-o temporary_ttl=10,no_lru_maintainer",
    "-o no_modern,temporary_ttl=5",
    "-o idle_timeout",
    "-o watcher_logbuf_size",
    "-o watcher_logbuf_size=abc",
    "-o watcher_logbuf_size=-1",
    "-o worker_logbuf_size",
    "-o worker_logbuf_size=abc",
    "-o read_buf_mem_limit",
    "-o read_buf_mem_limit=abc",
    "-o read_buf_mem_limit=-1",
    "-o relaxed_privileges",
    "-o slab_chunk_max=1000",
    "-o slab_chunk_max=2000000",
    "-o slab_chunk_max=-5",
    "-o slab_chunk_max=3000000000",
    "-o slab_chunk_max=3000 -I 3000",
    "-o slab_chunk_max=1000,no_modern",
    "-o no_modern -I 512k",
    "-o no_chunked_items -I 512k",
    "-o slab_sizes=",
    "-o slab_sizes=100-90",
    "-o slab_sizes=1-200",
    "-o slab_sizes=100-abc",
    "-o slab_sizes=100-600000",
    "-o slab_sizes=100-104",
    "-o slab_sizes=100-90 -o hot_lru_pct=50,warm_lru_pct=40",
    "-o slab_sizes=100-90 -I 10",
    "-p 70000 -I 10",
    "-p 70000 -N 9",
    "-p 70000 -o hot_lru_pct=50,warm_lru_pct=40",
    "-p 70000 -o temporary_ttl=5,no_lru_maintainer",
    "-o hot_lru_pct=50,warm_lru_pct=40 -o temporary_ttl=5,no_lru_maintainer",
    # memcached's own checks come before slabcache's refusals of the same flags
    "-S -B ascii",
    "-S -B auto",
    "-S -U 5",
    "-p 70000 -S -B ascii",
    "-S -B ascii -Y x",
    "-S -B ascii -o temporary_ttl=5,no_lru_maintainer",
    "-Y /nonexistent -B binary",
    "-Y /nonexistent -B auto",
    "-p 70000 -Y x -B binary",
    "-Z -p 0",
    "-Z -p 70000",
    "-N 9 -S -B ascii",
    "-L -p 70000",
    "-e /tmp/none -p 70000",
    "-s /tmp/none.sock -p 70000",
    "-o hashpower=99999999999",
    "-o lru_crawler_tocrawl=99999999999999999999",
    "-o slab_sizes=96-200 -n 100",
    # -c beyond what the kernel allows (nr_open): the server's open files limit fails
    "-c 99999999999",
    "-c 100000000",
]
if IS_ROOT:  # memcached's root rule; slabcache follows it (the server's check)
    SAME += ["-p 0 -l 127.0.0.1 --nouser", "-u '' -p 0", "-u no_such_user_here -p 0"]

# Deliberate differences: memcached crashes on these; slabcache says why and exits instead.
DIFFERENT: dict[str, tuple[int, str]] = {
    "-o slab_sizes": (1, "Missing slab_sizes argument\n"),
    "-o slab_chunk_max": (1, "Missing slab_chunk_max argument\n"),
    "-o slab_chunk_max=abc": (1, "could not parse argument to slab_chunk_max\n"),
    "-o slab_chunk_max=0": (64, "slab_chunk_max (bytes: 0) must be greater than 0\n"),
}


def _argv(case: str) -> list[str]:
    import shlex

    words = shlex.split(case)
    if "--nouser" in words:
        words.remove("--nouser")
    elif not any(w.startswith("-u") for w in words):
        words = ["-u", "root", *words]
    named_port = any(w.startswith(("-p", "--port", "-U", "-s")) for w in words)
    return words if named_port else [*words, "-p", "0"]


def _run(cmd: list[str]) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, 9)
        proc.communicate()
        pytest.fail(f"{cmd} did not exit: it started serving")
    return proc.returncode, out.decode(), err.decode()


def _slabcache(argv: list[str]) -> tuple[int, str, str]:
    return _run([sys.executable, "-m", "slabcache", *argv])


needs_memcached = pytest.mark.skipif(
    shutil.which(MEMCACHED) is None, reason=f"{MEMCACHED} (memcached 1.6.18) is not installed"
)


@needs_memcached
@pytest.mark.parametrize("case", SAME)
def test_startup_error_matches_memcached(case: str) -> None:
    argv = _argv(case)
    mc_status, mc_out, mc_err = _run([MEMCACHED, *argv])
    assert mc_status >= 0, f"memcached crashed on {argv}: the case belongs in DIFFERENT"
    status, out, err = _slabcache(argv)
    # The program's name is the only text allowed to differ: glibc prints it as invoked, and
    # -V prints "<name> <memcached version>".
    expected_out = mc_out.replace("memcached 1.6.18", "slabcache 1.6.18")
    expected_err = mc_err.replace(MEMCACHED + ":", "slabcache:")
    assert (status, out, err) == (mc_status, expected_out, expected_err)


@needs_memcached
@pytest.mark.parametrize("case", sorted(DIFFERENT))
def test_where_memcached_crashes_slabcache_exits(case: str) -> None:
    argv = _argv(case)
    mc_status, _, _ = _run([MEMCACHED, *argv])
    assert mc_status < 0, "memcached no longer crashes here: move the case to SAME"
    assert _slabcache(argv) == (DIFFERENT[case][0], "", DIFFERENT[case][1])


@pytest.mark.parametrize("case", ["-U 5 -p 0", "-k -p 0", "-L -p 0", "-o ext_path=/x:1G"])
def test_refusal_exits_1_before_serving(case: str) -> None:
    status, out, err = _slabcache(_argv(case))
    assert (status, out) == (1, "")
    assert err.startswith("slabcache: ") and "not supported" in err
