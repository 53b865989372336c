"""The scanner's output: what a chunk of log lines holds, for the integrity stitcher and the
compliance engine, and the HMAC used to verify lines.

Events are tuples (cheap to pickle) whose first item is the kind:

    (CONFIG, seq, wall, mono, boot, run, record)                 run_start / accepted reload
    (RUN_END, wall, mono, boot, run, type)   the last record of a run, before another run's
    (AF, screen, item, category, start, end, start_mono, end_mono, boot, completed, store)
    (STORE, screen, store)                                       store content not yet
                                                                 followed by an AF showing
    (MARK, what, screen, wall, mono, boot, text)                 driver_error, screen_down, …
    (CLOCK, wall, step_ms, mono, boot)    (DROPPED, wall, mono, boot, count, first_mono, last_mono)
    (RUN_STOP, wall, mono, boot, reason)  (TORN_NOTE, seq, file, offset, length, sha256)
    (SEAL, line, seq, next_file)  (SILENCE, from_wall, to_wall, from_mono, to_mono, boot, run)
    (CHECKPOINT, line, seq, wall, mono, head_ok, site, key, next_key, line_bytes)   format 2:
        head_ok is whether its head is the previous line's digest (None: the chunk's first
        line, checked by the stitcher); the line is parsed again only to verify its signature

Times are integer milliseconds (wall: since the epoch; mono: the monotonic clock); ``store``
is None or (from, to): the RFC 3339 bytes of the first start and the last end of store content
shown on that screen since its previous anti-fraud showing within the chunk (parsed only when
a violation needs its cause: see ``span_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .timeparse import wall_ms

CONFIG, AF, STORE, MARK, CLOCK, DROPPED, RUN_STOP, TORN_NOTE, SEAL, SILENCE, RUN_END = range(11)
CHECKPOINT = 11
DRIVER_ERROR, SCREEN_DOWN, SCREEN_UP, SCREEN_CLEAR, SHOW_FAILED = range(5)
MARK_TYPES = {"driver_error": DRIVER_ERROR, "screen_down": SCREEN_DOWN,
              "screen_up": SCREEN_UP, "screen_clear": SCREEN_CLEAR}
SILENCE_MS = 45_000  # consecutive records of one run further apart than this are reported
_SILENCE_S = SILENCE_MS / 1000
#: monotonic time going back by at most this is a warning (records of two screen threads
#: written in the other order than their clocks were read), more breaks the log
MONO_SLACK_S = 2.0
MAX_PROBLEMS = 20  # per chunk; the rest are counted
@dataclass(slots=True)
class ChunkScan:
    lines: int = 0
    first_line: bytes = b""
    first_seq: int | None = None
    last_seq: int | None = None
    last_mac: bytes = b""
    #: (run, boot, wall ms, mono ms, type) of the first and last record
    first_hdr: tuple[str, str, int, int, str] | None = None
    last_hdr: tuple[str, str, int, int, str] | None = None
    #: (boot, first mono ms, last mono ms) per stretch of records of one boot
    boots: list[tuple[str, int, int]] = field(default_factory=list)
    #: (kind, line index in the chunk, seq or None, message)
    problems: list[tuple[str, int, int | None, str]] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)
    bad_macs: int = 0
    #: (offset in the chunk, bytes, sha256) of a final line without newline
    torn: tuple[int, int, str] | None = None
    events: list[tuple[Any, ...]] = field(default_factory=list)
    #: the claimed digests of the records whose seq was asked for (anchor, witnesses)
    captured: dict[int, bytes] = field(default_factory=dict)
    #: the type of the last record that is not a checkpoint
    last_plain_type: str | None = None
    #: smallest interval between two heartbeats, per run
    hb_min_ms: dict[str, int] = field(default_factory=dict)
    #: a format version this reader does not know, with its line index
    bad_version: tuple[int, int] | None = None
    #: the chunk's bytes hold ``"type":"clock_step"`` (what timeline.clock_steps looks for):
    #: run.py audits without that pre-scan until a chunk says so
    clock_step: bool = False
    #: the chunk's first line is not shaped like a log record at all
    not_a_record: bool = False

    def problem(self, kind: str, line: int, seq: int | None, message: str) -> None:
        self.problem_counts[kind] = self.problem_counts.get(kind, 0) + 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((kind, line, seq, message))


def span_ms(store: tuple[bytes, bytes] | None) -> tuple[int, int] | None:
    """The store span of an AF or STORE event in epoch ms (None if absent or unreadable)."""
    if store is None:
        return None
    try:
        return wall_ms(store[0]), wall_ms(store[1])
    except ValueError:
        return None
