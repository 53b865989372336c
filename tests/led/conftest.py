"""Fixtures: a fake board on a REAL pseudo-terminal, and a driver pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from signage_drivers.led.cli import RealClock
from signage_drivers.led.driver import LedDriver
from signage_drivers.led.fakeboard import FakeBoard

from signage.driver import DriverContext, ScreenSpec

MakeDriver = Callable[..., LedDriver]


@pytest.fixture
def board(tmp_path: Path) -> Iterator[FakeBoard]:
    fb = FakeBoard(width=128, height=16, link=tmp_path / "ttyLED", png=tmp_path / "board.png")
    fb.start()
    yield fb
    fb.stop()


def _spec(port: str, tmp_path: Path, width: int = 128, height: int = 16,
          **options: Any) -> ScreenSpec:
    opts: dict[str, Any] = {"port": port, "baud": 57600, "timeout_s": 0.5, "retries": 2}
    opts.update(options)
    return ScreenSpec(screen_id="shop-1", width=width, height=height, options=opts,
                      media_root=tmp_path)


@pytest.fixture
def make_spec(tmp_path: Path) -> Callable[..., ScreenSpec]:
    def make(port: str = "/dev/null", *, width: int = 128, height: int = 16,
             **options: Any) -> ScreenSpec:
        return _spec(port, tmp_path, width, height, **options)

    return make


@pytest.fixture
def make_driver(tmp_path: Path) -> Iterator[MakeDriver]:
    made: list[LedDriver] = []

    def make(port: str, *, width: int = 128, height: int = 16, **options: Any) -> LedDriver:
        spec = _spec(port, tmp_path, width, height, **options)
        assert LedDriver.check_options(spec) == []
        drv = LedDriver(spec, DriverContext(clock=RealClock(), run_dir=tmp_path))
        made.append(drv)
        return drv

    yield make
    for drv in made:
        drv.close()
