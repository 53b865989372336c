"""Helpers for the fleet tests: a hub and a shipper wired to the test broker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signage.fleet.mqtt import BrokerSpec
from signage.fleet.shipper import Shipper, ShipperSettings
from signage.hub.config import load_hub
from signage.hub.ingest import HubService
from signage.playlog.writer import log_files

from .conftest import Broker, Pki

ROOT = Path(__file__).resolve().parents[2]


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


SUBSCRIBED = "hub: subscribed: "


def wait_subscribed(proc: subprocess.Popen[bytes], err: Path, timeout: float = 60) -> None:
    """A `signage hub run` process receives: its stderr says the broker acknowledged its
    subscriptions (the timeout only catches a hang; a hub that exits fails at once)."""
    def ready() -> bool:
        assert proc.poll() is None, f"the hub exited {proc.returncode}: {err.read_text()}"
        return SUBSCRIBED in err.read_text("utf-8", errors="replace")
    wait_until(ready, timeout, f"the hub ({err}) to subscribe")


def register(d: Path, *sites: str) -> dict[str, Path]:
    """Sites registered with the hub (hub.toml `[[site]] v1_key_file`, a real key each): the
    hub refuses every message of a site it does not know."""
    from signage.playlog.keyfile import create_or_load_key

    (d / "site-keys").mkdir(exist_ok=True)
    out = {}
    for s in sites:
        create_or_load_key(d / "site-keys" / f"{s}.key")
        out[s] = d / "site-keys" / f"{s}.key"
    return out


def hub_toml(d: Path, broker: Broker, pki: Pki, keys: dict[str, Path],
             extra: str = "", top: str = "") -> Path:
    crt, key = pki.cert("hub")
    sites = "".join(f'\n[[site]]\nid = "{s}"\nv1_key_file = "{k}"\n' for s, k in keys.items())
    cfg = d / "hub.toml"
    cfg.write_text(f"""{top}
data_dir = "{d / 'hub-data'}"
ack_interval_s = 0.2
[broker]
url = "{broker.url}"
ca_file = "{pki.ca}"
cert_file = "{crt}"
key_file = "{key}"
client_id = "hub-{d.name}"
[http]
enabled = false
{extra}
{sites}""")
    return cfg


def start_hub(d: Path, broker: Broker, pki: Pki, keys: dict[str, Path],
              say: Callable[[str], None] = lambda _m: None, extra: str = "",
              top: str = "") -> HubService:
    hub = HubService(load_hub(hub_toml(d, broker, pki, keys, extra, top)), say=say)
    hub.start()
    wait_until(hub.connected.is_set, 20, "the hub to connect")
    return hub


def shipper(log_dir: Path, site: str, broker: Broker, pki: Pki, *, cert: str | None = None,
            status: Callable[[], dict[str, Any]] | None = None, resend_s: float = 3.0,
            say: Callable[[str], None] = lambda _m: None) -> Shipper:
    crt, key = pki.cert(cert or site)
    return Shipper(ShipperSettings(site=site, log_dir=log_dir,
                                   broker=BrokerSpec(broker.url, pki.ca, crt, key),
                                   resend_s=resend_s, ack_wait_s=1.0, poll_s=0.05),
                   status=status, say=say)


def simulate(cfg: Path, log: Path, start: str = "2026-12-01", for_: str = "24h") -> None:
    r = subprocess.run([sys.executable, "-m", "signage.cli", "simulate", "-c", str(cfg),
                        "--start", start, "--for", for_, "--log", str(log)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr


def audit_json(path: Path, key: Path | None, *opts: str) -> tuple[int, dict[str, Any]]:
    k = ["--key", str(key)] if key is not None else []
    r = subprocess.run([sys.executable, "-m", "signage.audit", str(path), *k,
                        "--format", "json", *opts], capture_output=True, text=True,
                       timeout=300, check=False)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {}


def files_of(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("signage-*.jsonl"))}


def head_of(log_dir: Path) -> tuple[str, int]:
    last = log_files(log_dir)[-1]
    return last.name, last.stat().st_size


def acked(sh: Shipper, log_dir: Path) -> bool:
    """The hub acknowledged the box's whole log."""
    a = sh.acked
    return a is not None and (a.file, a.offset) == head_of(log_dir)
