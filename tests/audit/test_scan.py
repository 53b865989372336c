"""The scanner's fast paths agree with format.py and with plain JSON parsing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from signage.audit import events as E
from signage.audit import scan as S
from signage.audit.reader import discover
from signage.audit.run import Options, run
from signage.audit.spool import Spool
from signage.audit.timeparse import wall_ms
from signage.playlog import format as fmt

from .logkit import KEY
from .test_integrity import make_log


@given(st.binary(min_size=1, max_size=100), st.binary(max_size=64), st.binary(max_size=2000))
def test_hmac_is_format_mac_of(key: bytes, prev: bytes, prefix: bytes) -> None:
    assert fmt.Hmac(key).hexmac(prev, prefix) == fmt.mac_of(key, prev, prefix)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
       st.integers(-14 * 60, 14 * 60))
def test_wall_ms_is_exact(dt: datetime, offset_min: int) -> None:
    tz = timezone(timedelta(minutes=offset_min))
    aware = dt.replace(tzinfo=tz)
    text = aware.isoformat(timespec="milliseconds").encode()
    expect = round(aware.replace(microsecond=aware.microsecond // 1000 * 1000).timestamp()
                   * 1000)
    assert wall_ms(text) == expect
    assert wall_ms(text) == expect  # the cached path too


TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


@settings(max_examples=150, deadline=None)
@given(item=TEXT, category=st.none() | TEXT, shuffle=st.booleans(), extra=st.booleans(),
       af=st.booleans(), outcome=st.sampled_from(["completed", "cut_short", "failed"]))
def test_showing_fast_and_slow_paths_agree(item: str, category: str | None, shuffle: bool,
                                           extra: bool, af: bool, outcome: str) -> None:
    """Whatever the key order, escapes or extra keys, a showing reads the same."""
    fields: dict[str, Any] = {
        "screen": "s1", "item": item, "playlist": "p\"q", "kind": "text",
        "category": category, "anti_fraud": af,
        "planned": "2026-11-30T08:00:00.000+08:00", "start": "2026-11-30T08:00:00.000+08:00",
        "end": "2026-11-30T08:00:10.500+08:00", "start_mono": 100.0, "end_mono": 110.5,
        "outcome": outcome, "reason": ""}
    if shuffle:
        fields = dict(reversed(list(fields.items())))
    if extra:
        fields["future_key"] = {"x": [1, "\\\""]}
    prev = fmt.GENESIS
    out = []
    for n, (rtype, body) in enumerate([("heartbeat", {"screens": {}}), ("showing", fields),
                                       ("showing", {**fields, "anti_fraud": True,
                                                    "start_mono": 111.0, "end_mono": 120.0,
                                                    "start": "2026-11-30T08:00:11.000+08:00",
                                                    "end": "2026-11-30T08:00:20.000+08:00",
                                                    "outcome": "completed"})]):
        rec = {"v": 1, "seq": n, "type": rtype, "run": "r", "boot": "b",
               "wall": "2026-11-30T08:00:20.000+08:00", "mono": 120.0 + n, **body}
        line, prev = fmt.encode(KEY, prev, rec)
        out.append(line)
    res = S.scan_chunk(b"".join(out), KEY, final=True)
    assert res.problems == [] and res.bad_macs == 0
    base = wall_ms(b"2026-11-30T08:00:00.000+08:00")
    want: list[tuple[Any, ...]] = []
    if outcome == "failed" and af:
        want.append((E.MARK, E.SHOW_FAILED, "s1", base + 10_500, 110_500, "b"))
        spans: tuple[bytes, bytes] | None = None
    elif af:
        want.append((E.AF, "s1", item, category, base, base + 10_500, 100_000, 110_500, "b",
                     outcome == "completed", None))
        spans = None
    else:  # store content, even a failed one (its driver_error record tells the failure)
        spans = (b"2026-11-30T08:00:00.000+08:00", b"2026-11-30T08:00:10.500+08:00")
    want.append((E.AF, "s1", item, category, base + 11_000, base + 20_000, 111_000,
                 120_000, "b", True, spans))
    got = [e[:6] if e[0] == E.MARK else e for e in res.events]
    assert got == want


def test_parallel_workers_and_small_chunks_agree(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    files, complete = discover([log])
    results = []
    for jobs, chunk in [(1, 1 << 20), (1, 700), (2, 900)]:
        spool = Spool()
        integ, comp = run(files, Options(key=KEY, jobs=jobs, chunk=chunk, on_violation=spool),
                          complete_dir=complete)
        results.append((integ.intact, integ.records, integ.head, [f.records for f in integ.files],
                        [(v.screen, v.start, v.end) for v in spool],
                        {s: comp.max_gap_ms(s) for s in comp.screens}))
    assert results[0] == results[1] == results[2]
    assert results[0][0] is True
