"""Engine fixtures: every engine test runs with the real hash and with a hash that is always 0."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slabcache.engine import Engine, EngineConfig, ManualClock


def _zero_hash(key: bytes) -> int:
    return 0


@pytest.fixture(params=["realhash", "zerohash"])
def make_engine(request: pytest.FixtureRequest) -> Callable[..., tuple[Engine, ManualClock]]:
    """make_engine(config=None, **overrides) -> (engine, clock)."""

    def factory(config: EngineConfig | None = None, **overrides: object):
        cfg = config if config is not None else EngineConfig(**overrides)  # type: ignore[arg-type]
        clock = ManualClock()
        hash_fn = _zero_hash if request.param == "zerohash" else None
        return Engine(cfg, clock=clock, hash_fn=hash_fn), clock

    return factory


@pytest.fixture
def engine(make_engine):
    eng, _clock = make_engine()
    return eng
