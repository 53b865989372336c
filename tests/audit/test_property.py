"""Random schedules on a virtual clock, written through the real LogWriter, audited, and
compared with a brute-force reference that colours every 100 ms of the audited period."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signage.audit.reader import discover
from signage.audit.run import Options, run
from signage.audit.spool import Spool

from .logkit import DAY0, KEY, Daemon, FakeClock, site

TICK_MS = 100
OPEN_T = 8 * 36_000  # 08:00 in ticks after DAY0 00:00 (the clock's mono 0)


@dataclass(frozen=True)
class Show:
    screen: str
    af: bool
    start: int  # ticks
    end: int
    outcome: str


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    n_screens = draw(st.integers(1, 2))
    # the daemon starts around 08:00, often on a whole minute (as the hours' edges are)
    t0 = OPEN_T + 600 * draw(st.integers(-2, 2)) + draw(st.sampled_from([0, 0, 3, 77, 300]))
    shows: list[Show] = []
    end = t0
    for s in range(n_screens):
        t = t0 + draw(st.integers(0, 300))
        for _ in range(draw(st.integers(0, 25))):
            t += draw(st.sampled_from([0, 0, 0, 5, 50, 400]))  # a blank before it, ticks
            dur = draw(st.one_of(st.integers(0, 900),
                                 st.sampled_from([100, 200, 300, 450, 599, 600, 601])))
            af = draw(st.booleans())
            outcome = draw(st.sampled_from(["completed"] * 6 + ["cut_short", "failed"]))
            shows.append(Show(f"s{s}", af, t, t + (0 if outcome == "failed" else dur),
                              outcome))
            t += dur
        end = max(end, t)
    stop = end + draw(st.one_of(st.integers(1, 900), st.sampled_from([1, 5, 10, 600])))
    spans = draw(st.sampled_from([["00:00-24:00"], ["08:00-08:20"], ["07:50-08:05", "08:05-08:30"],
                                  ["08:02-08:09", "08:15-08:40"], ["09:00-10:00"]]))
    edges = [int(x[:2]) * 36_000 + int(x[3:5]) * 600 for sp in spans for x in sp.split("-")]
    edges = [e for e in edges if end < e < end + 12_000]
    if edges and draw(st.booleans()):  # stop just after an edge of the hours, if one is near
        stop = max(stop, draw(st.sampled_from(edges)) + draw(st.integers(0, 12)))
    restart = None
    if draw(st.booleans()) and stop - t0 > 200:
        a = draw(st.integers(t0 + 1, stop - 100))
        restart = (a, a + draw(st.integers(1, 600)))
        stop = max(stop, restart[1] + 10)
    return {"screens": n_screens, "t0": t0, "stop": stop, "shows": shows, "spans": spans,
            "limit_s": draw(st.sampled_from([20, 45, 60, 90])),
            "measure": draw(st.sampled_from(["end-to-start", "start-to-start"])),
            "restart": restart}


def write_log(log: Path, sc: dict[str, object]) -> list[Show]:
    """Write the scenario; return the showings that made it into the log."""
    fields = site([(f"s{i}", 128, 16) for i in range(sc["screens"])],  # type: ignore[call-overload]
                  hours=sc["spans"], max_gap_s=float(sc["limit_s"]),  # type: ignore[arg-type]
                  measure=sc["measure"])  # type: ignore[arg-type]
    restart: tuple[int, int] | None = sc["restart"]  # type: ignore[assignment]
    shows: list[Show] = sc["shows"]  # type: ignore[assignment]
    t0: int = sc["t0"]  # type: ignore[assignment]
    stop: int = sc["stop"]  # type: ignore[assignment]
    logged = [s for s in shows if restart is None
              or s.end < restart[0] or s.start > restart[1]]
    events: list[tuple[int, int, Show | None]] = [(s.end, 1, s) for s in logged]
    events += [(t, 0, None) for t in range(t0 + 300, stop, 300)]  # heartbeats
    if restart is not None:
        events = [e for e in events if not restart[0] <= e[0] <= restart[1]]
        events.append((restart[0], 2, None))
        events.append((restart[1], 3, None))
    events.sort(key=lambda e: (e[0], e[1]))
    clock = FakeClock(DAY0, mono=0.0)
    d = Daemon(log, clock, fields, start=t0 / 10)
    for t, kind, s in events:
        if kind == 0:
            d.heartbeat(t / 10)
        elif kind == 1:
            assert s is not None
            d.showing(s.screen, "af1" if s.af else "ad", s.af, s.start / 10, s.end / 10,
                      outcome=s.outcome)
        elif kind == 2:
            d.crash()
        else:
            d = Daemon(log, clock, fields, start=t / 10)
    d.stop(stop / 10)
    return logged


def open_ticks(spans: list[str]) -> set[int]:
    """Ticks after DAY0 00:00 inside the spans (on DAY0 and the day after)."""
    out: set[int] = set()
    for day in (0, 864_000):
        for span in spans:
            a, b = span.split("-")
            m0 = int(a[:2]) * 60 + int(a[3:])
            m1 = int(b[:2]) * 60 + int(b[3:])
            out.update(range(day + m0 * 600, day + m1 * 600))
    return out


def reference(sc: dict[str, object], logged: list[Show]) -> dict[str, object]:
    """Brute force: every 100 ms cell of [t0, stop) is open or not, covered or not."""
    t0: int = sc["t0"]  # type: ignore[assignment]
    stop: int = sc["stop"]  # type: ignore[assignment]
    opened = open_ticks(sc["spans"])  # type: ignore[arg-type]
    limit = int(sc["limit_s"]) * 1000  # type: ignore[call-overload]
    s2s = sc["measure"] == "start-to-start"
    gaps: dict[str, list[tuple[int, int]]] = {}
    af_ms: dict[str, int] = {}
    for i in range(sc["screens"]):  # type: ignore[call-overload]
        sid = f"s{i}"
        counted = [s for s in logged if s.screen == sid and s.af and s.end > s.start
                   and s.outcome != "failed"]
        covered: set[int] = set()
        for s in counted:
            covered.update(range(s.start, s.end))
        starts = {s.start for s in counted}
        runs: list[tuple[int, int]] = []
        cur: int | None = None
        for c in range(t0, stop):
            gap_cell = c in opened and (s2s or c not in covered)
            if cur is not None and (not gap_cell or (s2s and c in starts)):
                runs.append((cur, c))
                cur = None
            if gap_cell and cur is None:
                cur = c
        if cur is not None:
            runs.append((cur, stop))
        gaps[sid] = runs
        af_ms[sid] = len(covered & opened & set(range(t0, stop))) * TICK_MS
    return {"gaps": gaps, "af_ms": af_ms, "limit": limit}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_audit_matches_brute_force(sc: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log"
        logged = write_log(log, sc)
        files, complete = discover([log])
        spool = Spool()
        integrity, comp = run(files, Options(key=KEY, chunk=1500, on_violation=spool),
                              complete_dir=complete)
        assert integrity.intact, integrity.findings
        ref = reference(sc, logged)
        base = int(DAY0 * 1000)
        limit = ref["limit"]
        want = sorted((sid, base + a * TICK_MS, base + b * TICK_MS)
                      for sid, runs in ref["gaps"].items()  # type: ignore[attr-defined]
                      for a, b in runs if (b - a) * TICK_MS > limit)  # type: ignore[operator]
        got = sorted((v.screen, v.start, v.end) for v in spool)
        assert got == want
        for sid, runs in ref["gaps"].items():  # type: ignore[attr-defined]
            longest = max(((b - a) * TICK_MS for a, b in runs), default=0)
            assert comp.max_gap_ms(sid) == longest, sid
            got_af = sum(d.af_ms for d in comp.days.get(sid, {}).values())
            assert got_af == ref["af_ms"][sid], sid  # type: ignore[index]
