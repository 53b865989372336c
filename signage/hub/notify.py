"""Notifications: a screen dark in opening hours, a site that stopped reporting, lines the hub
rejected. `Alerts` is the pure part (what is firing, what message is due, rate limits, one
"resolved" when it clears); `Sender` posts the messages to the webhooks in their formats:
plain JSON, 企业微信 (WeCom) and 钉钉 (DingTalk) group robots."""

from __future__ import annotations

import json
import queue
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..fleet.protocol import FV
from ..i18n import _
from .config import Webhook


@dataclass(frozen=True)
class Event:
    kind: str  # screen_down | site_silent | rejected
    state: str  # firing | resolved
    site: str
    screen: str | None
    since: float  # time.time() the condition began
    at: float
    detail: str = ""

    def text(self) -> str:
        since = datetime.fromtimestamp(self.since).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        mins = max(0.0, (self.at - self.since) / 60)
        if self.kind == "screen_down":
            msg = (_("Screen {screen} at site {site} is dark in opening hours since {since} "
                     "({mins:.0f} min)") if self.state == "firing" else
                   _("Resolved: screen {screen} at site {site} shows again (dark since "
                     "{since}, {mins:.0f} min)"))
        elif self.kind == "site_silent":
            msg = (_("Site {site} has not reported since {since} ({mins:.0f} min)")
                   if self.state == "firing" else
                   _("Resolved: site {site} reports again (silent since {since}, "
                     "{mins:.0f} min)"))
        elif self.kind == "violation":
            msg = (_("Screen {screen} at site {site}: the box reports a gap of {detail} s "
                     "today, over the limit (to be confirmed by the audit)")
                   if self.state == "firing" else
                   _("Resolved: screen {screen} at site {site}: a new day, no gap over the "
                     "limit reported yet"))
        else:
            msg = _("Site {site}: the hub rejected log lines: {detail}")
        return msg.format(screen=self.screen, site=self.site, since=since, mins=mins,
                          detail=self.detail[:300])


@dataclass
class _Track:
    since: float
    sent_at: float | None = None  # when a firing message went out (None: not yet)


