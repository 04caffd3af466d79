"""`stats` families: field order and conditional fields against the 1.6.18 captures."""

from __future__ import annotations

from pathlib import Path

from slabcache.engine.config import EngineConfig
from slabcache.protocol import stats as statsfmt
from slabcache.protocol.context import LocalContext
from slabcache.settings import Settings
from tests.protocol.conftest import run

CAPTURE = Path("/work/shared/reference/stats-1.6.18.txt").read_text().splitlines()


def _section(title: str) -> list[str]:
    i = CAPTURE.index(title) + 1
    out = []
    while CAPTURE[i] != "END":
        out.append(CAPTURE[i])
        i += 1
    return out


def _names(lines: list[str]) -> list[str]:
    return [line.split()[1] for line in lines]


def test_general_order_matches_default_capture():
    ref = _names(_section("### stats (fresh server)"))
    out = run(b"stats\r\n").decode().splitlines()
    assert out[-1] == "END"
    assert _names(out[:-1]) == ref
    assert len(ref) == 92


def test_general_conditional_fields_match_no_modern_capture():
    ref = _names(_section("### stats (no_modern, full)"))
    ctx = LocalContext(Settings(engine=EngineConfig.no_modern(), maxconns_fast=False))
    sw = statsfmt.switches(ctx, {})
    out = statsfmt.general({}, ctx.server_stats(), sw).decode().splitlines()
    assert _names(out[:-1]) == ref


def test_idle_kicks_only_with_idle_timeout():
    ctx = LocalContext(Settings(idle_timeout=5))
    out = statsfmt.general({}, ctx.server_stats(), statsfmt.switches(ctx, {}))
    assert b"STAT auth_errors 0\r\nSTAT idle_kicks 0\r\nSTAT bytes_read" in out


def test_settings_match_default_capture_except_ports():
    ref = _section("### stats settings")
    s = Settings(port=21311)
    out = statsfmt.settings_lines(LocalContext(s), {"hashpower_init": 0}).decode().splitlines()
    assert out[-1] == "END"
    assert out[:-1] == ref
    assert len(ref) == 76


def test_engine_values_win_over_config():
    out = statsfmt.settings_lines(LocalContext(), {"hot_lru_pct": 10, "lru_segmented": False})
    assert b"STAT hot_lru_pct 10\r\n" in out and b"STAT lru_segmented no\r\n" in out
