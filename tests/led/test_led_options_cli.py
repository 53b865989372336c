"""Validate-time checks, virtual mode, and the installer commands (probe, fakeboard)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signage_drivers.led.cli import SLOGAN, RealClock, led_app, probe
from signage_drivers.led.driver import LedDriver
from signage_drivers.led.fakeboard import FakeBoard
from typer.testing import CliRunner

from signage import render
from signage.driver import (
    DriverContext,
    ItemKind,
    ScreenSpec,
    ScreenUnavailable,
    Showable,
    load_driver,
)

SpecMaker = Callable[..., ScreenSpec]


def test_entry_point_loads_the_driver() -> None:
    assert load_driver("led") is LedDriver
    assert LedDriver.name == "led"


def test_good_options_have_no_problems(make_spec: SpecMaker) -> None:
    spec = make_spec("socket://10.0.0.5:5005", baud=9600, model="BX-5E2", address="0x0001",
                     colors=2, color="yellow", confirm=False, brightness=12, x=8, area_id=1)
    assert LedDriver.check_options(spec) == []
    opts = LedDriver(spec, DriverContext(clock=RealClock(), run_dir=Path("."))).opts
    assert (opts.device_type, opts.address, opts.colors, opts.x) == (0x0254, 1, 2, 8)
    assert make_spec(model=0x0154).options["model"] == 0x0154
    assert LedDriver.check_options(make_spec(model=0x0154)) == []


@pytest.mark.parametrize(("options", "needle"), [
    ({"port": ""}, "port: missing"),
    ({"baud": 115200}, "baud: 115200 is not a BX-5E rate, allowed: 9600 or 57600"),
    ({"model": "BX-9Z"}, "model: 'BX-9Z' is unknown, allowed: any, BX-5E1"),
    ({"model": "BX-6E1"}, "model: BX-6E1 is not driven by this driver"),
    ({"address": "seven"}, "address: 'seven' is not allowed"),
    ({"colors": 3}, "colors: 3 is not allowed, allowed: 1 (single colour) or 2"),
    ({"color": "blue"}, "color: 'blue' is unknown"),
    ({"scroll_px_per_s": 0}, "scroll_px_per_s: 0 is not allowed"),
    ({"timeout_s": "soon"}, "timeout_s: 'soon' is not allowed"),
    ({"retries": -1}, "retries: -1 is not allowed"),
    ({"confirm": "yes"}, "confirm: 'yes' is not a boolean, allowed: true or false"),
    ({"font": "No Such Font Anywhere"}, ""),  # fontconfig falls back to a CJK font: fine
    ({"bauds": 9600}, "bauds: unknown option"),
    ({"width": 0}, "width: 0 is not allowed, allowed: 1..4096 LEDs"),
    ({"brightness": 16}, "brightness: 16 is not allowed"),
    ({"area_id": 4}, "area_id: 4 is not allowed, allowed: 0..3"),
])
def test_option_problems_are_clear(make_spec: SpecMaker, options: dict[str, Any],
                                   needle: str) -> None:
    problems = LedDriver.check_options(make_spec(**options))
    if needle:
        assert any(needle in p for p in problems), problems
    else:
        assert problems == []


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["port", "baud", "model", "address", "width", "colors",
                                        "confirm", "timeout_s", "font", "zzz"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                 st.text(max_size=8), st.lists(st.integers(), max_size=2))))
def test_check_options_never_raises(options: dict[str, Any]) -> None:
    spec = ScreenSpec("s", 64, 16, options, Path("."))
    problems = LedDriver.check_options(spec)
    assert isinstance(problems, list)
    assert all(isinstance(p, str) and ": " in p for p in problems)


def test_text_duration_and_check_text(make_spec: SpecMaker) -> None:
    spec = make_spec(scroll_px_per_s=40)
    assert LedDriver.text_duration_s(spec, "谨防诈骗") is None  # 64 px: fits, stands still
    width = render.text_width(SLOGAN, 16, "Unifont")
    assert LedDriver.text_duration_s(spec, SLOGAN) == pytest.approx((width + 128) / 40)
    assert LedDriver.check_text(spec, SLOGAN) == []
    problems = LedDriver.check_text(spec, "转账😀💰😀")
    assert len(problems) == 2 and "U+1F600" in problems[0] and "Unifont" in problems[0]
    assert LedDriver.check_text(spec, "\x1b\x00") == [
        "text: empty after removing control characters"]
    huge = "诈" * 20000
    assert any("300 KiB" in p for p in LedDriver.check_text(spec, huge))


def test_virtual_mode_sends_nothing(make_spec: SpecMaker, tmp_path: Path) -> None:
    spec = make_spec("/dev/does-not-exist")
    drv = LedDriver(spec, DriverContext(clock=RealClock(), run_dir=tmp_path, virtual=True))
    drv.open()
    t = drv.show(Showable("v", ItemKind.TEXT, 5, True, text=SLOGAN))
    assert t <= time.monotonic()
    assert drv.health().ok


def test_bad_options_make_open_fail_clearly(make_spec: SpecMaker, tmp_path: Path) -> None:
    drv = LedDriver(make_spec(baud=300), DriverContext(clock=RealClock(), run_dir=tmp_path))
    with pytest.raises(ScreenUnavailable, match="baud"):
        drv.open()
    drv2 = LedDriver(make_spec("/dev/does-not-exist"),
                     DriverContext(clock=RealClock(), run_dir=tmp_path))
    with pytest.raises(ScreenUnavailable, match="cannot open"):
        drv2.open()


def test_probe_against_the_fake_board(board: FakeBoard) -> None:
    report = probe(board.port, 57600, {"timeout_s": 0.5})
    assert report.ok, report.lines
    assert any(line.startswith("ping: board answered ACK") for line in report.lines)
    assert any("scrolls" in line for line in report.lines)
    shown = board.emulator.shown(0)
    assert shown is not None
    assert shown.red.tobytes() == render.render_bitmap(SLOGAN, 128, 16).tobytes()


def test_probe_command_reports_failure(tmp_path: Path) -> None:
    result = CliRunner().invoke(led_app, ["probe", "--port", str(tmp_path / "nothing"),
                                          "--timeout", "0.1"])
    assert result.exit_code == 1
    assert "ping: FAILED" in result.output


def test_fakeboard_runs_as_a_process_and_probe_talks_to_it(tmp_path: Path) -> None:
    link = tmp_path / "board"
    png = tmp_path / "out.png"
    proc = subprocess.Popen(  # the typer command, which runs fakeboard.main
        [sys.executable, "-c", "from signage_drivers.led.cli import led_app; led_app()",
         "fakeboard", "--pty", "--link", str(link), "--png", str(png), "--width", "128",
         "--height", "16", "--address", "0x0001", "--quiet"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"port = {str(link)!r}"
        result = CliRunner().invoke(led_app, ["probe", "--port", str(link), "--baud", "57600",
                                              "--model", "BX-5E1", "--address", "1"])
        assert result.exit_code == 0, result.output
        assert "ping: board answered ACK" in result.output
        assert png.stat().st_size > 0
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
    assert not link.exists()  # the fake board unplugs on exit


def test_fakeboard_module_on_tcp() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "signage_drivers.led.fakeboard", "--tcp", "0", "--quiet",
         "--colors", "2"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("port = 'socket://127.0.0.1:")
        url = line.split("'")[1]
        report = probe(url, 57600, {"colors": 2, "color": "yellow"})
        assert report.ok, report.lines
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
