"""The retained media parts of an applied bundle come again at every reconnect of a box. They
stayed in its spool for good (nothing needed them, nothing removed them) until the 256 MiB
spool was full of them and the parts of any new publication were dropped: it never
completed. Real hub, real Mosquitto, a real box restarted; then a new version of the bundle
that keeps the same poster is applied (its poster is taken from the bundle in place)."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from .hubsite import fleet_boxes, fleet_hub, hub_cli, run_box, run_hub, shut_down
from .test_alerts_run import log_recs, wait_for
from .test_push import GOOD


def test_applied_media_do_not_pile_up_in_the_spool(tmp_path: Path) -> None:
    fh = fleet_hub(tmp_path, ("shop-1",))
    broker, hubd = fh.broker, fh.dir
    box = fleet_boxes(tmp_path, fh, ("shop-1",))["shop-1"]
    Image.effect_noise((800, 800), 100).convert("RGB").save(hubd / "poster.png")
    today = date.today()
    text = GOOD.format(start=today - timedelta(days=1), end=today + timedelta(days=7))
    (hubd / "v1.toml").write_text(text, "utf-8")
    (hubd / "v2.toml").write_text(text.replace("屏幕共享", "远程控制"), "utf-8")
    spool = box / "var" / "inbox" / ".fleet-media"
    hub = run_hub(hubd)

    def states() -> list[dict[str, Any]]:
        r = hub_cli(hubd, "publications", "--format", "json")
        assert r.returncode == 0, r.stderr
        return [x for x in json.loads(r.stdout)]

    p = run_box(box, 40)
    try:
        wait_for(lambda: (hubd / "hub-data" / "shop-1" / "status.json").exists(), 40,
                 "the box to report")
        r = hub_cli(hubd, "publish", "playlist", str(hubd / "v1.toml"),
                    str(hubd / "poster.png"), "--to", "all", "--id", "campaign")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: [x["state"] for x in states()] == ["applied"], 60, "v1 applied")
        p.terminate()
        p.communicate(timeout=30)
        # the box again: the retained parts come with its subscription
        p = run_box(box, 40)
        wait_for(lambda: any(x["type"] == "run_start" for x in log_recs(box)[1:]), 40,
                 "the second run")
        time.sleep(6.0)  # the retained messages arrive at once after the SUBACK
        left = sorted(x.name for x in spool.glob("*/*")) if spool.is_dir() else []
        assert left == [], left
        # a new version that keeps the poster: applied, its poster from the one in place
        r = hub_cli(hubd, "publish", "playlist", str(hubd / "v2.toml"),
                    str(hubd / "poster.png"), "--to", "all", "--id", "campaign")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: [x["state"] for x in states()] == ["applied", "applied"], 60,
                 "v2 applied")
        pushed = box / "media" / ".pushed" / "campaign" / "playlist.toml"
        assert "远程控制" in pushed.read_text("utf-8")
    finally:
        shut_down([p], hub, broker)
