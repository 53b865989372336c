"""The torture suite: prints the figures each test measured at the end of the session."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import small_site

from .helpers import FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("torture figures")
    for name, figs in FIGURES.items():
        terminalreporter.write_line(
            f"{name}: " + ", ".join(f"{k}={v}" for k, v in figs.items()))


@pytest.fixture
def site(tmp_path: Path) -> Callable[..., Path]:
    """A scaled-down site (max_gap 3 s, items 0.5-2 s, one simulator screen); returns the
    config path."""
    def make(**kw: object) -> Path:
        return small_site(tmp_path, **kw)  # type: ignore[arg-type]
    return make


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("this torture test mounts a tmpfs and must run as root (CI does); "
                    "run the suite with sudo", pytrace=False)
