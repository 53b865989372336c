"""`signage simulate --fleet N`: N simulated boxes, each a copy of the config's site with its
own site id (`<id>-001` …), each running the virtual day into its own log and shipping it to
the hub of the config's [fleet] section with a real Shipper."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from ..config import resolve
from ..i18n import _
from ..load import LoadedSite
from ..runtime.clock import VirtualClock
from ..runtime.daemon import RunSettings, Runtime
from .mqtt import BrokerSpec
from .shipper import Shipper, ShipperSettings


def fleet_sites(loaded: LoadedSite, n: int) -> list[LoadedSite]:
    out = []
    for i in range(1, n + 1):
        sid = f"{loaded.cfg.site.id}-{i:03d}"
        cfg = loaded.cfg.model_copy(update={"site": loaded.cfg.site.model_copy(
            update={"id": sid})})
        out.append(dataclasses.replace(loaded, cfg=cfg))
    return out


def simulate_fleet(loaded: LoadedSite, n: int, t0_s: float, duration_s: float, log_root: Path,
                   say: Callable[[str], None], wait_s: float = 120.0) -> int:
    """Run and ship; returns the number of boxes whose whole log the hub acknowledged."""
    fl = loaded.cfg.fleet
    if fl is None:
        raise ValueError(_("--fleet needs a [fleet] section in the config (docs/fleet.md)"))
    base = loaded.base
    opt = {k: resolve(base, v) if v else None for k, v in (
        ("ca", fl.ca_file), ("cert", fl.cert_file), ("key", fl.key_file),
        ("pw", fl.password_file))}
    shippers: list[tuple[Shipper, Runtime]] = []
    for box in fleet_sites(loaded, n):
        sid = box.cfg.site.id
        log = log_root / sid
        clock = VirtualClock(t0_s)
        rt = Runtime(box, clock, RunSettings(virtual=True, duration_s=duration_s, log_dir=log,
                                             key_file=log / "simulate.key",
                                             signing_key=log / "simulate-signing.key",
                                             fleet=False))
        rt.setup()
        rt.run_virtual(clock.monotonic() + duration_s)
        rt.stop_reason = "duration reached"  # a record field: data, not translated
        rt.finish()
        spec = BrokerSpec(fl.broker, opt["ca"], opt["cert"], opt["key"],
                          fl.username or (sid if opt["cert"] is None else None), opt["pw"])
        sh = Shipper(ShipperSettings(site=sid, log_dir=log, broker=spec, prefix=fl.prefix,
                                     resend_s=fl.resend_s, window_bytes=fl.window_bytes),
                     say=say)
        sh.start()
        shippers.append((sh, rt))
        say(_("{sid}: {records} records in {log}, "
              "shipping").format(sid=sid, records=rt.writer.records_written, log=log))
    deadline = time.monotonic() + wait_s
    done = 0
    while time.monotonic() < deadline:
        done = sum(1 for sh, _rt in shippers if sh.backlog() == 0 and sh.acked is not None)
        if done == len(shippers):
            break
        time.sleep(0.5)
    for sh, _rt in shippers:
        sh.stop(timeout=1)
    say(_("{done} of {n} boxes: whole log acknowledged by the hub").format(done=done, n=n))
    return done
