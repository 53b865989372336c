"""Bundle format 2 over a real Mosquitto (docs/alerts.md): an older bundle of a slot replayed
on the link is refused by its signed serial; a box whose .pushed/ was deleted says so in its
log and to the hub (`signage hub publications`: disagrees); a signed withdrawal takes the
playlist off two boxes through the reload path and shows as withdrawn at the hub. Gaps
checked from each box's log throughout."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from signage.alerts.bundle import make_manifest
from signage.alerts.envelope import seal
from signage.hub.config import load_hub
from signage.hub.push import Publisher
from tests.logtools import af_gaps, planned_af_gaps, records

from .hubsite import fleet_boxes, fleet_hub, hub_cli, run_box, run_hub, shut_down
from .test_alerts_run import log_recs, wait_for
from .test_push import GOOD

BOXES = ("shop-1", "shop-2")
OLD = """name = "旧版"
content = "anti-fraud"

[[items]]
id = "push-old"
type = "text"
text = "旧的宣传内容"
duration_s = 1.0
"""


def test_replay_refused_deleted_state_seen_withdrawal_applied(tmp_path: Path) -> None:
    fh = fleet_hub(tmp_path, BOXES)
    broker, hubd = fh.broker, fh.dir
    boxes = fleet_boxes(tmp_path, fh, BOXES)
    Image.new("RGB", (64, 36), (200, 30, 30)).save(hubd / "poster.png")
    today = date.today()
    (hubd / "campaign.toml").write_text(
        GOOD.format(start=today - timedelta(days=1), end=today + timedelta(days=7)), "utf-8")
    hub = run_hub(hubd)
    procs = {s: run_box(boxes[s], 150) for s in BOXES}

    def rows(pid: str = "campaign") -> list[dict[str, Any]]:
        r = hub_cli(hubd, "publications", "--format", "json")
        assert r.returncode == 0, r.stderr
        return [x for x in json.loads(r.stdout) if x["id"] == pid]

    def states() -> dict[tuple[str, str], str]:
        return {(x["site"], x["digest"]): x["state"] for x in rows()}

    def pubs(s: str) -> list[dict[str, Any]]:
        return [x for x in log_recs(boxes[s]) if x["type"] == "publication"]

    try:
        for s in BOXES:
            wait_for(lambda s=s: (hubd / "hub-data" / s / "status.json").exists(), 90,
                     f"{s} to report")
        r = hub_cli(hubd, "publish", "playlist", str(hubd / "campaign.toml"),
                    str(hubd / "poster.png"), "--to", "330106", "--id", "campaign")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: sorted(x["state"] for x in rows()) == ["applied", "applied"], 60,
                 "applied on both boxes")
        # an older bundle of the same slot, signed by the real authority (serial 1), put on
        # the link as a replay would be: both boxes refuse it, the campaign stays
        old = make_manifest("campaign", ["region:330106"], OLD, [], 1)
        pub = Publisher(load_hub(hubd / "hub.toml"))
        try:
            for s in BOXES:
                pub.publish(s, "cmd/playlist/campaign", seal("playlist-bundle", old.to_json(),
                                                              fh.authority))
            pub.flush()
        finally:
            pub.close()
        for s in BOXES:
            wait_for(lambda s=s: any(x["reason"] == "replay" for x in pubs(s)), 40,
                     f"{s} to refuse the replay")
        # a site manager deletes .pushed/ on shop-1: its log and the hub see it
        shutil.rmtree(boxes["shop-1"] / "media" / ".pushed")
        wait_for(lambda: any(x["type"] == "publication_state" and x["id"] == "campaign"
                             and x["found"] == "missing" for x in log_recs(boxes["shop-1"])),
                 40, "shop-1 to log the missing bundle")
        wait_for(lambda: {x["site"]: x["state"] for x in rows()}.get("shop-1")
                 == "disagrees: missing on the box", 40, "the hub to show the disagreement")
        assert {x["site"]: x["state"] for x in rows()}["shop-2"] == "applied"
        # the authority withdraws the campaign from both
        r = hub_cli(hubd, "withdraw", "campaign", "--to", "330106")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: sum(1 for x in rows() if x["state"] == "withdrawn") == 2, 60,
                 "withdrawn on both boxes")
        assert not (boxes["shop-2"] / "media" / ".pushed" / "campaign").exists()
        n = {s: len(log_recs(boxes[s])) for s in BOXES}
        wait_for(lambda: all(sum(1 for x in log_recs(boxes[s])[n[s]:]
                                 if x["type"] == "showing") >= 6 for s in BOXES), 40,
                 "both boxes playing on")
        # shop-2 restarts: the broker hands it the retained withdrawal again; it was taken
        # already, so it is skipped (not refused as a replay), and the hub still says so
        procs["shop-2"].terminate()
        procs["shop-2"].communicate(timeout=30)
        procs["shop-2"] = run_box(boxes["shop-2"], 150)
        wait_for(lambda: sum(1 for x in log_recs(boxes["shop-2"])
                             if x["type"] == "run_start") == 2, 30, "shop-2 restarted")
        n2 = len(log_recs(boxes["shop-2"]))
        wait_for(lambda: sum(1 for x in log_recs(boxes["shop-2"])[n2:]
                             if x["type"] == "showing") >= 6, 40, "shop-2 playing again")
        assert sum(1 for x in rows() if x["state"] == "withdrawn") == 2
    finally:
        shut_down(procs.values(), hub, broker)
    for s in BOXES:
        assert procs[s].returncode == 0
        recs = records(boxes[s] / "log", boxes[s] / "site.key")
        got = [(x["id"], x["action"], x["accepted"], x["reason"]) for x in recs
               if x["type"] == "publication"]
        assert got == [("campaign", "apply", True, "accepted"),
                       ("campaign", "apply", False, "replay"),
                       ("campaign", "withdraw", True, "accepted")], got
        serials = [x["serial"] for x in recs if x["type"] == "publication"]
        assert serials[1] == 1 and serials[2] > serials[0] > 1
        # after the withdrawal was applied (its reload), the pushed items never start again
        w = next(i for i, x in enumerate(recs) if x["type"] == "publication"
                 and x["action"] == "withdraw")
        rl = next(i for i, x in enumerate(recs) if i > w and x["type"] == "reload")
        assert recs[rl]["accepted"] and not any(
            x["type"] == "showing_start" and str(x["item"]).startswith("push-")
            for x in recs[rl + 1:])
        assert not any(x["type"] == "showing" and x["item"] == "push-old" for x in recs)
        # as planned, within the budget (6 - 1 s), the push's re-plan included (it counts
        # from the last anti-fraud showing's planned instants); real gaps: a hang check
        assert all(max(planned_af_gaps(recs, sc)) <= 5.0 + 0.001 for sc in af_gaps(recs))
        assert all(max(g) <= 6.0 + 10 for g in af_gaps(recs).values())
