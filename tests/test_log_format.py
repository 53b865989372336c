"""The log's byte format: the writer's template encoder (its Python templates and its compiled
encoder, signage/playlog/_fastlog.c) against the JSON encoder, and the fast ISO formatter
against datetime (hypothesis)."""

from __future__ import annotations

import math
from collections import OrderedDict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signage.playlog import format as fmt
from signage.timeutil import IsoFormatter

KEY = b"k" * 32
PREV = b"ab" * 32
BUILT = fmt._fastlog is not None
# the compiled encoder and the pure-Python one; the compiled one is built wherever
# scripts/setup ran (it installs gcc and libssl-dev): a test of it fails where it is not
MODES = [pytest.param(True, id="compiled"), pytest.param(False, id="pure")]
# any code point (st.text leaves out surrogates), and often the ones that need care: quotes,
# backslashes, controls, DEL, lone surrogates, a surrogate pair's halves, non-BMP, 2/3 bytes
chars = st.characters(exclude_categories=()) | st.sampled_from(
    '"\\\x00\x08\t\n\x0b\x0c\r\x1f \x7f\x80\udc80\ud83d\ude00\U0001f600\U0010ffffé€\u2028')
text = st.text(chars, max_size=30)
maybe = st.none() | text
mono = (st.floats(0, 1e9, allow_nan=False).map(lambda x: round(x, 3))
        | st.floats(allow_nan=False, allow_infinity=False))  # any finite one: -0.0, subnormals
iso = st.datetimes().map(lambda d: d.isoformat(timespec="milliseconds"))



def in_order(d: dict[str, Any], rtype: str) -> dict[str, Any]:
    """the writer's key order (fixed_dictionaries does not keep it)"""
    return {k: d[k] for k in fmt._TEMPLATES[rtype]}


showing = st.fixed_dictionaries({
    "screen": text, "item": text, "playlist": maybe, "kind": maybe, "category": maybe,
    "anti_fraud": st.booleans(), "planned": iso, "start": iso, "end": iso, "start_mono": mono,
    "end_mono": mono, "outcome": st.sampled_from(["completed", "cut_short", "failed"]),
    "reason": text}).map(lambda d: in_order(d, "showing"))
showing_start = st.fixed_dictionaries({
    "screen": text, "item": text, "anti_fraud": st.booleans(), "planned": iso,
    "planned_mono": mono, "start": iso, "start_mono": mono}).map(
        lambda d: in_order(d, "showing_start"))
scalar = st.none() | st.booleans() | st.integers() | mono | text
other = st.dictionaries(st.sampled_from(["screen", "item", "reason", "count", "x"]),
                        scalar | st.lists(scalar, max_size=3) | st.dictionaries(text, scalar,
                                                                                max_size=3),
                        max_size=5)
# a hot record with a value of another type still encodes like the encoder would
odd = showing.flatmap(lambda d: st.sampled_from(sorted(d)).flatmap(
    lambda k: scalar.map(lambda v: {**d, k: v})))
# the heartbeat and checkpoint templates (Python only), and the same with odd values
screen_state = st.fixed_dictionaries({
    "item": maybe, "anti_fraud": st.booleans(), "since_mono": st.none() | mono}).map(
        lambda d: {k: d[k] for k in ("item", "anti_fraud", "since_mono")})
heartbeat = st.fixed_dictionaries({"screens": st.dictionaries(text, screen_state, max_size=4)})
odd_heartbeat = st.fixed_dictionaries({"screens": st.dictionaries(
    text | st.integers(), screen_state | st.dictionaries(st.sampled_from(
        ["item", "anti_fraud", "since_mono"]), scalar, max_size=3)
    | screen_state.flatmap(lambda d: st.sampled_from(sorted(d)).flatmap(
        lambda k: scalar.map(lambda v: {**d, k: v}))), max_size=3) | scalar})
checkpoint = st.fixed_dictionaries({
    "site": text, "head_seq": st.integers(0, 10**12) | st.integers(), "head": text, "key": text,
    "next_key": maybe, "reason": text, "sig": text}).map(
        lambda d: {k: d[k] for k in ("site", "head_seq", "head", "key", "next_key", "reason",
                                     "sig")})
