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

from signage.i18n import _
from signage.runtime.clock import RealClock
from signage.sanitize import sanitize

# (the driver, the renderer and the fake board are imported by the commands: `signage --help`
# and the other commands start without them, tests/test_cli_imports.py)

SLOGAN = "防范电信网络诈骗，人人参与，家家受益"

led_app = typer.Typer(help=_("Onbon BX-5E LED boards."), no_args_is_help=True)


@dataclass
class ProbeReport:
    ok: bool = False
    lines: list[str] = field(default_factory=list)
    ping_rtt_s: float | None = None
    show_latency_s: float | None = None

    def say(self, line: str) -> None:
        self.lines.append(sanitize(line))


def probe(port: str, baud: int, options: Mapping[str, Any], *, text: str = SLOGAN,
          duration_s: float = 10.0) -> ProbeReport:
    """Ping the board at ``port`` and show ``text``; never raises, reports every step."""
    from signage import render
    from signage.driver import (
        ContentRejected,
        DriverContext,
        ItemKind,
        ScreenSpec,
        ScreenUnavailable,
        Showable,
    )

    from .driver import LedDriver

    report = ProbeReport()
    opts = {**options, "port": port, "baud": baud}
    width, height = int(opts.get("width", 128)), int(opts.get("height", 16))
    spec = ScreenSpec(screen_id="probe", width=width, height=height, options=opts,
                      media_root=Path.cwd(), label="led probe")
    problems = LedDriver.check_options(spec)
    if problems:
        for problem in problems:
            report.say(_("option problem: {problem}").format(problem=problem))
        return report
    drv = LedDriver(spec, DriverContext(clock=RealClock(), run_dir=Path(tempfile.gettempdir())))
    o = drv.opts
    report.say(_("port {port} @ {baud} 8N1, address {address}, model {model} (DeviceType "
                 "{dt}), area {w}x{h} at ({x},{y}), {colors} colour(s)").format(
                     port=o.port, baud=o.baud, address=f"0x{o.address:04X}", model=o.model,
                     dt=f"0x{o.device_type:04X}", w=o.width, h=o.height, x=o.x, y=o.y,
                     colors=o.colors))
    start = time.monotonic()
    try:
        drv.open()
    except ScreenUnavailable as exc:
        report.say(_("ping: FAILED: {error}").format(error=exc))
        return report
    report.ping_rtt_s = time.monotonic() - start
    ping = drv.last_outcome
    if ping is not None and ping.response is not None:
        r = ping.response
        report.say(_("ping: board answered {answer} in {ms} ms (attempts {n}; status {status}, "
                     "error {error} {name}{data})").format(
                         answer=r.describe(), ms=f"{report.ping_rtt_s * 1000:.0f}",
                         n=ping.attempts, status=f"0x{r.status:04X}", error=r.error,
                         name=r.error_name, data=f", data {r.data.hex(' ')}" if r.data else ""))
    for problem in LedDriver.check_text(spec, text):
        report.say(_("text problem: {problem}").format(problem=problem))
    scroll = LedDriver.text_duration_s(spec, text)
    item = Showable(item_id="probe", kind=ItemKind.TEXT, duration_s=scroll or duration_s,
                    anti_fraud=True, text=text)
    try:
        t0 = time.monotonic()
        drv.show(item)
        report.show_latency_s = time.monotonic() - t0
    except (ScreenUnavailable, ContentRejected) as exc:
        report.say(_("show: FAILED: {error}").format(error=exc))
        drv.close()
        return report
    shown = drv.last_outcome
    how = _("confirmed by ACK") if o.confirm else _("frame left the port (no confirmation)")
    motion = (_("{px} px wide, scrolls, {s} s per pass at {speed} px/s").format(
        px=render.text_width(text, o.height, o.font_pattern), s=f"{scroll:.1f}",
        speed=f"{o.scroll_px_per_s:g}") if scroll else _("static"))
    report.say(_("show: {text} on screen after {ms} ms, {how}; {n} bytes on the wire; "
                 "{motion}").format(text=repr(text), ms=f"{report.show_latency_s * 1000:.0f}",
                                    how=how, n=shown.frame_bytes if shown else "?",
                                    motion=motion))
    report.say(_("switch latency estimate now {ms} ms (first guess from wire time: {guess} ms)"
                 ).format(ms=f"{drv.switch_latency_s * 1000:.0f}",
                          guess=f"{drv.estimate_latency_s() * 1000:.0f}"))
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
    from . import fakeboard

    argv = ["--width", str(width), "--height", str(height), "--colors", str(colors),
            "--address", address, "--model", model, "--baud", str(baud), "--busy", str(busy),
            "--corrupt", str(corrupt), "--host", host]
    argv += ["--tcp", str(tcp)] if tcp is not None else (["--pty"] if pty else [])
    argv += ["--link", str(link)] if link is not None else []
    argv += ["--png", str(png)] if png is not None else []
    argv += ["--silent"] if silent else []
    argv += ["--quiet"] if quiet else []
    raise typer.Exit(fakeboard.main(argv))


led_app.command("fakeboard", help=_("Run a fake BX-5E LED board on a pty or a TCP port "
                                    "until Ctrl-C."))(fakeboard_command)