@dataclass
class Alerts:
    """Which conditions are firing, per webhook: at most one firing message per condition
    and ``min_interval_s``, and one "resolved" once it clears (only if it was announced)."""

    hooks: list[Webhook]
    silent_after_s: float
    _tracks: list[dict[tuple[str, str, str | None], _Track]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tracks = [{} for _ in self.hooks]

    def evaluate(self, now: float, conditions: Mapping[tuple[str, str, str | None], float],
                 details: Mapping[tuple[str, str, str | None], str] | None = None,
                 ) -> list[tuple[int, Event]]:
        """``conditions``: (kind, site, screen) → since, for what holds now (``details``: a
        text for the message). Returns the messages due, as (webhook index, event)."""
        details = details or {}
        out: list[tuple[int, Event]] = []
        for i, hook in enumerate(self.hooks):
            tracks = self._tracks[i]
            for key, since in conditions.items():
                kind, site, screen = key
                delay = hook.down_after_s if kind == "screen_down" else 0.0
                if now - since < delay:
                    continue
                t = tracks.get(key)
                if t is None:
                    t = tracks[key] = _Track(since)
                if t.sent_at is None or (kind == "rejected"
                                         and now - t.sent_at >= hook.min_interval_s):
                    t.sent_at = now
                    out.append((i, Event(kind, "firing", site, screen, since, now,
                                         details.get(key, ""))))
            for key in [k for k in tracks if k not in conditions]:
                t = tracks.pop(key)
                if t.sent_at is not None and key[0] != "rejected":
                    out.append((i, Event(key[0], "resolved", key[1], key[2], t.since, now)))
        return out


Key = tuple[str, str, str | None]


def conditions_of(boards: Mapping[str, Any], now: float, silent_after_s: float,
                  parse_time: Callable[[str], float]) -> tuple[dict[Key, float], dict[Key, str]]:
    """What holds now, from the hub's boards (signage.hub.ingest.SiteBoard): (kind, site,
    screen) → since, and a detail text for some."""
    cond: dict[Key, float] = {}
    detail: dict[Key, str] = {}
    for site, b in boards.items():
        st = b.status or {}
        screens = st.get("screens") if isinstance(st.get("screens"), dict) else {}
        assert isinstance(screens, dict)
        if b.last_heard and now - b.last_heard > silent_after_s:
            cond[("site_silent", site, None)] = b.last_heard
            continue  # a silent site's last status is stale: no screen alerts from it
        for sid, sc in screens.items():
            if not isinstance(sc, dict) or sc.get("up") is not False or not sc.get("open"):
                continue
            since = b.status_at
            ds = sc.get("down_since")
            if isinstance(ds, str):
                try:
                    t = parse_time(ds)
                except (ValueError, OverflowError, OSError):
                    t = None
                # the box's word, taken only when it is a time since the epoch and not
                # after now (year 1 or 9999 broke the message's date formatting)
                if t is not None and 0 < t <= now:
                    since = t
            cond[("screen_down", site, str(sid))] = since
        rule = st.get("rule") if isinstance(st.get("rule"), dict) else {}
        assert isinstance(rule, dict)
        limit = rule.get("max_gap_s")
        for sid, sc in screens.items():
            worst = sc.get("worst_gap_today_s") if isinstance(sc, dict) else None
            if isinstance(limit, int | float) and isinstance(worst, int | float) and \
                    worst > limit:
                cond[("violation", site, str(sid))] = b.status_at
                detail[("violation", site, str(sid))] = f"{worst:.1f}"
        if b.rejected_since is not None:
            cond[("rejected", site, None)] = b.rejected_since
            detail[("rejected", site, None)] = b.last_reject
    return cond, detail


def payload(hook: Webhook, ev: Event) -> dict[str, Any]:
    text = ev.text()
    if hook.format == "wecom":
        return {"msgtype": "text", "text": {"content": text}}
    if hook.format == "dingtalk":
        return {"msgtype": "text", "text": {"content": text}}
    def iso(t: float) -> str:
        return datetime.fromtimestamp(t).astimezone().isoformat(timespec="milliseconds")

    return {"fv": FV, "event": ev.kind, "state": ev.state, "site": ev.site,
            "screen": ev.screen, "since": iso(ev.since), "at": iso(ev.at), "message": text}


class Sender:
    """Posts in a thread of its own (a slow receiver never holds up the hub); 3 tries."""

    def __init__(self, hooks: list[Webhook], say: Callable[[str], None]) -> None:
        self.hooks = hooks
        self._say = say
        self._q: queue.Queue[tuple[int, Event] | None] = queue.Queue(maxsize=10000)
        self._t = threading.Thread(target=self._run, name="hub-webhooks", daemon=True)
        self._t.start()
        self.sent = 0

    def send(self, items: list[tuple[int, Event]]) -> None:
        for it in items:
            try:
                self._q.put_nowait(it)
            except queue.Full:
                self._say(_("hub: webhook queue full, a message was dropped"))

    def _run(self) -> None:
        while True:
            it = self._q.get()
            if it is None:
                return
            i, ev = it
            hook = self.hooks[i]
            try:
                body = json.dumps(payload(hook, ev), ensure_ascii=False).encode("utf-8")
            except (ValueError, OverflowError, OSError) as exc:  # one message, not the thread
                self._say(_("hub: webhook message for site {site} not sent: "
                            "{exc}").format(site=ev.site, exc=exc))
                continue
            for attempt in range(3):
                req = urllib.request.Request(  # noqa: S310 (the config allows http(s) only)
                    hook.url, data=body, method="POST", headers={
                    "Content-Type": "application/json; charset=utf-8"})
                try:
                    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 (http(s) only)
                        r.read(65536)
                    self.sent += 1
                    break
                except OSError as exc:
                    if attempt == 2:
                        self._say("hub: " + _("webhook {url}: {error}").format(url=hook.url,
                                                                             error=exc))

    def close(self) -> None:
        self._q.put(None)
        self._t.join(timeout=10)
