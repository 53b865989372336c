"""The LED driver's options table (``[screens.X.options]``), parsed and checked in one place.

Every problem is reported as "option: what is wrong, what is allowed"; parsing never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from signage import render
from signage.i18n import _

from .area import MAX_AREAS_5E
from .codec import DEVICE_TYPES, SUPPORTED_MODELS, WILDCARD

BAUD_RATES = (9600, 57600)
COLORS = ("red", "green", "yellow")
MAX_SIDE = 4096  # a sanity bound; the area fields are 16-bit
PING_S_RANGE = (1.0, 600.0)  # health is polled about once a second: a shorter interval is moot


@dataclass(frozen=True, slots=True)
class LedOptions:
    port: str
    baud: int = 9600
    model: str = "any"
    device_type: int = WILDCARD
    address: int = WILDCARD
    width: int = 128
    height: int = 16
    x: int = 0
    y: int = 0
    colors: int = 1
    color: str = "red"
    font: str = ""
    scroll_px_per_s: float = 32.0
    speed: int = 1
    confirm: bool = True
    timeout_s: float = 1.0
    retries: int = 2
    brightness: int | None = None
    area_id: int = 0
    ping_s: float = 5.0

    @property
    def font_pattern(self) -> str:
        return self.font or render.font_for_height(self.height)


KNOWN_OPTIONS = tuple(k for k in LedOptions.__dataclass_fields__ if k != "device_type")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            return None
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def parse_options(options: Mapping[str, Any], width: int,
                  height: int) -> tuple[LedOptions | None, list[str]]:
    """Options → (LedOptions or None, problems). Screen geometry is the default board size."""
    problems: list[str] = []
    values: dict[str, Any] = {}

    def bad(name: str, what: str, allowed: str) -> None:
        problems.append(_("{name}: {what}, {allowed}").format(name=name, what=what,
                                                                allowed=allowed))

    for key in options:
        if key not in KNOWN_OPTIONS:
            bad(str(key), _("unknown option"), _("known options are {names}").format(
                names=", ".join(KNOWN_OPTIONS)))

    port = options.get("port")
    if not isinstance(port, str) or not port.strip():
        bad("port", _("missing or not a string ({value})").format(value=repr(port)),
            _("a device path or pyserial URL, e.g. /dev/ttyUSB0, socket://10.0.0.5:5005"))
    else:
        values["port"] = port.strip()

    def integer(name: str, lo: int, hi: int, allowed: str, default: int) -> None:
        raw = options.get(name, default)
        val = _int(raw)
        if val is None or not lo <= val <= hi:
            bad(name, _("{value} is not allowed").format(value=repr(raw)), allowed)
        else:
            values[name] = val

    baud = _int(options.get("baud", 9600))
    if baud not in BAUD_RATES:
        bad("baud", _("{value} is not a BX-5E rate").format(value=repr(options.get("baud"))),
            _("allowed: 9600 or 57600"))
    else:
        values["baud"] = baud

    _model(options.get("model", "any"), values, bad)

    integer("address", 0, 0xFFFF, _("allowed: the board's screen number 0..65535, or 0xFFFE "
                                    "(wildcard, one board per line)"), WILDCARD)
    leds = _("allowed: 1..{max} LEDs").format(max=MAX_SIDE)
    integer("width", 1, MAX_SIDE, leds, width)
    integer("height", 1, MAX_SIDE, leds, height)
    integer("x", 0, 0xFFFF, _("allowed: the area's left column on the board, 0..65535"), 0)
    integer("y", 0, 0xFFFF, _("allowed: the area's top row on the board, 0..65535"), 0)
    integer("colors", 1, 2, _("allowed: 1 (single colour) or 2 (red/green)"), 1)
    integer("speed", 1, 255, _("allowed: the board's speed level 1..255 (SDK: 1..65)"), 1)
    integer("retries", 0, 10, _("allowed: 0..10 resends"), 2)
    integer("area_id", 0, MAX_AREAS_5E - 1, _("allowed: 0..{max}").format(
        max=MAX_AREAS_5E - 1), 0)
    if options.get("brightness") is not None:
        integer("brightness", 0, 15, _("allowed: 0..15 (omit to leave the board's setting)"),
                0)

    color = options.get("color", "red")
    if color not in COLORS:
        bad("color", _("{value} is unknown").format(value=repr(color)),
            _("allowed: {values}").format(values=", ".join(COLORS)))
    else:
        values["color"] = color

    def real(name: str, lo: float, hi: float, allowed: str, default: float) -> None:
        raw = options.get(name, default)
        val = _number(raw)
        if val is None or not lo < val <= hi:
            bad(name, _("{value} is not allowed").format(value=repr(raw)), allowed)
        else:
            values[name] = val

    real("scroll_px_per_s", 0.0, 1000.0, _("allowed: a number > 0 and ≤ 1000 (measure it on "
                                           "your board)"), 32.0)
    real("timeout_s", 0.0, 60.0, _("allowed: seconds > 0 and ≤ 60"), 1.0)
    _ping_s(options.get("ping_s", 5.0), values, bad)

    confirm = options.get("confirm", True)
    if not isinstance(confirm, bool):
        bad("confirm", _("{value} is not a boolean").format(value=repr(confirm)),
            _("allowed: true or false"))
    else:
        values["confirm"] = confirm

    font = options.get("font", "")
    if not isinstance(font, str):
        bad("font", _("{value} is not a string").format(value=repr(font)),
            _("allowed: a fontconfig pattern or font path"))
    elif font:
        values["font"] = font
    _check_font(values.get("font") or render.font_for_height(values.get("height", height)),
                bad)

    if problems:
        return None, problems
    opts = LedOptions(**values)
    return opts, []


def _model(model: Any, values: dict[str, Any], bad: Callable[[str, str, str], None]) -> None:
    """A model name ("BX-5E1", "any") or a DeviceType number → device_type and model name."""
    number = _int(model)
    name = ""
    if number is not None and 0 <= number <= 0xFFFF:
        name = next((k for k, v in DEVICE_TYPES.items() if v == number), f"0x{number:04X}")
        device_type = number
    elif isinstance(model, str) and number is None:
        name = model.strip().upper().replace("_", "-")
        name = "any" if name == "ANY" else name
        if name not in DEVICE_TYPES:
            name = ""
        device_type = DEVICE_TYPES.get(name, WILDCARD)
    if not name:
        bad("model", _("{value} is unknown").format(value=repr(model)),
            _("allowed: {values} or a 16-bit DeviceType number").format(
                values=", ".join(SUPPORTED_MODELS)))
    elif name in DEVICE_TYPES and name not in SUPPORTED_MODELS:
        bad("model", _("{model} is not driven by this driver (5Q: RGB565, 6th generation: "
                       "another A7 00 layout)").format(model=name),
            _("allowed: {values}").format(values=", ".join(SUPPORTED_MODELS)))
    else:
        values["device_type"] = device_type
        values["model"] = name


def _ping_s(raw: Any, values: dict[str, Any], bad: Callable[[str, str, str], None]) -> None:
    lo, hi = PING_S_RANGE
    val = _number(raw)
    if val is None or not (val == 0 or lo <= val <= hi):
        bad("ping_s", _("{value} is not allowed").format(value=repr(raw)), _(
            "allowed: seconds between {lo} and {hi} (how long the board may go without "
            "answering before health pings it), or 0 to never ping (then nothing proves the "
            "board up between switches)").format(lo=f"{lo:g}", hi=f"{hi:g}"))
    else:
        values["ping_s"] = val


def _check_font(pattern: str, bad: Callable[[str, str, str], None]) -> None:
    try:
        render.find_font(pattern)
    except render.FontNotFound as exc:
        bad("font", str(exc), _("allowed: an installed CJK font (fc-list :lang=zh)"))
    except Exception as exc:  # fontconfig missing or broken: report, never raise
        bad("font", _("cannot resolve {pattern}: {error}").format(pattern=repr(pattern),
                                                                 error=exc),
            _("allowed: an installed CJK font"))
