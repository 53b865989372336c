"""Clock steps: a pre-scan of the log for wall-clock steps per boot, and the Timeline that
corrects the wall times of events and headers by them. Split from run.py."""

from __future__ import annotations

import gzip
import re
import zlib
from typing import Any

from ..playlog import format as fmt
from .events import (
    AF,
    CLOCK,
    CONFIG,
    DROPPED,
    MARK,
    RUN_END,
    RUN_STOP,
    SILENCE,
)
from .reader import LogFile
from .scan import CLOCK_STEP_NEEDLE, finder
from .timeparse import mono_ms, wall_ms

BIG_STEP_MS = 86_400_000  # a step this large corrects a clock that was never set (no RTC)
_CLOCK_LINE = re.compile(rb'"boot":"([^"\\]*)","wall":"([^"\\]*)","mono":([-0-9.eE+]+)'
                         rb'.*?"step_s":([-0-9.eE+]+)')


def clock_steps(files: list[LogFile]) -> dict[str, list[tuple[int, int]]]:
    """The clock_step records per boot, in log order: (wall - mono after the step, step), ms.
    A quick byte search (no digest checks: the integrity pass judges the records) in 1 MiB
    blocks (memory stays flat), each searched in place; only a line across two blocks is
    copied."""
    out: dict[str, list[tuple[int, int]]] = {}
    needle = CLOCK_STEP_NEEDLE
    find = finder()

    def search(data: bytes, lo: int, hi: int) -> None:
        """the clock_step records among the whole lines in data[lo:hi]"""
        i = find(data, needle, lo, hi)
        while i >= 0:
            a = max(lo, data.rfind(b"\n", lo, i) + 1)
            b = data.find(b"\n", i, hi)
            m = _CLOCK_LINE.search(data, a, b if b >= 0 else hi)
            if m is not None:
                try:
                    off = wall_ms(m.group(2)) - mono_ms(m.group(3))
                    step = mono_ms(m.group(4))
                except ValueError:
                    pass
                else:
                    out.setdefault(m.group(1).decode("utf-8", "replace"), []).append((off, step))
            i = find(data, needle, i + 1, hi)

    for f in files:
        try:
            fh = gzip.open(f.path, "rb") if f.compressed else open(f.path, "rb")  # noqa: SIM115
            with fh:
                carry = b""  # the start of a line that runs into the next block
                while True:
                    block = fh.read(1 << 20)
                    if not block:
                        search(carry, 0, len(carry))
                        break
                    first = block.find(b"\n")
                    if first < 0:
                        # a line longer than MAX_LINE is no record: its start is dropped
                        # (memory stays bounded on a file without newlines)
                        carry = b"" if len(carry) + len(block) > fmt.MAX_LINE else carry + block
                        continue
                    head = carry + block[:first + 1]
                    search(head, 0, len(head))
                    cut = block.rfind(b"\n") + 1
                    search(block, first + 1, cut)
                    carry = block[cut:]
        except (OSError, EOFError, zlib.error):
            continue  # the integrity pass says what is wrong with the file
    return out


class Timeline:
    """Per boot, wall times re-placed on one continuous clock across its clock steps: each
    time is assigned to the clock epoch (before or after each step) whose offset (wall -
    monotonic) is nearest to its own, then moved to the boot's reference epoch: the clock
    the boot started with, or, when a step of more than a day corrected a clock that was
    never set (a box without RTC booting in 1970), the clock after the last such step."""

    def __init__(self, steps: dict[str, list[tuple[int, int]]]) -> None:
        self.epochs: dict[str, tuple[list[int], int]] = {}
        for boot, got in steps.items():
            offs = [got[0][0] - got[0][1]]  # before the first step
            target = 0
            for off, step in got:
                offs.append(off)
                if abs(step) > BIG_STEP_MS:
                    target = len(offs) - 1
            self.epochs[boot] = (offs, offs[target])

    def __bool__(self) -> bool:
        return bool(self.epochs)

    def wall(self, wall: int, mono: int | None, boot: str | None) -> int:
        got = self.epochs.get(boot) if boot is not None else None
        if got is None or mono is None:
            return wall
        offs, target = got
        o = wall - mono
        near = min(offs, key=lambda e: abs(e - o))
        return wall + target - near

    def header(self, h: tuple[str, str, int, int, str] | None,
               ) -> tuple[str, str, int, int, str] | None:
        if h is None or h[1] not in self.epochs:
            return h
        return (h[0], h[1], self.wall(h[2], h[3], h[1]), h[3], h[4])

    def events(self, evs: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        w = self.wall
        out: list[tuple[Any, ...]] = []
        for ev in evs:
            k = ev[0]
            if k == CONFIG:
                ev = (*ev[:2], w(ev[2], ev[3], ev[4]), *ev[3:])
            elif k in (RUN_END, DROPPED, RUN_STOP):
                ev = (k, w(ev[1], ev[2], ev[3]), *ev[2:])
            elif k == AF:
                ev = (*ev[:4], w(ev[4], ev[6], ev[8]), w(ev[5], ev[7], ev[8]), *ev[6:])
            elif k == MARK:
                ev = (*ev[:3], w(ev[3], ev[4], ev[5]), *ev[4:])
            elif k == CLOCK:
                ev = (k, w(ev[1], ev[3], ev[4]), *ev[2:])
            elif k == SILENCE:
                ev = (k, w(ev[1], ev[3], ev[5]), w(ev[2], ev[4], ev[5]), *ev[3:])
            out.append(ev)
        return out
