"""A box on the real broker sends the hub what no honest shipper sends. The hub reports it and
goes on; its MQTT thread never dies (one box must not stop the fleet's ingest)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt

from signage.fleet.mqtt import BrokerSpec, make_client
from tests.conftest import keep_format_1

from .conftest import Broker, Pki
from .fleetkit import acked, files_of, register, shipper, simulate, start_hub, wait_until

SITE = "hz-wensan-0001"


def _box(broker: Broker, pki: Pki, site: str = SITE) -> mqtt.Client:
    crt, key = pki.cert(site)
    c, host, port = make_client(BrokerSpec(broker.url, pki.ca, crt, key), f"t-hostile-{site}")
    c.connect(host, port)
    c.loop_start()
    wait_until(c.is_connected, 20, "the box to connect")
    return c


POISON = [
    # a chunk of 0 lines whose data holds no newline (data.index raised ValueError)
    b'{"fv":1,"file":"signage-2026-12-01.jsonl","offset":0,"seq":null,"n":0}\nxyz',
    # a line whose seq has more digits than int() converts (ValueError)
    b'{"fv":1,"file":"signage-2026-12-01.jsonl","offset":0,"seq":0,"n":1}\n'
    b'{"v":1,"seq":' + b"9" * 5000 + b',"type":"x"}\n',
]


def test_a_hostile_chunk_does_not_stop_the_hubs_mqtt_thread(tmp_path: Path, broker: Broker,
                                                             pki: Pki) -> None:
    said: list[str] = []
    hub = start_hub(tmp_path, broker, pki, register(tmp_path, SITE), say=said.append)
    box = _box(broker, pki)
    try:
        for i, p in enumerate(POISON):
            box.publish(f"signage/v1/{SITE}/log", p, qos=1).wait_for_publish(10)
            # the hub still reads: a status after the poison arrives
            box.publish(f"signage/v1/{SITE}/status", b'{"fv":1,"n":%d}' % i,
                        qos=1).wait_for_publish(10)
            wait_until(lambda i=i: (b := hub.ingest.boards.get(SITE)) is not None  # type: ignore[misc]
                       and b.status is not None and b.status.get("n") == i, 20,
                       f"the status after poison {i}")
        assert hub.ingest.boards[SITE].rejected == len(POISON)
        assert hub.ingest.boards[SITE].stored == 0
    finally:
        box.loop_stop()
        hub.stop()


def test_a_box_cannot_set_the_hubs_fields_nor_publish_on_any_report_topic(
        tmp_path: Path, broker: Broker, pki: Pki) -> None:
    hub = start_hub(tmp_path, broker, pki, register(tmp_path, SITE))
    box = _box(broker, pki)
    codes: dict[int, int] = {}
    box.on_publish = lambda _c, _u, mid, rc, _p: codes.__setitem__(mid, rc.value)
    try:
        forged = (b'{"fv":1,"kind":"result","accepted":true,"digest":"d",'
                  b'"received":"2000-01-01T00:00:00+00:00","topic":"report/alert"}')
        box.publish(f"signage/v1/{SITE}/report/publication", forged, qos=1)
        box.publish(f"signage/v1/{SITE}/status",
                    b'{"fv":1,"received":"2000-01-01T00:00:00+00:00"}', qos=1)
        # retained junk on topics of its own making: the broker refuses them
        junk = [box.publish(f"signage/v1/{SITE}/report/junk{i}", b"x" * 1000, qos=1,
                            retain=True) for i in range(3)]
        reps = tmp_path / "hub-data" / SITE / "reports.jsonl"
        wait_until(lambda: reps.exists() and (tmp_path / "hub-data" / SITE / "status.json")
                   .exists(), 20, "the report and the status")
        wait_until(lambda: all(j.mid in codes for j in junk), 20, "the broker's answers")
        assert {codes[j.mid] for j in junk} == {135}  # MQTT 5: not authorized
    finally:
        box.loop_stop()
        hub.stop()
    (line,) = reps.read_text().splitlines()
    got = json.loads(line)
    assert got["topic"] == "report/publication"
    assert not got["received"].startswith("2000")
    st = json.loads((tmp_path / "hub-data" / SITE / "status.json").read_text())
    assert not st["received"].startswith("2000")


def test_the_first_line_of_a_copy_begun_mid_log_is_held_but_never_counted(
        tmp_path: Path, site_dir: Path, broker: Broker, pki: Pki) -> None:
    """The hub holds nothing and the box's oldest file begins mid-chain (older files pruned):
    the first line's digest chains on a record the hub never saw, so its content is bound to
    nothing. A showing forged there (its digest kept, so the next line still chains) was
    counted in the dataset."""
    log = tmp_path / "box-log"
    simulate(keep_format_1(site_dir / "config.toml"), log,  # the hub here verifies format 1
             start="2026-12-01 09:00", for_="2h")
    key = log / "simulate.key"
    (name, raw), = files_of(log).items()
    lines = raw.split(b"\n")
    k = next(i for i in range(len(lines) // 2, len(lines))
             if b'"type":"showing",' in lines[i] and b'"outcome":"cut_short"' in lines[i])
    forged = lines[k].replace(b'"outcome":"cut_short"', b'"outcome":"completed"')
    kept = [forged, *lines[k + 1:]]
    (log / name).write_bytes(b"\n".join(kept))
    hub = start_hub(tmp_path, broker, pki, {SITE: key})
    sh = shipper(log, SITE, broker, pki)
    sh.start()
    try:
        wait_until(lambda: acked(sh, log), 60, "the whole log acknowledged")
    finally:
        sh.stop()
        hub.stop()
    copy = tmp_path / "hub-data" / SITE / name
    assert copy.read_bytes() == b"\n".join(kept)  # byte-identical, the anchor included
    whole = [x for x in kept if x]
    assert hub.ingest.dataset.rows_written == sum(
        b'"type":"showing",' in x for x in whole[1:])  # the unbound first line: not counted


def test_a_status_with_an_absurd_down_since_does_not_stop_the_webhooks(
        tmp_path: Path, broker: Broker, pki: Pki) -> None:
    """site-b says its screen has been down since year 1 (the webhook thread died formatting
    that date: no notification from the hub for any site afterwards); site-a's dark screen
    must still be announced."""
    got: list[dict[str, object]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers["Content-Length"])
            got.append(json.loads(self.rfile.read(n)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    hooks = (f'[[webhook]]\nurl = "http://127.0.0.1:{srv.server_port}/json"\n'
             'format = "json"\ndown_after_s = 0.5\n')
    hub = start_hub(tmp_path, broker, pki, register(tmp_path, "site-a", "site-b"),
                    extra=hooks)
    clients = {s: _box(broker, pki, s) for s in ("site-b", "site-a")}
    now = datetime.now().astimezone().isoformat(timespec="milliseconds")
    try:
        for site, since in (("site-b", "0001-01-01T00:00:00+14:00"), ("site-a", now)):
            st = {"fv": 1, "screens": {"lobby": {"up": False, "down_since": since,
                                                 "open": True}}}
            clients[site].publish(f"signage/v1/{site}/status", json.dumps(st).encode(),
                                  qos=1).wait_for_publish(10)
            time.sleep(1.5)
        wait_until(lambda: any(b.get("site") == "site-a" for b in got), 20,
                   "site-a's dark screen announced")
    finally:
        for c in clients.values():
            c.loop_stop()
        hub.stop()
        srv.shutdown()


def test_hostile_reports_do_not_break_the_hubs_alert_and_publication_views(
        tmp_path: Path, broker: Broker, pki: Pki) -> None:
    """A box answers an alert with reports and a status of the wrong shapes (a list as screen,
    a string as latency, a list of screens, problems that are a number): `signage hub alerts`
    and `signage hub publications` still answer (a traceback before), from what has the
    documented shape."""
    import subprocess
    import sys

    from signage.keys import write_new_key
    from tests.alerts.capgen import CN, cap

    write_new_key(tmp_path / "authority.key")
    key = register(tmp_path, "site-a")["site-a"]
    hub = start_hub(tmp_path, broker, pki, {}, top='authority_key = "authority.key"',
                    extra=f'[[site]]\nid = "site-a"\nv1_key_file = "{key}"\n'
                          'regions = ["330106"]\n')
    box = _box(broker, pki, "site-a")
    sent = datetime.now(CN).replace(microsecond=0)
    (tmp_path / "a.xml").write_bytes(cap("A1", sent=sent))

    def hub_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "signage.cli", "hub", *args, "-c",
                               str(tmp_path / "hub.toml")], capture_output=True, text=True,
                              timeout=60, check=False)

    try:
        r = hub_cli("alert", str(tmp_path / "a.xml"), "--to", "all")
        assert r.returncode == 0, r.stderr
        a = {"alert": "A1", "sender": "fzzx@hz.gov.cn"}
        bad = [{"kind": "received", "accepted": True, **a},
               {"kind": "shown", "screen": ["s1"], **a},
               {"kind": "shown", "screen": "s2", "start": 5, "latency_s": "fast", **a},
               {"kind": "shown", "screen": "s3", "start": "T", "latency_s": 1.5, **a}]
        for rep in bad:
            box.publish("signage/v1/site-a/report/alert", json.dumps({"fv": 1, **rep}),
                        qos=1).wait_for_publish(10)
        box.publish("signage/v1/site-a/report/publication",
                    b'{"fv":1,"kind":"result","accepted":false,"digest":"d","problems":7}',
                    qos=1).wait_for_publish(10)
        box.publish("signage/v1/site-a/status", b'{"fv":1,"screens":[1,2]}',
                    qos=1).wait_for_publish(10)
        reps = tmp_path / "hub-data" / "site-a" / "reports.jsonl"
        wait_until(lambda: reps.exists() and len(reps.read_text().splitlines()) == 5
                   and (tmp_path / "hub-data" / "site-a" / "status.json").exists(), 20,
                   "the reports")
    finally:
        box.loop_stop()
        hub.stop()
    for fmt in ("table", "json"):
        r = hub_cli("alerts", "--format", fmt)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        r = hub_cli("publications", "--format", fmt)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    rows = {x["screen"]: x for x in json.loads(hub_cli("alerts", "--format", "json").stdout)}
    assert set(rows) == {"s2", "s3"}
    assert rows["s2"]["first_shown"] is None and rows["s2"]["latency_s"] is None
    assert rows["s3"]["first_shown"] == "T" and rows["s3"]["latency_s"] == 1.5
