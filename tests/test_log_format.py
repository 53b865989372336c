"""The log's byte format: the writer's template encoder against the JSON encoder, and the
fast ISO formatter against datetime (hypothesis)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from signage.playlog import format as fmt
from signage.timeutil import IsoFormatter

KEY = b"k" * 32
PREV = b"ab" * 32
text = st.text(max_size=30)  # any code point, incl. quotes, controls and lone surrogates
maybe = st.none() | text
mono = st.floats(0, 1e9, allow_nan=False).map(lambda x: round(x, 3))
iso = st.datetimes().map(lambda d: d.isoformat(timespec="milliseconds"))

showing = st.fixed_dictionaries({
    "screen": text, "item": text, "playlist": maybe, "kind": maybe, "category": maybe,
    "anti_fraud": st.booleans(), "planned": iso, "start": iso, "end": iso, "start_mono": mono,
    "end_mono": mono, "outcome": st.sampled_from(["completed", "cut_short", "failed"]),
    "reason": text})
showing_start = st.fixed_dictionaries({
    "screen": text, "item": text, "anti_fraud": st.booleans(), "planned": iso,
    "planned_mono": mono, "start": iso, "start_mono": mono})
scalar = st.none() | st.booleans() | st.integers() | mono | text
other = st.dictionaries(st.sampled_from(["screen", "item", "reason", "count", "x"]),
                        scalar | st.lists(scalar, max_size=3) | st.dictionaries(text, scalar,
                                                                                max_size=3),
                        max_size=5)
# a hot record with a value of another type still encodes like the encoder would
odd = showing.flatmap(lambda d: st.sampled_from(sorted(d)).flatmap(
    lambda k: scalar.map(lambda v: {**d, k: v})))


@settings(max_examples=400)
@given(rtype=st.sampled_from(["showing", "showing_start", "heartbeat", "dropped", "x\"y"]),
       fields=showing | showing_start | other | odd, seq=st.integers(0, 10**12),
       run=text, boot=text, wall=iso, m=mono)
def test_template_encoder_writes_the_encoders_bytes(rtype: str, fields: dict[str, Any],
                                                    seq: int, run: str, boot: str, wall: str,
                                                    m: float) -> None:
    enc = fmt.LineEncoder(KEY, run, boot)
    got = enc.line(PREV, seq, rtype, wall, m, fields)
    body = {"v": fmt.VERSION, "seq": seq, "type": rtype, "run": run, "boot": boot,
            "wall": wall, "mono": m, **fields}
    assert got == fmt.encode(KEY, PREV, body)
    line, mac = got
    assert fmt.verify(KEY, PREV, line[:-1]) == mac
    back = fmt.decode(line)
    assert back["seq"] == seq and back["type"] == rtype and back["mac"] == mac.decode()
    assert enc.line(PREV, seq, rtype, wall, m, fields) == got  # with its caches warm


ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
         "Africa/Monrovia"]


@settings(max_examples=600)
@given(zone=st.sampled_from(ZONES),
       t=st.floats(-2.5e9, 4.1e9, allow_nan=False) | st.integers(-10**9, 4 * 10**9).map(float),
       nudge=st.sampled_from([0.0, 0.0004999, 0.0005, 0.9994999, 0.9995, 0.9999995, 0.1234565]))
def test_iso_formatter_matches_datetime(zone: str, t: float, nudge: float) -> None:
    tz = ZoneInfo(zone)
    f = IsoFormatter(tz)
    for x in (t, t + nudge, -nudge + t):
        assert f(x) == datetime.fromtimestamp(x, tz).isoformat(timespec="milliseconds"), x
        assert f(x) == f(x)
