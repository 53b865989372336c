"""The console's accounts, sessions, CSRF tokens and login rate limit.

Accounts live in ``<console dir>/users.json`` (mode 0600): name, role and a ``hashlib.scrypt``
hash with its own salt and cost. Roles: ``admin`` (管理员: may change playlists and media, run
reports, manage accounts) and ``inspector`` (检查员: reads everything, changes nothing).
Sessions are random tokens kept in memory (a console restart logs everybody out); each carries
its own CSRF token, which every form posts back. Failed logins are limited per client address
and per account name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("admin", "inspector")
NAME_RE = re.compile(r"^[\w.@-]{1,32}$")
# scrypt cost: 2**14 x 8 x 1 = 16 MiB and ~50 ms per hash on a Raspberry Pi class CPU
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
SESSION_S = 8 * 3600
MAX_FAILS, FAIL_WINDOW_S = 5, 300.0


def hash_password(password: str, *, salt: bytes | None = None, n: int = SCRYPT_N,
                  r: int = SCRYPT_R, p: int = SCRYPT_P) -> dict[str, Any]:
    salt = salt or secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                        maxmem=64 * 1024 * 1024)
    return {"alg": "scrypt", "n": n, "r": r, "p": p, "salt": salt.hex(), "hash": dk.hex()}


def check_password(password: str, rec: dict[str, Any]) -> bool:
    try:
        want = bytes.fromhex(rec["hash"])
        got = hash_password(password, salt=bytes.fromhex(rec["salt"]), n=int(rec["n"]),
                            r=int(rec["r"]), p=int(rec["p"]))
    except (KeyError, ValueError, TypeError):
        return False
    return hmac.compare_digest(want, bytes.fromhex(got["hash"]))


class Users:
    """The accounts file. Every change is written whole (temporary file, rename, mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        users = data.get("users", {}) if isinstance(data, dict) else {}
        return {k: v for k, v in users.items() if isinstance(v, dict)}

    def _write(self, users: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": 1, "users": users}, f, ensure_ascii=False, indent=1)
        os.replace(tmp, self.path)

    def list(self) -> list[tuple[str, str]]:
        return sorted((name, str(u.get("role", ""))) for name, u in self._read().items())

    def role(self, name: str) -> str | None:
        u = self._read().get(name)
        return str(u["role"]) if u and u.get("role") in ROLES else None

    def set(self, name: str, password: str, role: str) -> None:
        """Create or replace an account. Raises ValueError with what is wrong."""
        if not NAME_RE.match(name):
            raise ValueError("name")
        if role not in ROLES:
            raise ValueError("role")
        if len(password) < 8:
            raise ValueError("password")
        rec = {"role": role, **hash_password(password)}
        with self._lock:
            users = self._read()
            users[name] = rec
            self._write(users)

    def remove(self, name: str) -> bool:
        with self._lock:
            users = self._read()
            if users.pop(name, None) is None:
                return False
            self._write(users)
            return True

    def verify(self, name: str, password: str) -> str | None:
        """The account's role when the password is right, else None (a wrong name costs the
        same hash as a wrong password)."""
        u = self._read().get(name)
        if u is None:
            hash_password(password)
            return None
        if check_password(password, u) and u.get("role") in ROLES:
            return str(u["role"])
        return None


@dataclass
class Session:
    user: str
    role: str
    csrf: str
    expires: float


@dataclass
class Sessions:
    """Live sessions by token, and the failed logins by client and by account name."""

    sessions: dict[str, Session] = field(default_factory=dict)
    fails: dict[str, deque[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, user: str, role: str, now: float | None = None) -> tuple[str, Session]:
        now = time.time() if now is None else now
        token = secrets.token_urlsafe(32)
        s = Session(user, role, secrets.token_urlsafe(32), now + SESSION_S)
        with self.lock:
            self.sessions = {k: v for k, v in self.sessions.items() if v.expires > now}
            self.sessions[token] = s
        return token, s

    def get(self, token: str | None, now: float | None = None) -> Session | None:
        if not token:
            return None
        now = time.time() if now is None else now
        with self.lock:
            s = self.sessions.get(token)
            if s is None or s.expires <= now:
                self.sessions.pop(token, None)
                return None
            return s

    def drop(self, token: str | None) -> None:
        with self.lock:
            self.sessions.pop(token or "", None)

    def drop_user(self, user: str) -> None:
        with self.lock:
            self.sessions = {k: v for k, v in self.sessions.items() if v.user != user}

    def limited(self, keys: list[str], now: float | None = None) -> bool:
        """Whether any of ``keys`` (client address, account name) had MAX_FAILS failed logins
        within the last FAIL_WINDOW_S seconds."""
        now = time.time() if now is None else now
        with self.lock:
            for k in keys:
                q = self.fails.get(k)
                while q and q[0] <= now - FAIL_WINDOW_S:
                    q.popleft()
                if q and len(q) >= MAX_FAILS:
                    return True
        return False

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.lock:
            for k in keys:
                self.fails.setdefault(k, deque(maxlen=MAX_FAILS * 4)).append(now)


def csrf_ok(session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf.encode(), str(token).encode())
