"""The log on disk is the outbox: read it in chunks of whole lines, byte-identical, from a
position (file, offset), in file order. No state of its own beyond the files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..i18n import _
from ..playlog.writer import log_files
from .protocol import MAX_CHUNK, MAX_HEADER, MAX_PAYLOAD, Chunk, file_order, line_seq


@dataclass(frozen=True, slots=True, order=True)
class Position:
    order: tuple[str, int]
    offset: int
    file: str

    @classmethod
    def at(cls, file: str, offset: int) -> Position:
        return cls(file_order(file), offset, file)


class LineTooLong(Exception):
    """A record longer than a chunk may carry: the shipper cannot send it (and says so)."""


class Outbox:
    def __init__(self, log_dir: Path, max_chunk: int = MAX_CHUNK) -> None:
        self.dir = log_dir
        self.max_chunk = max_chunk

    def names(self) -> list[str]:
        return [p.name for p in log_files(self.dir)]

    def first(self) -> Position | None:
        names = self.names()
        return Position.at(names[0], 0) if names else None

    def read(self, pos: Position) -> tuple[Chunk | None, Position]:
        """The next chunk at ``pos`` and the position after it. (None, pos) when nothing new
        is there yet. At the end of a file that a later file follows, the position moves to
        that file (after a last chunk with the torn bytes, if the file ends in some)."""
        path = self.dir / pos.file
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = -1
        if size > pos.offset:
            with open(path, "rb") as fh:
                fh.seek(pos.offset)
                data = fh.read(min(self.max_chunk, size - pos.offset))
                cut = data.rfind(b"\n") + 1
                if cut == 0 and len(data) == self.max_chunk:
                    # one line longer than a chunk: read it whole, up to the payload limit
                    room = MAX_PAYLOAD - MAX_HEADER - len(data)
                    more = fh.read(min(room, size - pos.offset - len(data)))
                    data += more
                    cut = data.rfind(b"\n") + 1
                    if cut == 0 and len(data) >= MAX_PAYLOAD - MAX_HEADER:
                        raise LineTooLong(
                            _("{path}: the record at byte {offset} is longer than {limit} "
                              "bytes").format(path=path, offset=pos.offset,
                                            limit=MAX_PAYLOAD - MAX_HEADER))
            if cut:
                body = data[:cut]
                n = body.count(b"\n")
                return (Chunk(pos.file, pos.offset, line_seq(body), n, body),
                        Position(pos.order, pos.offset + cut, pos.file))
        nxt = self._after(pos)
        if nxt is None:
            return None, pos
        if size > pos.offset:  # the writer moved on: what is left is a torn tail
            with open(path, "rb") as fh:
                fh.seek(pos.offset)
                data = fh.read(size - pos.offset)
            return Chunk(pos.file, pos.offset, None, 0, data, torn=True), nxt
        return None, nxt

    def _after(self, pos: Position) -> Position | None:
        later = [n for n in self.names() if file_order(n) > pos.order]
        return Position.at(later[0], 0) if later else None

    def resume(self, file: str, offset: int) -> Position:
        """Where to ship from after an ack at (file, offset): there, or at the first file
        after it when the box no longer has that file."""
        pos = Position.at(file, offset)
        if (self.dir / file).exists():
            return pos
        return self._after(pos) or pos
