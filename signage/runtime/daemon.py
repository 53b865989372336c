"""The runtime: wires the site, the log writer, the drivers and one runner per screen, and
runs them on the real clock (`signage run`) or on a virtual one (`signage simulate`).

Wall-clock house-keeping (heartbeats, the reload check, the midnight log rotation) is driven by
APScheduler 3 triggers, which answer "next fire time after t" for either clock. Item switches
are not APScheduler jobs: they are timed on the monotonic clock by each screen's own thread,
so that a wall-clock step neither fires nor skips a switch and a start lands within a
millisecond or two.
"""

from __future__ import annotations

import dataclasses
import heapq
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from .. import __version__
from ..config import resolve
from ..driver import Clock, Driver, DriverClass, DriverContext, load_driver
from ..keys import SigningKey, SigningKeyError, load_signing_key
from ..load import LoadedSite, screen_spec
from ..playlog.boxkey import box_signing_key, finish_rotation, pending_rotation
from ..playlog.keyfile import create_or_load_key
from ..playlog.writer import LogWriter, boot_id
from ..render import sanitize
from ..timeutil import IsoFormatter
from .housekeeping import Housekeeping
from .notify import Notifier
from .reload import Reloader
from .runner import ScreenRunner
from .showables import Showables


@dataclass
class RunSettings:
    virtual: bool = False
    duration_s: float | None = None
    log_dir: Path | None = None  # default: the config's [log] dir
    key_file: Path | None = None
    signing_key: Path | None = None  # format 2 (default: the config's [log] signing_key)
    run_dir: Path | None = None  # default: var/ next to the config
    fleet: bool = True  # ship the log to the hub when the config has [fleet]
    say: Callable[[str], None] = field(default=lambda m: print(m, file=sys.stderr))


def site_record(loaded: LoadedSite, mode: str) -> dict[str, Any]:
    cfg = loaded.cfg
    items: dict[str, Any] = {}
    for pid, pc in loaded.playlists.items():
        for it in pc.items:
            items[it.id] = {"playlist": pid, "kind": it.type, "anti_fraud": pc.anti_fraud,
                            "category": it.category, "text": it.text, "path": it.path}
    return {
        "site": {"id": cfg.site.id, "name": cfg.site.name, "tz": cfg.site.timezone,
                 "contact": cfg.site.contact.model_dump()},
        "rule": {"max_gap_s": cfg.rule.max_gap_s, "margin_s": cfg.rule.margin_s,
                 "measure": cfg.rule.measure},
        "hours": cfg.hours.model_dump(mode="json"),
        "screens": [{"id": s.id, "label": s.label, "driver": s.driver, "width": s.width,
                     "height": s.height,
                     **({"hours": s.hours.model_dump(mode="json")} if s.hours else {})}
                    for s in cfg.screens],
        "config_sha256": loaded.digests.get(str(loaded.config_path), ""),
        "playlists_sha256": {Path(k).name: v for k, v in loaded.digests.items()
                             if k != str(loaded.config_path)},
        "items": items,
        "heartbeat_s": cfg.log.heartbeat_s,
    }


