"""The driver interface: the one small, typed surface between the runtime and a screen.

A driver knows its device and nothing of planning. The runtime calls it from one thread
per screen, so a slow or hung driver only ever delays its own screen.

Life cycle::

    cls = load_driver("led")                 # entry point group ``signage.drivers``
    problems = cls.check_options(spec)       # validate time: [] when the options are fine
    drv = cls(spec, ctx)
    drv.open()                               # may raise ScreenUnavailable
    t = drv.show(showable)                   # blocks until the content is confirmed on screen;
                                             # returns that instant on ctx.clock.monotonic()
    drv.poll_end()                           # clip reached its end by itself? (mpv end-file)
    drv.clear(); drv.close()

Two real confirmations shaped this: an LED board confirms by ACK after a slow serial write
(0.8 s for 768 bytes at 9600 baud), mpv confirms by its log line that the first frame was
drawn. Both are "return the confirmed instant", and both report how long a switch takes
(``switch_latency_s``) so the runtime can send early enough for the start to land on time.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol

from .i18n import _

ENTRY_POINT_GROUP = "signage.drivers"
#: the drivers shipped with signage (their entry points in pyproject.toml say the same;
#: tests/test_driver_builtin.py checks it): loaded without reading the installed packages'
#: entry points, so that the daemon never imports importlib.metadata (~1.3 MiB of its RSS,
#: docs/benchmarks.md). Any other name is looked up in the entry-point group.
BUILTIN = {"simulator": ("signage_drivers.simulator", "SimulatorDriver"),
           "led": ("signage_drivers.led.driver", "LedDriver"),
           "mpv": ("signage_drivers.mpv.driver", "MpvDriver")}


class DriverError(Exception):
    """Base of the typed driver errors."""


class ScreenUnavailable(DriverError):
    """The screen cannot show anything right now (port gone, player dead, no reply).

    The runtime records screen down, retries with backoff and records screen up when
    ``open()`` or ``show()`` succeeds again.
    """


class ContentRejected(DriverError):
    """This item cannot be shown (missing, corrupt or unsupported file, undrawable text).

    The screen itself is fine: the runtime substitutes another item at once.
    """


class UnknownDriver(LookupError):
    """No driver of that name is registered in the ``signage.drivers`` entry-point group."""


class ItemKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    CLIP = "clip"


@dataclass(frozen=True, slots=True)
class InspectionCode:
    """A signed inspection code to draw with an item (docs/inspection-code.md): the QR
    symbol's modules and where it goes. Drivers that can draw it do (signage.inspection.
    picture), laid out so that it never covers the item's text; others ignore it."""

    text: str  # what the QR code holds: <hub>/v/<payload>
    modules: tuple[bytes, ...]  # one row per bytes object, 1 = dark; no quiet zone
    position: str = "bottom-right"  # "bottom-left", or "bottom-center" (the code slide)
    size: float = 0.4  # side of the code, quiet zone included, as a fraction of the height
    made_mono: float = 0.0  # when its statement was made, on ctx.clock.monotonic()


@dataclass(frozen=True, slots=True)
class Showable:
    """One item as the driver needs it: what to show, never when or why."""

    item_id: str
    kind: ItemKind
    duration_s: float
    anti_fraud: bool
    text: str = ""
    path: Path | None = None  # absolute, already checked to lie inside the media root
    category: str | None = None
    code: InspectionCode | None = None  # an anti-fraud item may carry one


class Clock(Protocol):
    """The injected clock. Real: time.monotonic / time.time. Virtual: advanced by a loop."""

    def monotonic(self) -> float: ...

    def time(self) -> float:
        """Wall time, seconds since the epoch (may step)."""
        ...

    def sleep_until(self, monotonic_deadline: float) -> None: ...


@dataclass(frozen=True, slots=True)
class ScreenSpec:
    """What a driver knows of its screen: identity, geometry and its own options table."""

    screen_id: str
    width: int
    height: int
    options: Mapping[str, Any]
    media_root: Path
    label: str = ""


@dataclass(frozen=True, slots=True)
class DriverContext:
    """Run-time context handed to a driver instance."""

    clock: Clock
    run_dir: Path  # private, writable; e.g. var/ (simulator frames, mpv sockets)
    #: record a driver event in the proof-of-play log, e.g. event("player_restart",
    #: {"reason": "rss", "rss_mb": 412}). Screen down/up are recorded by the runtime itself
    #: when show()/open() raise ScreenUnavailable or succeed again.
    event: Callable[[str, Mapping[str, Any]], None] = field(default=lambda _k, _d: None)
    virtual: bool = False  # True under `signage simulate`: no device, no real waiting
    #: held while doing memory-hungry work (rendering a full-HD slide): the runtime shares one
    #: lock among all drivers so that screens render one at a time and the daemon's peak
    #: memory stays that of one render, not of one per screen
    heavy: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str = ""
    #: when ok: the instant (on ``ctx.clock.monotonic()``) up to which the driver can vouch
    #: that the screen was up, e.g. an LED board's last answer; None means "now". The runtime
    #: credits the item on screen no further than this (and never past the time of the call).
    as_of: float | None = None


