"""Pushed playlists through the fleet link on a real Mosquitto: `signage hub publish playlist`
applied on two real boxes (media in parts, verified), a broken one rejected by both with the
problems visible at the hub (`signage hub publications`); gaps checked from each box's log."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from tests.logtools import af_gaps, planned_af_gaps, records

from .hubsite import fleet_boxes, fleet_hub, hub_cli, run_box, run_hub, shut_down
from .test_alerts_run import log_recs, wait_for
from .test_push import BROKEN, GOOD

BOXES = ("shop-1", "shop-2")


def test_publish_playlist_over_the_fleet_link(tmp_path: Path) -> None:
    fh = fleet_hub(tmp_path, BOXES)
    broker, hubd = fh.broker, fh.dir
    boxes = fleet_boxes(tmp_path, fh, BOXES)
    # a poster over one part (512 KiB), so that it travels in several
    img = Image.effect_noise((800, 800), 100).convert("RGB")
    img.save(hubd / "poster.png")
    assert (hubd / "poster.png").stat().st_size > 600_000
    today = date.today()
    (hubd / "campaign.toml").write_text(
        GOOD.format(start=today - timedelta(days=1), end=today + timedelta(days=7)), "utf-8")
    (hubd / "broken.toml").write_text(BROKEN, "utf-8")
    hub = run_hub(hubd)
    procs = {s: run_box(boxes[s]) for s in BOXES}

    def rows() -> list[dict[str, Any]]:
        r = hub_cli(hubd, "publications", "--format", "json")
        assert r.returncode == 0, r.stderr
        return list(json.loads(r.stdout))
    try:
        for s in BOXES:
            wait_for(lambda s=s: (hubd / "hub-data" / s / "status.json").exists(), 40,
                     f"{s} to report")
        r = hub_cli(hubd, "publish", "playlist", str(hubd / "campaign.toml"),
                    str(hubd / "poster.png"), "--to", "330106", "--id", "campaign")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: [x["state"] for x in rows()] == ["applied", "applied"], 60,
                 "applied on both boxes")
        # the 800x800 poster is left out on the 96x16 LED board (validate's legibility rule)
        for s in BOXES:
            wait_for(lambda s=s: {x["screen"] for x in log_recs(boxes[s])
                                  if x["type"] == "showing" and x["item"] == "push-poster"
                                  and x["outcome"] == "completed"} == {"s1", "s2"},
                     40, f"the pushed poster on the HDMI screens of {s}")
            wait_for(lambda s=s: {x["screen"] for x in log_recs(boxes[s])
                                  if x["type"] == "showing" and x["item"] == "push-slogan"
                                  and x["outcome"] == "completed"} == {"s1", "s2", "s3"},
                     40, f"the pushed slogan on every screen of {s}")
        r = hub_cli(hubd, "publish", "playlist", str(hubd / "broken.toml"), "--to", "all",
                    "--id", "broken")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: sum(1 for x in rows() if x["id"] == "broken"
                             and x["state"] == "rejected") == 2, 60, "rejected on both")
        broken = [x for x in rows() if x["id"] == "broken"]
        assert all(x["reason"] == "invalid" for x in broken)
        assert all(any("push-long" in p or "duration_s" in p for p in x["problems"])
                   for x in broken), broken
        r = hub_cli(hubd, "publications")
        assert r.returncode == 0 and "rejected" in r.stdout
        # the box keeps its pushed campaign and plays on
        for s in BOXES:
            n = len(log_recs(boxes[s]))
            wait_for(lambda s=s, n=n: any(x["type"] == "showing" and x["item"] == "push-slogan"
                                          for x in log_recs(boxes[s])[n:]), 30,
                     f"{s} still playing the campaign")
    finally:
        shut_down(procs.values(), hub, broker)
    for s in BOXES:
        assert procs[s].returncode == 0
        recs = records(boxes[s] / "log", boxes[s] / "site.key")
        assert not any(x["type"] == "showing" and x["item"] == "push-long" for x in recs)
        assert [(x["id"], x["accepted"]) for x in recs if x["type"] == "publication"] == [
            ("campaign", True), ("broken", False)]
        # as planned, within the budget (6 - 1 s), the push's re-plan included (it counts
        # from the last anti-fraud showing's planned instants); real gaps: a hang check
        assert all(max(planned_af_gaps(recs, sc)) <= 5.0 + 0.001 for sc in af_gaps(recs))
        assert all(max(g) <= 6.0 + 10 for g in af_gaps(recs).values())
