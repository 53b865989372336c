"""Reading lines with a bound: never more than ``format.MAX_LINE`` bytes of one line in
memory, whatever the file holds (a sparse file without newlines, a gzip bomb). The one way
the audit and the writer read a log line by line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from .format import MAX_LINE

#: what a line read is: whole (ended by a newline), the bytes after the last newline (a torn
#: tail), or longer than the limit (only its first ``limit`` bytes are given)
WHOLE, TAIL, LONG = 0, 1, 2


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def bounded_lines(fh: Readable, limit: int = MAX_LINE, block: int = 1 << 20,
                  ) -> Iterator[tuple[bytes, int]]:
    """(line without its newline, WHOLE | TAIL | LONG) for every line of ``fh``. A line over
    ``limit`` bytes is cut to its first ``limit`` bytes and the rest is read past, block by
    block, up to the next newline: memory stays at ``limit + block`` bytes."""
    carry = b""
    skipping = False  # inside a line already given as LONG
    while True:
        data = fh.read(block)
        if not data:
            break
        pos = 0
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            if skipping:
                skipping = False
            else:
                line = carry + data[pos:nl] if carry else data[pos:nl]
                carry = b""
                if len(line) > limit:
                    yield line[:limit], LONG
                else:
                    yield line, WHOLE
            pos = nl + 1
        if skipping:
            continue
        rest = data[pos:]
        if len(carry) + len(rest) > limit:
            yield (carry + rest)[:limit], LONG
            carry = b""
            skipping = True
        else:
            carry = carry + rest if carry else rest
    if carry and not skipping:
        yield carry, TAIL
