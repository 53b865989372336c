"""A dark screen in opening hours: one webhook to a real local HTTP receiver (plain JSON and
企业微信 format), however long it stays dark, and one "resolved" when it shows again."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .conftest import Broker, Pki
from .fleetkit import register, shipper, start_hub, wait_until


def test_dark_screen_one_webhook_and_one_resolved(tmp_path: Path, broker: Broker,
                                                  pki: Pki) -> None:
    got: list[tuple[str, dict[str, Any]]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers["Content-Length"])
            got.append((self.path, json.loads(self.rfile.read(n))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"errcode":0}')

        def log_message(self, *_a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_port}"
    hooks = (f'[[webhook]]\nurl = "{base}/json"\nformat = "json"\ndown_after_s = 1.5\n'
             f'min_interval_s = 0.5\n'
             f'[[webhook]]\nurl = "{base}/wecom"\nformat = "wecom"\ndown_after_s = 1.5\n')
    state: dict[str, Any] = {"up": True, "down_since": None}

    def status() -> dict[str, Any]:
        now = datetime.now().astimezone().isoformat(timespec="milliseconds")
        return {"at": now, "heartbeat_s": 30.0, "screens": {"lobby": {
            "up": state["up"], "down_since": state["down_since"], "item": None,
            "anti_fraud": False, "since": None, "next_af_s": None, "worst_gap_today_s": 3.0,
            "open": True}}}

    log = tmp_path / "log"
    log.mkdir()
    hub = start_hub(tmp_path, broker, pki, register(tmp_path, "site-a"), extra=hooks)
    sh = shipper(log, "site-a", broker, pki, status=status)
    sh.start()
    try:
        wait_until(lambda: "site-a" in hub.ingest.boards
                   and hub.ingest.boards["site-a"].status is not None, 20, "a status")
        state["down_since"] = datetime.now().astimezone().isoformat(timespec="milliseconds")
        state["up"] = False
        wait_until(lambda: len(got) >= 2, 20, "the alerts")
        time.sleep(3.0)  # still dark: no second message
        assert len(got) == 2
        state["up"], state["down_since"] = True, None
        wait_until(lambda: len(got) >= 4, 20, "the resolved messages")
        time.sleep(2.0)
    finally:
        sh.stop()
        hub.stop()
        srv.shutdown()
    js = [b for p, b in got if p == "/json"]
    wc = [b for p, b in got if p == "/wecom"]
    assert [(b["event"], b["state"], b["site"], b["screen"]) for b in js] == [
        ("screen_down", "firing", "site-a", "lobby"), ("screen_down", "resolved", "site-a",
                                                       "lobby")]
    assert len(wc) == 2 and all(b["msgtype"] == "text" for b in wc)
    assert "lobby" in wc[0]["text"]["content"] and "Resolved" in wc[1]["text"]["content"]
