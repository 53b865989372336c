"""Pushed playlists through `signage push seal/add` on a running daemon: a valid bundle is
applied at the next item boundary on every screen; a broken one is rejected with its problems
and nothing changes; altered media and a pushed playlist edited on the box are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image

from signage.keys import load_signing_key
from tests.logtools import records, run_gaps

from .alertsite import alert_site
from .test_alert_cli import cli
from .test_alerts_run import HANG_S, log_recs, wait_for

GOOD = """name = "集中宣传阶段"
content = "anti-fraud"
window = {{ start = {start}, end = {end} }}

[[items]]
id = "push-poster"
type = "image"
path = "poster.png"
duration_s = 1.0
category = "典型案例"

[[items]]
id = "push-slogan"
type = "text"
text = "凡是要求屏幕共享的都是诈骗"
duration_s = 1.0
"""

BROKEN = """name = "促销"
content = "store"

[[items]]
id = "push-long"
type = "text"
text = "很长的促销"
duration_s = 30.0
"""


def test_push_applied_broken_rejected_tamper_refused(tmp_path: Path) -> None:
    assert cli("alert", "authority-key", "auth.key", cwd=tmp_path).returncode == 0
    key = load_signing_key(tmp_path / "auth.key")
    cfg = alert_site(tmp_path, key)
    Image.new("RGB", (64, 36), (200, 30, 30)).save(tmp_path / "poster.png")
    today = date.today()
    (tmp_path / "campaign.toml").write_text(
        GOOD.format(start=today - timedelta(days=1), end=today + timedelta(days=7)), "utf-8")
    (tmp_path / "broken.toml").write_text(BROKEN, "utf-8")
    r = cli("push", "seal", "campaign.toml", "poster.png", "--key", "auth.key", "--id",
            "campaign", "--to", "region:330000", "-o", "b1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("push", "seal", "broken.toml", "--key", "auth.key", "--id", "broken", "-o", "b2",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("push", "seal", "campaign.toml", "poster.png", "--key", "auth.key", "--id",
            "campaign", "--to", "region:320000", "-o", "b3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    p = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                          "--for", "10m"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(x["type"] == "showing" for x in log_recs(tmp_path)), HANG_S, "start")
        r = cli("push", "add", "b1", cwd=tmp_path)
        assert r.returncode == 0 and "accepted" in r.stdout, (r.stdout, r.stderr)
        wait_for(lambda: {x["screen"] for x in log_recs(tmp_path) if x["type"] == "showing"
                          and x["item"] == "push-slogan"} == {"s1", "s2", "s3"}, HANG_S,
                 "the pushed playlist on every screen")
        r = cli("push", "add", "b2", cwd=tmp_path)
        assert r.returncode == 1 and "rejected (invalid)" in r.stderr, (r.stdout, r.stderr)
        assert "duration_s" in r.stderr and "push-long" not in r.stdout
        r = cli("push", "add", "b3", cwd=tmp_path)
        assert r.returncode == 1 and "other_region" in r.stderr, r.stderr
        # the same bundle again (a replay, as of a copied stick): refused by its serial
        r = cli("push", "add", "b1", cwd=tmp_path)
        assert r.returncode == 1 and "replay" in r.stderr, r.stderr
        # altered media on the way (a newer bundle)
        r = cli("push", "seal", "campaign.toml", "poster.png", "--key", "auth.key", "--id",
                "campaign", "--to", "region:330000", "-o", "b4", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        (tmp_path / "b4" / "media" / "poster.png").write_bytes(b"\x89PNG not really")
        r = cli("push", "add", "b4", cwd=tmp_path)
        assert r.returncode == 1 and "media poster.png" in r.stderr, r.stderr
        # the pushed playlist edited on the box: the reload refuses it, the old plan goes on
        pushed = tmp_path / "media" / ".pushed" / "campaign" / "playlist.toml"
        pushed.write_text(pushed.read_text("utf-8").replace("屏幕共享", "屏幕共享！"), "utf-8")
        wait_for(lambda: any(x["type"] == "reload" and not x["accepted"]
                             for x in log_recs(tmp_path)), HANG_S, "the rejected reload")
        n = len(log_recs(tmp_path))
        wait_for(lambda: sum(1 for x in log_recs(tmp_path)[n:] if x["type"] == "showing"
                             and x["item"] == "push-slogan") >= 3, HANG_S, "still playing")
    finally:
        p.terminate()
        p.communicate(timeout=HANG_S)
    assert p.returncode == 0
    recs = records(tmp_path / "log", tmp_path / "site.key")
    pubs = [(x["id"], x["accepted"], x["reason"]) for x in recs if x["type"] == "publication"]
    assert pubs == [("campaign", True, "accepted"), ("broken", False, "invalid"),
                    ("campaign", False, "other_region"), ("campaign", False, "replay"),
                    ("campaign", False, "media")]
    applied = [x for x in recs if x["type"] == "publication" and x["accepted"]]
    assert applied[0]["action"] == "apply" and applied[0]["serial"] > 0
    reloads = [x for x in recs if x["type"] == "reload"]
    assert reloads[0]["accepted"] and "pushed.campaign.toml" in reloads[0]["playlists_sha256"]
    assert not reloads[-1]["accepted"]
    assert any("differs from the signed bundle" in q for q in reloads[-1]["problems"])
    assert not any(x["type"] == "showing" and x["item"] == "push-long" for x in recs)
    assert {x["screen"] for x in recs if x["type"] == "showing" and x["item"] == "push-poster"
            and x["outcome"] == "completed"} == {"s1", "s2", "s3"}
    # the gaps of a real run are as long as a busy machine made them: the audit must read
    # them as an independent reader does (tests/logtools.run_gaps)
    au = cli("audit", str(tmp_path / "log"), "--key", str(tmp_path / "site.key"), "--format",
             "json", cwd=tmp_path)
    for sc in json.loads(au.stdout)["screens"]:
        assert sc["max_gap_s"] == pytest.approx(max(run_gaps(recs, sc["screen"])), abs=0.002)
    # `signage validate` names the problem too
    v = cli("validate", "--config", str(cfg), cwd=tmp_path)
    assert v.returncode == 1 and "differs from the signed bundle" in v.stdout + v.stderr
