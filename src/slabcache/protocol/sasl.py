"""SASL for the binary protocol (-S): the PLAIN mechanism against a password file.

memcached hands SASL to Cyrus; its password-database callback (MEMCACHED_SASL_PWDB)
reads a file of `user:password` lines on every attempt, takes the first line whose
user matches, and accepts the password when it is followed by `:`, end of line or the
end of the (256-byte) line buffer. slabcache keeps that file format and lookup, caches
the parsed file by (mtime, size) so an attempt costs one stat(), and compares the
password with hmac.compare_digest so the time taken does not reveal how much matched.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

MECHANISMS = b"PLAIN"
MAX_SASL_MECH_LEN = 32  # memcached rejects longer mechanism names with EINVAL
MAX_ENTRY_LEN = 256  # memcached's line buffer for the password file
PWDB_ENV = "MEMCACHED_SASL_PWDB"


class PasswordFile:
    """`user:password[:...]` lines; reloaded when the file changes."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[bytes, bytes] = {}

    def _load(self) -> dict[bytes, bytes]:
        if not self.path:
            return {}
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                with open(self.path, "rb") as f:
                    data = f.read()
                users: dict[bytes, bytes] = {}
                for raw in data.split(b"\n"):
                    line = raw[: MAX_ENTRY_LEN - 1].rstrip(b"\r")
                    user, sep, rest = line.partition(b":")
                    if sep and user not in users:  # the first matching line wins
                        users[user] = rest.split(b":", 1)[0]
                self._users, self._stamp = users, stamp
        except OSError:
            self._users, self._stamp = {}, None  # unreadable: nobody authenticates
        return self._users

    def check(self, user: bytes, password: bytes) -> bool:
        if len(user) + len(password) > MAX_ENTRY_LEN - 4:
            return False
        stored = self._load().get(user)
        # compare against something of the same kind even for unknown users
        ok = hmac.compare_digest(password, stored if stored is not None else b"\0" + password)
        return ok and stored is not None


def password_file_from_env(settings_path: str | None = None) -> PasswordFile:
    return PasswordFile(settings_path or os.environ.get(PWDB_ENV))


@dataclass
class SaslSession:
    """One connection's SASL state: AUTH starts, STEP continues (PLAIN never continues)."""

    pwdb: PasswordFile
    started: bool = False
    authenticated: bool = False

    def start(self, mech: bytes, data: bytes) -> bool | None:
        """True: authenticated; False: failure; None would mean "continue" (unused)."""
        if mech != b"PLAIN":
            self.started = False
            return False
        ok = self._plain(data)
        self.started = ok
        if ok:
            self.authenticated = True
        return ok

    def step(self, mech: bytes, data: bytes) -> bool:
        # PLAIN finishes in one exchange, so a step has nothing left to continue
        return False

    def _plain(self, data: bytes) -> bool:
        parts = data.split(b"\0")
        if len(parts) != 3:
            return False
        authzid, user, password = parts
        if not user or (authzid and authzid != user):
            return False  # no proxy authorisation, as Cyrus' default policy
        return self.pwdb.check(user, password)
