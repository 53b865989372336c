"""Security on the real broker: the shipped ACL refuses a box publishing under another
site's topic or reading another site's ack; TLS refuses an unknown CA and a missing client
certificate; the hub rejects a forged line and a log that names another site."""

from __future__ import annotations

import json
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from signage.fleet.mqtt import BrokerSpec, make_client
from signage.fleet.protocol import Chunk, encode_chunk
from tests.conftest import keep_format_1

from .conftest import Broker, Pki, make_pki
from .fleetkit import acked, files_of, register, shipper, simulate, start_hub, wait_until


def _subscribe(c: mqtt.Client, topics: list[tuple[str, int]]) -> None:
    """Subscribe and wait for the broker's SUBACK (a message published before it would be
    missed: a race on a busy machine)."""
    ev = threading.Event()
    c.on_subscribe = lambda *_a: ev.set()
    c.subscribe(topics)
    assert ev.wait(20), "no SUBACK"


def _client(broker: Broker, pki: Pki, name: str) -> mqtt.Client:
    crt, key = pki.cert(name)
    c, host, port = make_client(BrokerSpec(broker.url, pki.ca, crt, key), f"t-{name}")
    c.connect(host, port)
    c.loop_start()
    wait_until(c.is_connected, 20, f"{name} to connect")
    return c


def test_acl_refuses_another_sites_topic(tmp_path: Path, broker: Broker, pki: Pki) -> None:
    got: list[str] = []
    hub = start_hub(tmp_path, broker, pki, register(tmp_path, "site-a"))
    spy = _client(broker, pki, "hub")  # the hub's credentials read everything
    spy.on_message = lambda _c, _u, m: got.append(m.topic)
    _subscribe(spy, [("signage/v1/#", 1)])
    codes: dict[int, int] = {}
    done = threading.Event()

    def on_publish(_c: mqtt.Client, _u: object, mid: int, rc: mqtt.ReasonCode,
                   _p: object) -> None:
        codes[mid] = rc.value
        if len(codes) == 2:
            done.set()

    a = _client(broker, pki, "site-a")
    a.on_publish = on_publish
    payload = encode_chunk(Chunk("signage-2026-12-01.jsonl", 0, 0, 1, b'{"v":1,"seq":0}\n'))
    bad = a.publish("signage/v1/site-b/log", payload, qos=1)
    own = a.publish("signage/v1/site-a/status", b'{"fv":1}', qos=1)
    try:
        assert done.wait(20)
        assert codes[bad.mid] == 135  # MQTT 5: not authorized
        assert codes[own.mid] == 0
        wait_until(lambda: "signage/v1/site-a/status" in got, 20, "the allowed message")
        assert "signage/v1/site-b/log" not in got
        assert "site-b" not in hub.ingest.boards
        # nor may a box read another site's ack (Mosquitto grants the subscription and
        # delivers nothing)
        seen: list[str] = []
        a.on_message = lambda _c, _u, m: seen.append(m.topic)
        _subscribe(a, [("signage/v1/site-b/ack", 1), ("signage/v1/site-a/ack", 1)])
        spy.publish("signage/v1/site-b/ack", b"{}", qos=1).wait_for_publish(10)
        spy.publish("signage/v1/site-a/ack", b"{}", qos=1).wait_for_publish(10)
        wait_until(lambda: "signage/v1/site-a/ack" in seen, 20, "the box's own ack")
        assert "signage/v1/site-b/ack" not in seen
    finally:
        a.loop_stop()
        spy.loop_stop()
        hub.stop()


def test_tls_refuses_unknown_ca_and_missing_certificate(tmp_path: Path, broker: Broker,
                                                        pki: Pki) -> None:
    other = make_pki(tmp_path, ("site-a",))  # a CA the broker does not know
    crt, key = other.cert("site-a")
    c, host, port = make_client(BrokerSpec(broker.url, pki.ca, crt, key), "t-stranger")
    with pytest.raises((ssl.SSLError, OSError)):
        c.connect(host, port)
        for _ in range(50):  # the broker closes the connection in the handshake or after
            c.loop(0.1)
        assert not c.is_connected()
        raise OSError("refused")
    # and the box refuses a broker whose certificate its CA did not sign
    crt, key = pki.cert("site-a")
    c2, host, port = make_client(BrokerSpec(broker.url, other.ca, crt, key), "t-wrong-ca")
    with pytest.raises(ssl.SSLCertVerificationError):
        c2.connect(host, port)
    mqtt.Client(CallbackAPIVersion.VERSION2)  # (the plain client needs no cleanup)


