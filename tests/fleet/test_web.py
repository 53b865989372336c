"""The hub's HTTP server (Starlette on uvicorn, a real socket): /status shows the fleet."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from signage.hub.web import serve

from .conftest import Broker, Pki, free_port
from .fleetkit import register, shipper, start_hub, wait_until


def test_status_json_over_http(tmp_path: Path, broker: Broker, pki: Pki) -> None:
    port = free_port()
    hub = start_hub(tmp_path, broker, pki, register(tmp_path, "site-a"))
    # the same hub with its [http] on: hub.toml's section is replaced in the loaded config
    hub.hub.cfg = hub.hub.cfg.model_copy(update={"http": hub.hub.cfg.http.model_copy(
        update={"enabled": True, "port": port})})
    server = serve(hub)

    def status() -> dict[str, Any]:
        return {"at": "2026-12-01T10:00:00.000+08:00", "heartbeat_s": 30.0, "screens": {
            "lobby": {"up": True, "item": "af1"}}}

    log = tmp_path / "log"
    log.mkdir()
    sh = shipper(log, "site-a", broker, pki, status=status)
    sh.start()

    def get() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
            return dict(json.loads(r.read()))

    try:
        wait_until(lambda: any(s["site"] == "site-a" and s["status"] for s in
                               _try(get).get("sites", [])), 30, "site-a on /status")
        doc = get()
    finally:
        server.should_exit = True
        sh.stop()
        hub.stop()
    (site,) = doc["sites"]
    assert site["status"]["screens"]["lobby"]["item"] == "af1" and site["online"] is True


def _try(f: Any) -> dict[str, Any]:
    try:
        return dict(f())
    except OSError:
        return {}
