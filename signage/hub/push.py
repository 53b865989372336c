"""Content pushed from the hub (docs/alerts.md): sign with the authority's key, publish retained
commands to the target sites, remember what was sent; and the views that join it with the
boxes' reports (`hub-data/<site>/reports.jsonl`, written by the ingest) and status.

Topics (fleet protocol v1, docs/fleet.md): ``<prefix>/<site>/cmd/alert/<digest16>`` carries a
``cap-alert`` envelope, retained so that a box offline at send time gets it on reconnecting;
``<prefix>/<site>/report/alert`` carries the box's answers (received/refused, first shown per
screen).
"""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..alerts.cap import CapAlert, parse_cap, region_covers
from ..alerts.envelope import open_envelope, seal
from ..fleet.mqtt import connect_props, make_client
from ..fleet.protocol import topic
from ..i18n import N_, _
from ..keys import SigningKey, load_signing_key
from .config import LoadedHub, site_dirs

PUBLICATIONS = "publications.jsonl"


class PushError(ValueError):
    """A publication the hub will not send; the message says why."""


def authority_key(hub: LoadedHub) -> SigningKey:
    if not hub.cfg.authority_key:
        raise PushError(_("{path}: authority_key is not set: the hub cannot sign (create one with "
                          "`signage alert authority-key FILE`)").format(path=hub.path))
    return load_signing_key(hub.p(hub.cfg.authority_key))


def known_sites(hub: LoadedHub) -> list[str]:
    ids = {s.id for s in hub.cfg.site}
    ids.update(d.name for d in site_dirs(hub.data_dir))
    return sorted(ids)


def resolve_targets(hub: LoadedHub, to: list[str]) -> list[str]:
    """Site ids for ``--to`` values: ``all``, a site id, or a 6-digit region code (the sites
    whose [[site]] regions it covers)."""
    out: set[str] = set()
    known = known_sites(hub)
    for t in to:
        if t == "all":
            out.update(known)
        elif len(t) == 6 and t.isdigit():
            out.update(s.id for s in hub.cfg.site
                       if any(region_covers(t, r) for r in s.regions))
        elif t in known:
            out.add(t)
        else:
            raise PushError(_("--to {t!r}: not 'all', a region code, or a site this hub knows "
                              "({known})").format(t=t, known=", ".join(known) or _("none yet")))
    if not out:
        raise PushError(_("--to {to}: reaches no site").format(to=" ".join(to)))
    return sorted(out)


