"""Outages: the broker killed and restarted while a box writes, and a box offline for a
simulated day: everything reaches the hub, in order, exactly once."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.dataset as ds

from signage.playlog.keyfile import create_or_load_key
from signage.playlog.writer import LogWriter
from signage.runtime.clock import RealClock
from tests.conftest import keep_format_1

from .conftest import Broker, Pki
from .fleetkit import acked, files_of, shipper, simulate, start_hub, wait_until


def test_broker_killed_and_restarted_mid_run(tmp_path: Path, broker: Broker, pki: Pki) -> None:
    log = tmp_path / "box-log"
    key_file = tmp_path / "site.key"
    key = create_or_load_key(key_file)
    w = LogWriter(log, key, ZoneInfo("Asia/Shanghai"), RealClock(), run_id="a1b2c3d4e5f6",
                  boot_id="test-boot")
    w.open()
    w.append("run_start", site={"id": "site-a"})
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            w.append("heartbeat", screens={"s1": {"item": f"i{i}", "anti_fraud": False}})
            i += 1
            time.sleep(0.002)

    hub = start_hub(tmp_path, broker, pki, {"site-a": key_file})
    sh = shipper(log, "site-a", broker, pki)
    sh.start()
    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_until(lambda: sh.acked is not None and sh.acked.seq > 200, 30, "first acks")
        broker.kill()  # SIGKILL: in-flight messages and unsaved state are lost
        time.sleep(1.5)
        broker.start()  # same port
        wait_until(lambda: sh.acked is not None and sh.acked.seq > w.head.seq - 50 > 400, 60,
                   "acks after the restart")
        broker.kill()
        time.sleep(0.5)
        broker.start()
        time.sleep(0.5)
        stop.set()
        writer.join()
        w.append("run_stop", reason="test")
        w.close()
        wait_until(lambda: acked(sh, log), 60, "the whole log acknowledged")
    finally:
        stop.set()
        sh.stop()
        hub.stop()
    assert files_of(tmp_path / "hub-data" / "site-a") == files_of(log)
    b = hub.ingest.boards["site-a"]
    assert b.rejected == 0 and b.stored == w.head.seq + 1


def test_box_offline_for_a_day_catches_up_exactly_once(tmp_path: Path, site_dir: Path,
                                                       broker: Broker, pki: Pki) -> None:
    log = tmp_path / "box-log"
    cfg = keep_format_1(site_dir / "config.toml")  # the hub here verifies format 1
    simulate(cfg, log, start="2026-12-01", for_="2h")
    key = log / "simulate.key"
    hub = start_hub(tmp_path, broker, pki, {"hz-wensan-0001": key})
    sh = shipper(log, "hz-wensan-0001", broker, pki)
    sh.start()
    try:
        wait_until(lambda: acked(sh, log), 60, "the first two hours acknowledged")
        broker.stop()
        # offline: the box goes on writing for a whole (simulated) day
        simulate(cfg, log, start="2026-12-01 02:00", for_="24h")
        time.sleep(1.0)
        broker.start()
        wait_until(lambda: acked(sh, log), 120, "the offline day acknowledged")
    finally:
        sh.stop()
        hub.stop()
    copy = tmp_path / "hub-data" / "hz-wensan-0001"
    assert files_of(copy) == files_of(log)
    # exactly once in the dataset too: every verified showing once, none missing
    rows = ds.dataset(tmp_path / "hub-data" / "showings", format="parquet",
                      partitioning="hive").to_table(columns=["seq"]).column("seq").to_pylist()
    want = sum(raw.count(b'"type":"showing",') for raw in files_of(log).values())
    assert len(rows) == len(set(rows)) == want > 1000


def test_hub_that_lost_its_data_gets_everything_again(tmp_path: Path, site_dir: Path,
                                                      broker: Broker, pki: Pki) -> None:
    """The broker still holds the retained ack of a hub whose data directory was lost: the
    new hub's reset ack makes the box ship from the start instead of waiting forever."""
    log = tmp_path / "box-log"
    keep_format_1(site_dir / "config.toml")  # the hub here verifies format 1
    simulate(site_dir / "config.toml", log, start="2026-12-01 09:00", for_="1h")
    key = log / "simulate.key"
    hub = start_hub(tmp_path, broker, pki, {"hz-wensan-0001": key})
    sh = shipper(log, "hz-wensan-0001", broker, pki)
    sh.start()
    try:
        wait_until(lambda: acked(sh, log), 60, "the log acknowledged")
        sh.stop()
        hub.stop()
        shutil.rmtree(tmp_path / "hub-data")
        simulate(site_dir / "config.toml", log, start="2026-12-01 10:00", for_="1h")
        hub = start_hub(tmp_path, broker, pki, {"hz-wensan-0001": key})
        sh = shipper(log, "hz-wensan-0001", broker, pki)
        sh.start()
        wait_until(lambda: acked(sh, log), 90, "everything shipped again")
    finally:
        sh.stop()
        hub.stop()
    assert files_of(tmp_path / "hub-data" / "hz-wensan-0001") == files_of(log)
