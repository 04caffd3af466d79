"""The `slabcache` command: -h/-V/-i, subcommand dispatch, -vv's slab class table, -r."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slabcache import cli
from slabcache.options import parse_args

MEMCACHED = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
SHORT_FLAGS = "pUsaAldruUmMcvhiVPfnDtRCbBIFXWS"
REFUSED_FLAGS = "UZYeLkN"


def run_cli(*argv: str, module: bool = True) -> subprocess.CompletedProcess[str]:
    if module:
        cmd = [sys.executable, "-m", "slabcache", *argv]
    else:
        cmd = [str(Path(sys.executable).parent / "slabcache"), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_version_line_parses_like_memcacheds() -> None:
    done = run_cli("-V")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "slabcache 1.6.18\n"
    assert done.stdout.split()[1] == "1.6.18"  # what `memcached -V | awk '{print $2}'` reads


@pytest.mark.skipif(shutil.which(MEMCACHED) is None, reason="memcached not installed")
def test_version_field_equals_memcacheds() -> None:
    real = subprocess.run([MEMCACHED, "-V"], capture_output=True, text=True, timeout=30)
    assert real.stdout.split()[1] == run_cli("--version").stdout.split()[1]


def test_help_lists_every_flag_and_the_refusals() -> None:
    done = run_cli("-h")
    assert (done.returncode, done.stderr) == (0, "")
    text = done.stdout
    assert text.splitlines()[0].startswith("slabcache 1.6.18")
    for flag in SHORT_FLAGS:
        assert re.search(rf"^-{flag}[, ]", text, re.M), f"-{flag} missing from -h"
    refused = text[text.index("Refused at startup") :]
    for flag in REFUSED_FLAGS:
        assert f"-{flag} " in refused, f"-{flag} not named as refused"
    assert "127.0.0.1 ONLY" in text  # the listen default differs from memcached's
    assert "-u root" in text  # as root, -u is required as in memcached


# Every suboption slabcache accepts, with a value it accepts.
ACCEPTED_SUBOPTIONS = {
    "maxconns_fast": "maxconns_fast", "hashpower": "hashpower=20",
    "no_hashexpand": "no_hashexpand", "tail_repair_time": "tail_repair_time=30",
    "hash_algorithm": "hash_algorithm=xxh3", "lru_crawler": "lru_crawler",
    "lru_crawler_sleep": "lru_crawler_sleep=50", "lru_crawler_tocrawl": "lru_crawler_tocrawl=9",
    "read_buf_mem_limit": "read_buf_mem_limit=8", "lru_maintainer": "lru_maintainer",
    "hot_lru_pct": "hot_lru_pct=10", "warm_lru_pct": "warm_lru_pct=30",
    "hot_max_factor": "hot_max_factor=0.3", "warm_max_factor": "warm_max_factor=1.5",
    "temporary_ttl": "temporary_ttl=30", "idle_timeout": "idle_timeout=5",
    "slab_reassign": "slab_reassign", "slab_automove": "slab_automove=2",
    "slab_automove_ratio": "slab_automove_ratio=0.5",
    "slab_automove_window": "slab_automove_window=10",
    "slab_chunk_max": "slab_chunk_max=262144", "slab_sizes": "slab_sizes=96-200",
    "no_chunked_items": "no_chunked_items", "watcher_logbuf_size": "watcher_logbuf_size=128",
    "worker_logbuf_size": "worker_logbuf_size=32", "track_sizes": "track_sizes",
    "modern": "modern", "no_modern": "no_modern", "inline_ascii_resp": "inline_ascii_resp",
    "resp_obj_mem_limit": "resp_obj_mem_limit",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ACCEPTED_SUBOPTIONS))
def test_help_names_every_suboption_the_parser_accepts(name: str) -> None:
    parse_args(["-o", ACCEPTED_SUBOPTIONS[name]], warn=lambda t: None)  # accepted: no raise
    assert re.search(rf"- {name}\b", cli.HELP), f"-o {name} missing from -h"


def test_license() -> None:
    done = run_cli("-i")
    assert done.returncode == 0
    assert "Redistribution and use in source and binary forms" in done.stdout


def test_console_script_equals_python_m() -> None:
    script = Path(sys.executable).parent / "slabcache"
    if not script.exists():
        pytest.skip("package not installed with its console script")
    for argv in (["-V"], ["-h"], ["-c", "0"], ["bogus-tool"]):
        a, b = run_cli(*argv), run_cli(*argv, module=False)
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)


def test_startup_error_goes_to_stderr_with_status() -> None:
    done = run_cli("-u", "root", "-c", "0")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "Maximum connections must be greater than 0\n"


# --- subcommands ------------------------------------------------------------------------------


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frobnicate", "-x"]) == 64
    err = capsys.readouterr().err
    assert err.startswith("slabcache: unknown command 'frobnicate'")


def test_subcommand_whose_module_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cli.SUBCOMMANDS, "later", "slabcache.ops.not_written_yet")
    assert cli.main(["later"]) == 64
    assert "command 'later' is not available" in capsys.readouterr().err


def test_subcommand_gets_the_rest_of_argv(tmp_path: Path) -> None:
    # A real module on a real path: the dispatcher imports it and calls main(argv).
    (tmp_path / "clitool_probe.py").write_text(
        "import sys\ndef main(argv):\n    sys.stdout.write(repr(argv))\n    return 7\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    code = (
        "import sys; from slabcache import cli; cli.SUBCOMMANDS['probe'] = 'clitool_probe'; "
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "probe", "-p", "0", "x"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (7, "['-p', '0', 'x']")


def test_options_first_means_the_server_and_stray_words_are_ignored() -> None:
    # memcached ignores words among its options; the server path does too (here it stops at
    # the -c check, which proves the words did not select a subcommand).
    done = run_cli("-u", "root", "stray", "-c", "0")
    assert (done.returncode, done.stderr) == (1, "Maximum connections must be greater than 0\n")


# --- -vv: the slab class table ----------------------------------------------------------------

TABLE_CASES = [
    [],
    ["-n", "2000"],
    ["-f", "1.1"],
    ["-f", "2", "-n", "16"],
    ["-I", "2k", "-o", "slab_chunk_max=1024"],
    ["-I", "4m", "-m", "64"],
    ["-o", "no_modern", "-I", "2m"],
    ["-o", "slab_sizes=100-200-300"],
    ["-o", "slab_chunk_max=16384"],
    ["-o", "no_chunked_items"],
]


def memcached_table(argv: list[str], tmp_path: Path) -> list[str]:
    """Start memcached -vv on a unix socket, wait for the socket (made after the table is
    printed), stop it by PID and return the `slab class` lines."""
    sock = tmp_path / "mc.sock"
    log = tmp_path / "mc.err"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [MEMCACHED, "-u", "root", "-vv", "-s", str(sock), "-U", "0", *argv],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"memcached did not start: {log.read_text()}")
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    return [ln for ln in log.read_text().splitlines() if ln.startswith("slab class")]


@pytest.mark.skipif(shutil.which(MEMCACHED) is None or os.geteuid() != 0,
                    reason="needs memcached 1.6.18, run as root as the suite does")  # fmt: skip
@pytest.mark.parametrize("argv", TABLE_CASES, ids=" ".join)
def test_vv_slab_table_matches_memcached(argv: list[str], tmp_path: Path) -> None:
    expected = memcached_table(argv, tmp_path)
    assert expected, "memcached printed no table"
    settings = parse_args(["-u", "root", "-vv", *argv], warn=lambda t: None)
    out = io.StringIO()
    cli.prepare_process(settings, out)
    assert out.getvalue().splitlines() == expected


def test_table_only_from_vv() -> None:
    out = io.StringIO()
    cli.prepare_process(parse_args(["-v", "-u", "root"]), out)
    assert out.getvalue() == ""


# --- -r ---------------------------------------------------------------------------------------


def test_r_raises_the_core_limit_in_its_own_process() -> None:
    code = (
        "import resource; from slabcache import cli; "
        "hard = resource.getrlimit(resource.RLIMIT_CORE)[1]; "
        "resource.setrlimit(resource.RLIMIT_CORE, (0, hard)); "
        "cli.raise_core_limit(); print(resource.getrlimit(resource.RLIMIT_CORE)[0])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) != 0
