"""health() pings the board (A2 00) once its last answer is ``ping_s`` old, and vouches for
the screen only up to that answer (``Health.as_of``). Real parts throughout: the fake BX-5E on
a real pseudo-terminal, the driver, and once `signage run` as a real process.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from signage_drivers.led.codec import Group, Packet, parse_request
from signage_drivers.led.driver import LedDriver
from signage_drivers.led.fakeboard import FakeBoard
from signage_drivers.led.options import parse_options

from signage.driver import ItemKind, ScreenSpec, Showable
from signage.runtime.runner import HEALTH_POLL_S
from tests.e2e.e2etools import (
    Item,
    Record,
    audit_json,
    outages,
    showings,
    signage_run,
    wait_for,
    write_site,
)
from tests.logtools import records

from .conftest import MakeDriver


def text(t: str, duration: float = 10.0) -> Showable:
    return Showable(item_id="it-1", kind=ItemKind.TEXT, duration_s=duration, anti_fraud=True,
                    text=t)


def is_ping(pkt: Packet) -> bool:
    req = parse_request(pkt.data)
    return (req.group, req.cmd) == (Group.SYSTEM, 0x00)


def pings(board: FakeBoard) -> int:
    return sum(1 for p in board.emulator.requests if is_ping(p))


# ---- validate ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [-1, 0.5, 601, "often", True, float("nan"), [5]])
def test_bad_ping_s_is_a_clear_problem_naming_the_option(
        bad: Any, make_spec: Callable[..., ScreenSpec]) -> None:
    problems = LedDriver.check_options(make_spec(ping_s=bad))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"ping_s: {bad!r} is not allowed"), problems
    assert "allowed: seconds between 1 and 600" in problems[0]
    assert "or 0 to never ping" in problems[0]


@pytest.mark.parametrize(("given", "parsed"), [(0, 0.0), (1, 1.0), (2.5, 2.5), ("30", 30.0),
                                               (600, 600.0)])
def test_good_ping_s_is_accepted(given: Any, parsed: float,
                                 make_spec: Callable[..., ScreenSpec]) -> None:
    spec = make_spec(ping_s=given)
    assert LedDriver.check_options(spec) == []
    opts, _ = parse_options(spec.options, 128, 16)
    assert opts is not None and opts.ping_s == parsed


def test_ping_s_defaults_to_a_few_seconds(make_spec: Callable[..., ScreenSpec]) -> None:
    opts, _ = parse_options(make_spec().options, 128, 16)
    assert opts is not None and 1.0 <= opts.ping_s <= 10.0


# ---- the driver alone -------------------------------------------------------------------
def test_health_pings_only_once_the_last_answer_is_ping_s_old(board: FakeBoard,
                                                              make_driver: MakeDriver) -> None:
    drv = make_driver(board.port, ping_s=1.0)
    drv.open()  # open() pings once
    acked = drv.show(text("谨防诈骗"))
    base = pings(board)
    # between pings: ok, vouched up to the show's ACK, and nothing on the wire
    sent = len(board.emulator.requests)
    while time.monotonic() < acked + 0.9:
        h = drv.health()
        assert h.ok and h.as_of == acked, h
        time.sleep(0.05)
    assert len(board.emulator.requests) == sent
    time.sleep(max(0.0, acked + 1.0 - time.monotonic()))
    before = time.monotonic()
    h = drv.health()
    assert h.ok, h
    assert h.as_of is not None and before < h.as_of <= time.monotonic()  # the ping's reply
    assert pings(board) == base + 1
    assert drv.health().as_of == h.as_of and pings(board) == base + 1


def test_ping_s_zero_never_pings_and_vouches_only_for_the_last_ack(
        board: FakeBoard, make_driver: MakeDriver) -> None:
    drv = make_driver(board.port, ping_s=0)
    drv.open()
    acked = drv.show(text("谨防诈骗"))
    base = pings(board)
    time.sleep(0.3)
    board.faults.silent = True  # nobody notices until the next show: that is the price
    h = drv.health()
    assert h.ok and h.as_of == acked
    assert pings(board) == base


def test_a_silent_board_fails_health_at_the_next_ping(board: FakeBoard,
                                                      make_driver: MakeDriver) -> None:
    drv = make_driver(board.port, ping_s=1.0, timeout_s=0.3, retries=2)
    drv.open()
    acked = drv.show(text("谨防诈骗"))
    board.faults.silent = True
    assert drv.health().as_of == acked  # not due yet: no traffic, no claim past the ACK
    time.sleep(max(0.0, acked + 1.0 - time.monotonic()))
    start = time.monotonic()
    before = pings(board)
    h = drv.health()
    took = time.monotonic() - start
    assert pings(board) - before == 1  # one attempt, not retries + 1
    assert not h.ok
    assert "did not answer a ping" in h.detail and "no reply within 0.3 s" in h.detail, h
    assert re.search(r"last answer was 1\.\d s ago", h.detail), h.detail
    assert 0.3 <= took < 5.0  # waited its timeout_s once; bounded (a hang)
    assert not drv.health().ok  # stays down until open() succeeds again
    board.faults.silent = False
    drv.open()
    assert drv.health().ok


def test_a_ping_never_lands_inside_a_show(tmp_path: Path, make_driver: MakeDriver) -> None:
    """A health() from another thread while a show() is on the wire (0.5 s at 9600 baud)
    waits for the show's ACK: both succeed and the board sees the frames one after another."""
    with FakeBoard(width=128, height=16, baud=9600, link=tmp_path / "slow") as slow:
        drv = make_driver(slow.port, baud=9600, timeout_s=1.0, retries=0, ping_s=1.0)
        drv.open()
        slogan = "防范电信网络诈骗，人人参与，家家受益"  # 3 pages, ~900 bytes on the wire
        results: dict[str, Any] = {}

        def show() -> None:
            try:
                results["show"] = drv.show(text(slogan))
            except Exception as exc:
                results["show"] = exc

        time.sleep(1.05)  # the open()'s ping is now ping_s old: health() will ping
        before = len(slow.emulator.requests)
        th = threading.Thread(target=show)
        th.start()
        time.sleep(0.2)  # the show's frame is on the line
        h = drv.health()
        th.join(5)
        assert isinstance(results["show"], float), results["show"]
        assert h.ok, h.detail
        assert h.as_of is not None and h.as_of > results["show"]  # the ping came after
        got = slow.emulator.requests[before:]
        assert [is_ping(p) for p in got] == [False, True]
        assert not slow.emulator.errors  # no frame was cut into by another


