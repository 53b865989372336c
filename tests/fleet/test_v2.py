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


def test_hub_chains_unknown_record_types_never_counts_them_and_audits_with_the_trust_file(
        tmp_path: Path) -> None:
    """docs/log-format.md, "Compatibility": a record type this reader does not know (a newer
    writer, same version) is a link of the chain and nothing else. The hub's store keeps it
    (never rejects the site's log for it, even when its name starts like `checkpoint` or
    `reload`), the Parquet dataset never counts it as a showing, and the hub's verdict for
    the format-2 site (trust file, public keys only) equals `signage audit --trust`."""
    from signage.fleet import protocol as p
    from signage.hub.config import HubConfig, LoadedHub
    from signage.hub.dataset import Dataset
    from signage.hub.store import SiteStore, Verifier
    from signage.hub.views import figures, verdicts
    from signage.playlog.writer import log_files
    from signage.trust import load_trust

    from ..audit.logkit import DAY0, Daemon, FakeClock, audit, site, trust_file

    key = SigningKey.generate()
    log = tmp_path / "box"
    clock = FakeClock(DAY0, mono=0.0)
    dm = Daemon(log, clock, site(), start=3600, signing=key)
    t = 3600.0
    for _ in range(10):
        dm.showing("s1", "af1", True, t, t + 10)
        t += 40
    fake = {"screen": "s1", "item": "af1", "anti_fraud": True, "outcome": "completed",
            "start": dm.iso(t), "end": dm.iso(t + 10), "start_mono": t, "end_mono": t + 10}
    for rtype in ("showing_v9", "checkpoint_request", "reload_plan", "run_start_hint"):
        dm.append(t + 1, rtype, **fake)  # a type unknown to this reader, showing-like
    t += 20
    for _ in range(5):
        dm.showing("s1", "af1", True, t, t + 10)
        t += 40
    dm.stop(t)
    tf = trust_file(tmp_path / "trust.toml", "shop-7", key.public)
    trust = load_trust(tf)
    hub_dir = tmp_path / "hub-data"
    st = SiteStore(hub_dir, "shop-7", Verifier("shop-7", None, trust), lambda: "t")
    ds = Dataset(hub_dir / "showings")
    for f in log_files(log):
        data = f.read_bytes()
        out = st.accept(p.Chunk(f.name, 0, p.line_seq(data), data.count(b"\n"), data))
        assert out.rejected == 0, out.reason
        ds.add("shop-7", out.verified)
    st.close()
    ds.flush()
    copy = hub_dir / "shop-7"
    assert {f.name: f.read_bytes() for f in log_files(copy)} == \
        {f.name: f.read_bytes() for f in log_files(log)}
    assert ds.rows_written == 15  # the real showings only
    hub = LoadedHub(HubConfig(data_dir=str(hub_dir), trust_file=str(tf)),
                    tmp_path / "hub.toml")
    day = dm.iso(3600)[:10]
    (row,) = figures(hub, day, day)
    assert row["af_showings"] == 15, row
    code, out_, err = audit(copy, "--trust", tf, "--format", "json", key=None)
    want = json.loads(out_)
    assert code == 0 and want["verdict"] == "compliant", err
    assert want["screens"][0]["af_showings"] == 15, want["screens"]
    (got,) = verdicts(hub, None, None)
    assert (got["verdict"], got["exit_code"], got["records"], got["violations"]) == \
        (want["verdict"], code, want["integrity"]["records"], 0), got


def test_hub_copy_begun_mid_log_is_partial_as_signage_audit_says(tmp_path: Path) -> None:
    """The box pruned its first file before it shipped: the hub's copy starts after seq 0.
    Its verdict is "partial" (exit 5, never intact), equal to `signage audit --trust` on the
    same files, and the hub audit's exit code ranks it above compliant only."""
    from signage.fleet import protocol as p
    from signage.hub.config import HubConfig, LoadedHub
    from signage.hub.store import SiteStore, Verifier
    from signage.hub.views import fleet_exit, verdicts
    from signage.playlog.writer import log_files
    from signage.trust import load_trust

    from ..audit.logkit import DAY0, Daemon, FakeClock, audit, site, trust_file

    key = SigningKey.generate()
    log = tmp_path / "box"
    clock = FakeClock(DAY0, mono=0.0)
    for start in (3600, 86400 + 3600, 86400 + 3800):  # day 1, then two runs on day 2
        dm = Daemon(log, clock, site(), start=start, signing=key)
        for k in range(5):
            dm.showing("s1", "af1", True, start + 40 * k, start + 40 * k + 10)
        dm.stop(start + 200)
    tf = trust_file(tmp_path / "trust.toml", "shop-7", key.public)
    hub_dir = tmp_path / "hub-data"
    st = SiteStore(hub_dir, "shop-7", Verifier("shop-7", None, load_trust(tf)), lambda: "t")
    _first, second = log_files(log)
    data = second.read_bytes()
    out = st.accept(p.Chunk(second.name, 0, p.line_seq(data), data.count(b"\n"), data))
    assert out.rejected == 0, out.reason
    st.close()
    copy = hub_dir / "shop-7"
    code, out_, err = audit(copy, "--trust", tf, "--format", "json", key=None)
    want = json.loads(out_)
    assert code == 5 and want["verdict"] == "partial", err
    assert want["integrity"]["intact"] is False
    hub = LoadedHub(HubConfig(data_dir=str(hub_dir), trust_file=str(tf)),
                    tmp_path / "hub.toml")
    (got,) = verdicts(hub, None, None)
    assert (got["verdict"], got["exit_code"], got["records"]) == \
        ("partial", 5, want["integrity"]["records"]), got
    assert fleet_exit([0, 5]) == 5 and fleet_exit([5, 1]) == 1 and fleet_exit([2, 5]) == 2
    assert fleet_exit([4, 5, 0]) == 4 and fleet_exit([]) == 0
