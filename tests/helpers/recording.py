"""Record what a client sees, so the same scenario can be compared across servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MISSING = object()


class Recorder:
    """Collects (label, outcome) pairs; an exception is recorded as its type and text."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.broken: list[str] = []

    def __call__(self, label: str, fn: Callable[[], Any], expect: Any = MISSING) -> Any:
        try:
            result = fn()
        except Exception as exc:
            result = ("raised", type(exc).__name__, str(exc))
        self.events.append((label, result))
        if expect is not MISSING and result != expect:
            self.broken.append(f"{label}: expected {expect!r}, got {result!r}")
        return result


def compare_runs(reference: Recorder, subject: Recorder) -> list[str]:
    """Human-readable differences between two runs of one scenario (empty when equal)."""
    diffs = []
    ref_labels = [label for label, _ in reference.events]
    got_labels = [label for label, _ in subject.events]
    if ref_labels != got_labels:
        diffs.append(f"different steps: {ref_labels} vs {got_labels}")
    for (label, ref), (_, got) in zip(reference.events, subject.events, strict=False):
        if ref != got:
            diffs.append(f"{label}: {describe(ref, got)}")
    return diffs


def describe(ref: Any, got: Any) -> str:
    """The difference between two outcomes, narrowed to the keys that differ in dicts."""
    if isinstance(ref, list) and isinstance(got, list) and len(ref) == len(got):
        return "; ".join(describe(r, g) for r, g in zip(ref, got, strict=True) if r != g)
    if isinstance(ref, dict) and isinstance(got, dict):
        parts = []
        for key in [*ref, *(k for k in got if k not in ref)]:
            r, g = ref.get(key, "<absent>"), got.get(key, "<absent>")
            if r != g:
                parts.append(f"{key}: memcached {r!r} vs slabcache {g!r}")
        return ", ".join(parts)
    return f"memcached gave {ref!r}, slabcache gave {got!r}"