odd_checkpoint = checkpoint.flatmap(lambda d: st.sampled_from(sorted(d)).flatmap(
    lambda k: scalar.map(lambda v: {**d, k: v})))


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("compiled", MODES)
@settings(max_examples=400, deadline=None)  # (ASan builds on a busy machine: no deadline)
@given(rtype=st.sampled_from(["showing", "showing_start", "heartbeat", "checkpoint", "dropped",
                              "x\"y"]),
       fields=showing | showing_start | other | odd | heartbeat | odd_heartbeat | checkpoint
       | odd_checkpoint,
       seq=st.integers(0, 10**12) | st.integers(), run=text, boot=text, wall=iso | text,
       m=mono)
def test_template_encoder_writes_the_encoders_bytes(compiled: bool, version: int, rtype: str,
                                                    fields: dict[str, Any], seq: int, run: str,
                                                    boot: str, wall: str, m: float) -> None:
    """Both formats: 1 (HMAC under the key) and 2 (plain SHA-256, key None)."""
    key = KEY if version == 1 else None
    enc = fmt.LineEncoder(key, run, boot, compiled=compiled)
    assert (enc._fast is not None) == compiled
    got = enc.line(PREV, seq, rtype, wall, m, fields)
    body = {"v": version, "seq": seq, "type": rtype, "run": run, "boot": boot,
            "wall": wall, "mono": m, **fields}
    assert got == fmt.encode(KEY if key is not None else fmt.PLAIN, PREV, body)
    line, mac = got
    assert fmt.verify(key, PREV, line[:-1]) == mac
    back = fmt.decode(line)
    assert back["seq"] == seq and back["type"] == rtype and back["mac"] == mac.decode()
    assert enc.line(PREV, seq, rtype, wall, m, fields) == got  # with its caches warm


def _expect(enc: fmt.LineEncoder, seq: Any, rtype: Any, wall: Any, m: Any,
            fields: dict[Any, Any], prev: Any = PREV) -> tuple[bytes, bytes]:
    """enc's line, checked against format.encode (or the same exception as encode)."""
    body = {"v": fmt.VERSION, "seq": seq, "type": rtype, "run": enc._run, "boot": enc._boot,
            "wall": wall, "mono": m}
    body.update(fields)
    try:
        want = fmt.encode(KEY, prev, body)
    except (TypeError, ValueError) as e:
        with pytest.raises(type(e)):
            enc.line(prev, seq, rtype, wall, m, fields)
        raise
    got = enc.line(prev, seq, rtype, wall, m, fields)
    assert got == want
    return got


@settings(max_examples=300, deadline=None)
@given(rtype_fields=st.tuples(st.just("showing"), showing)
       | st.tuples(st.just("showing_start"), showing_start),
       seq=st.integers(), run=text, boot=text, wall=iso | text, m=mono)
def test_compiled_encoder_makes_the_hot_records_itself(rtype_fields: tuple[str, dict[str, Any]],
                                                       seq: int, run: str, boot: str, wall: str,
                                                       m: float) -> None:
    rtype, fields = rtype_fields
    enc = fmt.LineEncoder(KEY, run, boot, compiled=True)
    assert enc._fast is not None
    try:
        got = enc._fast.line(PREV, seq, rtype, wall, m, fields)
    except ValueError:  # an int beyond int's str limit: int.__repr__ refuses it, as Python's
        with pytest.raises(ValueError):
            int.__repr__(seq)
        return
    assert got is not None  # not handed back to the Python path
    assert got == _expect(enc, seq, rtype, wall, m, fields)


SHOWING = {"screen": "led-0", "item": "a.txt", "playlist": "wugefanshi", "kind": "text",
           "category": None, "anti_fraud": True, "planned": "2026-12-01T08:00:00.000+08:00",
           "start": "2026-12-01T08:00:00.012+08:00", "end": "2026-12-01T08:00:10.012+08:00",
           "start_mono": 12.012, "end_mono": 22.012, "outcome": "completed", "reason": ""}
START = {"screen": "led-0", "item": "a.txt", "anti_fraud": False,
         "planned": "2026-12-01T08:00:00.000+08:00", "planned_mono": 12.0,
         "start": "2026-12-01T08:00:00.012+08:00", "start_mono": 12.012}
WALL = "2026-12-01T08:00:00.012+08:00"


class S(str):
    pass


class F(float):
    pass


class I(int):  # noqa: E742
    pass


def _swap(d: dict[str, Any], k: str, v: Any) -> dict[str, Any]:
    return {kk: (v if kk == k else vv) for kk, vv in d.items()}


