"""A box ships its log through a real Mosquitto (TLS, client certificates, the shipped ACL)
to the hub, whose copy audits exactly like the box's own files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import keep_format_1

from .conftest import Broker, Pki
from .fleetkit import acked, audit_json, files_of, shipper, simulate, start_hub, wait_until


def test_a_shipped_day_audits_identically(tmp_path: Path, site_dir: Path, broker: Broker,
                                          pki: Pki) -> None:
    log = tmp_path / "box-log"
    simulate(keep_format_1(site_dir / "config.toml"), log,  # the hub here verifies format 1
             for_="24h")
    key = log / "simulate.key"
    hub = start_hub(tmp_path, broker, pki, {"hz-wensan-0001": key})
    sh = shipper(log, "hz-wensan-0001", broker, pki)
    sh.start()
    try:
        wait_until(lambda: acked(sh, log), 120, "the hub to acknowledge the whole log")
    finally:
        sh.stop()
        hub.stop()
    copy = tmp_path / "hub-data" / "hz-wensan-0001"
    assert files_of(copy) == files_of(log)  # byte-identical
    rc_box, box = audit_json(log, key)
    rc_hub, got = audit_json(copy, key)
    assert rc_box == rc_hub
    for k in ("verdict", "screens", "days", "violations", "outages", "items"):
        assert got[k] == box[k], k
    assert got["integrity"]["records"] == box["integrity"]["records"] > 1000
    b = hub.ingest.boards["hz-wensan-0001"]
    assert b.rejected == 0 and b.stored == box["integrity"]["records"]

    # signage hub audit: the site's verdict equals signage audit's on the box's own files,
    # and DuckDB's per screen and day counts of verified anti-fraud showings equal the audit's
    r = subprocess.run([sys.executable, "-m", "signage.cli", "hub", "audit", "-c",
                        str(tmp_path / "hub.toml"), "--from", "2026-12-01", "--to",
                        "2026-12-01", "--format", "json"], capture_output=True, text=True,
                       timeout=300, check=False)
    doc = json.loads(r.stdout)
    rc, want = audit_json(log, key, "--from", "2026-12-01", "--to", "2026-12-02")
    assert r.returncode == rc, r.stderr
    (site,) = doc["sites"]
    assert (site["site"], site["verdict"], site["exit_code"]) == (
        "hz-wensan-0001", want["verdict"], rc)
    assert {(d["screen"], d["day"]): d["af_showings"] for d in doc["screen_days"]} == {
        (d["screen"], d["day"]): d["af_showings"] for d in want["days"] if d["af_showings"]}
