# The compiled encoder of format.LineEncoder (signage/playlog/_fastlog.c); optional.
from typing import Any

VERSION: int
VERSION_2: int

class Encoder:
    def __init__(self, key: bytes | None, run: str, boot: str) -> None: ...
    def line(self, prev_mac: bytes, seq: int, rtype: str, wall: str, mono: float,
             fields: dict[str, Any]) -> tuple[bytes, bytes] | None: ...