# ---- the runtime: `signage run` against the board ---------------------------------------
SCREEN = "hold-led"
PING_S = 2.0
TIMEOUT_S = 0.5
HOLD_S = 10.0
AF = [Item("af-hold", "text", text="谨防电信诈骗", duration_s=HOLD_S)]
STORE = [Item("st-fruit", "text", text="新鲜水果特价", duration_s=1.5)]


@dataclass
class PingRun:
    site: Path
    returncode: int
    stderr: str
    received: list[tuple[float, Packet]]  # board side: when each request was decoded
    answered: list[float]  # board side: when each reply was made
    t_silent: float
    t_back: float


@pytest.fixture(scope="module")
def ping_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PingRun]:
    site = tmp_path_factory.mktemp("led-ping")
    board = FakeBoard(width=128, height=16, baud=57600, link=site / "ttyBOARD")
    received: list[tuple[float, Packet]] = []
    answered: list[float] = []
    handle = board.emulator.handle

    def recording_handle(event: Any) -> bytes | None:
        reply: bytes | None = handle(event)
        now = time.monotonic()
        if isinstance(event, Packet):
            received.append((now, event))
        if reply is not None:
            answered.append(now)
        return reply

    board.emulator.handle = recording_handle
    board.start()
    options = (f'{{ port = "{board.port}", baud = 57600, ping_s = {PING_S}, '
               f'timeout_s = {TIMEOUT_S}, retries = 2 }}')
    cfg = write_site(site, name="ping", driver="led", screen=SCREEN, width=128, height=16,
                     options=options, af=AF, store=STORE, max_gap=5.0, margin=1.0)
    proc = signage_run(cfg, "32s")
    try:
        log = site / "log"

        def af_starts(rs: list[Record]) -> list[Record]:
            return [r for r in rs if r["type"] == "showing_start" and r["item"] == "af-hold"]

        # the first hold plays through; the board goes silent 3.5 s into the second
        (_first, second) = wait_for(log, proc, "two af-hold starts",
                                    lambda rs: af_starts(rs)[:2]
                                    if len(af_starts(rs)) >= 2 else None, timeout_s=90)
        time.sleep(max(0.0, second["start_mono"] + 3.5 - time.monotonic()))
        t_silent = time.monotonic()
        board.faults.silent = True
        wait_for(log, proc, "screen_down", lambda rs: any(
            r["type"] == "screen_down" for r in rs), timeout_s=90)
        t_back = time.monotonic()
        board.faults.silent = False
        wait_for(log, proc, "screen_up", lambda rs: any(
            r["type"] == "screen_up" for r in rs), timeout_s=90)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        board.stop()
    yield PingRun(site, proc.returncode, err, received, answered, t_silent, t_back)


