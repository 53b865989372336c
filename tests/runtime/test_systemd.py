"""systemd integration: sd_notify READY/WATCHDOG/STOPPING on a real datagram socket, and
SIGHUP forcing a reload."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.logtools import records


def test_sd_notify_and_sighup(make_small_site: Callable[..., Path], tmp_path: Path) -> None:
    cfg = make_small_site(heartbeat=0.5)
    addr = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(addr)
    sock.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=addr, WATCHDOG_USEC="2000000")
    p = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg)],
                         cwd=cfg.parent, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    got: list[str] = []
    deadline = time.monotonic() + 4
    sent_hup = False
    while time.monotonic() < deadline:
        try:
            got.append(sock.recv(256).decode())
        except TimeoutError:
            pass
        if not sent_hup and "READY=1" in got:
            p.send_signal(signal.SIGHUP)
            sent_hup = True
    p.send_signal(signal.SIGTERM)
    _out, err = p.communicate(timeout=20)
    try:
        while True:
            got.append(sock.recv(256).decode())
    except TimeoutError:
        pass
    sock.close()
    assert p.returncode == 0, err
    assert got[0] == "READY=1"
    assert got.count("WATCHDOG=1") >= 3
    assert got[-1] == "STOPPING=1"
    recs = records(cfg.parent / "log", cfg.parent / "site.key")
    reloads = [r for r in recs if r["type"] == "reload"]
    assert len(reloads) == 1 and reloads[0]["accepted"] is True  # SIGHUP forced it
