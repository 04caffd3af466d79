from __future__ import annotations

import pytest

from slabcache.engine import Engine, ManualClock
from slabcache.protocol.context import LocalContext
from slabcache.protocol.text import TextProtocol
from slabcache.settings import Settings


def make_engine(settings: Settings) -> Engine:
    return Engine(settings.engine, clock=ManualClock())


def make_conn(settings: Settings | None = None, **kw) -> TextProtocol:
    settings = settings or Settings()
    ctx = LocalContext(settings)
    return TextProtocol(make_engine(settings), ctx, **kw)


def run(data: bytes, conn: TextProtocol | None = None) -> bytes:
    conn = conn or make_conn()
    conn.receive_data(data)
    return conn.data_to_send()


@pytest.fixture
def conn() -> TextProtocol:
    return make_conn()
