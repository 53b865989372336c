"""The box's shipper: a thread next to the daemon that ships the log to the hub (docs/fleet.md).

The log on disk is the outbox. Lines go out byte-identical, in order, QoS 1, from the position
the hub acknowledged (its retained ack); whatever stays unacknowledged for ``resend_s`` is sent
again from the ack, so any outage (broker, hub, network, this box) ends with everything
delivered, and the hub drops the duplicates. Checkpoint records are also published on their
own topic as soon as they are seen (the hub witnesses them), and the live status is published
retained at every heartbeat and when a screen changes.
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from ..i18n import _
from .mqtt import BrokerSpec, connect_props, make_client
from .outbox import LineTooLong, Outbox, Position
from .protocol import (
    PREFIX,
    Ack,
    ProtocolError,
    decode_ack,
    encode_chunk,
    encode_json,
    line_seq,
    topic,
)

CHECKPOINT_MARK = b'"type":"checkpoint"'


@dataclass(frozen=True)
class ShipperSettings:
    site: str
    log_dir: Path
    broker: BrokerSpec
    prefix: str = PREFIX
    resend_s: float = 10.0
    window_bytes: int = 1 << 20
    poll_s: float = 0.2
    heartbeat_s: float = 30.0
    #: wait this long for the retained ack after subscribing before shipping from the start
    ack_wait_s: float = 3.0
    client_id: str | None = None


class Shipper:
    def __init__(self, s: ShipperSettings,
                 status: Callable[[], dict[str, Any]] | None = None,
                 say: Callable[[str], None] = lambda _m: None,
                 commands: Callable[[str, bytes], None] | None = None) -> None:
        self.s = s
        #: the hub's commands (cmd/…: alerts, publications; docs/alerts.md), handed on with
        #: the part of the topic after cmd/ from paho's thread: the callee only queues them
        self._commands = commands
        self._status = status
        self._say = say
        self.outbox = Outbox(s.log_dir)
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._ack: Ack | None = None
        self._ack_seen = False  # a retained ack (or its absence) was learnt since connecting
        self._subscribed_at: float | None = None
        self._pos: Position | None = None
        self._sent: collections.deque[tuple[Position, int]] = collections.deque()  # (end, size)
        self._progress_at = time.monotonic()
        self._witnessed = -1  # highest checkpoint seq published on the checkpoint topic
        self._last_status: tuple[Any, ...] | None = None
        self._status_at = 0.0
        self._status_checked = 0.0
        self.shipped_chunks = 0
        self.error: str | None = None
        cid = s.client_id or f"signage-box-{s.site}-{secrets.token_hex(3)}"
        self.client, self._host, self._port = make_client(s.broker, cid)
        self._topic_log = topic(s.prefix, s.site, "log")
        self._topic_ack = topic(s.prefix, s.site, "ack")
        self._topic_status = topic(s.prefix, s.site, "status")
        self._topic_cp = topic(s.prefix, s.site, "checkpoint")
        self._topic_online = topic(s.prefix, s.site, "online")
        self._topic_cmd = topic(s.prefix, s.site, "cmd/")
        self.client.will_set(self._topic_online, encode_json({"online": False}), qos=1,
                             retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._thread: threading.Thread | None = None

    # ---- MQTT callbacks (paho's network thread) ------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._note(_("fleet: the broker refused the connection: {rc}").format(rc=rc))
            return
        with self._lock:
            self._ack_seen = False
            self._subscribed_at = time.monotonic()
            self._sent.clear()
            self._pos = None  # ship again from the ack
        client.subscribe(self._topic_ack, qos=1)
        if self._commands is not None:
            client.subscribe(self._topic_cmd + "#", qos=1)
        client.publish(self._topic_online, encode_json({"online": True}), qos=1, retain=True)
        if self._commands is not None:
            self._commands("state", b"connected")  # the box reports its pushed state
        self._last_status = None
        self._connected.set()
        self._note(None)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.startswith(self._topic_cmd) and self._commands is not None:
            self._commands(msg.topic[len(self._topic_cmd):], bytes(msg.payload))
            return
        if msg.topic != self._topic_ack:
            return
        try:
            ack = decode_ack(bytes(msg.payload))
        except ProtocolError as exc:
            self._say(_("fleet: ignored a bad ack from the hub: {exc}").format(exc=exc))
            return
        with self._lock:
            old = self._ack
            if ack.reset:  # the hub holds less than we thought: ship from its position now
                self._ack = ack if ack.file is not None else None
                self._sent.clear()
                self._pos = None
                self._progress_at = time.monotonic()
            elif ack.file is not None and (old is None or old.file is None or Position.at(
                    ack.file, ack.offset) > Position.at(old.file, old.offset)):
                self._ack = ack
                self._progress_at = time.monotonic()
                end = Position.at(ack.file, ack.offset)
                while self._sent and self._sent[0][0] <= end:
                    self._sent.popleft()
            self._ack_seen = True

    def _note(self, err: str | None) -> None:
        if err != self.error and err is not None:
            self._say(err)
        self.error = err

    # ---- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        self.client.connect_async(self._host, self._port, keepalive=30, clean_start=False,
                                  properties=connect_props(False, 86400))
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="fleet-shipper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ship what is there (for up to ``timeout``), then disconnect."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._connected.is_set() and self.backlog() > 0:
            time.sleep(0.05)
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._connected.is_set():
            self.client.publish(self._topic_online, encode_json({"online": False}), qos=1,
                                retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def report(self, sub: str, obj: dict[str, Any]) -> None:
        """A report to the hub on ``<prefix>/<site>/report/<sub>`` (QoS 1; paho keeps it
        while disconnected and sends it on reconnecting)."""
        self.client.publish(topic(self.s.prefix, self.s.site, f"report/{sub}"),
                            encode_json(obj), qos=1)

    def backlog(self) -> int:
        """Bytes of the log the hub has not acknowledged (0 when all is acknowledged)."""
        with self._lock:
            ack = self._ack
        total = 0
        start = (self.outbox.resume(ack.file, ack.offset) if ack and ack.file
                 else self.outbox.first())
        if start is None:
            return 0
        for name in self.outbox.names():
            p = Position.at(name, 0)
            if p.order < start.order:
                continue
            try:
                size = (self.s.log_dir / name).stat().st_size
            except FileNotFoundError:
                continue
            total += size - (start.offset if p.order == start.order else 0)
        return total

    @property
    def acked(self) -> Ack | None:
        return self._ack

    # ---- the shipping loop ---------------------------------------------------------------
    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                busy = self._step()
            except LineTooLong as exc:
                self._note(_("fleet: cannot ship: {exc}").format(exc=exc))
                busy = False
            except OSError as exc:
                self._note(_("fleet: cannot read the log: {exc}").format(exc=exc))
                busy = False
            if not busy:
                self.stop_event.wait(self.s.poll_s)

    def _step(self) -> bool:
        """One round: status, resend check, then chunks while the window allows. True when
        there may be more to send at once."""
        if not self._connected.is_set():
            return False
        now = time.monotonic()
        self._maybe_status(now)
        with self._lock:
            if not self._ack_seen:
                sub = self._subscribed_at
                if sub is None or now - sub < self.s.ack_wait_s:
                    return False
                self._ack_seen = True  # no retained ack: the hub has nothing of this site
            if self._sent and now - self._progress_at > self.s.resend_s:
                self._say(_("fleet: nothing acknowledged for {resend_s:g} s, sending again from "
                            "the hub's ack").format(resend_s=self.s.resend_s))
                self._sent.clear()
                self._pos = None
                self._progress_at = now
            if self._pos is None:
                ack = self._ack
                self._pos = (self.outbox.resume(ack.file, ack.offset) if ack and ack.file
                             else self.outbox.first())
                if self._pos is None:
                    return False
            pos = self._pos
            inflight = sum(sz for _e, sz in self._sent)
        if inflight >= self.s.window_bytes:
            return False
        chunk, nxt = self.outbox.read(pos)
        if chunk is None:
            with self._lock:
                if self._pos == pos:
                    self._pos = nxt
            return nxt != pos
        info = self.client.publish(self._topic_log, encode_chunk(chunk), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        if CHECKPOINT_MARK in chunk.data:
            self._witness(chunk.data)
        with self._lock:
            if self._pos == pos:
                if not self._sent:
                    self._progress_at = time.monotonic()
                self._sent.append((nxt, len(chunk.data)))
                self._pos = nxt
        self.shipped_chunks += 1
        return True

    def _witness(self, data: bytes) -> None:
        for line in data.split(b"\n"):
            if CHECKPOINT_MARK in line:
                seq = line_seq(line)
                if seq is not None and seq > self._witnessed:
                    self.client.publish(self._topic_cp, line, qos=1)
                    self._witnessed = seq

    def _maybe_status(self, now: float) -> None:
        if self._status is None or now - self._status_checked < 1.0:
            return
        self._status_checked = now
        st = self._status()
        key = tuple(sorted((k, v.get("item"), v.get("up"))
                           for k, v in st.get("screens", {}).items()))
        if key == self._last_status and now - self._status_at < self.s.heartbeat_s:
            return
        ack = self._ack
        st["ship"] = {"acked_seq": ack.seq if ack else None}
        self.client.publish(self._topic_status, encode_json({"site": self.s.site, **st}),
                            qos=1, retain=True)
        self._last_status = key
        self._status_at = now