def _recs(run: PingRun) -> list[Record]:
    return records(run.site / "log", run.site / "site.key")  # asserts the chain


def test_ping_run_ends_cleanly(ping_run: PingRun) -> None:
    assert ping_run.returncode == 0, ping_run.stderr
    recs = _recs(ping_run)
    assert recs[-1]["type"] == "run_stop" and recs[-1]["reason"] == "duration reached"


def test_a_long_item_on_a_healthy_board_is_pinged_every_ping_s(ping_run: PingRun) -> None:
    recs = _recs(ping_run)
    holds = [r for r in showings(recs, SCREEN)
             if r["item"] == "af-hold" and r["outcome"] == "completed"]
    assert holds, "no af-hold played through"
    for hold in holds:
        t0, t1 = hold["start_mono"], hold["end_mono"]
        assert t1 - t0 >= HOLD_S - 0.2, hold
        inside = [t for t, p in ping_run.received if t0 < t < t1 and is_ping(p)]
        # the last answer before each ping: the show's ACK, then the previous ping's reply
        contacts = [t0, *inside]
        steps = [b - a for a, b in itertools.pairwise(contacts)]
        print(f"af-hold {t1 - t0:.2f} s: {len(inside)} pings, "
              f"intervals {[round(s, 2) for s in steps]}")
        # not more often than ping_s, and at most one health poll late
        # (the slack of 2 s is for a busy machine, whose health polls may come late)
        assert all(PING_S - 0.05 <= s <= PING_S + HEALTH_POLL_S + 2.0 for s in steps), steps
        assert int((t1 - t0) // (PING_S + HEALTH_POLL_S + 2.0)) <= len(inside)
        assert len(inside) <= int((t1 - t0) // PING_S)
        assert t1 - inside[-1] < PING_S + HEALTH_POLL_S + 2.0  # and right up to its end


def test_a_silent_board_is_taken_down_and_credited_only_to_its_last_answer(
        ping_run: PingRun) -> None:
    recs = _recs(ping_run)
    ((down, up, d, _u),) = outages(recs, SCREEN)
    # noticed at the first ping after the silence: within ping_s (+ one health poll, as the
    # runner looks once a second) + one reply timeout
    last_answer = max(t for t in ping_run.answered if t < ping_run.t_silent)
    assert ping_run.t_silent < down <= last_answer + PING_S + HEALTH_POLL_S + TIMEOUT_S + 0.3, (
        ping_run.t_silent, last_answer, down)
    print(f"silent at +{ping_run.t_silent - last_answer:.2f} s after the board's last answer, "
          f"screen_down {down - ping_run.t_silent:.2f} s after the silence")
    assert "did not answer a ping" in d["reason"], d["reason"]
    errs = [r for r in recs if r["type"] == "driver_error" and r["mono"] <= down + 0.01]
    assert errs and "did not answer a ping" in errs[-1]["message"]
    # the showing that was on is cut short, credited no later than the board's last answer
    cut = [r for r in showings(recs, SCREEN) if r["outcome"] == "cut_short"
           and r["reason"] == "screen unavailable"]
    assert len(cut) == 1 and cut[0]["item"] == "af-hold", cut
    assert cut[0]["start_mono"] < ping_run.t_silent
    # the driver decodes the reply a few ms after the board made it (57600 baud)
    assert last_answer - 0.001 <= cut[0]["end_mono"] <= last_answer + 0.05, (
        cut[0]["end_mono"], last_answer, ping_run.t_silent)
    assert cut[0]["end_mono"] <= ping_run.t_silent
    # nothing is claimed while the board is silent, and play resumes once it answers
    starts = [r for r in recs if r["type"] == "showing_start"]
    assert not [r for r in starts if ping_run.t_silent < r["start_mono"] < up]
    assert ping_run.t_back <= up <= ping_run.t_back + 2.0
    assert [r for r in starts if r["start_mono"] > up]
    # the inspector's audit sees the outage
    _code, report = audit_json(ping_run.site / "log", ping_run.site / "site.key", ping_run.site)
    outs = [o for o in report["outages"] if o["kind"] == "screen_down"]
    assert len(outs) == 1 and outs[0]["screen"] == SCREEN
    assert outs[0]["length_s"] == pytest.approx(up - down, abs=0.01)
