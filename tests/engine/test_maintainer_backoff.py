"""The LRU maintainer's per-class back-off (items.c lru_maintainer_thread) and its pacing."""

from __future__ import annotations

from slabcache.engine import StoreMode
from slabcache.engine.items import COLD_LRU, HOT_LRU
from slabcache.engine.maintainer import MAX_SLEEP_US, MIN_SLEEP_US, US_PER_JUGGLE_UNIT


def _juggles(eng) -> int:
    return int(eng.stats_general()["lru_maintainer_juggles"])


def test_busy_class_still_waits_a_millisecond(make_engine):
    eng, _ = make_engine()
    eng.store(StoreMode.SET, b"a", 0, 0, b"v")
    eng.run_background(100)  # class 1 moves its item: its back-off stays 0
    assert eng.item_lru(b"a") == COLD_LRU
    assert eng.background_delay() == MIN_SLEEP_US / 1e6


def test_idle_maintainer_backs_off_to_one_second(make_engine):
    """Driven as the server drives it (sleep what it asks, report the time): while idle the
    wake-ups thin out from every 1 ms towards memcached's 1 s ceiling."""
    eng, _ = make_engine()
    eng.store(StoreMode.SET, b"a", 0, 0, b"v")
    now_us = 0
    wakes = []
    last = _juggles(eng)
    while now_us < 30_000_000:
        delay_us = round(eng.background_delay() * 1e6)
        assert MIN_SLEEP_US <= delay_us <= MAX_SLEEP_US
        now_us += delay_us
        eng.run_background(100, delay_us)
        if _juggles(eng) != last:
            last = _juggles(eng)
            wakes.append(now_us)
    early = sum(1 for t in wakes if t < 1_000_000)
    late = sum(1 for t in wakes if t >= 20_000_000)
    # 1/8 growth from 1 ms reaches 1 s in ~55 juggles per class; classes drift apart,
    # so a few wake-ups per second remain, against 1000 per second without back-off
    assert early > late
    assert late <= 10 * 3, (early, late)


def test_each_stepped_call_is_one_wakeup(make_engine):
    eng, _ = make_engine()
    before = _juggles(eng)
    for _ in range(5):
        eng.run_background(100)
    assert _juggles(eng) == before + 5


def test_slices_before_the_sleep_ends_do_not_juggle(make_engine):
    eng, _ = make_engine()
    for _ in range(30):  # let every class back off well past 1 ms
        eng.run_background(100)
    wait_us = int(eng.background_delay() * 1e6)
    assert wait_us > 4 * MIN_SLEEP_US
    before = _juggles(eng)
    quarter = wait_us // 4
    for _ in range(3):
        eng.run_background(100, quarter)
    assert _juggles(eng) == before  # woken early: nothing due, nothing counted
    assert 0 < eng.background_delay() <= (wait_us - 3 * quarter) / 1e6 + 1e-6
    eng.run_background(100, wait_us - 3 * quarter)
    assert _juggles(eng) == before + 1


def test_clock_second_makes_every_class_due(make_engine):
    eng, clock = make_engine(temp_lru=True)
    for _ in range(80):
        eng.run_background(100)
    eng.store(StoreMode.SET, b"t", 0, 5, b"v")  # TEMP, expiring
    assert eng.stats_general()["curr_items"] == 1
    clock.advance(6)
    eng.run_background(100, 0)  # no real time reported, but the clock moved 6 s
    assert eng.stats_general()["curr_items"] == 0  # reclaimed from TEMP by the juggle


def test_moves_get_a_share_of_the_elapsed_time(make_engine):
    eng, _ = make_engine()
    for i in range(400):
        eng.store(StoreMode.SET, b"k%d" % i, 0, 0, b"v")
    elapsed = 1_000
    work = eng.run_background(1000, elapsed)
    assert 0 < work <= elapsed // US_PER_JUGGLE_UNIT
    moved = dict(eng.stats_items())["items:1:moves_to_cold"]
    assert moved == work
    # stepping the engine directly keeps the full budget: the rest drains in one call
    eng.run_background(1000)
    assert dict(eng.stats_items())["items:1:number_hot"] * 5 <= 400  # HOT within 20%
    assert eng.item_lru(b"k0") != HOT_LRU


def test_queued_bumps_shorten_the_wait(make_engine):
    eng, _ = make_engine()
    eng.store(StoreMode.SET, b"a", 0, 0, b"v")
    for _ in range(40):
        eng.run_background(100)
    eng.get(b"a")
    eng.get(b"a")  # COLD + ACTIVE: queued for WARM
    assert eng.background_delay() <= MIN_SLEEP_US / 1e6
    eng.run_background(100, 0)
    assert dict(eng.stats_items())["items:1:moves_to_warm"] == 1
