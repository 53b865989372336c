"""Two hub processes behind one broker, sharing the work with an MQTT 5 shared subscription
(`$share/hubs/…`) and one data directory. Mosquitto hands the messages out round-robin, so a
site's chunks alternate between the hubs and arrive out of order at each: the per-site lock,
the state re-read from disk, the reset acks and the resends still bring everything in once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds

from tests.conftest import keep_format_1

from .conftest import Broker, Pki
from .fleetkit import acked, files_of, hub_toml, shipper, simulate, wait_subscribed, wait_until

SHARED = ('subscribe = ["$share/hubs/signage/v1/+/log", "$share/hubs/signage/v1/+/status", '
          '"$share/hubs/signage/v1/+/checkpoint", "$share/hubs/signage/v1/+/online"]')


def test_two_hub_processes_share_the_load(tmp_path: Path, site_dir: Path, broker: Broker,
                                          pki: Pki) -> None:
    log = tmp_path / "box-log"
    # the hubs here verify format 1
    simulate(keep_format_1(site_dir / "config.toml"), log, start="2026-12-01 09:00", for_="3h")
    key = log / "simulate.key"
    procs = []
    for name in ("h1", "h2"):
        d = tmp_path / name
        d.mkdir()
        cfg = hub_toml(d, broker, pki, {"hz-wensan-0001": key})
        text = cfg.read_text().replace(f'{d / "hub-data"}', f'{tmp_path / "hub-data"}')
        text = text.replace("[http]", "[http]").replace(
            f'client_id = "hub-{name}"', f'client_id = "hub-{name}"\n{SHARED}')
        cfg.write_text(text)
        procs.append(subprocess.Popen([sys.executable, "-m", "signage.cli", "hub", "run", "-c",
                                       str(cfg)], stderr=open(d / "err", "w")))  # noqa: SIM115
    for name, p in zip(("h1", "h2"), procs, strict=True):  # both receive before the box sends
        wait_subscribed(p, tmp_path / name / "err")
    sh = shipper(log, "hz-wensan-0001", broker, pki, resend_s=2.0)
    sh.start()
    try:
        wait_until(lambda: acked(sh, log), 180, "the whole log acknowledged by the two hubs")
    finally:
        sh.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(120)  # a hang only: the stop writes the last rows
    copy = tmp_path / "hub-data" / "hz-wensan-0001"
    assert files_of(copy) == files_of(log)
    rows = ds.dataset(tmp_path / "hub-data" / "showings", format="parquet",
                      partitioning="hive").to_table(columns=["seq"]).column("seq").to_pylist()
    want = sum(raw.count(b'"type":"showing",') for raw in files_of(log).values())
    assert len(rows) == len(set(rows)) == want > 100
    errs = [(tmp_path / n / "err").read_text() for n in ("h1", "h2")]
    assert all("Traceback" not in e for e in errs), errs
    stored = [int(e.split("hub: stopped; ")[1].split()[0]) for e in errs]
    records = sum(raw.count(b"\n") for raw in files_of(log).values())
    assert sum(stored) == records and min(stored) > 0, stored  # both took a share
