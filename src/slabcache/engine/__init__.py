"""memcached 1.6.18's memory model: slab arena, hash index, segmented LRU, stats."""

from .clock import Clock, ManualClock
from .config import EngineConfig
from .store import DeltaResult, Engine, StoreMode, StoreResult

__all__ = [
    "Clock",
    "DeltaResult",
    "Engine",
    "EngineConfig",
    "ManualClock",
    "StoreMode",
    "StoreResult",
]
