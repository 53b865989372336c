"""The console's accounts, sessions, CSRF tokens and login rate limit.

Accounts live in ``<console dir>/users.json`` (mode 0600): name, role and a ``hashlib.scrypt``
hash with its own salt and cost. Roles: ``admin`` (管理员: may change playlists and media, run
reports, manage accounts) and ``inspector`` (检查员: reads everything, changes nothing).
Sessions are random tokens (the cookie); the console keeps only their SHA-256, in memory and in
``<console dir>/sessions.json`` (mode 0600, rewritten whole on every login and logout), so a
console restart keeps people logged in and a copy of the file logs nobody in. Each session
carries its own CSRF token, which every form posts back, and expires SESSION_S after login; at
most MAX_SESSIONS are kept (the oldest go first). Failed logins are limited per client address
and per account name.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("admin", "inspector")
NAME_RE = re.compile(r"^[\w.@-]{1,32}$")
# scrypt cost: 2**14 x 8 x 1 = 16 MiB and ~50 ms per hash on a Raspberry Pi class CPU
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
SESSION_S = 8 * 3600
MAX_SESSIONS = 64
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


def token_id(token: str) -> str:
    """What the console keeps of a session token: its SHA-256 (hex)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass
class Sessions:
    """Live sessions by the SHA-256 of their token (kept in ``path`` when given), and the
    failed logins by client and by account name (in memory: a restart forgets them)."""

    path: Path | None = None
    clock: Callable[[], float] = time.time
    sessions: dict[str, Session] = field(default_factory=dict)
    fails: dict[str, deque[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sessions = self._load(self.clock())

    def _load(self, now: float) -> dict[str, Session]:
        """The unexpired sessions of the file; a missing, unreadable or garbled file (or
        entry) logs those people out, nothing else."""
        if self.path is None:
            return {}
        try:
            doc = json.loads(self.path.read_text("utf-8"))
            raw = doc["sessions"] if isinstance(doc, dict) and doc.get("version") == 1 else {}
        except (OSError, ValueError, KeyError):
            return {}
        out: dict[str, Session] = {}
        for k, v in raw.items() if isinstance(raw, dict) else ():
            try:
                s = Session(str(v["user"]), str(v["role"]), str(v["csrf"]),
                            float(v["expires"]))
            except (KeyError, TypeError, ValueError):
                continue
            if (re.fullmatch(r"[0-9a-f]{64}", k) and s.role in ROLES and s.csrf
                    and now < s.expires <= now + SESSION_S):
                out[k] = s
        return dict(sorted(out.items(), key=lambda kv: kv[1].expires)[-MAX_SESSIONS:])

    def _save(self) -> None:
        """Write the sessions whole (temporary file 0600, rename); called with the lock. A
        failed write keeps them in memory only."""
        if self.path is None:
            return
        doc = {"version": 1, "sessions": {k: {"user": s.user, "role": s.role, "csrf": s.csrf,
                                              "expires": s.expires}
                                          for k, s in self.sessions.items()}}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, ensure_ascii=False)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def create(self, user: str, role: str, now: float | None = None) -> tuple[str, Session]:
        now = self.clock() if now is None else now
        token = secrets.token_urlsafe(32)
        s = Session(user, role, secrets.token_urlsafe(32), now + SESSION_S)
        with self.lock:
            live = sorted(((k, v) for k, v in self.sessions.items() if v.expires > now),
                          key=lambda kv: kv[1].expires)
            self.sessions = dict(live[-(MAX_SESSIONS - 1):])  # the oldest go first
            self.sessions[token_id(token)] = s
            self._save()
        return token, s

    def get(self, token: str | None, now: float | None = None) -> Session | None:
        if not token:
            return None
        now = self.clock() if now is None else now
        key = token_id(token)
        with self.lock:
            s = self.sessions.get(key)
            if s is None:
                return None
            if s.expires <= now:
                self.sessions.pop(key, None)
                self._save()
                return None
            return s

    def drop(self, token: str | None) -> None:
        with self.lock:
            if self.sessions.pop(token_id(token or ""), None) is not None:
                self._save()

    def drop_user(self, user: str) -> None:
        with self.lock:
            self.sessions = {k: v for k, v in self.sessions.items() if v.user != user}
            self._save()

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
