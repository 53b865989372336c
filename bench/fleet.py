"""Fleet benchmark: hub ingest through one local Mosquitto, box-to-hub latency, hub RSS.

    .venv/bin/python bench/fleet.py [--sites 1000] [--records 200] [--latency-s 20]

1. Makes `--sites` logs (log v1, each with run_start naming its site, then showings) with the
   real LogWriter, and a local Mosquitto (plain, localhost, no ACL: the hub's work is measured,
   not TLS set-up).
2. Ingest: the hub (HubService, in this process) subscribes; 4 publisher processes read the
   logs with the real Outbox and publish every chunk (QoS 1) as 1,000 boxes catching up.
   Figure: records verified and stored per second, first chunk to last ack.
3. Latency: a real Shipper ships a LogWriter appending 1 showing/s while the publishers keep
   a nominal fleet load (1,000 records/s); per record, append → stored by the hub.
4. Hub RSS (VmHWM of this process, which is the hub plus the bench's own small state).
"""

from __future__ import annotations

import sys

# bench/ holds scripts named like standard modules (bench/inspect.py): never import from it
sys.path[:] = [p for p in sys.path if p not in ("", __file__.rsplit("/", 1)[0])]

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signage.fleet.mqtt import BrokerSpec, connect_props, make_client  # noqa: E402
from signage.fleet.outbox import Outbox  # noqa: E402
from signage.fleet.protocol import encode_chunk, line_seq, topic  # noqa: E402
from signage.fleet.shipper import Shipper, ShipperSettings  # noqa: E402
from signage.hub.config import load_hub  # noqa: E402
from signage.hub.ingest import HubService  # noqa: E402
from signage.playlog.keyfile import create_or_load_key  # noqa: E402
from signage.playlog.writer import LogWriter  # noqa: E402
from signage.runtime.clock import RealClock, VirtualClock  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_logs(root: Path, key: bytes, sites: int, records: int) -> int:
    total = 0
    for i in range(sites):
        site = f"s{i:05d}"
        clock = VirtualClock(1764547200.0 + 3600)  # 2025-12-01 09:00+08:00
        w = LogWriter(root / site, key, TZ, clock, run_id="b" * 12, boot_id="bench",
                      fsync="batch", batch_ms=10**9, write_buffer=1 << 16)
        w.open()
        w.append("run_start", site={"id": site})
        t = clock.monotonic()
        for k in range(records - 1):
            clock.sleep_until(t + 10 * (k + 1))
            w.append("showing", screen="s1", item=f"af{k % 5}", playlist="af", kind="text",
                     category="反诈", anti_fraud=k % 3 == 0, planned="x",
                     start=w._iso(clock.time() - 9), end=w._iso(clock.time()),
                     start_mono=round(clock.monotonic() - 9, 3),
                     end_mono=round(clock.monotonic(), 3), outcome="completed", reason="")
        w.close()
        total += records
    return total


def publisher(port: int, logs: list[Path], rate: float | None, stop: mp.Event) -> None:  # type: ignore[valid-type]
    """Publish the logs' chunks as the boxes would (rate: records/s in total, None: flat out)."""
    c, host, p = make_client(BrokerSpec(f"mqtt://127.0.0.1:{port}"), f"pub-{os.getpid()}")
    c.max_inflight_messages_set(1000)
    c.connect(host, p, properties=connect_props(True, 0), clean_start=True)
    c.loop_start()
    infos = []
    if rate is None:
        for d in logs:
            ob = Outbox(d, max_chunk=64 << 10)
            pos = ob.first()
            while pos is not None:
                ch, nxt = ob.read(pos)
                if ch is None:
                    break
                infos.append(c.publish(topic("signage/v1", d.name, "log"), encode_chunk(ch),
                                       qos=1))
                pos = nxt
        for i in infos:
            i.wait_for_publish(120)
    else:  # nominal load: small chunks at a steady rate, again and again (the hub dedups)
        per = [(d, Outbox(d, max_chunk=300)) for d in logs]
        k = 0
        while not stop.is_set():  # type: ignore[attr-defined]
            d, ob = per[k % len(per)]
            ch, _n = ob.read(ob.first())  # type: ignore[arg-type]
            if ch is not None:
                c.publish(topic("signage/v1", d.name, "log"), encode_chunk(ch), qos=1)
            k += 1
            time.sleep(max(ch.n if ch else 1, 1) / rate)
    c.loop_stop()


