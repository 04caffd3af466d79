"""asyncio/uvloop glue: listeners, connections, limits, housekeeping. Entry: `run(settings)`."""

from slabcache.server.app import run

__all__ = ["run"]
