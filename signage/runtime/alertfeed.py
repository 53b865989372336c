"""The daemon's alert shell: takes signed envelopes (from the local drop directory, or the
fleet link), keeps the accepted ones on disk, logs, and hands each screen its alert cards.

The decisions live in the pure core (signage/alerts/): envelope.py verifies, cap.py parses,
state.py keeps the alert book, choice.py picks what a screen shows. This file only does I/O,
locking (screens run in their own threads) and the per-screen text and duration.

The drop directory (``[authority] inbox``, default var/inbox): any regular file not starting
with '.' is taken once its size and mtime have stayed the same over one poll (so a file still
being copied from a USB stick is not read half-way), verified, and removed; the verdict is
written next to it as ``results/<name>.json`` (docs/alerts.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..alerts import ALERT_CATEGORY, DRILL_MARK
from ..alerts.cap import CapAlert, CapError, parse_cap, warm_parser
from ..alerts.choice import AlertCard, Candidate, show_seconds
from ..alerts.envelope import EnvelopeError, Opened, open_envelope
from ..alerts.state import AlertBook, Key, Refused
from ..config import resolve
from ..driver import Clock, ItemKind
from ..i18n import _
from ..keys import PublicKey
from ..load import LoadedSite
from ..model import Item
from .records import Sink

MAX_FILE_BYTES = 128 * 1024  # a CAP alert envelope; larger drop files are refused unread


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    reason: str  # "accepted", or the refusal's reason word
    message: str
    identifier: str = ""
    sender: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "reason": self.reason, "message": self.message,
                "alert": self.identifier}


def screen_texts(a: CapAlert) -> tuple[str, str]:
    """(full-screen text, LED scroll text) of an alert."""
    mark = DRILL_MARK if a.drill else ""
    full = "\n".join(p for p in (a.headline, a.description,
                                 f"措施：{a.instruction}" if a.instruction else "",
                                 f"—— {a.sender_name}") if p)
    led = " ".join(p for p in (f"【预警】{a.headline}", a.instruction, f"——{a.sender_name}") if p)
    return mark + full, mark + led


class AlertCenter:
    def __init__(self, loaded: LoadedSite, log: Sink, clock: Clock,
                 iso: Callable[[float], str]) -> None:
        #: reports to the hub (report/alert, docs/alerts.md); set when the fleet link runs
        self.report: Callable[[dict[str, Any]], None] | None = None
        self._log = log
        self._clock = clock
        self._iso = iso
        self._lock = threading.Lock()
        self._loaded = loaded
        a = loaded.cfg.authority
        self.keys = {k.key_id: k for k in (PublicKey.from_text(t) for t in a.keys)}
        self.enabled = bool(self.keys)
        if self.enabled:
            # a box that takes alerts loads the CAP parser now (a few hundred KB): not when
            # the first alert arrives, on its way to the screens, on a busy machine
            warm_parser()
        self.book = AlertBook(loaded.cfg.site.id, tuple(a.regions), bool(a.drill_screens))
        self.inbox = resolve(loaded.base, a.inbox)
        self.store = resolve(loaded.base, a.store)
        self._cards: dict[str, tuple[AlertCard, ...]] = {}
        self._pending: dict[str, tuple[int, int]] = {}  # drop file -> (size, mtime) last poll
        self.first_shown: dict[tuple[Key, str], float] = {}
        self._paths: dict[Key, Path] = {}
        self._fleet_seen: set[bytes] = set()  # the stored envelope of each accepted alert
        self.version = 0
        #: set whenever the active alerts change: the daemon's screen threads wait on these
        #: between switches, so a new alert (or a Cancel) is looked at at once, not at the
        #: next poll, and its slide is drawn the moment it is accepted
        self.wakers: list[threading.Event] = []

    # ---- intake --------------------------------------------------------------------------
    def restore(self) -> None:
        """Re-read the accepted envelopes kept in the store (a restart keeps alerts in force)."""
        if not self.store.is_dir():
            return
        for p in sorted(self.store.glob("*.env")):
            try:
                data = p.read_bytes()[:MAX_FILE_BYTES + 1]
            except OSError:
                continue
            v = self.offer(data, f"store:{p.name}", keep=False)
            if v.reason == "expired":
                p.unlink(missing_ok=True)
            elif v.accepted:
                self._paths[(v.sender, v.identifier)] = p

    def offer(self, data: bytes, source: str, keep: bool = True) -> Verdict:
        """Verify, parse, take into the book; log ``alert_received`` either way. The fleet
        link re-delivers retained alerts at every reconnect: the same bytes again are
        skipped silently."""
        if source == "fleet":
            fp = hashlib.sha256(data).digest()
            if fp in self._fleet_seen:
                return Verdict(False, "duplicate", _("already received over the fleet link"))
            self._fleet_seen.add(fp)
        now = self._clock.time()
        try:
            opened = open_envelope(data, self.keys, kinds=("cap-alert",))
            alert = parse_cap(opened.payload)
        except EnvelopeError as exc:
            return self._refuse(source, exc.reason, str(exc))
        except CapError as exc:
            return self._refuse(source, "invalid", str(exc))
        with self._lock:
            got = self.book.receive(alert, datetime.fromtimestamp(now, UTC), opened.key_id)
            if isinstance(got, Refused):
                return self._refuse(source, got.reason, got.message, alert)
            if keep:
                self._paths[alert.key] = self._keep(opened, data)
            self._rebuild(now)
        self._log.append("alert_received", accepted=True, reason="accepted", message="",
                         source=source[:200], **self._fields(alert),
                         ended=[f"{s},{i}" for s, i in got.ended])
        self._report({"kind": "received", "accepted": True, "reason": "accepted",
                      "message": "", "digest": opened.digest, "source": source[:200],
                      **self._fields(alert)})
        for s, i in got.ended:
            why = "superseded" if alert.msg_type == "Update" else "cancelled"
            self._log.append("alert_ended", sender=s, alert=i, reason=why,
                             by=alert.identifier)
        return Verdict(True, "accepted", "", alert.identifier, alert.sender)

    def _fields(self, a: CapAlert) -> dict[str, Any]:
        return {"alert": a.identifier, "sender": a.sender, "sent": a.sent.isoformat(),
                "status": a.status, "msg_type": a.msg_type,
                "expires": a.expires.isoformat(), "headline": a.headline}

    def _refuse(self, source: str, reason: str, message: str,
                alert: CapAlert | None = None) -> Verdict:
        fields: dict[str, Any] = self._fields(alert) if alert is not None else {
            "alert": None, "sender": None, "sent": None, "status": None, "msg_type": None,
            "expires": None, "headline": None}
        self._log.append("alert_received", accepted=False, reason=reason,
                         message=message[:500], source=source[:200], **fields, ended=[])
        self._report({"kind": "received", "accepted": False, "reason": reason,
                      "message": message[:500], "source": source[:200], **fields})
        return Verdict(False, reason, message, alert.identifier if alert else "")

    def _keep(self, opened: Opened, data: bytes) -> Path:
        self.store.mkdir(parents=True, exist_ok=True)
        # named by the receive time: restore() replays them in the order they came
        path = self.store / f"{time.time_ns():020d}-{opened.digest[:16]}.env"
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path

    def poll(self) -> None:
        """The drop directory and expiry; called a few times a second by the daemon."""
        self._poll_inbox()
        now = self._clock.time()
        with self._lock:
            over = self.book.expire(datetime.fromtimestamp(now, UTC))
            if over:
                self._rebuild(now)
        for e in over:
            kept = self._paths.pop(e.key, None)
            if kept is not None:
                kept.unlink(missing_ok=True)  # nothing to restore after a restart
            self._log.append("alert_ended", sender=e.key[0], alert=e.key[1], reason=e.reason,
                             by=None)

    def _poll_inbox(self) -> None:
        try:
            names = sorted(e.name for e in os.scandir(self.inbox)
                           if not e.name.startswith(".") and e.is_file(follow_symlinks=False))
        except OSError:
            return
        for name in names:
            p = self.inbox / name
            try:
                st = p.stat()
            except OSError:
                continue
            sig = (st.st_size, st.st_mtime_ns)
            if self._pending.get(name) != sig:
                self._pending[name] = sig  # wait one poll: it may still be being copied
                continue
            del self._pending[name]
            if st.st_size > MAX_FILE_BYTES:
                v = self._refuse(f"inbox:{name}", "too_large",
                                 _("{file}: {size} bytes; an alert envelope is at most "
                                   "{limit} bytes").format(file=name, size=st.st_size,
                                                           limit=MAX_FILE_BYTES))
            else:
                try:
                    data = p.read_bytes()
                except OSError as exc:
                    v = self._refuse(f"inbox:{name}", "unreadable", f"{name}: {exc}")
                else:
                    v = self.offer(data, f"inbox:{name}")
            results = self.inbox / "results"
            results.mkdir(exist_ok=True)
            out = results / f"{name}.json"
            tmp = results / f".{name}.json.tmp"
            tmp.write_text(json.dumps(v.as_json(), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, out)
            p.unlink(missing_ok=True)

    # ---- per screen ----------------------------------------------------------------------
    def apply_site(self, loaded: LoadedSite) -> None:
        """A reload: new authority keys, regions, drill screens, screens' texts."""
        a = loaded.cfg.authority
        with self._lock:
            self._loaded = loaded
            self.keys = {k.key_id: k for k in (PublicKey.from_text(t) for t in a.keys)}
            self.enabled = bool(self.keys) or bool(self.book.live())
            self.book.regions = tuple(a.regions)
            self.book.drills = bool(a.drill_screens)
            self._rebuild(self._clock.time())

    def _rebuild(self, now: float) -> None:
        loaded = self._loaded
        cfg = loaded.cfg
        live = self.book.live()
        cards: dict[str, tuple[AlertCard, ...]] = {}
        for sc in cfg.screens:
            drv = loaded.drivers.get(sc.driver)
            spec = loaded.spec(sc.id)
            led = sc.driver == "led" or sc.height <= 64
            out = []
            for a in live:
                if a.drill and sc.id not in cfg.authority.drill_screens:
                    continue
                full, scroll = screen_texts(a)
                text = scroll if led else full
                natural = None
                if led and drv is not None:
                    try:
                        natural = drv.text_duration_s(spec, text)
                    except Exception:  # a plugin's measure must not stop an alert
                        natural = None
                secs = show_seconds(natural, len(text), cfg.authority.max_show_s,
                                    cfg.rule.budget_s, cfg.rule.measure == "start-to-start")
                item = Item(f"alert:{a.identifier}", "alerts", ItemKind.TEXT, True, 1.0,
                            round(secs * 1000), text=text, category=ALERT_CATEGORY)
                out.append(AlertCard(Candidate(a.key, a.sent.timestamp(), float(a.repeat_s)),
                                     item, a.identifier, a.sender, a.sent.timestamp(),
                                     a.effective.timestamp(), a.expires.timestamp(), a.drill))
            cards[sc.id] = tuple(out)
        self._cards = cards
        self.version += 1
        for ev in self.wakers:
            ev.set()

    def cards(self, screen_id: str, now: float) -> tuple[AlertCard, ...]:
        """The alerts ``screen_id`` may show at ``now`` (wall seconds)."""
        cs = self._cards.get(screen_id, ())
        return tuple(c for c in cs if c.effective <= now < c.expires)

    def pending(self, screen_id: str) -> bool:
        """True while ``screen_id`` has any alert card (live now or later). A change of
        the cards always sets every waker (_rebuild), so with none the screens need not poll."""
        return bool(self._cards.get(screen_id))

    def shown(self, screen_id: str, card: AlertCard, start: float) -> None:
        """A confirmed alert showing (the runner calls this after the driver confirmed)."""
        k = (card.cand.key, screen_id)
        first = k not in self.first_shown
        if first:
            self.first_shown[k] = start
        self._log.append("alert_shown", screen=screen_id, alert=card.identifier,
                         sender=card.sender, item=card.item.id, start=self._iso(start),
                         first=first, latency_s=round(start - card.sent, 3), drill=card.drill)
        if first:
            self._report({"kind": "shown", "screen": screen_id, "alert": card.identifier,
                          "sender": card.sender, "start": self._iso(start),
                          "latency_s": round(start - card.sent, 3)})

    def _report(self, obj: dict[str, Any]) -> None:
        rep = self.report
        if rep is not None and not str(obj.get("source", "")).startswith("store:"):
            try:
                rep(obj)
            except Exception:  # the link's trouble never stops an alert
                pass
