"""The compiled scanner (signage/audit/_fastscan.c) gives exactly the pure-Python scanner's
results, on generated logs of every record type and on logs damaged in every way."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signage.audit import scan as S
from signage.audit.scan import scan_chunk
from signage.keys import SigningKey
from signage.playlog import format as fmt
from signage.playlog import v2

from .logkit import KEY


def test_compiled_scanner_is_built() -> None:
    """scripts/setup installs gcc and libssl-dev, so the install builds the extension."""
    assert S._fast is not None, "signage.audit._fastscan is not built (pip install -e .)"


TZ8 = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=TZ8).timestamp()
NAME = (st.text(st.characters(blacklist_categories=["Cs"]), max_size=6)
        | st.sampled_from(['q"t', "b\\s", "\n", "冒充客服", "\x00", ""]))  # JSON escapes
SCREEN = st.sampled_from(["s1", "s2", "s3", 's"3']) | NAME


def _iso(t: float, odd: int = 0) -> str:
    dt = datetime.fromtimestamp(t, TZ8)
    if odd == 1:
        return dt.astimezone(UTC).isoformat(timespec="milliseconds")  # +00:00
    if odd == 2:
        return dt.isoformat(timespec="seconds")  # no milliseconds
    if odd == 3:
        return dt.isoformat(timespec="microseconds")
    return dt.isoformat(timespec="milliseconds")


# one step of the log: what the daemon writes next, and how time moves before it
STEP = st.tuples(
    st.sampled_from(["showing_start", "showing", "showing", "af", "af", "heartbeat",
                     "driver_event", "driver_error", "screen_down", "screen_up",
                     "screen_clear", "clock_step", "dropped", "reload", "run_stop",
                     "new_run", "new_boot", "mystery", "checkpoint"]),
    st.sampled_from([0.0, 0.001, 0.5, 3.25, 10.0, 30.0, 44.999, 45.0, 45.001, 60.0, -0.5,
                     -2.0, -3.0]),  # mono advance
    SCREEN, NAME, st.none() | NAME,
    st.sampled_from(["completed", "completed", "cut_short", "failed", "bogus"]),
    st.integers(0, 40),  # shape variant: odd times, numbers, key orders, extra keys
)


def _body(rtype: str, seq: int, run: str, boot: str, wall: float, mono: float,
          step: tuple[Any, ...]) -> dict[str, Any]:
    _k, _dt, screen, item, cat, outcome, var = step
    odd = var - 36 if var > 36 else 0
    mono_v: float | int = round(mono, 3)
    if var == 30:
        mono_v = int(mono)
    body: dict[str, Any] = {"v": 1, "seq": seq, "type": rtype, "run": run, "boot": boot,
                            "wall": _iso(wall, odd), "mono": mono_v}
    start = wall - 10.0
    if rtype == "showing_start":
        body.update(screen=screen, item=item, anti_fraud=var % 2 == 0, planned=_iso(wall),
                    planned_mono=round(mono, 3), start=_iso(wall), start_mono=round(mono, 3))
    elif rtype == "showing":
        af = step[0] == "af"
        fields: dict[str, Any] = {
            "screen": screen, "item": item, "playlist": None if var == 5 else "p",
            "kind": "text", "category": cat if af else None, "anti_fraud": af,
            "planned": None if var == 6 else _iso(start), "start": _iso(start, odd),
            "end": _iso(wall, odd if var != 20 else 1),
            "start_mono": round(mono - 10.0, 3) if var != 7 else 1e-7,
            "end_mono": round(mono, 3) if var != 8 else int(mono), "outcome": outcome,
            "reason": ""}
        if var == 9:
            fields = dict(reversed(list(fields.items())))
        if var == 10:
            fields["future_key"] = {"x": [1, "\\\""]}
        if var == 11:
            del fields["end"]
        if var == 12:
            fields["anti_fraud"] = 1
        body.update(fields)
    elif rtype == "heartbeat":
        body["screens"] = {screen: {"item": item, "anti_fraud": True, "since_mono": 1.0}}
    elif rtype == "driver_event":
        body.update(screen=screen, kind="k", detail={"a": item})
    elif rtype in ("driver_error", "screen_down", "screen_clear"):
        body.update(screen=screen, item=item, reason=item, error="rejected", message=item)
    elif rtype == "screen_up":
        body.update(screen=screen, down_s=3.5)
    elif rtype == "clock_step":
        body.update(step_s=-2.5 if var % 2 else 90.0, **{"from": _iso(wall), "to": _iso(wall)})
    elif rtype == "dropped":
        body.update(count=3, types={"heartbeat": 3}, first_mono=mono - 5, last_mono=mono - 1)
    elif rtype == "reload":
        body.update(accepted=var % 3 != 0, problems=[], config_sha256="c" * 64)
    elif rtype == "run_stop":
        body.update(reason=item)
    elif rtype == "mystery":
        body.update(what=item)
    return body


SIGNER = SigningKey.generate()


def make_lines(steps: list[tuple[Any, ...]], key: bytes | None = KEY) -> list[bytes]:
    """A log of v1 records chained under ``key``, starting with a run_start; with key None,
    a format-2 log (plain SHA-256 chain, signed checkpoints)."""
    ver = 1 if key is not None else 2
    chain: Any = key if key is not None else fmt.PLAIN
    run, boot = "r0", "b0"
    wall, mono = T0, 5000.0
    prev = fmt.GENESIS
    out: list[bytes] = []
    site = {"version": "0.1.0", "mode": "run", "site": {"id": "x", "tz": "Asia/Shanghai"},
            "screens": [{"id": "s1"}, {"id": "s2"}]}
    first = {"v": ver, "seq": 0, "type": "run_start", "run": run, "boot": boot,
             "wall": _iso(wall), "mono": mono, **site}
    line, prev = fmt.encode(chain, prev, first)
    out.append(line)
    for i, step in enumerate(steps, 1):
        kind, dt = step[0], step[1]
        rtype = {"af": "showing", "new_run": "run_start", "new_boot": "run_start"}.get(kind,
                                                                                     kind)
        if kind == "new_run":
            run = f"r{i}"
        if kind == "new_boot":
            run, boot, mono = f"r{i}", f"b{i}", 3.0
        wall += max(dt, 0.0)
        mono += dt
        body = _body(rtype, i, run, boot, wall, mono, step)
        body["v"] = ver
        if rtype == "run_start":
            body.update(site)
        if rtype == "checkpoint":
            body.update(v2.checkpoint_fields(
                SIGNER, site="x", head_seq=i - 1, head=prev.decode(), wall=body["wall"],
                mono=float(body["mono"]), boot=boot, reason="interval",
                next_key=SIGNER.public if step[6] == 3 else None))
            if step[6] == 4:
                body["head"] = "0" * 64  # a checkpoint whose head is not the line before
        line, prev = fmt.encode(chain, prev, body)
        out.append(line)
    return out


DAMAGE = st.lists(st.tuples(st.sampled_from(["flip", "delete", "insert", "swap", "dup",
                                             "v2", "garbage", "cut"]),
                            st.integers(0, 10**6), st.integers(0, 255)), max_size=4)


def damage(lines: list[bytes], ops: list[tuple[str, int, int]]) -> bytes:
    lines = list(lines)
    for op, at, val in ops:
        if not lines:
            break
        i = at % len(lines)
        if op == "flip":
            ln = bytearray(lines[i])
            j = (at // 7) % len(ln)
            ln[j] = val if val != ln[j] else (val + 1) % 256
            lines[i] = bytes(ln)
        elif op == "delete":
            del lines[i]
        elif op == "insert":
            lines.insert(i, lines[(at // 3) % len(lines)])
        elif op == "swap":
            j = (at // 5) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "v2":
            try:
                rec = json.loads(lines[i])
            except ValueError:
                continue  # already damaged
            if not isinstance(rec, dict):
                continue  # a garbage line that happens to be JSON (digits)
            rec.pop("mac", None)
            rec["v"] = 2 if val % 2 else "1"
            lines[i], _ = fmt.encode(KEY, fmt.GENESIS, rec)
        elif op == "garbage":
            lines.insert(i, bytes([val]) * (at % 90) + b"\n")
        elif op == "cut":
            data = b"".join(lines)
            return data[:at % (len(data) + 1)]
    return b"".join(lines)


def both(data: bytes, key: bytes | None = KEY, **kw: Any) -> None:
    py = scan_chunk(data, key, compiled=False, **kw)
    c = scan_chunk(data, key, compiled=True, **kw)
    for f in py.__slots__:  # type: ignore[attr-defined]
        assert getattr(c, f) == getattr(py, f), f
    assert c == py


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, max_size=40), ops=DAMAGE, final=st.booleans(),
       start=st.integers(0, 50), screens=st.none() | st.just(frozenset({"s1", "s3"})),
       anchor=st.none() | st.integers(0, 45), wrong_key=st.integers(0, 20),
       version=st.sampled_from([1, 2]))
def test_compiled_and_pure_scans_are_equal(steps: list[tuple[Any, ...]],
                                           ops: list[tuple[str, int, int]], final: bool,
                                           start: int, screens: frozenset[str] | None,
                                           anchor: int | None, wrong_key: int,
                                           version: int) -> None:
    key = KEY if version == 1 else None
    lines = make_lines(steps, key if wrong_key or key is None else b"another key")
    data = damage(lines, ops)
    capture = () if anchor is None else (anchor,)
    both(data, key, final=final, screens=screens, capture=capture)
    # a chunk that starts further in (its first line is verified by the caller)
    cut = 0
    for _ in range(start % (len(lines) or 1)):
        nl = data.find(b"\n", cut)
        if nl < 0:
            break
        cut = nl + 1
    both(data[cut:], key, final=final, screens=screens, capture=capture)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(STEP, max_size=12), at=st.integers(0, 10**6), value=st.integers(0, 255))
def test_every_byte_flip_of_a_showing_is_judged_alike(steps: list[tuple[Any, ...]], at: int,
                                                      value: int) -> None:
    """A byte flipped inside an AF showing's content (where the compiled path reads)."""
    lines = make_lines([("af", 1.0, "s1", "af1", "cat", "completed", 0), *steps,
                        ("af", 1.0, "s1", "af1", None, "cut_short", 0)])
    i = 1 if at % 2 else len(lines) - 1
    ln = bytearray(lines[i])
    j = ln.find(b'"screen"') + (at // 2) % (len(ln) - ln.find(b'"screen"'))
    ln[j] = value
    lines[i] = bytes(ln)
    both(b"".join(lines), final=True)


def test_common_lines_run_compiled_and_agree() -> None:
    """A clean log: nearly every line is walked in C (the fast path is really taken)."""
    steps = [(k, 1.0, "s1", "af1", "cat", "completed", 0)
             for k in ["showing_start", "af", "showing_start", "showing", "driver_event"] * 40]
    data = b"".join(make_lines(steps))
    both(data, final=True)
    fast = S._fast.Scanner(KEY, None, {}, {}, [], (), 0)  # type: ignore[union-attr]
    first = data.index(b"\n") + 1
    run_boot = b'","run":"r0","boot":"b0","wall":"'
    got = fast.run(data, first, 0, data[first - 67:first - 3], run_boot, 5000.0, 5000.0, "b0",
                   0)
    assert got is not None
    pos, lines, seq, mac, mono, _wall, rtype, pend, plain, hb = got
    assert (pos, lines, seq, mac, mono, rtype, pend, plain, hb) == (
        len(data), 200, 200, data[-67:-3], 5200.0, b"driver_event", -1, b"driver_event", None)


def test_checkpoints_run_compiled_and_agree() -> None:
    """A clean format-2 log with a checkpoint after every record: the checkpoints are walked
    in C too (the writer's shape), with the same events as the pure scanner."""
    from signage.audit.events import CHECKPOINT

    assert S._fast is not None and S._fast.CHECKPOINT == CHECKPOINT
    steps = [(k, 1.0, "s1", "af1", "cat", "completed", 0)
             for k in ["af", "checkpoint", "heartbeat", "checkpoint", "showing",
                       "checkpoint"] * 30]
    data = b"".join(make_lines(steps, None))
    both(data, None, final=True)
    events: list[Any] = []
    fast = S._fast.Scanner(None, None, {}, {}, events, (), 0)
    first = data.index(b"\n") + 1
    run_boot = b'","run":"r0","boot":"b0","wall":"'
    got = fast.run(data, first, 0, data[first - 67:first - 3], run_boot, 5000.0, 5000.0, "b0",
                   0)
    assert got is not None
    # walked every line: showings, heartbeats and checkpoints
    assert got[0] == len(data) and got[1] == 180 and got[6] == b"checkpoint" and got[7] == -1
    assert got[8] == b"showing"
    assert [e[0] for e in events] == [0, CHECKPOINT, CHECKPOINT, CHECKPOINT] * 30
    # the heartbeats' (first, last, smallest interval) in mono ms: one every 6 s
    assert got[9] == (5003000, 5177000, 6000)


@pytest.mark.parametrize("version", [1, 2])
def test_heartbeat_intervals_across_handbacks(version: int) -> None:
    """The smallest interval between two heartbeats of a run is the same when the compiled
    walk is interrupted between them (a rare record read by scan.py, a new run, a backward
    step), and when a chunk holds only one heartbeat of a run."""
    key = KEY if version == 1 else None
    hb = ("heartbeat", 30.0, "s1", "i", None, "completed", 0)
    rare = ("screen_up", 1.0, "s1", "i", None, "completed", 0)
    back = ("heartbeat", -0.5, "s1", "i", None, "completed", 0)
    new_run = ("new_run", 2.0, "s1", "i", None, "completed", 0)
    cases = [
        [hb, hb, rare, hb, hb],  # 30 s, then 31 s across the rare record: 30 s
        [hb, rare, ("heartbeat", 7.0, "s1", "i", None, "completed", 0), hb, hb],  # 8 s across
        [hb, back, hb, hb],  # a step back (not an interval), then 30.5 s and 30 s
        [hb, new_run, hb, hb],  # a new run: the runs' intervals are apart
        [hb],
        [hb, ("heartbeat", 0.0, "s1", "i", None, "completed", 0), hb],  # equal times: none
    ]
    for steps in cases:
        data = b"".join(make_lines(steps, key))
        both(data, key, final=True)
        py = scan_chunk(data, key, compiled=False, final=True)
        assert py.hb_min_ms == scan_chunk(data, key, compiled=True, final=True).hb_min_ms
    py = scan_chunk(b"".join(make_lines(cases[1], key)), key, compiled=False, final=True)
    assert py.hb_min_ms == {"r0": 8000}


@settings(max_examples=150, deadline=None)
@given(lens=st.lists(st.integers(0, 40_000), max_size=12), torn=st.integers(0, 30),
       chunk=st.integers(1, 50_000))
def test_read_task_cuts_whole_lines(tmp_path_factory: pytest.TempPathFactory, lens: list[int],
                                    torn: int, chunk: int) -> None:
    """The chunks are the file's lines, each in the chunk where it starts, read once."""
    from signage.audit.reader import LogFile, read_task, tasks

    body = b"".join(b"x" * n + b"\n" for n in lens) + b"t" * torn
    path = tmp_path_factory.mktemp("rt") / "signage-2026-11-30.jsonl"
    path.write_bytes(body)
    got = []
    for t in tasks([LogFile(path, path.name, False, len(body))], chunk):
        data, offset, final = read_task(t)
        if data:
            assert body[offset:offset + len(data)] == data
            assert offset == 0 or body[offset - 1:offset] == b"\n"
            assert t.offset <= offset < t.end or offset == 0 == t.offset
            assert final == (offset + len(data) == len(body) and torn > 0)
            assert final or data.endswith(b"\n")
        got.append(data)
    assert b"".join(got) == body


@pytest.mark.parametrize("wall, mono", [
    ("0001-01-01T00:00:00.000+08:00", 5001.0), ("9999-12-31T23:59:59.999-08:00", 5001.0),
    ("0002-01-01T00:00:00.000+08:00", 5001.0), ("2028-02-29T08:00:00.000+08:00", 5001.0),
    ("2026-02-29T08:00:00.000+08:00", 5001.0), ("2026-11-30T24:00:00.000+08:00", 5001.0),
    ("2026-11-30T08:00:75.000+08:00", 5001.0), ("2026-11-30T08:00:00.000+24:00", 5001.0),
    ("2026-11-30T08:00:00.000-00:00", 5001.0), ("2026-11-30T08:00: 1.000+08:00", 5001.0),
    ("2026-11-30T08:00:00.000+08:00", 5001.000000000001), ("2026-11-30T08:00:00.000+08:00", 1e20),
    ("2026-11-30T08:00:00.000+08:00", 123456789012345678901234567890),
])
def test_odd_header_times_are_judged_alike(wall: str, mono: float) -> None:
    """Times at the edges of what the compiled path accepts (it hands the rest to scan.py)."""
    steps = [("showing_start", 1.0, "s1", "a", None, "completed", 0)] * 3
    lines = make_lines(steps)
    rec = json.loads(lines[2])
    rec.pop("mac")
    rec["wall"], rec["mono"] = wall, mono
    prev = lines[1][-67:-3]
    lines[2], prev = fmt.encode(KEY, prev, rec)
    rec = json.loads(lines[3])
    rec.pop("mac")
    lines[3], _ = fmt.encode(KEY, prev, rec)
    both(b"".join(lines), final=True)
    both(b"".join(lines), final=True)  # the minute caches warm