def test_hub_rejects_a_forged_line(tmp_path: Path, site_dir: Path, broker: Broker,
                                   pki: Pki) -> None:
    log = tmp_path / "box-log"
    simulate(keep_format_1(site_dir / "config.toml"), log,  # the hub here verifies format 1
             start="2026-12-01 09:00", for_="2h")
    key = log / "simulate.key"
    (name, raw), = files_of(log).items()
    lines = raw.split(b"\n")
    k = len(lines) // 2
    while b'"type":"showing",' not in lines[k] or b'"anti_fraud":true' not in lines[k]:
        k += 1
    forged = lines[k].replace(b'"outcome":"cut_short"', b'"outcome":"completed"').replace(
        b'"anti_fraud":true', b'"anti_fraud":true ', 1)
    lines[k] = forged
    (log / name).write_bytes(b"\n".join(lines))
    hub = start_hub(tmp_path, broker, pki, {"hz-wensan-0001": key})
    sh = shipper(log, "hz-wensan-0001", broker, pki)
    sh.start()
    try:
        wait_until(lambda: hub.ingest.boards.get("hz-wensan-0001") is not None
                   and hub.ingest.boards["hz-wensan-0001"].rejected > 0, 60, "the rejection")
        wait_until(lambda: sh.acked is not None and sh.acked.seq == k - 1, 20, "the ack")
    finally:
        sh.stop()
        hub.stop()
    copy = tmp_path / "hub-data" / "hz-wensan-0001"
    held = (copy / name).read_bytes()
    assert held == b"\n".join(lines[:k]) + b"\n"  # up to the last good line, never the forgery
    rej = [json.loads(x) for x in (copy / "rejected.jsonl").read_text().splitlines()]
    assert rej[0]["reason"].startswith("digest")
    assert rej[0]["lines"].startswith(forged.decode())
    rows = hub.ingest.dataset.rows_written
    assert rows == sum(x.count(b'"type":"showing",') for x in lines[:k])


def test_hub_refuses_a_log_naming_another_site(tmp_path: Path, site_dir: Path,
                                               broker: Broker, pki: Pki) -> None:
    log = tmp_path / "box-log"
    simulate(keep_format_1(site_dir / "config.toml"), log,  # the hub here verifies format 1
             for_="10m")  # site hz-wensan-0001
    key = log / "simulate.key"
    hub = start_hub(tmp_path, broker, pki, {"site-a": key})
    sh = shipper(log, "site-a", broker, pki)  # site-a's credentials, another site's log
    sh.start()
    try:
        wait_until(lambda: hub.ingest.boards.get("site-a") is not None
                   and hub.ingest.boards["site-a"].rejected > 0, 60, "the rejection")
    finally:
        sh.stop()
        hub.stop()
    assert not acked(sh, log)
    assert "names site 'hz-wensan-0001'" in hub.ingest.boards["site-a"].last_reject
    assert not files_of(tmp_path / "hub-data" / "site-a")


def test_the_hub_refuses_sites_not_registered(tmp_path: Path, broker: Broker, pki: Pki) -> None:
    """On the real broker (TLS, the ACL): site-b has credentials but its only key in the
    trust file expired, test-site is not in the trust file at all. Their log, status,
    checkpoint and online messages are refused: nothing stored, witnessed or counted, no
    board; the refusals are counted with the reason and shown by `signage hub status`."""
    import subprocess
    import sys

    from signage.keys import write_new_key

    ka, kb = write_new_key(tmp_path / "a.key"), write_new_key(tmp_path / "b.key")
    trust = tmp_path / "trust.toml"
    trust.write_text(
        f'version = 1\n[[site]]\nid = "site-a"\n[[site.key]]\npublic = "{ka.public.text}"\n'
        'valid_from = 2020-01-01T00:00:00+08:00\n'
        f'[[site]]\nid = "site-b"\n[[site.key]]\npublic = "{kb.public.text}"\n'
        'valid_from = 2020-01-01T00:00:00+08:00\nvalid_to = 2021-01-01T00:00:00+08:00\n')
    said: list[str] = []
    hub = start_hub(tmp_path, broker, pki, {}, say=said.append, top=f'trust_file = "{trust}"')
    boxes = {s: _client(broker, pki, s) for s in ("site-a", "site-b", "test-site")}
    chunk = encode_chunk(Chunk("signage-2026-12-01.jsonl", 0, 0, 1,
                               b'{"v":2,"seq":0,"type":"x"}\n'))
    cp = b'{"v":2,"seq":1,"type":"checkpoint"}'
    try:
        for site, c in boxes.items():
            for kind, payload in (("log", chunk), ("status", b'{"fv":1,"screens":{}}'),
                                  ("checkpoint", cp), ("online", b'{"fv":1,"online":true}')):
                c.publish(f"signage/v1/{site}/{kind}", payload, qos=1).wait_for_publish(10)
        wait_until(lambda: sum(v[0] for v in hub.ingest.refused.values()) == 8
                   and "site-a" in hub.ingest.boards
                   and hub.ingest.boards["site-a"].online is True, 20,
                   "the eight refusals and site-a's messages")
        hub.flush_acks()
    finally:
        for c in boxes.values():
            c.loop_stop()
        hub.stop()
    data = tmp_path / "hub-data"
    assert not (data / "site-b").exists() and not (data / "test-site").exists()
    assert set(hub.ingest.boards) == {"site-a"}
    assert (data / "site-a" / "status.json").exists()  # the registered site: stored
    assert any("site-b" in m and "none of the site's keys" in m for m in said), said
    assert any("test-site" in m and "does not list this site" in m for m in said), said
    r = subprocess.run([sys.executable, "-m", "signage.cli", "hub", "status", "-c",
                        str(tmp_path / "hub.toml"), "--format", "json"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    rows = {row["site"]: row for row in json.loads(r.stdout)}
    assert rows["site-a"]["registered"] is True
    for s in ("site-b", "test-site"):
        assert rows[s]["registered"] is False and rows[s]["refused_messages"] == 4, rows[s]
