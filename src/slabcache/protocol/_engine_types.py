"""The engine contract's result/mode enums, used only until `slabcache.engine` exports them.

Replies are mapped by member *name*, so the engine's own enums (same names) drop in.
"""

from __future__ import annotations

from enum import Enum


class StoreMode(Enum):
    SET = 1
    ADD = 2
    REPLACE = 3
    APPEND = 4
    PREPEND = 5
    CAS = 6


class StoreResult(Enum):
    STORED = 1
    NOT_STORED = 2
    EXISTS = 3
    NOT_FOUND = 4
    TOO_LARGE = 5
    NO_MEMORY = 6


class DeltaResult(Enum):
    OK = 1
    NOT_FOUND = 2
    NON_NUMERIC = 3
    NO_MEMORY = 4
