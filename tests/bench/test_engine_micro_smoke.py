"""Smoke test for bench/engine_micro.py: a small run completes and reports every row.

No timing is asserted (the machine is shared and noisy); the run itself checks that every
get hits, every miss misses, every set is stored and the eviction rows really evict.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "engine_micro.py"
ROWS = (
    "python method call (floor)",
    "get hit",
    "get miss",
    "set (overwrite, same class)",
    "get hit (1,000 hot keys)",
    "set overwrite (1,000 hot keys)",
    "set new key, free memory",
    "set new key, evicting",
)


def test_engine_micro_small_run_reports_every_row() -> None:
    for clock in ("wall", "cpu"):
        out = subprocess.run(
            [sys.executable, str(SCRIPT), "--n", "3000", "--repeats", "2", "--clock", clock],
            capture_output=True, text=True, check=True, timeout=300,
        ).stdout  # fmt: skip
        lines = out.splitlines()
        assert f"{clock} clock" in lines[0]
        table = {line[:30].strip(): line[30:].split() for line in lines[2:]}
        assert list(table) == list(ROWS)
        for name, (median, low) in table.items():
            assert float(median) > 0 and float(low) > 0, name
