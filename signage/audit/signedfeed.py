"""What of a format-2 log the compliance engine may credit: only records a checkpoint covers.

In format 2 the chain is plain SHA-256: anyone can append records that chain on the last
checkpoint. A checkpoint's signature vouches for every record up to it; records after the last
checkpoint (the *unsigned tail*) are vouched for by nobody. So the engine is fed a format-2
chunk's events only up to its last checkpoint; the rest is held until a later checkpoint covers
it, and what no checkpoint covers is never credited: the audited period then ends at the last
checkpoint (docs/log-format.md, "Format version 2"). Format-1 chunks (HMAC chain, site key) are
fed as they come, until the first format-2 chunk: a format-1 file after format-2 files (a box
downgraded, or a file made with the site key, which the site itself holds) is credited only
where a later checkpoint covers it, like an unsigned format-2 record. Pure: scan results in,
engine calls out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..playlog.v2 import CheckpointError, parse_checkpoint
from .compliance import Engine
from .events import AF, CHECKPOINT, CONFIG

Header = tuple[str, str, int, int, str]  # run, boot, wall ms, mono ms, record type
#: events held without a checkpoint before they are given up (a legitimate writer signs every
#: 30 s; a longer unsigned stretch is under-claimed, with a warning, to bound the memory)
HOLD_MAX = 200_000


@dataclass(slots=True)
class _Step:
    head: Header | None  # the chunk's first header (None: the rest of a chunk already begun)
    events: list[tuple[Any, ...]]
    cadence: dict[str, int]
    last: Header | None  # the chunk's last header


class SignedFeed:
    """Feeds ``engine`` chunk by chunk (see the module docstring)."""

    def __init__(self, engine: Engine, config: dict[str, Any] | None,
                 between: Callable[[Engine, Header, Header], None],
                 fix: Callable[[Header], Header] = lambda h: h) -> None:
        self.engine = engine
        self.config = config
        self._between = between
        self._fix = fix
        self.started = False
        self.last: Header | None = None  # the header of the last record fed
        self._first: Header | None = None
        self._held: list[_Step] = []
        self._held_n = 0
        self._cp: tuple[Any, ...] | None = None  # the checkpoint fed last, if nothing after it
        self.given_up = 0  # events dropped unheard (HOLD_MAX)
        self.signed_seen = False  # a format-2 chunk was read
        self.downgraded = False  # a format-1 chunk came after a format-2 one

    def chunk(self, head: Header | None, events: list[tuple[Any, ...]],
              cadence: dict[str, int], last: Header | None, signed: bool) -> None:
        """One chunk's scan; ``signed``: of a format-2 file."""
        if self._first is None and head is not None:
            self._first = head
        if not signed and not self.signed_seen:
            self._feed(_Step(head, events, cadence, last))
            return
        if signed:
            self.signed_seen = True
        else:
            self.downgraded = True
        cut = len(events) - 1
        while cut >= 0 and events[cut][0] != CHECKPOINT:
            cut -= 1
        if cut < 0:
            self._hold(_Step(head, events, cadence, last))
            return
        self._flush()
        self._feed(_Step(head, events[:cut + 1], cadence, None))
        self._cp = events[cut]
        self._hold(_Step(None, events[cut + 1:], {}, last))

    def _hold(self, step: _Step) -> None:
        self._held.append(step)
        self._held_n += len(step.events)
        if self._held_n > HOLD_MAX:
            # give up the showings (the bulk): an under-claim; keep the configuration, runs
            # and marks, so that what is judged later (the hours a reload set) stays right
            kept = 0
            for s in self._held:
                s.events = [e for e in s.events if e[0] != AF]
                kept += len(s.events)
            self.given_up += self._held_n - kept
            self._held_n = kept
            if kept > HOLD_MAX:  # (only configuration and marks, more than ever legitimate)
                for s in self._held:
                    s.events = [e for e in s.events if e[0] == CONFIG]
                self._held_n = sum(len(s.events) for s in self._held)

    def _flush(self) -> None:
        held, self._held, self._held_n = self._held, [], 0
        for s in held:
            self._feed(s)

    def _feed(self, s: _Step) -> None:
        e = self.engine
        if s.head is not None:
            if not self.started:
                e.start(s.head, self.config)
                self.started = True
            elif self.last is not None:
                self._between(e, self.last, s.head)
        if s.cadence:
            e.heartbeat_cadence(s.cadence)
        if s.events:
            e.feed(s.events)
        if s.last is not None:
            self.last = s.last
            self._cp = None

    def finish(self) -> tuple[Header | None, int]:
        """The header to finish the engine at (the last record a checkpoint covers, or the
        log's first record when none is covered), and how many held records' events were not
        credited (0: none held)."""
        held = sum(len(s.events) for s in self._held) + self.given_up
        if not self._held:
            return self.last, held
        if self._cp is not None:
            _k, _idx, _seq, wall, mono, *_rest = self._cp
            raw: bytes = self._cp[-1]
            try:
                cp = parse_checkpoint(raw)
                return self._fix((cp.run, cp.boot, wall, mono, "checkpoint")), held
            except CheckpointError:  # (the scanner parsed it)
                return self.last, held
        if not self.started and self._first is not None:
            self.engine.start(self._first, self.config)
            self.started = True
            return self._first, held
        return self.last, held
