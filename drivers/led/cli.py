"""Installer commands: ``signage led probe`` and ``signage fakeboard``.

``probe`` talks to a board with the same driver the daemon uses: it pings, prints the answer,
and shows a test slogan, reporting the measured on-screen latency. It takes the port and the
board's options on the command line (no config loader needed); :func:`probe` is the logic, for
a config-aware wrapper to call with a screen's options table.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from signage import render
from signage.driver import (
    ContentRejected,
    DriverContext,
    ItemKind,
    ScreenSpec,
    ScreenUnavailable,
    Showable,
)
from signage.i18n import _
from signage.runtime.clock import RealClock

from . import fakeboard
from .driver import LedDriver

SLOGAN = "防范电信网络诈骗，人人参与，家家受益"

led_app = typer.Typer(help=_("Onbon BX-5E LED boards."), no_args_is_help=True)


@dataclass
class ProbeReport:
    ok: bool = False
    lines: list[str] = field(default_factory=list)
    ping_rtt_s: float | None = None
    show_latency_s: float | None = None

    def say(self, line: str) -> None:
        self.lines.append(render.sanitize(line))


def probe(port: str, baud: int, options: Mapping[str, Any], *, text: str = SLOGAN,
          duration_s: float = 10.0) -> ProbeReport:
    """Ping the board at ``port`` and show ``text``; never raises, reports every step."""
    report = ProbeReport()
    opts = {**options, "port": port, "baud": baud}
    width, height = int(opts.get("width", 128)), int(opts.get("height", 16))
    spec = ScreenSpec(screen_id="probe", width=width, height=height, options=opts,
                      media_root=Path.cwd(), label="led probe")
    problems = LedDriver.check_options(spec)
    if problems:
        for problem in problems:
            report.say(f"option problem: {problem}")
        return report
    drv = LedDriver(spec, DriverContext(clock=RealClock(), run_dir=Path(tempfile.gettempdir())))
    o = drv.opts
    report.say(f"port {o.port} @ {o.baud} 8N1, address 0x{o.address:04X}, model {o.model} "
               f"(DeviceType 0x{o.device_type:04X}), area {o.width}x{o.height} at "
               f"({o.x},{o.y}), {o.colors} colour(s)")
    start = time.monotonic()
    try:
        drv.open()
    except ScreenUnavailable as exc:
        report.say(f"ping: FAILED: {exc}")
        return report
    report.ping_rtt_s = time.monotonic() - start
    ping = drv.last_outcome
    if ping is not None and ping.response is not None:
        r = ping.response
        report.say(f"ping: board answered {r.describe()} in {report.ping_rtt_s * 1000:.0f} ms "
                   f"(attempts {ping.attempts}; status 0x{r.status:04X}, "
                   f"error {r.error} {r.error_name}"
                   + (f", data {r.data.hex(' ')}" if r.data else "") + ")")
    for problem in LedDriver.check_text(spec, text):
        report.say(f"text problem: {problem}")
    scroll = LedDriver.text_duration_s(spec, text)
    item = Showable(item_id="probe", kind=ItemKind.TEXT, duration_s=scroll or duration_s,
                    anti_fraud=True, text=text)
    try:
        t0 = time.monotonic()
        drv.show(item)
        report.show_latency_s = time.monotonic() - t0
    except (ScreenUnavailable, ContentRejected) as exc:
        report.say(f"show: FAILED: {exc}")
        drv.close()
        return report
    shown = drv.last_outcome
    how = "confirmed by ACK" if o.confirm else "frame left the port (no confirmation)"
    report.say(f"show: {text!r} on screen after {report.show_latency_s * 1000:.0f} ms, {how}; "
               f"{shown.frame_bytes if shown else '?'} bytes on the wire; "
               + (f"{render.text_width(text, o.height, o.font_pattern)} px wide, scrolls, "
                  f"{scroll:.1f} s per pass at {o.scroll_px_per_s:g} px/s"
                  if scroll else "static"))
    report.say(f"switch latency estimate now {drv.switch_latency_s * 1000:.0f} ms "
               f"(first guess from wire time: {drv.estimate_latency_s() * 1000:.0f} ms)")
    drv.close()
    report.ok = True
    return report


@led_app.command("probe", help=_("Ping an LED board and show a test slogan."))
def probe_cmd(
    port: Annotated[str, typer.Option(help=_("/dev/ttyUSB0, socket://HOST:5005, or any "
                                      "pyserial URL"))],
    baud: Annotated[int, typer.Option(help=_("9600 or 57600"))] = 9600,
    address: Annotated[str, typer.Option(help=_("screen number, or 0xFFFE (wildcard)"))] = "0xFFFE",
    model: Annotated[str, typer.Option(help=_("any, BX-5E1, BX-5E2, BX-5E3"))] = "any",
    width: Annotated[int, typer.Option(help=_("area width in LEDs"))] = 128,
    height: Annotated[int, typer.Option(help=_("area height in LEDs"))] = 16,
    colors: Annotated[int, typer.Option(help=_("1 or 2"))] = 1,
    timeout: Annotated[float, typer.Option(help=_("seconds to wait for each reply"))] = 1.0,
    text: Annotated[str, typer.Option(help=_("the test slogan"))] = SLOGAN,
) -> None:
    """Ping an LED board and show a test slogan."""
    options: dict[str, Any] = {"address": address, "model": model, "width": width,
                               "height": height, "colors": colors, "timeout_s": timeout}
    report = probe(port, baud, options, text=text)
    for line in report.lines:
        typer.echo(line)
    raise typer.Exit(0 if report.ok else 1)


def fakeboard_command(
    pty: Annotated[bool, typer.Option("--pty", help=_("open a pseudo-terminal (default)"))] = True,
    tcp: Annotated[int | None, typer.Option(help=_("listen on this TCP port instead (a real "
                                            "board uses 5005)"))] = None,
    host: Annotated[str, typer.Option(help=_("TCP address to listen on"))] = "127.0.0.1",
    link: Annotated[Path | None, typer.Option(help=_("stable symlink to the pty, for the "
                                              "driver's port option"))] = None,
    png: Annotated[Path | None, typer.Option(help=_("write the board as a PNG on each "
                                             "update"))] = None,
    width: Annotated[int, typer.Option(help=_("board width in LEDs"))] = 128,
    height: Annotated[int, typer.Option(help=_("board height in LEDs"))] = 16,
    colors: Annotated[int, typer.Option(help=_("1 or 2"))] = 1,
    address: Annotated[str, typer.Option(help=_("screen number"))] = "1",
    model: Annotated[str, typer.Option(help=_("BX-5E1, BX-5E2, BX-5E3"))] = "BX-5E1",
    baud: Annotated[int, typer.Option(help=_("emulate this line rate; 0 = no pacing"))] = 0,
    busy: Annotated[int, typer.Option(help=_("NACK busy to the first N requests"))] = 0,
    corrupt: Annotated[int, typer.Option(help=_("corrupt the first N replies"))] = 0,
    silent: Annotated[bool, typer.Option("--silent", help=_("never answer"))] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help=_("do not log requests"))] = False,
) -> None:
    """Run a fake BX-5E LED board on a pty or a TCP port until Ctrl-C."""
    argv = ["--width", str(width), "--height", str(height), "--colors", str(colors),
            "--address", address, "--model", model, "--baud", str(baud), "--busy", str(busy),
            "--corrupt", str(corrupt), "--host", host]
    argv += ["--tcp", str(tcp)] if tcp is not None else (["--pty"] if pty else [])
    argv += ["--link", str(link)] if link is not None else []
    argv += ["--png", str(png)] if png is not None else []
    argv += ["--silent"] if silent else []
    argv += ["--quiet"] if quiet else []
    raise typer.Exit(fakeboard.main(argv))


led_app.command("fakeboard")(fakeboard_command)