def _rekey(d: dict[str, Any], k: str, new: Any) -> dict[Any, Any]:
    return {(new if kk == k else kk): vv for kk, vv in d.items()}


def _declined() -> list[Any]:
    """(seq, rtype, wall, mono, fields, prev) the compiled encoder hands to the Python path"""
    nan, inf = float("nan"), float("inf")
    cases: list[Any] = [
        (1, "heartbeat", WALL, 1.0, {"screens": 3}, PREV),
        (1, "dropped", WALL, 1.0, {}, PREV),
        (1, "showing", WALL, 1.0, START, PREV),  # the other template's keys
        (1, "showing_start", WALL, 1.0, SHOWING, PREV),
        (1, S("showing"), WALL, 1.0, SHOWING, PREV),  # a str subclass as the type
        (1, "showing", WALL, 1.0, dict(reversed(list(SHOWING.items()))), PREV),  # order
        (1, "showing", WALL, 1.0, {k: v for k, v in SHOWING.items() if k != "reason"}, PREV),
        (1, "showing", WALL, 1.0, {**SHOWING, "extra": 1}, PREV),
        (1, "showing", WALL, 1.0, _rekey(SHOWING, "item", S("item")), PREV),  # str subclass key
        (1, "showing", WALL, 1.0, _rekey(SHOWING, "item", "Item"), PREV),
        (1, "showing", WALL, 1.0, _rekey(SHOWING, "item", 7), PREV),
        (True, "showing", WALL, 1.0, SHOWING, PREV),  # a bool seq
        (I(5), "showing", WALL, 1.0, SHOWING, PREV),  # an int subclass seq
        (1.0, "showing", WALL, 1.0, SHOWING, PREV),  # a float seq
        (1, "showing", S(WALL), 1.0, SHOWING, PREV),  # a str subclass wall
        (1, "showing", None, 1.0, SHOWING, PREV),
        (1, "showing", WALL, 1, SHOWING, PREV),  # an int mono
        (1, "showing", WALL, True, SHOWING, PREV),
        (1, "showing", WALL, F(1.5), SHOWING, PREV),
        (1, "showing", WALL, nan, SHOWING, PREV),
        (1, "showing", WALL, inf, SHOWING, PREV),
        (1, "showing", WALL, -inf, SHOWING, PREV),
        (1, "showing", WALL, 1.0, SHOWING, bytearray(PREV)),  # not bytes
    ]
    for rtype, d in (("showing", SHOWING), ("showing_start", START)):
        for k, v in d.items():
            if isinstance(v, float):
                bad: list[Any] = [1, 0, True, False, F(v), nan, inf, -inf, None, "1.0"]
            elif isinstance(v, bool):
                bad = [1, 0, None, "true", 1.0]
            else:  # str (or None where the template allows it)
                bad = [S("x"), 1, 1.5, True, b"x", ["x"]]
                if k not in ("playlist", "kind", "category"):
                    bad.append(None)
            cases += [(1, rtype, WALL, 1.0, _swap(d, k, b), PREV) for b in bad]
    cases.append((1, "showing", WALL, 1.0, OrderedDict(SHOWING), PREV))  # not a dict itself
    return cases


@pytest.mark.parametrize("case", _declined())
def test_compiled_encoder_declines_what_it_does_not_handle(case: Any) -> None:
    seq, rtype, wall, m, fields, prev = case
    enc = fmt.LineEncoder(KEY, "run", "boot", compiled=True)
    assert enc._fast is not None
    assert enc._fast.line(prev, seq, rtype, wall, m, fields) is None
    try:  # and the Python path writes what the encoder writes (or refuses it the same way)
        _expect(enc, seq, rtype, wall, m, fields, prev)
    except (TypeError, ValueError):
        pass