class Publisher:
    """A short-lived MQTT connection with the hub's credentials. Publishes are sent without
    waiting for each one's acknowledgement (50 sites: one round trip, not 50); ``flush``
    waits for them all, and is called before more than FLUSH_BYTES are in flight and by
    the senders before they record what was sent."""

    FLUSH_BYTES = 8 << 20

    def __init__(self, hub: LoadedHub) -> None:
        self.hub = hub
        cid = f"{hub.cfg.broker.client_id}-pub-{secrets.token_hex(3)}"
        self.client, host, port = make_client(hub.broker(), cid)
        self.client.connect(host, port, keepalive=30, clean_start=True,
                            properties=connect_props(True, 0))
        self.client.loop_start()
        self._pending: list[tuple[str, str, Any]] = []
        self._pending_bytes = 0

    def publish(self, site: str, sub: str, payload: bytes) -> None:
        if self._pending_bytes + len(payload) > self.FLUSH_BYTES:
            self.flush()
        info = self.client.publish(topic(self.hub.cfg.broker.prefix, site, sub), payload,
                                   qos=1, retain=True)
        self._pending.append((site, sub, info))
        self._pending_bytes += len(payload)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the broker took every publish so far; PushError naming the first it
        did not take within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for site, sub, info in self._pending:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise PushError(_("site {site}: the broker did not take cmd {sub} in {timeout} "
                                  "s").format(site=site, sub=sub, timeout=timeout))
        self._pending.clear()
        self._pending_bytes = 0

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _record(hub: LoadedHub, rec: dict[str, Any]) -> None:
    root = hub.data_dir
    root.mkdir(parents=True, exist_ok=True)
    with open(root / PUBLICATIONS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")


def publications(hub: LoadedHub) -> list[dict[str, Any]]:
    p = hub.data_dir / PUBLICATIONS
    if not p.is_file():
        return []
    return [json.loads(x) for x in p.read_text("utf-8").splitlines() if x.strip()]


def send_alert(hub: LoadedHub, xml: bytes, to: list[str]) -> tuple[CapAlert, list[str], str]:
    """Check, sign and publish a CAP alert; (the alert, its sites, the envelope digest)."""
    alert = parse_cap(xml)  # the same checks as the boxes: refuse here what they would
    key = authority_key(hub)
    env = seal("cap-alert", xml, key)
    digest = open_envelope(env, {key.key_id: key.public}).digest
    sites = resolve_targets(hub, to)
    pub = Publisher(hub)
    try:
        _clear_expired(hub, pub)
        for s in sites:
            pub.publish(s, f"cmd/alert/{digest[:16]}", env)
        _clear_ended(hub, pub, alert)
        pub.flush()
    finally:
        pub.close()
    _record(hub, {"kind": "alert", "alert": alert.identifier, "sender": alert.sender,
                  "sent": alert.sent.isoformat(), "expires": alert.expires.isoformat(),
                  "msg_type": alert.msg_type, "status": alert.status,
                  "headline": alert.headline, "digest": digest, "to": to, "sites": sites,
                  "at": datetime.now(UTC).isoformat(timespec="milliseconds")})
    return alert, sites, digest


def _clear_ended(hub: LoadedHub, pub: Publisher, alert: CapAlert) -> None:
    """An Update or Cancel: the retained messages of the alerts it ends (same sender) are
    cleared at once. Left retained until their own expiry, they outlived the Cancel's, which
    is cleared at its expiry: a box connecting in between (offline until then, or a new or
    reinstalled box) received the cancelled alert alone and showed it."""
    if alert.msg_type not in ("Update", "Cancel"):
        return
    ends = {(r.sender, r.identifier) for r in alert.references if r.sender == alert.sender}
    for rec in publications(hub):
        if rec.get("kind") == "alert" and (rec.get("sender"), rec.get("alert")) in ends:
            for s in rec["sites"]:
                pub.publish(s, f"cmd/alert/{rec['digest'][:16]}", b"")


def _clear_expired(hub: LoadedHub, pub: Publisher) -> None:
    """Retained alerts past their expiry are cleared (an empty retained message), so the
    broker does not hand them to every box that connects, forever."""
    now = datetime.now(UTC)
    for rec in publications(hub):
        if rec.get("kind") == "alert" and not rec.get("cleared") \
                and datetime.fromisoformat(rec["expires"]) < now:
            for s in rec["sites"]:
                pub.publish(s, f"cmd/alert/{rec['digest'][:16]}", b"")


# ---- the views -------------------------------------------------------------------------

@dataclass
class ScreenRow:
    alert: str
    site: str
    screen: str | None
    received: str  # "yes", a refusal reason, or "no"
    first_shown: str | None
    latency_s: float | None
    why_not: str  # empty when shown


def _reports(hub: LoadedHub, site: str) -> list[dict[str, Any]]:
    p = hub.data_dir / site / "reports.jsonl"
    if not p.is_file():
        return []
    out = []
    for line in p.read_text("utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _status(hub: LoadedHub, site: str) -> dict[str, Any]:
    p = hub.data_dir / site / "status.json"
    try:
        got = json.loads(p.read_text("utf-8"))
        return got if isinstance(got, dict) else {}
    except (OSError, ValueError):
        return {}


def alert_rows(hub: LoadedHub, now: float | None = None) -> list[ScreenRow]:
    """Per alert sent, per targeted site and screen: received, first shown (latency from
    `sent`), or why not (refused, offline, screen down, closed, not yet)."""
    now = time.time() if now is None else now
    rows: list[ScreenRow] = []
    for rec in publications(hub):
        if rec.get("kind") != "alert":
            continue
        aid, sender = rec["alert"], rec["sender"]
        for site in rec["sites"]:
            reps = [r for r in _reports(hub, site) if r.get("topic") == "report/alert"
                    and r.get("alert") == aid and r.get("sender") == sender]
            got = [r for r in reps if r.get("kind") == "received"]
            received = "no"
            if any(r.get("accepted") for r in got):
                received = "yes"
            elif got:
                received = str(got[0].get("reason"))
            # the boxes' reports and status are their word, in any shape: only what has the
            # documented types is read (a hostile one crashed `signage hub alerts`)
            shown = {r["screen"]: r for r in reps
                     if r.get("kind") == "shown" and isinstance(r.get("screen"), str)}
            st = _status(hub, site)
            screens = sorted(set(_screens(st)) | set(shown)) or [None]
            for scr in screens:
                r = shown.get(scr) if scr is not None else None
                if r is not None:
                    start = r.get("start")
                    lat = r.get("latency_s")
                    rows.append(ScreenRow(
                        aid, site, scr, received, start if isinstance(start, str) else None,
                        float(lat) if isinstance(lat, int | float) and not isinstance(
                            lat, bool) and math.isfinite(lat) else None, ""))
                    continue
                rows.append(ScreenRow(aid, site, scr, received, None, None,
                                      _why(received, st, scr, now)))
    return rows


def _screens(st: dict[str, Any]) -> dict[str, Any]:
    got = st.get("screens")
    return got if isinstance(got, dict) else {}


def _why(received: str, st: dict[str, Any], screen: str | None, now: float) -> str:
    if received not in ("yes", "no"):
        return f"refused: {received}"
    if received == "no":
        return N_("offline: not received yet") if st else N_("offline: never heard from")
    s = _screens(st).get(screen, {}) if screen else {}
    if not isinstance(s, dict):
        s = {}
    if s.get("up") is False:
        return N_("screen down")
    if s.get("open") is False:
        return N_("closed")
    return N_("not shown yet")


# ---- pushed playlists --------------------------------------------------------------------

#: media travel in parts of at most this size (as the boxes expect: runtime/pushfeed.py)
PART_BYTES = 512 * 1024


def send_playlist(hub: LoadedHub, playlist: Path, media: list[Path], to: list[str],
                  bid: str) -> tuple[str, list[str], str]:
    """Sign a playlist and its media into a bundle and publish it (media parts first, then
    the envelope, all retained) to every target site; (id, sites, digest)."""
    from ..alerts.bundle import make_manifest, next_serial
    from ..playlist import load_playlist
    from ..problems import InputError

    try:
        load_playlist(playlist)  # the format, here; the boxes check the whole site
    except InputError as exc:
        raise PushError("\n".join(str(p) for p in exc.problems)) from None
    key = authority_key(hub)
    sites = resolve_targets(hub, to)
    # what the bundle itself names (the boxes check it): all, region:<code>, site:<id>
    targets = ["all" if t == "all" else f"region:{t}" if t.isdigit() else f"site:{t}"
               for t in to]
    serial = next_serial(time.time(), last_serial(hub, bid))
    m = make_manifest(bid, targets, playlist.read_text("utf-8"), media, serial)
    env = seal("playlist-bundle", m.to_json(), key)
    if len(env) > 1_000_000:
        raise PushError(_("the bundle's envelope is {n} bytes; at most 1,000,000 go through the "
                          "broker (a shorter playlist)").format(n=len(env)))
    digest = open_envelope(env, {key.key_id: key.public}, kinds=("playlist-bundle",)).digest
    pub = Publisher(hub)
    try:
        for s in sites:
            for p, x in zip(media, m.media, strict=True):
                data = p.read_bytes()
                for i in range(0, max(1, len(data)), PART_BYTES):
                    pub.publish(s, f"cmd/media/{x.sha256}/{i // PART_BYTES}",
                                data[i:i + PART_BYTES])
            pub.publish(s, f"cmd/playlist/{bid}", env)
        pub.flush()
    finally:
        pub.close()
    _record(hub, {"kind": "playlist", "id": bid, "digest": digest, "to": to,
                  "targets": targets, "sites": sites, "media": [x.name for x in m.media],
                  "media_sha256": [x.sha256 for x in m.media],
                  "parts": [-(-x.size // PART_BYTES) for x in m.media], "serial": serial,
                  "at": datetime.now(UTC).isoformat(timespec="milliseconds")})
    return bid, sites, digest


def last_serial(hub: LoadedHub, bid: str) -> int | None:
    """The highest serial this hub used for publication slot ``bid`` (bundles and
    withdrawals share them, docs/alerts.md)."""
    got = [r["serial"] for r in publications(hub)
           if r.get("kind") in ("playlist", "withdrawal") and r.get("id") == bid
           and isinstance(r.get("serial"), int)]
    return max(got, default=None)


def send_withdrawal(hub: LoadedHub, bid: str, to: list[str]) -> tuple[list[str], str]:
    """Sign and publish the withdrawal of publication slot ``bid``, retained on the slot's
    own topic (it replaces the retained bundle); (sites, digest)."""
    from ..alerts.bundle import Withdrawal, next_serial, parse_withdrawal

    key = authority_key(hub)
    sites = resolve_targets(hub, to)
    targets = ["all" if t == "all" else f"region:{t}" if t.isdigit() else f"site:{t}"
               for t in to]
    w = Withdrawal(bid, next_serial(time.time(), last_serial(hub, bid)), tuple(targets))
    payload = parse_withdrawal(w.to_json()).to_json()  # the same checks as the box
    env = seal("playlist-withdrawal", payload, key)
    digest = open_envelope(env, {key.key_id: key.public},
                           kinds=("playlist-withdrawal",)).digest
    pub = Publisher(hub)
    try:
        for s in sites:
            pub.publish(s, f"cmd/playlist/{bid}", env)
        pub.flush()
    finally:
        pub.close()
    _record(hub, {"kind": "withdrawal", "id": bid, "digest": digest, "to": to,
                  "targets": targets, "sites": sites, "serial": w.serial,
                  "at": datetime.now(UTC).isoformat(timespec="milliseconds")})
    return sites, digest


def finished_parts(hub: LoadedHub) -> tuple[list[tuple[str, str]], list[str]]:
    """The retained media parts the broker no longer needs to hold: those of a playlist
    publication that every targeted site has answered (applied or rejected: its box has
    what it needed) or that a later publication or withdrawal of the same id replaced for
    every targeted site. (site, sub-topic) pairs to clear, and the publications finished.
    A part a later, unfinished publication of the same site still lists is kept."""
    recs = [r for r in publications(hub) if r.get("kind") in ("playlist", "withdrawal")]
    cleared = {r.get("digest") for r in publications(hub) if r.get("kind") == "parts_cleared"}
    reports: dict[str, set[str]] = {}

    def answered(site: str) -> set[str]:
        if site not in reports:
            reports[site] = {str(r.get("digest")) for r in _reports(hub, site)
                             if r.get("topic") == "report/publication"
                             and r.get("kind", "result") == "result"}
        return reports[site]

    def topics(rec: dict[str, Any], site: str) -> set[tuple[str, str]]:
        shas, parts = rec.get("media_sha256"), rec.get("parts")
        if not isinstance(shas, list) or not isinstance(parts, list):
            return set()  # sent before the hub recorded its parts: nothing known to clear
        return {(site, f"cmd/media/{sha}/{i}") for sha, n in zip(shas, parts, strict=False)
                for i in range(int(n))}

    finished: list[dict[str, Any]] = []
    open_: list[dict[str, Any]] = []
    for n, rec in enumerate(recs):
        if rec.get("kind") != "playlist" or rec.get("digest") in cleared:
            continue
        later = recs[n + 1:]
        done = all(rec["digest"] in answered(site) or any(
            r.get("id") == rec["id"] and site in r.get("sites", []) for r in later)
            for site in rec["sites"])
        (finished if done else open_).append(rec)
    keep = {t for rec in open_ for site in rec["sites"] for t in topics(rec, site)}
    out = sorted({t for rec in finished for site in rec["sites"] for t in topics(rec, site)}
                 - keep)
    return out, [rec["digest"] for rec in finished]


def clear_finished_parts(hub: LoadedHub, publish: Any) -> int:
    """Publish an empty retained message on each part ``finished_parts`` names (``publish``:
    (site, sub, payload) -> None), then record the publications as cleared. How many."""
    out, done = finished_parts(hub)
    for site, sub in out:
        publish(site, sub, b"")
    for digest in done:
        _record(hub, {"kind": "parts_cleared", "digest": digest,
                      "at": datetime.now(UTC).isoformat(timespec="milliseconds")})
    return len(out)


@dataclass
class PubRow:
    id: str
    digest: str
    site: str
    state: str  # applied | rejected | delivered (media still arriving) | not reached
    reason: str
    problems: list[str]
    at: str | None


def _pushed_state(reps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The box's last report of its pushed state: {slot id: entry}, or None (none yet)."""
    states = [r for r in reps if r.get("kind") == "state" and isinstance(r.get("pushed"), list)]
    if not states:
        return None
    return {e["id"]: e for e in states[-1]["pushed"]
            if isinstance(e, dict) and isinstance(e.get("id"), str)}


def publication_rows(hub: LoadedHub) -> list[PubRow]:
    """Per playlist publication (and withdrawal) and target site: applied, withdrawn,
    rejected (why), or not reached; and a site whose reported pushed state disagrees with
    what it applied (docs/alerts.md, "Pushed state and the proof log")."""
    rows = []
    recs = [r for r in publications(hub) if r.get("kind") in ("playlist", "withdrawal")]
    for n, rec in enumerate(recs):
        withdrawal = rec.get("kind") == "withdrawal"
        for site in rec["sites"]:
            every = [r for r in _reports(hub, site) if r.get("topic") == "report/publication"]
            latest = not any(r.get("id") == rec["id"] and site in r["sites"]
                             for r in recs[n + 1:])
            check = latest and not withdrawal
            reps = [r for r in every if r.get("digest") == rec["digest"]]
            if not reps:
                rows.append(PubRow(rec["id"], rec["digest"], site, N_("not reached"), "", [],
                                   None))
                continue
            done = [r for r in reps if r.get("kind", "result") == "result"]
            if not done:
                rows.append(PubRow(rec["id"], rec["digest"], site, N_("delivered"), "", [],
                                   reps[-1].get("received")))
                continue
            r = done[-1]
            # the box's word on its pushed state, when given after this answer
            after = every[next(i for i, x in enumerate(every) if x is r) + 1:]
            state = _pushed_state(after) if check else None
            verdict = N_("rejected")
            if r.get("accepted"):
                verdict = N_("withdrawn") if withdrawal else N_("applied")
                entry = state.get(rec["id"]) if state is not None else None
                if state is not None and (entry is None or not entry.get("present")
                                          or entry.get("digest") != rec["digest"]):
                    verdict = N_("disagrees: missing on the box") if entry is None or not \
                        entry.get("present") else N_("disagrees: another bundle on the box")
            rows.append(PubRow(rec["id"], rec["digest"], site, verdict,
                               str(r.get("reason", "")),
                               [str(p) for p in r["problems"]]
                               if isinstance(r.get("problems"), list) else [],
                               r.get("received")))
    return rows