def rss_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--latency-s", type=float, default=20.0)
    ap.add_argument("--publishers", type=int, default=4)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        run(tmp, a)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path, a: argparse.Namespace) -> None:
    key_file = tmp / "site.key"
    key = create_or_load_key(key_file)
    t0 = time.perf_counter()
    total = make_logs(tmp / "boxes", key, a.sites, a.records)
    print(f"logs: {a.sites} sites x {a.records} records = {total:,} in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    port = free_port()
    (tmp / "m.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 1000000\nmax_inflight_messages 1000\nlog_type all\n"
        f"user {os.environ.get('USER', 'root')}\n")
    broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c",
                               str(tmp / "m.conf")], stdout=open(tmp / "mosquitto.log", "wb"),  # noqa: SIM115
                              stderr=subprocess.STDOUT)
    time.sleep(0.5)
    sites = "".join(f'[[site]]\nid = "s{i:05d}"\nv1_key_file = "{key_file}"\n'
                    for i in range(a.sites + 1))
    sites += f'[[site]]\nid = "lat"\nv1_key_file = "{key_file}"\n'  # the latency box
    (tmp / "hub.toml").write_text(
        f'data_dir = "{tmp / "hub-data"}"\n[broker]\nurl = "mqtt://127.0.0.1:{port}"\n'
        f'client_id = "bench-hub"\n[http]\nenabled = false\n{sites}')
    hub = HubService(load_hub(tmp / "hub.toml"), say=lambda m: print(m, flush=True))
    hub.start()
    while not hub.connected.is_set():
        time.sleep(0.05)
    logs = sorted((tmp / "boxes").iterdir())
    shards = [logs[i::a.publishers] for i in range(a.publishers)]
    ctx = mp.get_context("spawn")  # never fork a process that runs the hub's threads
    stop = ctx.Event()
    t_start = time.perf_counter()
    cpu0 = time.process_time()  # this process: the hub (its threads) and an idle main loop
    procs = [ctx.Process(target=publisher, args=(port, s, None, stop)) for s in shards]
    for p in procs:
        p.start()
    while hub.ingest.records < total:
        time.sleep(0.05)
        if time.perf_counter() - t_start > 600:
            break
    dt = time.perf_counter() - t_start
    cpu = time.process_time() - cpu0
    for p in procs:
        p.join()
    got = hub.ingest.records
    print(f"ingest: {got:,} of {total:,} records verified and stored in {dt:.2f} s = "
          f"{got / dt:,.0f} records/s ({a.sites} sites, {a.publishers} publisher processes); "
          f"hub CPU {cpu:.2f} s = {got / cpu:,.0f} records per CPU-second", flush=True)

    # latency at nominal load: 1,000 records/s of fleet traffic besides the measured box
    arrived: dict[int, float] = {}
    orig = hub.ingest.handle

    def handle(t: str, payload: bytes) -> None:
        orig(t, payload)
        if t.startswith("signage/v1/lat/"):
            for line in payload.split(b"\n")[1:]:
                s = line_seq(line)
                if s is not None:
                    arrived.setdefault(s, time.monotonic())

    hub.ingest.handle = handle  # type: ignore[method-assign]
    bg = [ctx.Process(target=publisher, args=(port, s, 1000 / a.publishers, stop))
          for s in shards]
    for p in bg:
        p.start()
    w = LogWriter(tmp / "lat", key, TZ, RealClock(), run_id="c" * 12, boot_id="bench")
    w.open()
    w.append("run_start", site={"id": "lat"})
    sh = Shipper(ShipperSettings(site="lat", log_dir=tmp / "lat",
                                 broker=BrokerSpec(f"mqtt://127.0.0.1:{port}"), ack_wait_s=1.0),
                 say=lambda m: print(m, flush=True))
    sh.start()
    t_wait = time.monotonic()
    while sh.acked is None:  # connected, and the run_start acknowledged: the box is live
        time.sleep(0.05)
        if time.monotonic() - t_wait > 60:
            b = hub.ingest.boards.get("lat")
            print(f"no ack for the latency box after 60 s: connected "
                  f"{sh._connected.is_set()}, hub board {b}", flush=True)
            t_wait = time.monotonic()
    sent: dict[int, float] = {}
    t_end = time.monotonic() + a.latency_s
    while time.monotonic() < t_end:
        w.append("heartbeat", screens={})
        sent[w.head.seq] = time.monotonic()
        time.sleep(1.0)
    time.sleep(3)
    stop.set()
    for p in bg:
        p.join(10)
    lat = sorted(arrived[s] - t for s, t in sent.items() if s in arrived)
    if lat:
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        print(f"latency box->hub at nominal load: {len(lat)}/{len(sent)} records, "
              f"median {lat[len(lat) // 2] * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
              f"max {lat[-1] * 1000:.0f} ms", flush=True)
    sh.stop(timeout=2)
    w.close()
    hub.stop()
    broker.terminate()
    print(f"hub RSS (VmHWM of the hub process, incl. the bench): {rss_hwm_mb():.1f} MB")
    print(f"load: {os.getloadavg()[0]:.1f} (1-min load average at the end; 2 cores, shared)")


if __name__ == "__main__":
    main()