class Driver(abc.ABC):
    """Base class of every screen driver."""

    #: name in the entry-point group, e.g. "simulator", "led", "mpv"
    name: ClassVar[str]

    def __init__(self, spec: ScreenSpec, ctx: DriverContext) -> None:
        self.spec = spec
        self.ctx = ctx
        #: how many sends the last show(), clear() or health() needed before the device
        #: answered (1: the first). The runtime sets it to 1 before each call; a driver that
        #: resends or retries raises it. A retried answer proves the screen only at its own
        #: instant, nothing before it (signage/runtime/credit.py).
        self.last_attempts = 1

    # ---- validate time (pure, no device) -------------------------------------------------
    @classmethod
    def check_options(cls, spec: ScreenSpec) -> list[str]:
        """Problems with the screen's driver options, each "option: what is wrong, what is
        allowed". Empty when fine. Must never raise."""
        return []

    @classmethod
    def text_duration_s(cls, spec: ScreenSpec, text: str) -> float | None:
        """Duration model for a text item on this screen (e.g. scroll time on an LED board).

        None means "no model": the item's stated duration (or the site default) applies."""
        return None

    @classmethod
    def media_duration_s(cls, spec: ScreenSpec, path: Path) -> float | None:
        """Probed duration of a clip (e.g. ffprobe), or None when this driver has no probe
        (the item's stated duration applies). Raises ContentRejected naming the file when the
        clip cannot be probed. Called at validate time; cache expensive probes."""
        return None

    @classmethod
    def check_text(cls, spec: ScreenSpec, text: str) -> list[str]:
        """Problems drawing this text on this screen (e.g. characters the font lacks)."""
        return []

    @classmethod
    def check_image(cls, spec: ScreenSpec, width: int, height: int) -> list[str]:
        """Problems showing a picture of this size on this screen (e.g. a poster that an LED
        board would shrink to a few dots). Called at validate time with the decoded size."""
        return []

    # ---- run time --------------------------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> None:
        """Connect to the device. Raises ScreenUnavailable."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device. Never raises."""

    def prepare(self, item: Showable) -> None:
        """Get ``item`` ready ahead of its switch (render a bitmap or slide, warm a cache),
        so that ``show()`` only has to switch. Called right after the previous switch.
        Must not change what is on screen; errors are left for ``show()`` to raise."""
        return None

    @abc.abstractmethod
    def show(self, item: Showable) -> float:
        """Put ``item`` on screen, replacing what is there. Blocks until the device confirms,
        and returns the confirmed instant on ``ctx.clock.monotonic()``.

        Raises ContentRejected (this item cannot play) or ScreenUnavailable (device gone)."""

    def poll_end(self) -> float | None:
        """Monotonic instant at which the current item ended by itself (a clip's end of file),
        or None while it is still on screen. Most drivers hold content until replaced: they
        keep this default, and the runtime then never polls it (a driver that overrides it is
        asked about every 0.1 s while a clip is on). Never raises: a dead player shows up in
        ``health()`` and the next ``show()``."""
        return None

    @abc.abstractmethod
    def clear(self) -> None:
        """Blank the screen (outside opening hours). Raises ScreenUnavailable."""

    def health(self) -> Health:
        """Is the screen still showing what it was told to? Called about once a second
        between switches, from the screen's own thread, so keep it cheap (mpv: one IPC
        round trip). A not-ok answer ends the current showing at the last healthy check."""
        return Health(ok=True)

    @property
    def switch_latency_s(self) -> float:
        """Typical time from the start of ``show()`` to the confirmed instant (measured).
        The runtime calls ``show()`` this much before the planned start."""
        return 0.0


DriverClass = type[Driver]


def available_drivers() -> list[str]:
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} | set(BUILTIN))


def load_driver(name: str) -> DriverClass:
    """Load a driver class by entry-point name, lazily, with a clear error."""
    if name in BUILTIN:
        import importlib

        mod, attr = BUILTIN[name]
        entry = f"{mod}:{attr}"
        try:
            obj = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownDriver(_("driver {name} failed to load ({entry}): {error}").format(
                name=repr(name), entry=entry, error=exc)) from exc
    else:
        from importlib.metadata import entry_points

        eps = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not eps:
            known = ", ".join(available_drivers()) or _("none installed")
            raise UnknownDriver(_("unknown driver {name}; installed drivers: {known}").format(
                name=repr(name), known=known))
        entry = eps[0].value
        try:
            obj = eps[0].load()
        except Exception as exc:  # a third-party plugin may fail in any way on import
            raise UnknownDriver(_("driver {name} failed to load ({entry}): {error}").format(
                name=repr(name), entry=entry, error=exc)) from exc
    if not (isinstance(obj, type) and issubclass(obj, Driver)):
        raise UnknownDriver(_("driver {name} ({entry}) is not a signage.driver.Driver").format(
            name=repr(name), entry=entry))
    return obj
