"""The runtime: wires the site, the log writer, the drivers and one runner per screen, and
runs them on the real clock (`signage run`) or on a virtual one (`signage simulate`).

Wall-clock house-keeping (heartbeats, the reload check, the midnight log rotation) is driven by
triggers with APScheduler 3's interface, which answer "next fire time after t" for either clock
(housekeeping.py). Item switches are not such jobs: they are timed on the monotonic clock by
each screen's own thread, so that a wall-clock step neither fires nor skips a switch and a
start lands within a millisecond or two.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import os
import queue
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

from .. import __version__
from ..config import resolve
from ..driver import Clock, Driver, DriverClass, DriverContext, load_driver
from ..i18n import _
from ..keys import SigningKey, SigningKeyError, load_signing_key, write_new_key
from ..load import LoadedSite, screen_spec
from ..playlog.boxkey import box_signing_key, finish_rotation, pending_rotation
from ..playlog.keyfile import load_key
from ..playlog.logdir import NEW_CHAIN_NOTE, chain_key, check_mode, claim, read_new_chain_note
from ..playlog.writer import LogWriter, RecordTooLong, boot_id
from ..render import sanitize
from .alertfeed import AlertCenter
from .housekeeping import Housekeeping, LocalMidnight
from .notify import Notifier
from .pushfeed import PushCenter
from .reload import Reloader
from .runner import ScreenRunner
from .showables import Showables
from .status import status_doc, take_change_note, write_status

#: format 2: how often the house-keeping checks whether a checkpoint is due
CHECKPOINT_TICK_S = 5.0
#: the fleet link starts when every screen has shown its first item, or this long after the
#: run started (a closed screen shows nothing): docs/benchmarks.md, the start-up peak
SHIPPER_WAIT_S = 5.0


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


#: the largest command from the hub handled (an alert envelope is at most 128 KiB)
MAX_COMMAND_BYTES = 1 << 20


def _pl_name(p: Path) -> str:
    """A playlist file's name in the log: its file name; a pushed one (media/.pushed/<id>/
    playlist.toml) is named pushed.<id>.toml, as its playlist id."""
    return f"pushed.{p.parent.name}.toml" if p.parent.parent.name == ".pushed" else p.name


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
        "playlists_sha256": {_pl_name(Path(k)): v for k, v in loaded.digests.items()
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
        key_path = settings.key_file or resolve(base, cfg.log.key_file)
        if cfg.log.format != 2 and (key_path.exists() or key_path.is_symlink()):
            load_key(key_path)  # a key others can read is refused before anything is made
        # the log directory is this process's alone, and only its own chain is continued
        self.lock = claim(log_dir, "--log" if settings.virtual
                          else f"[log] dir in {loaded.config_path}")
        check_mode(log_dir, self.mode)
        if cfg.log.format == 2:
            self.signing_path = settings.signing_key or resolve(base, cfg.log.signing_key)
            signing = box_signing_key(self.signing_path, log_dir, settings.say)
        else:
            site_key = chain_key(key_path, log_dir, "signage new-chain --config "
                                 f"{loaded.config_path} --reason TEXT" if not settings.virtual
                                 else _("give simulate a new --log directory, or remove {dir}")
                                 .format(dir=log_dir))
        self.new_chain = read_new_chain_note(log_dir)
        self.writer = LogWriter(
            log_dir, site_key, cfg.tz, clock, run_id=secrets.token_hex(6),
            signing=signing, site_id=cfg.site.id,
            boot_id=boot_id() if not settings.virtual else "virtual-" + secrets.token_hex(4),
            fsync="batch" if settings.virtual else cfg.log.fsync,
            batch_ms=10**12 if settings.virtual else cfg.log.batch_ms,  # simulate: at close
            buffer_records=cfg.log.buffer_records,
            write_buffer=1 << 16 if settings.virtual else 0,
            on_error=lambda m: settings.say(_("LOG: {message}").format(message=m)),
        )
        self.notifier = Notifier() if not settings.virtual else Notifier({})
        self.runners: list[ScreenRunner] = []
        self.codes: Any = None  # signage.inspection.issuer.CodeSource when codes are on
        self.shipper: Any = None  # signage.fleet.shipper.Shipper when [fleet] is configured
        self._shipper_due = False  # set by setup, started by run_real
        self._iso = self.writer.iso  # one formatter (and memo) for the runners and the log
        self._heavy = threading.Lock()
        self.reloader = Reloader(loaded, self._today)
        self._inbound: queue.Queue[tuple[str, bytes]] = queue.Queue()
        #: set when a command arrives: the main loop takes it at once, not at its next tick
        self._kick = threading.Event()
        #: urgent alerts (docs/alerts.md): the drop directory and the fleet link feed it
        self.alerts = AlertCenter(loaded, self.writer, clock, self._iso) \
            if not settings.virtual else None
        #: pushed playlists (docs/alerts.md): verified, validated, then a forced reload
        self.pushes = PushCenter(loaded, self.writer, self._today,
                                 self.reload_requested.set) if not settings.virtual else None
        self.jobs = Housekeeping(clock, cfg.tz, lambda name: self.housekeeping(name))
        self.jobs.every("heartbeat", cfg.log.heartbeat_s)
        if signing is not None:  # no record waits more than CHECKPOINT_S for a checkpoint
            self.jobs.every("checkpoint", CHECKPOINT_TICK_S)
        self.jobs.at("rotate", LocalMidnight(cfg.tz))
        if not settings.virtual:
            self.jobs.every("reload", cfg.playlists.reload_check_s)
            # the console's view of the live state (docs/status-file.md)
            self.jobs.every("status", 1.0)
        self._started = clock.time()
        self.last_reload: dict[str, Any] | None = None

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
            opts: dict[str, Any] = {"kind": kind}
            if sc.driver == "simulator":
                # a simulator screen keeps its own options, fault drills (fail_every_af,
                # latency_ms) included: drills work on the virtual clock too
                opts = {**dict(sc.options), "kind": str(sc.options.get("kind", kind))}
            spec = dataclasses.replace(spec, options=opts)
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
        for name in self.writer.stray:
            self.s.say(_("LOG: {file} in {dir} is dated after today and does not hold the "
                         "log's chain: a stray file, not written to (the audit flags it); "
                         "remove it").format(file=name, dir=self.writer.dir))
        extra = {"new_chain": self.new_chain} if self.new_chain is not None else {}
        self.writer.append("run_start", version=__version__, mode=self.mode,
                           **site_record(self.loaded, self.mode), **extra)
        if self.new_chain is not None:
            with contextlib.suppress(OSError):
                (self.writer.dir / NEW_CHAIN_NOTE).unlink()
        for n in notes:
            rtype = n.pop("type")
            self.writer.append(rtype, **n)
        if self.alerts is not None:
            self.alerts.restore()
        self.take_key_rotation()
        codes = self._code_source()
        show = Showables(self.loaded.site.media_root)
        for i, screen in enumerate(self.loaded.site.screens):
            drv = self._driver_for(i)
            self.runners.append(ScreenRunner(
                self.loaded.site, screen, drv, self.writer, show,
                guard_s=min(1.0, self.loaded.cfg.rule.margin_s / 2),
                poll_clips=not self.s.virtual, iso=self._iso, live=not self.s.virtual,
                alerts=self.alerts))
            if codes is not None:
                from .codes import CodeHook

                self.runners[-1].codes = CodeHook(codes, screen.id)
        if codes is not None:  # the first codes, made while the players start
            codes.warm(self.loaded.site, [screen.id for screen in self.loaded.site.screens])
        # the fleet link starts in run_real, once the screens' first frames are drawn: the TLS
        # handshake and paho's buffers then do not add to the start-up's memory peak
        self._shipper_due = self.loaded.cfg.fleet is not None and self.s.fleet
        if self._shipper_due and self.s.virtual:  # no frames drawn on a virtual clock
            self._shipper_due = False
            self._start_shipper()

    def _code_source(self) -> Any:
        """The inspection code's signer, when [inspection] enabled (never under simulate:
        no frame is drawn there). It signs with the box's key, the one of the log's
        checkpoints (format 2; after a rotation, the new one); with format 1, the key at
        [log] signing_key, created when missing. A key that cannot be used is reported and
        the screens run on without codes: the anti-fraud schedule never waits for a code."""
        icfg = self.loaded.cfg.inspection
        if not icfg.enabled or self.s.virtual:
            return None
        from ..inspection.issuer import CodeSource  # zxing-cpp: only with codes on

        fixed: SigningKey | None = None
        if self.writer.signing_key is None:
            path = resolve(self.loaded.base, self.loaded.cfg.log.signing_key)
            try:
                if path.exists() or path.is_symlink():
                    fixed = load_signing_key(path)
                else:
                    fixed = write_new_key(path)
                    self.s.say(_("created the signing key {path} for the inspection codes (key "
                                 "id {kid}); register its public key in the inspectors' trust "
                                 "file: {public}").format(path=path, kid=fixed.key_id,
                                                          public=fixed.public.text))
            except SigningKeyError as exc:
                self.s.say(_("inspection codes off: {err}").format(err=exc))
                return None

        def key() -> SigningKey:
            k = self.writer.signing_key or fixed
            assert k is not None
            return k

        def head() -> tuple[int, str]:
            h = self.writer.head
            return h.seq, h.mac

        self.codes = CodeSource(icfg, key, self.clock, head)
        return self.codes

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
            heartbeat_s=cfg.log.heartbeat_s), status=status, say=self.s.say,
            commands=self._command_in)
        if self.alerts is not None and self.pushes is not None:
            sh = self.shipper
            self.alerts.report = lambda obj: sh.report("alert", obj)
            self.pushes.report = lambda obj: sh.report("publication", obj)
        self.shipper.start()

    def _command_in(self, sub: str, payload: bytes) -> None:
        """From paho's thread: queue; the main loop handles it (see _commands)."""
        if len(payload) <= MAX_COMMAND_BYTES and self._inbound.qsize() < 1000:
            self._inbound.put((sub, payload))
            self._kick.set()

    def _commands(self) -> None:
        """The hub's commands (docs/alerts.md): cmd/alert/<digest> an alert envelope,
        cmd/playlist/<id> a bundle envelope, cmd/media/<sha256>/<i> its media parts. An
        empty payload is the hub clearing a retained command: nothing to do."""
        while True:
            try:
                sub, payload = self._inbound.get_nowait()
            except queue.Empty:
                return
            if not payload:
                continue
            if sub.startswith("alert/") and self.alerts is not None:
                self.alerts.offer(payload, "fleet")
            elif sub.startswith("playlist/") and self.pushes is not None:
                self.pushes.fleet_bundle(sub[len("playlist/"):], payload)
            elif sub == "state" and self.pushes is not None:
                self.pushes.report_state()  # the link (re)connected, or the hub asks
            elif sub.startswith("media/") and self.pushes is not None:
                sha, _, idx = sub[len("media/"):].partition("/")
                if idx.isdigit():
                    self.pushes.fleet_part(sha, int(idx), payload)

    # ---- house-keeping -------------------------------------------------------------------
    def housekeeping(self, name: str) -> None:
        if name == "heartbeat":
            self.writer.append("heartbeat", screens={r.screen.id: r.status() for r in self.runners})
            if self.notifier.enabled:
                self.notifier.send("WATCHDOG=1")
        elif name == "checkpoint":
            self.writer.checkpoint_if_due(ahead=CHECKPOINT_TICK_S)
        elif name == "rotate":
            self.writer.rotate_if_due()
        elif name == "reload":
            self.check_reload(force=self.reload_requested.is_set())
            self.reload_requested.clear()
            self.take_key_rotation()
        elif name == "status":
            self.write_status()

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
            self.s.say(_("key rotation not done (the current key stays in use): {error}").format(
                error=exc))
            return
        self.s.say(_("signing key rotated: {old} -> {new}").format(old=old_id, new=new.key_id))

    def write_status(self, state: str = "running") -> None:
        """The live state for the console; a failure to write it never stops the screens."""
        site = self.loaded.cfg.site
        try:
            write_status(self.run_dir, status_doc(
                self.runners, site_id=site.id, site_name=site.name, tz=self.loaded.cfg.tz,
                now=self.clock.time(), pid=os.getpid(), started=self._started,
                run_dir=self.run_dir, mode=self.mode, state=state,
                last_reload=self.last_reload))
        except OSError as exc:
            self.s.say(_("status file: {error}").format(error=exc))

    def check_reload(self, force: bool = False) -> None:
        res = self.reloader.check(force)
        if res is None:
            return
        new, problems = res
        stamp = datetime.fromtimestamp(self.clock.time(), self.loaded.cfg.tz).isoformat(
            timespec="seconds")
        if new is None:
            self.s.say(_("reload rejected, the running schedule continues:") + "\n  "
                       + "\n  ".join(sanitize(p) for p in problems))
            self.writer.append("reload", accepted=False, problems=problems[:50],
                               config_sha256="", playlists_sha256={})
            self.last_reload = {"at": stamp, "accepted": False, "problems": problems[:20]}
            return
        rec = site_record(new, self.mode)
        by = take_change_note(self.run_dir, new.digests) if not self.s.virtual else None
        extra: dict[str, Any] = {"by": by} if by is not None else {}
        try:
            self.writer.append("reload", accepted=True, problems=[],
                               config_sha256=rec["config_sha256"],
                               playlists_sha256=rec["playlists_sha256"], site=rec["site"],
                               rule=rec["rule"], hours=rec["hours"], screens=rec["screens"],
                               items=rec["items"], heartbeat_s=rec["heartbeat_s"], **extra)
        except RecordTooLong as exc:  # never applied unlogged: rejected, the old one goes on
            self.s.say(_("reload rejected, the running schedule continues: {why}").format(
                why=exc))
            self.writer.append("reload", accepted=False, problems=[str(exc)],
                               config_sha256="", playlists_sha256={})
            self.last_reload = {"at": stamp, "accepted": False, "problems": [str(exc)]}
            return
        self.last_reload = {"at": stamp, "accepted": True, "problems": [], "by": by,
                            "playlists_sha256": rec["playlists_sha256"]}
        self.loaded = new
        if self.alerts is not None and self.pushes is not None:
            self.alerts.apply_site(new)
            self.pushes.apply_site(new)
        for r, screen in zip(self.runners, new.site.screens, strict=True):
            r.apply_site(new.site, screen)
        self.s.say(_("reload accepted: applied at the next item boundary"))
        if not self.s.virtual:
            self.write_status()

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
        runners, next_due, run_due = self.runners, self.jobs.next_due, self.jobs.run_due
        replace = heapq.heapreplace
        while heap:
            t_run = heap[0][0]
            t_hk = next_due()
            t = t_hk if t_hk < t_run else t_run
            if t >= end_mono:
                break
            clock.sleep_until(t)
            if t_hk <= t_run:
                run_due()
                continue
            i = heap[0][2]  # stays on top while it acts: nothing else touches the heap
            r = runners[i]
            r.act()
            t_next = r.wake_at()
            floor = clock.monotonic() + 1e-6
            replace(heap, (t_next if t_next > floor else floor, 0, i))
        clock.sleep_until(end_mono)

    def _screen_loop(self, r: ScreenRunner) -> None:
        wake: threading.Event | None = None
        if self.alerts is not None and not self.s.virtual:
            wake = threading.Event()  # set by the AlertCenter when the active alerts change
            self.alerts.wakers.append(wake)
        r.start()
        while not self.stop.is_set():
            t = r.wake_at()
            if t == float("inf"):
                self.stop.wait(1.0)
                continue
            if wake is None:
                self.clock.sleep_until(t)
            elif not self._nap(t, wake):
                continue  # a second passed: look at the plan again
            if self.stop.is_set():
                break
            try:
                r.act()
            except Exception as exc:  # a driver bug must not end the screen's thread
                self.writer.append("driver_error", screen=r.screen.id, item=None,
                                   error="unavailable", message=f"internal: {exc!r}"[:500])
                self.stop.wait(0.5)

    def _nap(self, t: float, wake: threading.Event) -> bool:
        """Sleep until monotonic ``t``, or until an alert changes (then act at once). False
        when a second passed before ``t`` (the caller asks for its wake-up time again, so that
        a far one never holds the thread past a stop). A wait that reaches ``t`` acts: asking
        again would move a deadline set relative to now (the health poll's) for ever, and a
        dead player would go unnoticed."""
        left = t - self.clock.monotonic() - 0.02
        if left <= 0:
            self.clock.sleep_until(t)  # the last ~20 ms in short sleeps: on time
            return True
        if wake.wait(min(left, 1.0)):
            wake.clear()
            return True
        if left <= 1.0:  # the wait ran to ``t``: act now (asking wake_at again would move a
            self.clock.sleep_until(t)  # relative deadline such as the health poll's on)
            return True
        return False

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
            if self._shipper_due and (now_mono - t0 >= SHIPPER_WAIT_S
                                      or all(r.shown > 0 for r in self.runners)):
                self._shipper_due = False
                self._start_shipper()
            # the hub's commands first: a kick for an alert waits for no house-keeping job
            # (a checkpoint's signature and fsync, the status file) due at the same round
            if self.alerts is not None and self.pushes is not None:
                try:
                    self._commands()
                    self.alerts.poll()
                    self.pushes.poll(now_mono)
                except Exception as exc:  # a bad drop file must not end the daemon
                    self.writer.append("alert_error", message=f"internal: {exc!r}"[:500])
            self.jobs.run_due()
            if self.reload_requested.is_set():
                self.housekeeping("reload")
            if on_tick is not None:
                on_tick()
            if self._kick.wait(min(0.25, max(0.0, end - now_mono))):
                self._kick.clear()  # a command came: round again now (stop: within 0.25 s)
        self.stop.set()
        if self.notifier.enabled:
            self.notifier.send("STOPPING=1")
        for t in threads:
            t.join(timeout=10)

    def finish(self) -> None:
        for r in self.runners:
            r.finish(self.stop_reason)
        if not self.s.virtual:
            self.write_status("stopped")
        self.writer.append("run_stop", reason=self.stop_reason)
        self.writer.close()
        lost = self.writer.lost
        if lost is not None:
            types = ", ".join(f"{k} {v}" for k, v in sorted(lost["types"].items()))
            self.s.say(_("LOG: {n} records were lost: the log storage stayed full until the "
                         "stop ({types}; from {a} to {b}); the next start logs a dropped "
                         "record for them").format(n=lost["count"], types=types,
                                                   a=lost["first_wall"], b=lost["last_wall"]))
        with contextlib.suppress(OSError):
            os.close(self.lock)
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
