# The compiled fast path of scan.py (signage/audit/_fastscan.c); optional.
from typing import Any

class Scanner:
    def __init__(self, key: bytes | None, screens: frozenset[str] | None, names: dict[bytes, str],
                 store: dict[str, list[bytes]], events: list[tuple[Any, ...]],
                 capture: tuple[int, ...], af: int) -> None: ...
    def run(self, data: bytes, pos: int, seq: int, prev_mac: bytes, run_boot: bytes,
            last_mono: float, prev_mono: float, boot: str, idx: int,
            ) -> tuple[int, int, int, bytes, float, int, bytes, int, bytes | None,
                       tuple[int, int, int] | None] | None: ...

CHECKPOINT: int

def find(data: bytes, needle: bytes, start: int, end: int) -> int: ...
