"""The hub clears the retained media parts of a publication on the broker (an empty retained
message on each) once every targeted box has answered, and those of a publication a later
one replaced: afterwards the broker holds no stale part. Real Mosquitto, real boxes."""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from paho.mqtt import client as mqtt
from PIL import Image

from signage.fleet.mqtt import make_client
from signage.hub.config import load_hub
from signage.hub.push import publications

from .hubsite import fleet_boxes, fleet_hub, hub_cli, run_box, run_hub, shut_down
from .test_alerts_run import wait_for
from .test_push import GOOD

BOXES = ("shop-1", "shop-2")


def retained_parts(hubd: Path, wait_s: float = 2.0) -> list[str]:
    """The topics under <prefix>/+/cmd/media/# on which the broker holds a retained
    message (a new subscriber receives them at once)."""
    hub = load_hub(hubd / "hub.toml")
    c, host, port = make_client(hub.broker(), f"probe-{secrets.token_hex(3)}")
    got: list[str] = []
    ready = threading.Event()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain and msg.payload:
            got.append(msg.topic)

    c.on_message = on_message
    c.on_subscribe = lambda *_a: ready.set()
    c.on_connect = lambda cl, *_a: cl.subscribe(f"{hub.cfg.broker.prefix}/+/cmd/media/#", 1)
    c.connect(host, port)
    c.loop_start()
    try:
        assert ready.wait(20), "no subscription"
        time.sleep(wait_s)
    finally:
        c.disconnect()
        c.loop_stop()
    return got


def test_retained_parts_cleared_when_answered_and_when_replaced(tmp_path: Path) -> None:
    fh = fleet_hub(tmp_path, BOXES)
    broker, hubd = fh.broker, fh.dir
    boxes = fleet_boxes(tmp_path, fh, BOXES)
    for name in ("a.png", "b.png"):  # over one part (512 KiB) each: two parts per site
        Image.effect_noise((800, 800), 100).convert("RGB").save(hubd / name)
        assert (hubd / name).stat().st_size > 600_000
    today = date.today()
    (hubd / "campaign.toml").write_text(
        GOOD.format(start=today - timedelta(days=1), end=today + timedelta(days=7)), "utf-8")
    hub = run_hub(hubd)
    procs = {s: run_box(boxes[s]) for s in BOXES}

    def states() -> list[str]:
        r = hub_cli(hubd, "publications", "--format", "json")
        assert r.returncode == 0, r.stderr
        return [x["state"] for x in json.loads(r.stdout)]

    try:
        for s in BOXES:
            wait_for(lambda s=s: (hubd / "hub-data" / s / "status.json").exists(), 90,
                     f"{s} to report")
        # shop-2 is stopped: it cannot answer, so the parts stay retained for it
        procs["shop-2"].terminate()
        procs["shop-2"].communicate(timeout=30)
        (hubd / "poster.png").write_bytes((hubd / "a.png").read_bytes())
        r = hub_cli(hubd, "publish", "playlist", str(hubd / "campaign.toml"),
                    str(hubd / "poster.png"), "--to", "330106", "--id", "campaign")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: states().count("applied") == 1, 60, "applied on shop-1")
        time.sleep(6)  # a clearing round of the hub (every 5 s) has passed
        held = retained_parts(hubd)
        n = -(-(hubd / "poster.png").stat().st_size // (512 * 1024))
        assert len(held) == 2 * n, held  # every part for both sites: shop-2 has not answered
        # shop-2 comes back: it takes the retained parts, applies, answers; all cleared
        procs["shop-2"] = run_box(boxes["shop-2"])
        wait_for(lambda: states() == ["applied", "applied"], 90, "applied on both")
        wait_for(lambda: not retained_parts(hubd, 1.0), 40, "the parts cleared")
        # a new version with another poster, then withdrawn before shop-2 answers it:
        # replaced for every site, its parts are cleared too
        procs["shop-2"].terminate()
        procs["shop-2"].communicate(timeout=30)
        (hubd / "poster.png").write_bytes((hubd / "b.png").read_bytes())
        r = hub_cli(hubd, "publish", "playlist", str(hubd / "campaign.toml"),
                    str(hubd / "poster.png"), "--to", "330106", "--id", "campaign")
        assert r.returncode == 0, r.stderr
        assert len(retained_parts(hubd, 1.0)) >= 2
        r = hub_cli(hubd, "withdraw", "campaign", "--to", "330106")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: not retained_parts(hubd, 1.0), 40, "the new parts cleared")
    finally:
        shut_down(procs.values(), hub, broker)
    cleared = [r for r in publications(load_hub(hubd / "hub.toml"))
               if r.get("kind") == "parts_cleared"]
    assert len(cleared) == 2
