"""Clips that ffprobe reads (a duration, a video stream) but that hold no decodable frame."""

from __future__ import annotations

import random
import struct
from pathlib import Path


def _boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """Top-level MP4 boxes: (type, offset, size)."""
    out, i = [], 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        assert size >= 8, "the test clip uses no 64-bit or open-ended boxes"
        out.append((kind, i, size))
        i += size
    return out


def make_frameless(faststart_mp4: Path, random_payload: Path, cut_after_mdat: Path) -> None:
    """From a faststart MP4 (moov before mdat) write: the same container with a random mdat
    payload, and the file cut right after the mdat box header."""
    data = faststart_mp4.read_bytes()
    boxes = _boxes(data)
    kinds = [k for k, _, _ in boxes]
    assert kinds.index(b"moov") < kinds.index(b"mdat"), "not a faststart MP4"
    _, off, size = next(b for b in boxes if b[0] == b"mdat")
    rnd = random.Random(20261201)  # noqa: S311 - reproducible test bytes, not a secret
    payload = bytes(rnd.getrandbits(8) for _ in range(size - 8))
    random_payload.write_bytes(data[:off + 8] + payload + data[off + size:])
    cut_after_mdat.write_bytes(data[:off + 8])
