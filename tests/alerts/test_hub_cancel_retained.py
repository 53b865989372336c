"""On the real broker: after `signage hub alert` of a Cancel, the cancelled alert's retained
message is gone, so a box connecting later (offline until after the Cancel's own expires, or
a new box) is not handed the cancelled alert alone."""

from __future__ import annotations

import base64
import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

from signage.fleet.mqtt import BrokerSpec, connect_props, make_client
from tests.fleet.conftest import Broker

from .capgen import CN, cap, ref
from .hubsite import fleet_hub, hub_cli


def _retained(broker: Broker, pki_dir: Path, site: str) -> dict[str, bytes]:
    """The retained messages a box of ``site`` is handed when it subscribes."""
    spec = BrokerSpec(broker.url, pki_dir / "ca.pem", pki_dir / f"{site}.crt",
                      pki_dir / f"{site}.key")
    c, host, port = make_client(spec, f"late-{site}")
    got: dict[str, bytes] = {}
    subscribed = threading.Event()
    c.on_message = lambda _c, _u, m: got.__setitem__(m.topic, bytes(m.payload))
    c.on_subscribe = lambda *_a: subscribed.set()
    c.connect(host, port, clean_start=True, properties=connect_props(True, 0))
    c.loop_start()
    c.subscribe(f"signage/v1/{site}/cmd/#", qos=1)
    try:
        assert subscribed.wait(20)
        threading.Event().wait(2.0)  # retained messages follow the SUBACK at once
    finally:
        c.disconnect()
        c.loop_stop()
    return {t: p for t, p in got.items() if p}


def test_a_cancel_clears_the_retained_alert_it_ends(tmp_path: Path) -> None:
    fh = fleet_hub(tmp_path, ("shop-1",))
    broker, pki, hubd = fh.broker, fh.pki, fh.dir
    try:
        now = datetime.now(CN).replace(microsecond=0)
        (tmp_path / "a.xml").write_bytes(cap("A1", sent=now, expires=now + timedelta(days=2)))
        (tmp_path / "c.xml").write_bytes(cap("C1", sent=now, msg_type="Cancel",
                                             references=ref("A1", now),
                                             expires=now + timedelta(minutes=10)))
        r = hub_cli(hubd, "alert", str(tmp_path / "a.xml"), "--to", "all")
        assert r.returncode == 0, r.stderr
        assert len(_retained(broker, pki.dir, "shop-1")) == 1
        r = hub_cli(hubd, "alert", str(tmp_path / "c.xml"), "--to", "all")
        assert r.returncode == 0, r.stderr
        left = _retained(broker, pki.dir, "shop-1")
        assert len(left) == 1, sorted(left)  # the Cancel only
        (payload,) = left.values()
        assert b"<msgType>Cancel</msgType>" in base64.b64decode(json.loads(payload)["payload"])
    finally:
        broker.stop()
