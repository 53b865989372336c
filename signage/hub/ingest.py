"""The hub's ingest: every message from the boxes, dispatched by topic to the site's store,
the witness store, the status board and the dataset; fsync then ack (docs/fleet.md).

`Ingest` is the part without the network (a message in, effects on disk out): the MQTT shell
`HubService` feeds it and publishes the acks it asks for.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from ..fleet.mqtt import connect_props, make_client
from ..fleet.protocol import (
    Ack,
    ProtocolError,
    decode_chunk,
    decode_json,
    encode_ack,
    line_seq,
    parse_topic,
    topic,
)
from ..i18n import N_, _
from ..playlog.keyfile import KeyFileError, load_key
from ..trust import load_trust
from .config import LoadedHub
from .dataset import Dataset
from .notify import Alerts, Sender, conditions_of
from .store import SiteStore, Verifier

MAX_CHECKPOINT = 4096
#: the witness store's bounds per site (docs/fleet.md): a checkpoint at or below the copy's
#: last seq is kept (at most one per verified record); one ahead of the copy (its records not
#: yet stored) only if WITNESS_AHEAD_S of hub time passed since the last such one; and the
#: store stops at WITNESS_MAX_BYTES (later checkpoints refused and reported)
WITNESS_AHEAD_S = 10.0
WITNESS_MAX_BYTES = 64 << 20
#: the boxes' answers the hub keeps (docs/fleet.md); the ACL lets a box write only these
REPORTS = ("report/alert", "report/publication")
#: a site's reports.jsonl stops growing here (later reports are refused and reported)
REPORTS_MAX_BYTES = 64 << 20
#: unregistered site ids tallied one by one in refused.json; past this, in one "others" line
REFUSED_SITES_MAX = 1000
REFUSED = "refused.json"


def now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="milliseconds")


@dataclass
class SiteBoard:
    """What the hub knows of a site right now (for status, web and notifications)."""
    last_heard: float = 0.0  # time.time() of the last message
    status: dict[str, Any] | None = None
    status_at: float = 0.0
    online: bool | None = None
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    last_reject: str = ""
    rejected_since: float | None = None  # the site's copy is stuck on a rejected line
    witnessed: int = 0
    witness_ahead_at: float = float("-inf")  # monotonic time of the last ahead checkpoint kept
    witness_dropped: int = 0  # ahead checkpoints not kept (too soon after the last one)
    pending: int = 0  # log v2 records stored and waiting for a checkpoint to be counted
    errors: list[str] = field(default_factory=list)


class Ingest:
    def __init__(self, hub: LoadedHub, say: Callable[[str], None] = print,
                 on_reject: Callable[[str, str], None] | None = None) -> None:
        self.hub = hub
        self.root = hub.data_dir
        self.root.mkdir(parents=True, exist_ok=True)
        self.prefix = hub.cfg.broker.prefix
        self._say = say
        self._on_reject = on_reject
        self._keys: dict[str, bytes | None] = {}
        self._key_files = {s.id: hub.p(s.v1_key_file) for s in hub.cfg.site if s.v1_key_file}
        # log v2: the sites' public keys (docs/trust-file.md); TrustFileError stops the start
        self.trust = load_trust(hub.p(hub.cfg.trust_file)) if hub.cfg.trust_file else None
        self.stores: dict[str, SiteStore] = {}
        self.boards: dict[str, SiteBoard] = {}
        self.dataset = Dataset(self.root / "showings", flush_s=hub.cfg.parquet_flush_s)
        self.lock = threading.Lock()
        self.records = 0
        self.gaps: set[str] = set()  # sites a chunk did not continue since the last sync
        #: messages refused because their site is not registered: site -> [count, reason,
        #: last time]; written to refused.json at each sync (docs/fleet.md)
        self.refused: dict[str, list[Any]] = _read_refused(self.root / REFUSED)
        self._refused_dirty = False

    def registered(self, site: str, at: datetime) -> str | None:
        """None if the hub may accept ``site``'s messages at ``at``: the trust file lists it
        with a key valid then, or (log format 1) hub.toml gives its `v1_key_file`; else the
        reason it is refused."""
        if site in self._key_files:
            return None
        ts = self.trust.site(site) if self.trust is not None else None
        if ts is None:
            # stored as English (data) and translated where shown: N_()
            return (N_("not registered: the trust file does not list this site") if self.trust
                    is not None else N_("not registered: the hub has no trust file and "
                                        "hub.toml gives no v1_key_file for this site"))
        if not any(k.valid_at(at) for k in ts.keys):
            return N_("not registered now: none of the site's keys in the trust file is valid")
        return None

    def _refuse(self, site: str, kind: str, why: str) -> None:
        key = site if site in self.refused or len(self.refused) < REFUSED_SITES_MAX \
            else "(others)"
        entry = self.refused.get(key)
        if entry is None:
            entry = self.refused[key] = [0, "", ""]
            self._say(_("hub: site {site}: refused ({kind}): {reason}").format(
                site=site, kind=kind, reason=_(why)))
        entry[0] += 1
        entry[1], entry[2] = why, now_iso()
        self._refused_dirty = True

    def store(self, site: str) -> SiteStore:
        st = self.stores.get(site)
        if st is None:
            st = SiteStore(self.root, site, Verifier(site, self._key(site), self.trust),
                           now_iso)
            self.stores[site] = st
        return st

    def verifier(self, site: str) -> Verifier:
        return Verifier(site, self._key(site), self.trust)

    def _key(self, site: str) -> bytes | None:
        """The site's v1 key, read when the site is first heard of (a key file that is
        missing or readable by others is reported; the site's lines then cannot verify)."""
        if site not in self._keys:
            path = self._key_files.get(site)
            try:
                self._keys[site] = load_key(path) if path is not None else None
            except KeyFileError as exc:
                self._say(f"hub: {self.hub.path}: site {site!r}: {exc}")
                self._keys[site] = None
        return self._keys[site]

    def board(self, site: str) -> SiteBoard:
        b = self.boards.get(site)
        if b is None:
            b = self.boards[site] = SiteBoard()
        return b

    def handle(self, topic_name: str, payload: bytes) -> None:
        """One message from the broker. Never raises on bad input: reports it."""
        try:
            site, kind = parse_topic(self.prefix, topic_name)
        except ProtocolError as exc:
            self._say("hub: " + _("ignored: {error}").format(error=exc))
            return
        with self.lock:
            why = self.registered(site, datetime.now(UTC))
            if why is not None:  # never stored, witnessed, counted nor shown as a site
                self._refuse(site, kind, why)
                return
            b = self.board(site)
            b.last_heard = time.time()
            try:
                if kind == "log":
                    self._log(site, b, payload)
                elif kind == "checkpoint":
                    self._checkpoint(site, b, payload)
                elif kind == "status":
                    st = decode_json(payload, "status")
                    b.status, b.status_at = st, time.time()
                    # the hub's own fields last: a box cannot set the hub's receive time
                    self._write_json(site, "status.json", {**st, "received": now_iso()})
                elif kind == "online":
                    b.online = decode_json(payload, "online").get("online") is True
                elif kind in REPORTS:  # answers to commands (docs/alerts.md)
                    rep = decode_json(payload, kind, limit=64 << 10)
                    path = self.root / site / "reports.jsonl"
                    if path.exists() and path.stat().st_size > REPORTS_MAX_BYTES:
                        raise ProtocolError(f"{path} holds {REPORTS_MAX_BYTES} bytes: no "
                                            "more reports are kept from this site")
                    # the hub's own fields last: a box cannot set the receive time or topic
                    self._append_json(site, "reports.jsonl",
                                      {**rep, "received": now_iso(), "topic": kind})
                elif kind.startswith("report/"):
                    raise ProtocolError(f"no such report topic in fleet protocol v1: "
                                        f"{kind[:80]!r}")
            except ProtocolError as exc:
                self._reject(site, b, f"{kind}: {exc}")
            except OSError as exc:  # the hub's disk: said, and the box will send again
                self._say(_("hub: site {site}: cannot store a {kind} message: "
                            "{exc}").format(site=site, kind=kind, exc=exc))
            except Exception as exc:  # paho's thread must never die of one
                # box's message: that would stop the whole fleet's ingest. Refused, reported.
                self._reject(site, b, f"{kind}: a message the hub cannot read: "
                             f"{type(exc).__name__}: {exc}"[:300])

    def _log(self, site: str, b: SiteBoard, payload: bytes) -> None:
        chunk = decode_chunk(payload)
        out = self.store(site).accept(chunk)
        if out.gap:
            self.gaps.add(site)
        b.stored += out.stored
        if out.stored:
            b.rejected_since = None
        b.duplicates += out.duplicate
        self.records += out.stored
        if out.verified or out.mark is not None:
            self.dataset.add(site, out.verified, out.mark)
            if self.dataset.full():
                self.dataset.write(self.dataset.take())
        b.pending = len(self.store(site).pending)
        if out.rejected:
            self._reject(site, b, f"{chunk.file}: {out.rejected} line(s) rejected: {out.reason}")

    def _checkpoint(self, site: str, b: SiteBoard, payload: bytes) -> None:
        if len(payload) > MAX_CHECKPOINT or b"\n" in payload or \
                b'"type":"checkpoint"' not in payload:
            raise ProtocolError("not one checkpoint line")
        seq = line_seq(payload)
        if seq is None:
            raise ProtocolError("checkpoint: no seq")
        why = self.store(site).verifier.checkpoint(payload)
        if why is not None:  # a witness must be signed by the site's registered key
            raise ProtocolError(why)
        d = self.root / site
        d.mkdir(parents=True, exist_ok=True)
        last = _last_witnessed(d / "witness-received.jsonl")
        if last is not None and seq <= last:
            return  # held already (a resend, a restarted box, a replay): the first receipt
            #         is the one that proves when the hub saw that head; the file stays bounded
        now = time.monotonic()
        if seq > self.store(site).last_seq:  # ahead of the verified copy: spaced in time
            if now - b.witness_ahead_at < WITNESS_AHEAD_S:
                b.witness_dropped += 1
                return
            b.witness_ahead_at = now
        w = d / "witness.jsonl"
        if w.exists() and w.stat().st_size >= WITNESS_MAX_BYTES:
            raise ProtocolError(f"{w} holds {WITNESS_MAX_BYTES} bytes: no more checkpoints "
                                "are witnessed for this site")
        with open(w, "ab") as fh:
            fh.write(payload + b"\n")
        with open(d / "witness-received.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"seq": seq, "received": now_iso()}) + "\n")
        b.witnessed += 1

    def _reject(self, site: str, b: SiteBoard, why: str) -> None:
        b.rejected += 1
        if b.rejected_since is None:
            b.rejected_since = time.time()
        if why != b.last_reject:
            self._say("hub: " + _("site {site}: {why}").format(site=site, why=why))
        b.last_reject = why
        if self._on_reject is not None:
            self._on_reject(site, why)

    def _append_json(self, site: str, name: str, obj: dict[str, Any]) -> None:
        d = self.root / site
        d.mkdir(parents=True, exist_ok=True)
        with open(d / name, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")

    def _write_json(self, site: str, name: str, obj: dict[str, Any]) -> None:
        d = self.root / site
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / (name + ".tmp")
        tmp.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
        tmp.replace(d / name)

    def _write_refused(self) -> None:
        tmp = self.root / (REFUSED + ".tmp")
        tmp.write_text(json.dumps({"fv": 1, "sites": {
            k: {"messages": n, "reason": why, "last": at}
            for k, (n, why, at) in sorted(self.refused.items())}}, ensure_ascii=False),
            encoding="utf-8")
        tmp.replace(self.root / REFUSED)

    def sync(self) -> list[tuple[str, Ack]]:
        """fsync the copies written since the last call; the acks that may now be sent.

        The acks' positions are taken under the lock, the fsyncs are made outside it (the
        ingest goes on meanwhile; what it appends in between is fsynced too, or at the next
        call), and a site's ack is sent only once its files are durable."""
        todo: list[tuple[str, SiteStore, list[Path], Ack]] = []
        with self.lock:
            for site, st in self.stores.items():
                gap = site in self.gaps  # the box is ahead of the copy: say where it ends
                if st.dirty or gap:
                    paths = st.take_unsynced()
                    if st.file is not None or gap:
                        todo.append((site, st, paths, Ack(
                            st.file, st.size if st.file else 0,
                            st.last_seq if st.file else None, now_iso(), reset=gap)))
                    elif paths:
                        todo.append((site, st, paths, Ack(None, 0, None, "")))
            self.gaps.clear()
            if self._refused_dirty:
                self._refused_dirty = False
                self._write_refused()
            batch = self.dataset.take() if self.dataset.due() else None
        acks: list[tuple[str, Ack]] = []
        for site, st, paths, ack in todo:
            try:
                for path in paths:
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.fdatasync(fd)
                    finally:
                        os.close(fd)
            except OSError as exc:  # not durable: no ack; tried again at the next call
                self._say("hub: " + _("site {site}: cannot fsync the copy: {error}").format(
                    site=site, error=exc))
                with self.lock:
                    st.unsynced(paths)
                continue
            if ack.at:
                acks.append((site, ack))
        if batch is not None:  # Parquet and fsync outside the lock: the ingest goes on
            self.dataset.write(batch)
        return acks

    def close(self) -> None:
        with self.lock:
            for st in self.stores.values():
                st.close()
            batch = self.dataset.take()
        self.dataset.write(batch)


#: how often the hub looks for retained media parts it may clear (seconds)
PARTS_CLEAR_S = 5.0


class HubService:
    """The MQTT shell around Ingest: subscribe, feed, ack; a timer thread for the acks."""

    def __init__(self, hub: LoadedHub, say: Callable[[str], None] = print,
                 on_reject: Callable[[str, str], None] | None = None) -> None:
        self.hub = hub
        self.ingest = Ingest(hub, say, on_reject)
        self._say = say
        self.stop_event = threading.Event()
        self.connected = threading.Event()
        self.client, self._host, self._port = make_client(hub.broker(),
                                                          hub.cfg.broker.client_id)
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_a: self.connected.clear()
        # connected = subscribed: the broker acknowledged the subscriptions
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._timer: threading.Thread | None = None
        self._run_lock = -1
        self.alerts = Alerts(hub.cfg.webhook, hub.cfg.silent_after_s)
        self.sender = Sender(hub.cfg.webhook, say) if hub.cfg.webhook else None

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._say(_("hub: the broker refused the connection: {rc}").format(rc=rc))
            return
        client.subscribe([(t, 1) for t in self.hub.subscriptions()])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: Any, codes: Any, _p: Any) -> None:
        """The broker's SUBACK: the hub now receives. Said on stderr (after every connect) so
        that an operator, and a test or script that started `signage hub run`, can tell a hub
        that receives from one still starting."""
        granted = sum(1 for c in codes if not c.is_failure)
        self._say(_("hub: subscribed: the broker granted {granted} of {n} subscriptions")
                  .format(granted=granted, n=len(codes)))
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.ingest.handle(msg.topic, bytes(msg.payload))

    def start(self) -> None:
        """Take the data directory's run lock (shared: a rebuild waits for no hub to run),
        restore the dataset rows a crash lost (from the copies), then connect."""
        from .rebuild import fill, hold_run_lock

        self._run_lock = hold_run_lock(self.hub.data_dir, exclusive=False)
        fill(self.hub.data_dir, self.ingest.verifier, self._say)
        self.client.connect_async(self._host, self._port, keepalive=30, clean_start=False,
                                  properties=connect_props(False, 7 * 86400))
        self.client.loop_start()
        self._timer = threading.Thread(target=self._tick, name="hub-ack", daemon=True)
        self._timer.start()

    def _tick(self) -> None:
        last_clear = 0.0
        while not self.stop_event.wait(self.hub.cfg.ack_interval_s):
            self.flush_acks()
            if self.sender is not None:
                self.notify(time.time())
            if time.monotonic() - last_clear >= PARTS_CLEAR_S:
                last_clear = time.monotonic()
                self.clear_parts()

    def clear_parts(self) -> None:
        """Retained media parts of finished publications are cleared on the broker
        (docs/alerts.md): an empty retained message on each."""
        from .push import clear_finished_parts

        def publish(site: str, sub: str, payload: bytes) -> None:
            info = self.client.publish(topic(self.ingest.prefix, site, sub), payload, qos=1,
                                       retain=True)
            info.wait_for_publish(10)
            if not info.is_published():
                raise OSError(_("the broker did not take {topic} for {site}").format(
                    topic=sub, site=site))

        if not self.connected.is_set():
            return
        try:
            clear_finished_parts(self.hub, publish)
        except (OSError, ValueError, RuntimeError) as exc:
            self._say("hub: " + _("cannot clear retained media parts: {error}").format(
                error=exc))

    def notify(self, now: float) -> None:
        with self.ingest.lock:
            cond, detail = conditions_of(self.ingest.boards, now, self.hub.cfg.silent_after_s,
                                 lambda s: datetime.fromisoformat(s).timestamp())
        due = self.alerts.evaluate(now, cond, detail)
        if due and self.sender is not None:
            self.sender.send(due)

    def flush_acks(self) -> None:
        try:
            acks = self.ingest.sync()
        except OSError as exc:
            self._say(_("hub: cannot write the copies: {exc}").format(exc=exc))
            return
        for site, ack in acks:
            self.client.publish(topic(self.ingest.prefix, site, "ack"), encode_ack(ack),
                                qos=1, retain=True)

    def stop(self) -> None:
        self.stop_event.set()
        if self._timer is not None:
            self._timer.join(timeout=5)
        self.flush_acks()
        self.ingest.close()
        if self.sender is not None:
            self.sender.close()
        self.client.disconnect()
        self.client.loop_stop()
        if self._run_lock >= 0:
            os.close(self._run_lock)
            self._run_lock = -1


def _last_witnessed(path: Path) -> int | None:
    """The seq of the last checkpoint witnessed (the last line of witness-received.jsonl)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - 4096))
            tail = fh.read().rstrip(b"\n")
    except FileNotFoundError:
        return None
    try:
        seq = json.loads(tail[tail.rfind(b"\n") + 1:]).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if type(seq) is int else None


def _read_refused(path: Path) -> dict[str, list[Any]]:
    """refused.json back (the tally goes on across restarts); unreadable: start again."""
    try:
        sites = json.loads(path.read_text(encoding="utf-8"))["sites"]
        return {str(k): [int(v["messages"]), str(v["reason"]), str(v["last"])]
                for k, v in sites.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def read_refused(root: Path) -> dict[str, dict[str, Any]]:
    """The unregistered sites the hub refused (`signage hub status`)."""
    return {k: {"messages": n, "reason": why, "last": at}
            for k, (n, why, at) in _read_refused(root / REFUSED).items()}