class Runtime:
    def __init__(self, loaded: LoadedSite, clock: Clock, settings: RunSettings,
                 stop: threading.Event | None = None) -> None:
        self.loaded = loaded
        self.clock = clock
        self.s = settings
        self.stop = stop or threading.Event()
        self.reload_requested = threading.Event()
        self.stop_reason = "stopped"
        cfg = loaded.cfg
        base = loaded.base
        self.mode = "simulate" if settings.virtual else "run"
        self.run_dir = settings.run_dir or base / "var"
        log_dir = settings.log_dir or resolve(base, cfg.log.dir)
        self.signing_path: Path | None = None
        signing: SigningKey | None = None
        site_key: bytes | None = None
        if cfg.log.format == 2:
            self.signing_path = settings.signing_key or resolve(base, cfg.log.signing_key)
            signing = box_signing_key(self.signing_path, log_dir, settings.say)
        else:
            site_key = create_or_load_key(settings.key_file or resolve(base, cfg.log.key_file))
        self.writer = LogWriter(
            log_dir, site_key, cfg.tz, clock, run_id=secrets.token_hex(6),
            signing=signing, site_id=cfg.site.id,
            boot_id=boot_id() if not settings.virtual else "virtual-" + secrets.token_hex(4),
            fsync="batch" if settings.virtual else cfg.log.fsync,
            batch_ms=10**12 if settings.virtual else cfg.log.batch_ms,  # simulate: at close
            buffer_records=cfg.log.buffer_records,
            write_buffer=1 << 16 if settings.virtual else 0,
            on_error=lambda m: settings.say(f"LOG: {m}"),
        )
        self.notifier = Notifier() if not settings.virtual else Notifier({})
        self.runners: list[ScreenRunner] = []
        self.shipper: Any = None  # signage.fleet.shipper.Shipper when [fleet] is configured
        self._iso = IsoFormatter(cfg.tz)
        self._heavy = threading.Lock()
        self.reloader = Reloader(loaded, self._today)
        self.jobs = Housekeeping(clock, cfg.tz, lambda name: self.housekeeping(name))
        self.jobs.every("heartbeat", cfg.log.heartbeat_s)
        self.jobs.at("rotate", CronTrigger(hour=0, minute=0, second=0, timezone=cfg.tz))
        if not settings.virtual:
            self.jobs.every("reload", cfg.playlists.reload_check_s)

    def _today(self) -> Any:
        return datetime.fromtimestamp(self.clock.time(), self.loaded.cfg.tz).date()


    # ---- set-up --------------------------------------------------------------------------
    def _driver_for(self, sc_index: int) -> Driver:
        sc = self.loaded.cfg.screens[sc_index]
        spec = screen_spec(sc, self.loaded.site.media_root)
        cls: DriverClass
        if self.s.virtual:
            cls = load_driver("simulator")
            kind = "led" if sc.driver == "led" or sc.height <= 64 else "hdmi"
            if sc.driver == "simulator":
                kind = str(sc.options.get("kind", kind))
            spec = dataclasses.replace(spec, options={"kind": kind})
        else:
            cls = self.loaded.drivers[sc.driver]
        sid = sc.id

        def event(kind: str, detail: Mapping[str, Any]) -> None:
            self.writer.append("driver_event", screen=sid, kind=kind, detail=dict(detail))

        ctx = DriverContext(clock=self.clock, run_dir=self.run_dir, event=event,
                            virtual=self.s.virtual, heavy=self._heavy)
        return cls(spec, ctx)

    def setup(self) -> None:
        notes = self.writer.open()
        self.writer.append("run_start", version=__version__, mode=self.mode,
                           **site_record(self.loaded, self.mode))
        for n in notes:
            rtype = n.pop("type")
            self.writer.append(rtype, **n)
        self.take_key_rotation()
        show = Showables(self.loaded.site.media_root)
        for i, screen in enumerate(self.loaded.site.screens):
            drv = self._driver_for(i)
            self.runners.append(ScreenRunner(
                self.loaded.site, screen, drv, self.writer, show,
                guard_s=min(1.0, self.loaded.cfg.rule.margin_s / 2),
                poll_clips=not self.s.virtual, iso=self._iso, live=not self.s.virtual))
        if self.loaded.cfg.fleet is not None and self.s.fleet:
            self._start_shipper()

    def _start_shipper(self) -> None:
        """The fleet shipper (docs/fleet.md): a thread reading the log files and the
        runners' live state. Imported only here: a box without [fleet] never loads paho."""
        from ..fleet.mqtt import BrokerSpec
        from ..fleet.shipper import Shipper, ShipperSettings
        from ..fleet.status import box_status

        cfg = self.loaded.cfg
        fl = cfg.fleet
        assert fl is not None
        base = self.loaded.base
        opt = {k: resolve(base, v) if v else None for k, v in (
            ("ca_file", fl.ca_file), ("cert_file", fl.cert_file), ("key_file", fl.key_file),
            ("password_file", fl.password_file))}
        spec = BrokerSpec(fl.broker, opt["ca_file"], opt["cert_file"], opt["key_file"],
                          fl.username, opt["password_file"])

        def status() -> dict[str, Any]:
            h = self.writer.head
            return box_status(self.loaded.cfg, self.runners, self._iso, (h.file, h.seq))

        self.shipper = Shipper(ShipperSettings(
            site=cfg.site.id, log_dir=self.writer.dir, broker=spec, prefix=fl.prefix,
            resend_s=fl.resend_s, window_bytes=fl.window_bytes, poll_s=fl.poll_s,
            heartbeat_s=cfg.log.heartbeat_s), status=status, say=self.s.say)
        self.shipper.start()

    # ---- house-keeping -------------------------------------------------------------------
    def housekeeping(self, name: str) -> None:
        if name == "heartbeat":
            self.writer.append("heartbeat", screens={r.screen.id: r.status() for r in self.runners})
            if self.notifier.enabled:
                self.notifier.send("WATCHDOG=1")
        elif name == "rotate":
            self.writer.rotate_if_due()
        elif name == "reload":
            self.check_reload(force=self.reload_requested.is_set())
            self.reload_requested.clear()
            self.take_key_rotation()

    def take_key_rotation(self) -> None:
        """A key rotation prepared by `signage keys rotate` (format 2): the rotation
        checkpoint, signed by the current key, then the new key takes its place."""
        path = self.signing_path
        if path is None:
            return
        try:
            new = pending_rotation(path)
            if new is None:
                return
            old_id = self.writer.signing_key_id
            old = load_signing_key(path)
            self.writer.rotate_key(new)
            finish_rotation(path, old)
        except (SigningKeyError, OSError) as exc:
            self.s.say(f"key rotation not done (the current key stays in use): {exc}")
            return
        self.s.say(f"signing key rotated: {old_id} -> {new.key_id}")

    def check_reload(self, force: bool = False) -> None:
        res = self.reloader.check(force)
        if res is None:
            return
        new, problems = res
        if new is None:
            self.s.say("reload rejected, the running schedule continues:\n  "
                       + "\n  ".join(sanitize(p) for p in problems))
            self.writer.append("reload", accepted=False, problems=problems[:50],
                               config_sha256="", playlists_sha256={})
            return
        rec = site_record(new, self.mode)
        self.writer.append("reload", accepted=True, problems=[],
                           config_sha256=rec["config_sha256"],
                           playlists_sha256=rec["playlists_sha256"], site=rec["site"],
                           rule=rec["rule"], hours=rec["hours"], screens=rec["screens"],
                           items=rec["items"], heartbeat_s=rec["heartbeat_s"])
        self.loaded = new
        for r, screen in zip(self.runners, new.site.screens, strict=True):
            r.apply_site(new.site, screen)
        self.s.say("reload accepted: applied at the next item boundary")

    # ---- the two loops -------------------------------------------------------------------
    def run_virtual(self, end_mono: float) -> None:
        """Discrete-event loop: all screens in one thread, the clock jumps to each event."""
        assert self.s.virtual
        clock = self.clock
        for r in self.runners:
            r.start()
        heap: list[tuple[float, int, int]] = []
        for i, r in enumerate(self.runners):
            heapq.heappush(heap, (r.wake_at(), 0, i))
        while heap:
            t_run = heap[0][0]
            t_hk = self.jobs.next_due()
            t = min(t_run, t_hk)
            if t >= end_mono:
                break
            clock.sleep_until(t)
            if t_hk <= t_run:
                self.jobs.run_due()
                continue
            _, _, i = heapq.heappop(heap)
            r = self.runners[i]
            r.act()
            heapq.heappush(heap, (max(r.wake_at(), clock.monotonic() + 1e-6), 0, i))
        clock.sleep_until(end_mono)

    def _screen_loop(self, r: ScreenRunner) -> None:
        r.start()
        while not self.stop.is_set():
            t = r.wake_at()
            if t == float("inf"):
                self.stop.wait(1.0)
                continue
            self.clock.sleep_until(t)
            if self.stop.is_set():
                break
            try:
                r.act()
            except Exception as exc:  # a driver bug must not end the screen's thread
                self.writer.append("driver_error", screen=r.screen.id, item=None,
                                   error="unavailable", message=f"internal: {exc!r}"[:500])
                self.stop.wait(0.5)

    def run_real(self, on_tick: Callable[[], None] | None = None) -> None:
        threads = [threading.Thread(target=self._screen_loop, args=(r,),
                                    name=f"screen-{r.screen.id}", daemon=True)
                   for r in self.runners]
        for t in threads:
            t.start()
        if self.notifier.enabled:
            self.notifier.send("READY=1")
        t0 = self.clock.monotonic()
        end = t0 + self.s.duration_s if self.s.duration_s is not None else float("inf")
        while not self.stop.is_set():
            now_mono = self.clock.monotonic()
            if now_mono >= end:
                self.stop_reason = "duration reached"
                break
            self.jobs.run_due()
            if self.reload_requested.is_set():
                self.housekeeping("reload")
            if on_tick is not None:
                on_tick()
            self.stop.wait(min(0.25, max(0.0, end - now_mono)))
        self.stop.set()
        if self.notifier.enabled:
            self.notifier.send("STOPPING=1")
        for t in threads:
            t.join(timeout=10)

    def finish(self) -> None:
        for r in self.runners:
            r.finish(self.stop_reason)
        self.writer.append("run_stop", reason=self.stop_reason)
        self.writer.close()
        if self.shipper is not None:
            self.shipper.stop(timeout=5.0)


def install_signals(rt: Runtime) -> None:
    def on_stop(signum: int, _frame: FrameType | None) -> None:
        rt.stop_reason = f"signal {signal.Signals(signum).name}"
        rt.stop.set()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        rt.reload_requested.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
