"""The retained media parts of an applied bundle come again at every reconnect of a box. They
stayed in its spool for good (nothing needed them, nothing removed them) until the 256 MiB
spool was full of them and the parts of any new publication were dropped: it never
completed. Real hub, real Mosquitto, a real box restarted; then a new version of the bundle
that keeps the same poster is applied (its poster is taken from the bundle in place)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from signage.keys import write_new_key
from tests.fleet.conftest import Broker, make_pki

from .alertsite import alert_site
from .test_alerts_run import log_recs, wait_for
from .test_fleet_alerts import fleet_toml, hub_cli, run_box
from .test_push import GOOD


def test_applied_media_do_not_pile_up_in_the_spool(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki", ("hub", "shop-1"))
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker", pki)
    broker.start()
    hubd = tmp_path / "hub"
    hubd.mkdir()
    auth = write_new_key(hubd / "authority.key")
    (hubd / "hub.toml").write_text(f"""data_dir = "{hubd / 'hub-data'}"
authority_key = "authority.key"
[broker]
url = "{broker.url}"
ca_file = "{pki.ca}"
cert_file = "{pki.dir / 'hub.crt'}"
key_file = "{pki.dir / 'hub.key'}"
client_id = "hub-test"
[http]
enabled = false

[[site]]
id = "shop-1"
regions = ["330106"]
""")
    box = tmp_path / "shop-1"
    box.mkdir()
    alert_site(box, auth, site="shop-1", extra=fleet_toml(broker, pki.dir, "shop-1"))
    Image.effect_noise((800, 800), 100).convert("RGB").save(hubd / "poster.png")
    today = date.today()
    text = GOOD.format(start=today - timedelta(days=1), end=today + timedelta(days=7))
    (hubd / "v1.toml").write_text(text, "utf-8")
    (hubd / "v2.toml").write_text(text.replace("屏幕共享", "远程控制"), "utf-8")
    spool = box / "var" / "inbox" / ".fleet-media"
    hub = subprocess.Popen([sys.executable, "-m", "signage.cli", "hub", "run", "-c",
                            str(hubd / "hub.toml")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)

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
        p.terminate()
        p.communicate(timeout=30)
        hub.terminate()
        hub.communicate(timeout=30)
        broker.stop()
