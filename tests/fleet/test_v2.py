"""Log format 2 at the hub: the plain SHA-256 chain and every checkpoint's signature checked
against the trust file with signage.playlog.v2 (the audit's own functions); showings counted
only once a valid checkpoint covers them; checkpoints witnessed with their receive time; a
checkpoint signed by a key the trust file does not hold for the site is rejected."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from signage.keys import SigningKey, load_signing_key
from signage.playlog import v2

from .conftest import Broker, Pki
from .fleetkit import acked, audit_json, files_of, shipper, simulate, start_hub, wait_until


def _v2_site(site_dir: Path) -> Path:
    cfg = site_dir / "config.toml"
    # the shipped config writes format 2 (docs/log-format.md)
    assert re.search(r"(?m)^format = 2\b", cfg.read_text("utf-8"))
    return cfg


def _trust(path: Path, site: str, key: SigningKey) -> Path:
    path.write_text(f'version = 1\n[[site]]\nid = "{site}"\n[[site.key]]\n'
                    f'public = "{key.public.text}"\nvalid_from = 2020-01-01T00:00:00+08:00\n')
    return path


def test_v2_day_verified_witnessed_and_audited_identically(tmp_path: Path, site_dir: Path,
                                                           broker: Broker, pki: Pki) -> None:
    log = tmp_path / "box-log"
    simulate(_v2_site(site_dir), log, start="2026-12-01", for_="24h")
    assert files_of(log)[next(iter(files_of(log)))].startswith(b'{"v":2,')
    trust = _trust(tmp_path / "trust.toml", "hz-wensan-0001",
                   load_signing_key(log / "simulate-signing.key"))
    hub = start_hub(tmp_path, broker, pki, {}, top=f'trust_file = "{trust}"')
    cfg = tmp_path / "hub.toml"
    sh = shipper(log, "hz-wensan-0001", broker, pki)
    sh.start()
    try:
        wait_until(lambda: acked(sh, log), 120, "the whole v2 log acknowledged")
    finally:
        sh.stop()
        hub.stop()
    copy = tmp_path / "hub-data" / "hz-wensan-0001"
    assert files_of(copy) == files_of(log)
    b = hub.ingest.boards["hz-wensan-0001"]
    assert b.rejected == 0
    # every showing counted: the last record of a cleanly stopped run is a checkpoint
    showings = sum(x.count(b'"type":"showing",') for x in files_of(log).values())
    assert hub.ingest.dataset.rows_written == showings > 1000 and b.pending == 0
    # the witness store: exactly the log's checkpoints, each with a receive time
    cps = [ln for x in files_of(log).values() for ln in x.split(b"\n")
           if b'"type":"checkpoint"' in ln]
    assert (copy / "witness.jsonl").read_bytes() == b"".join(c + b"\n" for c in cps)
    times = [json.loads(x) for x in (copy / "witness-received.jsonl").read_text().splitlines()]
    assert [t["seq"] for t in times] == [v2.parse_checkpoint(c).seq for c in cps]
    # hub audit (with the trust file and its witness store) = signage audit --trust
    rc, want = audit_json(log, None, "--trust", str(trust), "--from",
                          "2026-12-01", "--to", "2026-12-02")
    r = subprocess.run([sys.executable, "-m", "signage.cli", "hub", "audit", "-c", str(cfg),
                        "--from", "2026-12-01", "--to", "2026-12-01", "--format", "json"],
                       capture_output=True, text=True, timeout=300, check=False)
    (site,) = json.loads(r.stdout)["sites"]
    assert (site["verdict"], site["exit_code"], r.returncode) == (want["verdict"], rc, rc)


def test_v2_checkpoint_by_an_unregistered_key_is_rejected(tmp_path: Path, site_dir: Path,
                                                         broker: Broker, pki: Pki) -> None:
    log = tmp_path / "box-log"
    simulate(_v2_site(site_dir), log, start="2026-12-01 09:00", for_="10m")
    stranger = SigningKey.generate()  # the trust file holds another key for the site
    trust = _trust(tmp_path / "trust.toml", "hz-wensan-0001", stranger)
    hub = start_hub(tmp_path, broker, pki, {}, top=f'trust_file = "{trust}"')
    sh = shipper(log, "hz-wensan-0001", broker, pki)
    sh.start()
    try:
        wait_until(lambda: "hz-wensan-0001" in hub.ingest.boards
                   and hub.ingest.boards["hz-wensan-0001"].rejected > 0, 60, "the rejection")
    finally:
        sh.stop()
        hub.stop()
    b = hub.ingest.boards["hz-wensan-0001"]
    assert "is not registered for 'hz-wensan-0001'" in b.last_reject
    assert hub.ingest.dataset.rows_written == 0  # nothing counted without a valid signature
    copy = tmp_path / "hub-data" / "hz-wensan-0001"
    held = b"".join(files_of(copy).values())
    assert b'"type":"checkpoint"' not in held  # the copy stops before the bad checkpoint
    assert not (copy / "witness.jsonl").exists()


def test_a_checkpoint_sent_again_is_witnessed_once(tmp_path: Path, site_dir: Path,
                                                   broker: Broker, pki: Pki) -> None:
    """A box replaying one signed checkpoint (or an older one) does not grow the witness store
    nor add a later receive time: the first receipt is what the witness proves."""
    from signage.fleet.mqtt import BrokerSpec, make_client

    log = tmp_path / "box-log"
    simulate(_v2_site(site_dir), log, start="2026-12-01 09:00", for_="20m")
    trust = _trust(tmp_path / "trust.toml", "hz-wensan-0001",
                   load_signing_key(log / "simulate-signing.key"))
    cps = [ln for x in files_of(log).values() for ln in x.split(b"\n")
           if b'"type":"checkpoint"' in ln]
    assert len(cps) >= 2
    hub = start_hub(tmp_path, broker, pki, {}, top=f'trust_file = "{trust}"')
    crt, key = pki.cert("hz-wensan-0001")
    c, host, port = make_client(BrokerSpec(broker.url, pki.ca, crt, key), "t-replay")
    c.connect(host, port)
    c.loop_start()
    try:
        wait_until(c.is_connected, 20, "the box to connect")
        for p in [cps[1]] * 20 + [cps[0]] * 5:
            c.publish("signage/v1/hz-wensan-0001/checkpoint", p, qos=1).wait_for_publish(10)
        c.publish("signage/v1/hz-wensan-0001/status", b'{"fv":1,"end":1}',
                  qos=1).wait_for_publish(10)
        wait_until(lambda: (b := hub.ingest.boards.get("hz-wensan-0001")) is not None
                   and b.status is not None, 20, "the status after the checkpoints")
    finally:
        c.loop_stop()
        hub.stop()
    copy = tmp_path / "hub-data" / "hz-wensan-0001"
    assert (copy / "witness.jsonl").read_bytes() == cps[1] + b"\n"
    assert len((copy / "witness-received.jsonl").read_text().splitlines()) == 1
