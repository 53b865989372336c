"""The mpv driver's options table: parsing with clear messages, and the mpv argument list."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from signage.i18n import N_, _

#: a vo/ao/hwdec value: a name or a comma-separated priority list (e.g. "gpu,drm")
_NAME_LIST = re.compile(r"^[a-z0-9_-]+(?:,[a-z0-9_-]+)*$")
#: a DRM connector ("HDMI-A-1", "0.HDMI-A-1") or an X11/Wayland output name ("HDMI-1")
_OUTPUT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

#: options the driver sets itself; extra_args may not override them (name without "--"/"no-")
_MANAGED: Mapping[str, str] = MappingProxyType({
    "input-ipc-server": N_("the driver owns the IPC connection"),
    "input-ipc-client": N_("the driver owns the IPC connection"),
    "idle": N_("the player must stay alive between items"),
    "force-window": N_("the window must stay up between items"),
    "keep-open": N_("clips must hold their last frame until replaced"),
    "keep-open-pause": N_("a clip ending must not pause the next one"),
    "image-display-duration": N_("images must stay until replaced"),
    "terminal": N_("mpv runs without a terminal"),
    "config": N_("use the user_config option"),
    "vo": N_("use the vo option"),
    "ao": N_("use the ao option"),
    "hwdec": N_("use the hwdec option"),
    "fullscreen": N_("use the fullscreen option"),
    "fs": N_("use the fullscreen option"),
    "gpu-context": N_("use the gpu_context option"),
    "playlist": N_("the driver loads one file at a time"),
    "pause": N_("items must play"),
    "loop-file": N_("a clip must end for its end to be reported"),
    "loop-playlist": N_("the driver loads one file at a time"),
    "access-references": N_("a media file must not open other files (playlists)"),
})

# What the driver's model of "on screen" rests on. Passed LAST (after extra_args, and after
# anything a file named by --include sets), so nothing can override them.
_ESSENTIAL_ARGS = (
    "--idle=yes", "--force-window=yes", "--keep-open=yes", "--keep-open-pause=no",
    "--reset-on-next-file=pause", "--image-display-duration=inf", "--no-terminal",
    "--pause=no", "--loop-file=no", "--loop-playlist=no", "--access-references=no",
)
# Kiosk defaults: no on-screen controller or OSD messages, no key bindings (a keyboard
# plugged into the player must not quit it), no user scripts, no network helper, no
# subtitle/audio files picked up next to a clip. Passed before extra_args: a site may change.
_KIOSK_ARGS = (
    "--osc=no", "--osd-level=0", "--input-default-bindings=no", "--input-vo-keyboard=no",
    "--cursor-autohide=always", "--load-scripts=no", "--load-stats-overlay=no", "--ytdl=no",
    "--sub-auto=no", "--audio-file-auto=no",
    # the console's picture of the screen (screenshot-to-file, drivers/mpv/driver.py): small
    "--screenshot-jpeg-quality=70", "--screenshot-high-bit-depth=no",
)


@dataclass(frozen=True, slots=True)
class MpvOptions:
    fullscreen: bool = True
    display: int | str | None = None
    hwdec: str = "no"
    vo: str = "gpu"
    gpu_context: str | None = None
    ao: str | None = None  # None: audio off (--aid=no), no audio device is opened
    extra_args: tuple[str, ...] = ()
    reply_timeout_s: float = 2.0
    start_timeout_s: float = 10.0
    show_timeout_s: float = 10.0
    max_rss_mb: float | None = None
    ipc: str = "auto"  # "auto" | "fd" | "socket"
    user_config: bool = False
    mpv_path: str = "mpv"
    probe_cache: str = "var/cache/ffprobe.json"
    #: a picture of the screen for the console: at each switch and at most this often while
    #: a clip plays (0: none)
    screenshot_every_s: float = 10.0


KNOWN = tuple(f.name for f in fields(MpvOptions))


def _number(key: str, value: Any, lo: float, hi: float, problems: list[str]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(_("{key}: must be a number of seconds/MiB, got {value}").format(
            key=key, value=repr(value)))
        return None
    if not lo < float(value) <= hi:
        problems.append(_("{key}: {value} is out of range, allowed {lo} < value <= {hi}").format(
            key=key, value=repr(value), lo=f"{lo:g}", hi=f"{hi:g}"))
        return None
    return float(value)


def _names(key: str, value: Any, problems: list[str], allow_none: bool = False) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not _NAME_LIST.match(value):
        problems.append(_("{key}: {value} is not a name or comma-separated list of names "
                          "(e.g. \"gpu\", \"drm\", \"auto\", \"v4l2m2m-copy\")").format(
                              key=key, value=repr(value)))
        return None
    return value


def _extra_args(value: Any, problems: list[str]) -> tuple[str, ...] | None:
    if not isinstance(value, list | tuple):
        problems.append("extra_args: " + _("must be a list of strings starting with \"--\", "
                                           "got {type}").format(type=type(value).__name__))
        return None
    out: list[str] = []
    for arg in value:
        if not isinstance(arg, str) or not arg.startswith("--") or arg == "--":
            problems.append("extra_args: " + _("{arg} must be a string \"--name\" or "
                                               "\"--name=value\"").format(arg=repr(arg)))
            continue
        if any(c in arg for c in "\n\r\0"):
            problems.append("extra_args: " + _("{arg} contains a line break or NUL").format(
                arg=repr(arg)))
            continue
        name = arg[2:].split("=", 1)[0]
        base = name[3:] if name.startswith("no-") else name
        if base in _MANAGED:
            problems.append("extra_args: " + _("{arg} is managed by the driver ({why})").format(
                arg=arg, why=_(_MANAGED[base])))
            continue
        out.append(arg)
    return tuple(out)


def parse_options(raw: Mapping[str, Any]) -> tuple[MpvOptions, list[str]]:
    """Options with defaults for anything missing or wrong, and the list of problems.
    Never raises."""
    problems: list[str] = []
    vals: dict[str, Any] = {}
    try:
        items = list(raw.items())
    except Exception:  # not a mapping at all
        return MpvOptions(), ["options: " + _("must be a table of option = value")]
    for key, value in items:
        if key not in KNOWN:
            problems.append(_("{key}: unknown option of the mpv driver; known: {known}").format(
                key=key, known=", ".join(KNOWN)))
        elif key in ("fullscreen", "user_config"):
            if isinstance(value, bool):
                vals[key] = value
            else:
                problems.append(_("{key}: must be true or false, got {value}").format(
                    key=key, value=repr(value)))
        elif key == "display":
            screen_no = (isinstance(value, int) and not isinstance(value, bool)
                         and 0 <= value <= 32)
            output = isinstance(value, str) and _OUTPUT_NAME.match(value) is not None
            if value is None or screen_no or output:
                vals[key] = value
            else:
                problems.append("display: " + _("{value} must be a screen number 0-32 (X11) or "
                                                "an output/connector name like \"HDMI-A-1\""
                                                ).format(value=repr(value)))
        elif key in ("hwdec", "vo"):
            if (v := _names(key, value, problems)) is not None:
                vals[key] = v
        elif key in ("ao", "gpu_context"):
            if (v := _names(key, value, problems, allow_none=True)) is not None:
                vals[key] = v
        elif key == "extra_args":
            if (args := _extra_args(value, problems)) is not None:
                vals[key] = args
        elif key in ("reply_timeout_s", "start_timeout_s", "show_timeout_s"):
            if (n := _number(key, value, 0.0, 300.0, problems)) is not None:
                vals[key] = n
        elif key == "screenshot_every_s":
            if value == 0 and not isinstance(value, bool):
                vals[key] = 0.0
            elif (n := _number(key, value, 0.9, 86400.0, problems)) is not None:
                vals[key] = n
        elif key == "max_rss_mb":
            if value is None:
                vals[key] = None
            elif (n := _number(key, value, 16.0, 1e6, problems)) is not None:
                vals[key] = n
        elif key == "ipc":
            if value in ("auto", "fd", "socket"):
                vals[key] = value
            else:
                problems.append("ipc: " + _("{value} must be \"auto\", \"fd\" or \"socket\""
                                            ).format(value=repr(value)))
        elif key in ("mpv_path", "probe_cache"):
            if isinstance(value, str) and value and "\0" not in value:
                vals[key] = value
            else:
                problems.append(_("{key}: must be a non-empty path string, got {value}").format(
                    key=key, value=repr(value)))
    return MpvOptions(**vals), problems


def build_argv(opts: MpvOptions, mpv_exe: str, *, screen_id: str, width: int,
               height: int) -> list[str]:
    """mpv's argument list (without the IPC argument, which the IPC client appends)."""
    argv = [mpv_exe]
    if not opts.user_config:
        argv.append("--no-config")
    argv.extend(_KIOSK_ARGS)
    safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", screen_id)[:64]
    argv.append(f"--title=signage {safe_id}")
    argv.append(f"--vo={opts.vo}")
    if opts.gpu_context is not None:
        argv.append(f"--gpu-context={opts.gpu_context}")
    argv.append(f"--hwdec={opts.hwdec}")
    if opts.ao is None:
        argv.append("--aid=no")
    else:
        argv.append(f"--ao={opts.ao}")
    if opts.fullscreen:
        argv.append("--fullscreen=yes")
    else:
        argv.append(f"--geometry={max(1, width)}x{max(1, height)}")
    if isinstance(opts.display, int):
        argv += [f"--screen={opts.display}", f"--fs-screen={opts.display}"]
    elif isinstance(opts.display, str):
        drm = opts.vo.split(",")[0] == "drm" or opts.gpu_context == "drm"
        if drm:
            argv.append(f"--drm-connector={opts.display}")
        else:
            argv += [f"--screen-name={opts.display}", f"--fs-screen-name={opts.display}"]
    argv.extend(opts.extra_args)
    argv.extend(_ESSENTIAL_ARGS)
    return argv
