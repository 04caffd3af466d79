"""Field order and formatting of memcached 1.6.18's `stats` families.

Values come from the engine (`stats_general()`, `stats_settings()`, `stats_items()`, ...)
and the server (`ctx.server_stats()`); this module only decides which lines appear, in
which order, and how each value is printed. The order and the conditional fields follow
memcached's `server_stats()` / `get_stats()` / `item_stats_totals()` /
`process_stat_settings()` (checked against /work/shared/reference/stats-1.6.18.txt).
A field neither side supplies prints 0 (counters nobody has incremented yet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# (name, condition) for `stats`; the condition names a settings switch that must be on.
GENERAL_FIELDS: tuple[tuple[str, str | None], ...] = (
    ("pid", None), ("uptime", None), ("time", None), ("version", None),
    ("libevent", None), ("pointer_size", None), ("rusage_user", None),
    ("rusage_system", None), ("max_connections", None), ("curr_connections", None),
    ("total_connections", None), ("rejected_connections", "maxconns_fast"),
    ("connection_structures", None), ("response_obj_oom", None),
    ("response_obj_count", None), ("response_obj_bytes", None), ("read_buf_count", None),
    ("read_buf_bytes", None), ("read_buf_bytes_free", None), ("read_buf_oom", None),
    ("reserved_fds", None), ("cmd_get", None), ("cmd_set", None), ("cmd_flush", None),
    ("cmd_touch", None), ("cmd_meta", None), ("get_hits", None), ("get_misses", None),
    ("get_expired", None), ("get_flushed", None), ("delete_misses", None),
    ("delete_hits", None), ("incr_misses", None), ("incr_hits", None),
    ("decr_misses", None), ("decr_hits", None), ("cas_misses", None), ("cas_hits", None),
    ("cas_badval", None), ("touch_hits", None), ("touch_misses", None),
    ("store_too_large", None), ("store_no_memory", None), ("auth_cmds", None),
    ("auth_errors", None), ("idle_kicks", "idle_timeout"), ("bytes_read", None),
    ("bytes_written", None), ("limit_maxbytes", None), ("accepting_conns", None),
    ("listen_disabled_num", None), ("time_in_listen_disabled_us", None),
    ("threads", None), ("conn_yields", None), ("hash_power_level", None),
    ("hash_bytes", None), ("hash_is_expanding", None),
    ("slab_reassign_rescues", "slab_reassign"),
    ("slab_reassign_chunk_rescues", "slab_reassign"),
    ("slab_reassign_evictions_nomem", "slab_reassign"),
    ("slab_reassign_inline_reclaim", "slab_reassign"),
    ("slab_reassign_busy_items", "slab_reassign"),
    ("slab_reassign_busy_deletes", "slab_reassign"),
    ("slab_reassign_running", "slab_reassign"), ("slabs_moved", "slab_reassign"),
    ("lru_crawler_running", "lru_crawler"), ("lru_crawler_starts", "lru_crawler"),
    ("lru_maintainer_juggles", "lru_maintainer"), ("malloc_fails", None),
    ("log_worker_dropped", None), ("log_worker_written", None),
    ("log_watcher_skipped", None), ("log_watcher_sent", None), ("log_watchers", None),
    ("unexpected_napi_ids", None), ("round_robin_fallback", None),
    # get_stats(NULL) + item_stats_totals()
    ("bytes", None), ("curr_items", None), ("total_items", None),
    ("slab_global_page_pool", None), ("expired_unfetched", None),
    ("evicted_unfetched", None), ("evicted_active", "lru_maintainer"),
    ("evictions", None), ("reclaimed", None), ("crawler_reclaimed", None),
    ("crawler_items_checked", None), ("lrutail_reflocked", None),
    ("moves_to_cold", "lru_maintainer"), ("moves_to_warm", "lru_maintainer"),
    ("moves_within_lru", "lru_maintainer"), ("direct_reclaims", "lru_maintainer"),
    ("lru_bumps_dropped", "lru_maintainer"),
)  # fmt: skip

# Lines a Debian 1.6.18 build prints for its (unused here) extstore and TLS support.
_EXT_TLS_SETTINGS: tuple[tuple[str, str], ...] = (
    ("ext_item_size", "512"), ("ext_item_age", "4294967295"), ("ext_low_ttl", "0"),
    ("ext_recache_rate", "2000"), ("ext_wbuf_size", "4194304"),
    ("ext_compact_under", "0"), ("ext_drop_under", "0"), ("ext_max_sleep", "1000000"),
    ("ext_max_frag", "0.80"), ("slab_automove_freeratio", "0.010"),
    ("ext_drop_unread", "no"), ("ssl_enabled", "no"), ("ssl_chain_cert", "(null)"),
    ("ssl_key", "(null)"), ("ssl_verify_mode", "0"), ("ssl_keyformat", "1"),
    ("ssl_ciphers", "NULL"), ("ssl_ca_cert", "NULL"), ("ssl_wbuf_size", "16384"),
    ("ssl_session_cache", "no"), ("ssl_kernel_tls", "no"),
    ("ssl_min_version", "tlsv1.2"), ("num_napi_ids", "(null)"),
)  # fmt: skip


def _yn(v: object) -> str:
    if isinstance(v, str):
        return v
    return "yes" if v else "no"


def _fmt(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, bool):
        return b"1" if v else b"0"
    return str(v).encode()


def stat_lines(pairs: Iterable[tuple[str, Any]]) -> bytes:
    return b"".join(b"STAT %s %s\r\n" % (_fmt(k), _fmt(v)) for k, v in pairs)


def general(
    engine_stats: Mapping[str, Any],
    server_stats: Mapping[str, Any],
    switches: Mapping[str, bool],
) -> bytes:
    """`stats`: server fields and engine fields merged in 1.6.18 order, then END."""
    out = []
    for name, cond in GENERAL_FIELDS:
        if cond is not None and not switches.get(cond, False):
            continue
        v = engine_stats[name] if name in engine_stats else server_stats.get(name, 0)
        out.append(b"STAT %s %s\r\n" % (name.encode(), _fmt(v)))
    out.append(b"END\r\n")
    return b"".join(out)


def settings_lines(ctx: Any, engine_settings: Mapping[str, Any]) -> bytes:
    """`stats settings` (76 lines on the Debian build): server settings plus engine ones."""
    s = ctx.settings
    e = s.engine
    eng = dict(engine_settings)

    def g(name: str, default: Any) -> Any:
        return eng.get(name, default)

    proto = {"auto": "auto-negotiate", "ascii": "ascii", "binary": "binary"}
    pairs: list[tuple[str, Any]] = [
        ("maxbytes", g("maxbytes", e.maxbytes)),
        ("maxconns", s.maxconns),
        ("tcpport", s.port),
        ("udpport", s.udp_port),
        ("inter", ",".join(s.listen) if s.listen else "NULL"),
        ("verbosity", ctx.verbosity),
        ("oldest", g("oldest", 0)),
        ("evictions", _onoff(g("evictions", e.evict_to_free))),
        ("domain_socket", s.unix_socket or "NULL"),
        ("umask", f"{s.unix_mask:o}"),
        ("shutdown_command", _yn(s.shutdown_enabled)),
        ("growth_factor", _f2(g("growth_factor", e.factor))),
        ("chunk_size", g("chunk_size", e.chunk_size)),
        ("num_threads", s.threads),
        ("num_threads_per_udp", s.threads),
        ("stat_key_prefix", s.prefix_delimiter),
        ("detail_enabled", _yn(ctx.detail_enabled)),
        ("reqs_per_event", s.reqs_per_event),
        ("cas_enabled", _yn(g("cas_enabled", e.use_cas))),
        ("tcp_backlog", s.backlog),
        ("binding_protocol", proto.get(s.protocol, s.protocol)),
        ("auth_enabled_sasl", _yn(s.sasl)),
        ("auth_enabled_ascii", s.auth_file or "no"),
        ("item_size_max", g("item_size_max", e.item_size_max)),
        ("maxconns_fast", _yn(s.maxconns_fast)),
        ("hashpower_init", g("hashpower_init", e.hashpower_init)),
        ("slab_reassign", _yn(g("slab_reassign", e.slab_reassign))),
        ("slab_automove", g("slab_automove", e.slab_automove)),
        ("slab_automove_ratio", _f2(g("slab_automove_ratio", e.slab_automove_ratio))),
        ("slab_automove_window", g("slab_automove_window", e.slab_automove_window)),
        ("slab_chunk_max", g("slab_chunk_max", e.slab_chunk_max)),
        ("lru_crawler", _yn(g("lru_crawler", e.lru_crawler))),
        ("lru_crawler_sleep", g("lru_crawler_sleep", e.lru_crawler_sleep)),
        ("lru_crawler_tocrawl", g("lru_crawler_tocrawl", e.lru_crawler_tocrawl)),
        ("tail_repair_time", g("tail_repair_time", e.tail_repair_time)),
        ("flush_enabled", _yn(s.flush_enabled)),
        ("dump_enabled", _yn(s.dump_enabled)),
        ("hash_algorithm", g("hash_algorithm", e.hash_algorithm)),
        ("lru_maintainer_thread", _yn(g("lru_maintainer_thread", e.lru_maintainer))),
        ("lru_segmented", _yn(g("lru_segmented", e.lru_segmented))),
        ("hot_lru_pct", g("hot_lru_pct", e.hot_lru_pct)),
        ("warm_lru_pct", g("warm_lru_pct", e.warm_lru_pct)),
        ("hot_max_factor", _f2(g("hot_max_factor", e.hot_max_factor))),
        ("warm_max_factor", _f2(g("warm_max_factor", e.warm_max_factor))),
        ("temp_lru", _yn(g("temp_lru", e.temp_lru))),
        ("temporary_ttl", g("temporary_ttl", e.temporary_ttl)),
        ("idle_timeout", s.idle_timeout),
        ("watcher_logbuf_size", s.watcher_logbuf_size),
        ("worker_logbuf_size", s.worker_logbuf_size),
        ("read_buf_mem_limit", s.read_buf_mem_limit),
        ("track_sizes", _yn(g("track_sizes", e.track_sizes))),
        ("inline_ascii_response", "no"),
        *_EXT_TLS_SETTINGS[:-1],
        ("num_napi_ids", "(null)"),
        ("memory_file", g("memory_file", e.memory_file) or "(null)"),
    ]
    return stat_lines(pairs) + b"END\r\n"


def _f2(v: object) -> str:
    return v if isinstance(v, str) else f"{v:.2f}"


def _onoff(v: object) -> str:
    if isinstance(v, str):
        return v
    return "on" if v else "off"


def switches(ctx: Any, engine_settings: Mapping[str, Any]) -> dict[str, bool]:
    """The switches that decide `stats`' conditional fields (live engine state wins)."""
    e = ctx.settings.engine

    def on(name: str, default: object) -> bool:
        v = engine_settings.get(name, default)
        return v in ("yes", "on") if isinstance(v, str) else bool(v)

    return {
        "maxconns_fast": ctx.settings.maxconns_fast,
        "idle_timeout": bool(ctx.settings.idle_timeout),
        "slab_reassign": on("slab_reassign", e.slab_reassign),
        "lru_crawler": on("lru_crawler", e.lru_crawler),
        "lru_maintainer": on("lru_maintainer_thread", e.lru_maintainer),
    }