def _edges() -> list[Any]:
    """(run, seq, rtype, mono, fields) the compiled encoder handles itself"""
    weird = ["", "\udc80", "\ud800", "\udfff", "a\udcffb", "\ud83d\ude00", "\U0001f600",
             "\U0010ffff", "".join(map(chr, range(0x20))) + "\x7f\x80\x9f", '"\\/',
             "\u2028\u2029\ufeff\uffff", "é€中", "x" * 5000 + "\udc80" * 3000]
    floats = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
              1e16, 1e-7, 1.7976931348623157e308, -1.7976931348623157e308, 1e300, 123456.789,
              0.1 + 0.2, 1e-4, -1e-4, 9.999999999999999e-05, 1.0000000000000002e-4, 0.00012,
              1e-5, 2.0**50, 2.0**50 - 1, 2.0**50 - 0.5, 2.0**50 - 0.125, -(2.0**50 - 0.25),
              2.0**49 + 0.0625, 1e15, 999999999999999.9, 1 / 3, 123.456789, 0.123456,
              0.1234567, 1.5, 86400.001, 12355.012, 1e-6, 3e-7]
    seqs = [0, -1, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 10**40, -10**40, 10**4000]
    cases: list[Any] = []
    for w in weird:
        cases.append((w, 1, "showing", 1.0, _swap(SHOWING, "reason", w)))
        cases.append((w, 1, "showing", 1.0, _swap(SHOWING, "playlist", w)))
        cases.append(("run", 1, "showing_start", 1.0, _swap(START, "screen", w)))
    for x in floats:
        cases.append(("run", 1, "showing", x, _swap(SHOWING, "end_mono", x)))
        cases.append(("run", 1, "showing_start", x, _swap(START, "planned_mono", x)))
    for q in seqs:
        cases.append(("run", q, "showing", 2.5, SHOWING))
    for k in ("playlist", "kind", "category"):
        cases.append(("run", 1, "showing", 2.5, _swap(SHOWING, k, None)))
    return cases


@pytest.mark.parametrize("case", _edges())
def test_compiled_encoder_edge_values(case: Any) -> None:
    run, seq, rtype, m, fields = case
    enc = fmt.LineEncoder(KEY, run, "boot\udc80", compiled=True)
    assert enc._fast is not None
    got = enc._fast.line(PREV, seq, rtype, WALL, m, fields)
    assert got is not None
    assert got == _expect(enc, seq, rtype, WALL, m, fields)
    assert got == fmt.LineEncoder(KEY, run, "boot\udc80", compiled=False).line(
        PREV, seq, rtype, WALL, m, fields)


# decimals with few digits (the compiled encoder's own float formatting) and their neighbours
decimal = st.builds(lambda m, k: m / 10**k, st.integers(-2**52, 2**52), st.integers(0, 8))
near = st.tuples(decimal | st.floats(allow_nan=False, allow_infinity=False),
                 st.integers(-3, 3)).map(lambda t: _nudge(*t))


def _nudge(x: float, n: int) -> float:
    for _ in range(abs(n)):
        x = math.nextafter(x, math.inf if n > 0 else -math.inf)
    return x if math.isfinite(x) else 0.0


@settings(max_examples=1500, deadline=None)
@given(a=decimal | near, b=decimal | near, m=decimal | near)
def test_compiled_encoder_floats(a: float, b: float, m: float) -> None:
    enc = fmt.LineEncoder(KEY, "run", "boot", compiled=True)
    pure = fmt.LineEncoder(KEY, "run", "boot", compiled=False)
    fields = {**SHOWING, "start_mono": a, "end_mono": b}
    got = enc.line(PREV, 1, "showing", WALL, m, fields)
    assert got == pure.line(PREV, 1, "showing", WALL, m, fields)
    assert f',"start_mono":{a!r},"end_mono":{b!r},'.encode() in got[0]


def test_compiled_encoder_every_code_point() -> None:
    enc = fmt.LineEncoder(KEY, "run", "boot", compiled=True)
    assert enc._fast is not None
    for lo in range(0, 0x110000, 0x8000):
        s = "".join(map(chr, range(lo, lo + 0x8000)))
        fields = _swap(SHOWING, "item", s)
        got = enc._fast.line(PREV, 1, "showing", WALL, 1.0, fields)
        assert got is not None and got == _expect(enc, 1, "showing", WALL, 1.0, fields), hex(lo)


def test_compiled_encoder_refuses_a_seq_int_cannot_print_like_python() -> None:
    enc = fmt.LineEncoder(KEY, "run", "boot", compiled=True)
    pure = fmt.LineEncoder(KEY, "run", "boot", compiled=False)
    for e in (enc, pure):
        with pytest.raises(ValueError):  # beyond sys.get_int_max_str_digits()
            e.line(PREV, 10**5000, "showing", WALL, 1.0, SHOWING)


