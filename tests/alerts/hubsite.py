"""The fleet set-up the alert and push tests over the real link share: certificates, a real
Mosquitto, a hub directory (authority key, hub.toml), boxes made with `alert_site` joined to
the link, and the `signage run` / `signage hub` processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from signage.keys import SigningKey, write_new_key
from signage.playlog.keyfile import create_or_load_key
from tests.fleet.conftest import Broker, Pki, make_pki

from .alertsite import alert_site


@dataclass
class FleetHub:
    pki: Pki
    broker: Broker
    dir: Path  # the hub's: hub.toml, authority.key, hub-data/
    authority: SigningKey


def fleet_hub(tmp_path: Path, boxes: tuple[str, ...], *, sites: Iterable[str] | None = None,
              settings: str = "") -> FleetHub:
    """Certificates for the hub and `boxes`, a started Mosquitto (the caller stops it) and the
    hub's directory: a new authority key and a hub.toml registering `sites` (by default the
    boxes) in region 330106, with `settings` (lines) after its authority_key."""
    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki", ("hub", *boxes))
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker", pki)
    broker.start()
    try:
        hubd = tmp_path / "hub"
        hubd.mkdir()
        auth = write_new_key(hubd / "authority.key")
        # each site registered with the hub by its box's key (the hub refuses unknown
        # sites): the box directories' site.key, made here and found by the box at start
        regs = ""
        for s in (boxes if sites is None else sites):
            (tmp_path / s).mkdir(exist_ok=True)
            create_or_load_key(tmp_path / s / "site.key")
            regs += (f'\n[[site]]\nid = "{s}"\nregions = ["330106"]\n'
                     f'v1_key_file = "{tmp_path / s / "site.key"}"\n')
        (hubd / "hub.toml").write_text(f"""data_dir = "{hubd / 'hub-data'}"
authority_key = "authority.key"
{settings}[broker]
url = "{broker.url}"
ca_file = "{pki.ca}"
cert_file = "{pki.dir / 'hub.crt'}"
key_file = "{pki.dir / 'hub.key'}"
client_id = "hub-test"
[http]
enabled = false
{regs}""")
    except BaseException:
        broker.stop()
        raise
    return FleetHub(pki, broker, hubd, auth)


def fleet_toml(broker: Broker, pki_dir: Path, site: str) -> str:
    return (f'\n[fleet]\nbroker = "{broker.url}"\nca_file = "{pki_dir / "ca.pem"}"\n'
            f'cert_file = "{pki_dir / (site + ".crt")}"\nkey_file = "{pki_dir / (site + ".key")}"'
            "\nresend_s = 3.0\npoll_s = 0.1\n")


def fleet_boxes(tmp_path: Path, hub: FleetHub, boxes: tuple[str, ...]) -> dict[str, Path]:
    """A directory per box under tmp_path: an `alert_site` trusting the hub's authority key,
    joined to the fleet link."""
    out = {}
    for s in boxes:
        d = tmp_path / s
        d.mkdir(exist_ok=True)
        alert_site(d, hub.authority, site=s, extra=fleet_toml(hub.broker, hub.pki.dir, s))
        out[s] = d
    return out


def run_box(d: Path, secs: int = 120) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config",
                             str(d / "config.toml"), "--for", f"{secs}s"], cwd=d,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_hub(hubd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "signage.cli", "hub", "run", "-c",
                             str(hubd / "hub.toml")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def hub_cli(hub: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", "hub", *args, "-c",
                           str(hub / "hub.toml")], capture_output=True, text=True, timeout=60,
                          check=False)


def shut_down(boxes: Iterable[subprocess.Popen[str]], hub: subprocess.Popen[str],
              broker: Broker) -> None:
    """Terminate the boxes, then the hub, waiting for each; then stop the broker."""
    procs = list(boxes)
    for p in procs:
        p.terminate()
    for p in procs:
        p.communicate(timeout=30)
    hub.terminate()
    hub.communicate(timeout=30)
    broker.stop()
