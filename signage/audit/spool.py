"""Violations as they are found: the first ones in memory, the rest in a temporary file, so
that a log full of violations does not fill the memory."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import date
from typing import IO

from .model import Violation

KEEP = 10_000


class Spool:
    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._mem: list[Violation] = []
        self._file: IO[str] | None = None
        self.count = 0

    def __call__(self, v: Violation) -> None:
        self.count += 1
        if len(self._mem) < self._keep:
            self._mem.append(v)
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self._file.write(json.dumps([v.screen, v.day.isoformat(), v.start, v.end, v.length_ms,
                                     v.limit_ms, v.cause, v.causes, v.flags]) + "\n")

    def reset(self) -> None:
        """Forget every violation (the audit starts again: run.py)."""
        self.close()
        self._mem = []
        self.count = 0

    def __iter__(self) -> Iterator[Violation]:
        yield from self._mem
        if self._file is not None:
            self._file.flush()
            self._file.seek(0)
            for line in self._file:
                s, d, a, b, n, lim, c, cs, fl = json.loads(line)
                yield Violation(s, date.fromisoformat(d), a, b, n, lim, c, tuple(cs), tuple(fl))
            self._file.seek(0, 2)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
