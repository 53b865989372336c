"""sd_notify for systemd (READY, WATCHDOG, STOPPING), without a dependency."""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        e = dict(os.environ) if env is None else env
        self._addr = e.get("NOTIFY_SOCKET", "")
        usec = e.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() else 0.0

    @property
    def enabled(self) -> bool:
        return bool(self._addr)

    def send(self, state: str) -> bool:
        if not self._addr:
            return False
        addr = "\0" + self._addr[1:] if self._addr.startswith("@") else self._addr
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.connect(addr)
                s.sendall(state.encode())
            return True
        except OSError:
            return False
