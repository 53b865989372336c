"""The shipper inside the real daemon (`signage run` with [fleet]): the live status reaches the
hub retained, and after the run the hub's copy is the box's log, byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import small_site

from .conftest import Broker, Pki
from .fleetkit import files_of, start_hub, wait_until


def test_daemon_ships_its_log_and_status(tmp_path: Path, broker: Broker, pki: Pki) -> None:
    box = tmp_path / "box"
    box.mkdir()
    cfg = small_site(box)
    crt, key = pki.cert("test-site")
    cfg.write_text(cfg.read_text("utf-8").replace("[[screens]]", f"""[fleet]
broker = "{broker.url}"
ca_file = "{pki.ca}"
cert_file = "{crt}"
key_file = "{key}"
poll_s = 0.1

[[screens]]""", 1), "utf-8")
    hub = start_hub(tmp_path, broker, pki, {"test-site": box / "site.key"})
    proc = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "-c", str(cfg),
                             "--for", "60s", "--no-live"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    rss_kb = 0
    try:
        wait_until(lambda: "test-site" in hub.ingest.boards
                   and (hub.ingest.boards["test-site"].status or {}).get("screens", {})
                   .get("s1", {}).get("item") is not None, 60, "the box's live status")
        st = hub.ingest.boards["test-site"].status
        assert st is not None and st["screens"]["s1"]["up"] is True and st["site"] == "test-site"
        wait_until(lambda: hub.ingest.boards["test-site"].stored > 20, 30, "log records")
        time.sleep(2)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss_kb = int(next(x for x in status.splitlines() if x.startswith("VmHWM:")).split()[1])
        os.kill(proc.pid, signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        copy = tmp_path / "hub-data" / "test-site"
        wait_until(lambda: files_of(copy) == files_of(box / "log"), 30, "the whole log")
    finally:
        if proc.poll() is None:
            proc.kill()
        hub.stop()
    last = (box / "log").glob("signage-*.jsonl")
    assert any(b'"type":"run_stop"' in p.read_bytes() for p in last)
    assert json.loads((tmp_path / "hub-data" / "test-site" / "status.json").read_text())[
        "site"] == "test-site"
    print(f"daemon peak RSS with the shipper: {rss_kb / 1024:.1f} MB")