def test_compiled_encoder_leaves_huge_strings_to_python_and_gives_back_its_buffer() -> None:
    """Strings over 2**20 characters are declined (the size sums stay far below 2**31 where
    Py_SSIZE_T is 32 bits); a line over 64 KiB does not leave its scratch buffer behind."""
    import tracemalloc

    enc = fmt.LineEncoder(KEY, "run", "boot", compiled=True)
    assert enc._fast is not None
    huge = _swap(SHOWING, "reason", "诈" * ((1 << 20) + 1))
    assert enc._fast.line(PREV, 1, "showing", WALL, 1.0, huge) is None
    assert enc.line(PREV, 1, "showing", WALL, 1.0, huge) == _expect(enc, 1, "showing", WALL,
                                                                    1.0, huge)
    big = _swap(SHOWING, "reason", "诈" * 200_000)  # ~1.2 MB of scratch while encoding
    tracemalloc.start()
    try:
        got = enc._fast.line(PREV, 1, "showing", WALL, 1.0, big)
        assert got is not None
        del got
        kept, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept < 100_000, kept


def test_compiled_encoder_is_built() -> None:
    """scripts/setup installs gcc and libssl-dev, so the install builds the extension."""
    assert BUILT, "signage.playlog._fastlog is not built (scripts/setup, or pip install -e .)"


def test_pure_python_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNAGE_PURE_PYTHON", "1")
    assert fmt.LineEncoder(KEY, "run", "boot")._fast is None
    monkeypatch.setenv("SIGNAGE_PURE_PYTHON", "0")
    assert (fmt.LineEncoder(KEY, "run", "boot")._fast is not None) == BUILT


ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
         "Africa/Monrovia"]


@settings(max_examples=600, deadline=None)
@given(zone=st.sampled_from(ZONES),
       t=st.floats(-2.5e9, 4.1e9, allow_nan=False) | st.integers(-10**9, 4 * 10**9).map(float),
       nudge=st.sampled_from([0.0, 0.0004999, 0.0005, 0.9994999, 0.9995, 0.9999995, 0.1234565]))
def test_iso_formatter_matches_datetime(zone: str, t: float, nudge: float) -> None:
    tz = ZoneInfo(zone)
    f = IsoFormatter(tz)
    for x in (t, t + nudge, -nudge + t):
        assert f(x) == datetime.fromtimestamp(x, tz).isoformat(timespec="milliseconds"), x
        assert f(x) == f(x)


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(ZONES),
       ms=st.integers(-10**13, 10**13) | st.integers(0, 4_000_000_000_000)
       | st.sampled_from([0, 999, 1000, 59_999, 3_999_999_999_999, 4_000_000_000_000]))
def test_iso_formatter_ms_matches_the_float_path(zone: str, ms: int) -> None:
    """The plan's whole-millisecond instants, in integer arithmetic: the same text as the
    float path (and so as datetime)."""
    f = IsoFormatter(ZoneInfo(zone))
    assert f.ms(ms) == IsoFormatter(ZoneInfo(zone))(ms / 1000), ms
    assert f.ms(ms) == datetime.fromtimestamp(ms / 1000, ZoneInfo(zone)).isoformat(
        timespec="milliseconds"), ms


@pytest.mark.parametrize("version", [1, 2])
@settings(max_examples=300, deadline=None)
@given(rtype_fields=st.tuples(st.just("heartbeat"), heartbeat | odd_heartbeat)
       | st.tuples(st.just("checkpoint"), checkpoint | odd_checkpoint),
       seq=st.integers(0, 10**12), wall=iso, m=mono)
def test_heartbeat_and_checkpoint_templates_write_the_encoders_bytes(
        version: int, rtype_fields: tuple[str, dict[str, Any]], seq: int, wall: str,
        m: float) -> None:
    """The Python templates of the heartbeat and the checkpoint (the compiled encoder leaves
    them to Python): the JSON encoder's bytes, or its exception, for any values."""
    rtype, fields = rtype_fields
    key = KEY if version == 1 else None
    enc = fmt.LineEncoder(key, "run", "boot", compiled=False)
    body = {"v": version, "seq": seq, "type": rtype, "run": "run", "boot": "boot",
            "wall": wall, "mono": m, **fields}
    try:
        want = fmt.encode(KEY if key is not None else fmt.PLAIN, PREV, body)
    except (TypeError, ValueError) as e:
        with pytest.raises(type(e)):
            enc.line(PREV, seq, rtype, wall, m, fields)
        return
    assert enc.line(PREV, seq, rtype, wall, m, fields) == want
