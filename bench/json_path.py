"""Benchmark: would hashlib plus a well-kept JSON parser do the audit's scan as fast as the
compiled scanner? (issue 12: "the compiled fast paths follow the new chain, or are removed if
hashlib plus orjson or msgspec meets the targets: measure both").

    .venv/bin/python bench/json_path.py /tmp/h12month2          # a log made by bench/audit.py

On the same log files, read in the audit's 8 MiB chunks, it times (CPU of this process):

* ``hashlib + orjson``: the least a verifier built that way must do per line: SHA-256 of the
  previous digest and the line's prefix (format 2's chain), compared with the claimed digest,
  and ``orjson.loads`` of the line; nothing else (no events, no checks of the header, no
  compliance): a lower bound of that design;
* the audit's compiled scanner (``scan_chunk``: chain, header, times, events);
* the audit's pure-Python scanner (``SIGNAGE_PURE_PYTHON``'s path: hashlib and anchored
  regular expressions, no JSON parser for the common records).

orjson is a bench-only dependency (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds inspect.py, which would shadow the standard library's inspect
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from signage.audit.reader import CHUNK, discover, read_task, tasks  # noqa: E402
from signage.audit.scan import scan_chunk  # noqa: E402


def chunks(logdir: Path) -> list[tuple[bytes, bool]]:
    files, _all_dirs = discover([logdir])
    return [(d, final) for t in tasks(files, CHUNK, 0)
            for d, _off, final in [read_task(t)]]


def hashlib_orjson(data: bytes) -> int:
    import orjson  # bench-only dependency

    sha = hashlib.sha256
    prev = b""
    bad = 0
    for line in data.split(b"\n"):
        if not line:
            continue
        cut = len(line) - 74  # ,"mac":"<64 hex>"}
        mac = line[cut + 8:cut + 72]
        if prev and sha(prev + line[:cut]).hexdigest().encode() != mac:
            bad += 1
        orjson.loads(line)
        prev = mac
    return bad


def timed(name: str, fn: object, parts: list[tuple[bytes, bool]], records: int) -> float:
    t0 = time.process_time()
    for data, final in parts:
        fn(data, final)  # type: ignore[operator]
    cpu = time.process_time() - t0
    print(f"{name}: {cpu:.2f} s CPU, {records / cpu:,.0f} lines/s")
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", type=Path)
    ap.add_argument("--pure", action="store_true", help="also time the pure-Python scanner")
    args = ap.parse_args()
    parts = chunks(args.log)
    records = sum(d.count(b"\n") for d, _f in parts)
    size = sum(len(d) for d, _f in parts)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"{args.log}: {records:,} lines, {size / 1e6:,.0f} MB in {len(parts)} chunks "
          f"(load {load})")
    timed("hashlib + orjson (chain + parse only)",
          lambda d, _f: hashlib_orjson(d), parts, records)
    timed("compiled scanner (chain, header, times, events)",
          lambda d, f: scan_chunk(d, None, final=f, compiled=True), parts, records)
    if args.pure:
        timed("pure-Python scanner (hashlib + regular expressions)",
              lambda d, f: scan_chunk(d, None, final=f, compiled=False), parts, records)


if __name__ == "__main__":
    main()
