"""Option checking (clear messages, never raising) and the mpv argument list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from signage_drivers.mpv.driver import MpvDriver
from signage_drivers.mpv.options import build_argv, parse_options

from signage.driver import DriverContext, ScreenSpec

from .conftest import RealClock


def _spec(options: Any, width: int = 1920, height: int = 1080) -> ScreenSpec:
    return ScreenSpec("hdmi-1", width, height, options, Path("/nonexistent-media"))


def test_defaults_are_fine() -> None:
    assert MpvDriver.check_options(_spec({})) == []
    good = {"fullscreen": True, "display": "HDMI-A-1", "hwdec": "v4l2m2m-copy", "vo": "gpu",
            "gpu_context": "drm", "ao": None, "extra_args": ["--drm-mode=1920x1080"],
            "reply_timeout_s": 2, "start_timeout_s": 10.0, "max_rss_mb": 400, "ipc": "fd"}
    assert MpvDriver.check_options(_spec(good)) == []


@pytest.mark.parametrize(("options", "needle"), [
    ({"fullscreen": "yes"}, "fullscreen: must be true or false"),
    ({"display": -1}, "display:"),
    ({"display": "HDMI 1; rm"}, "display:"),
    ({"hwdec": "auto copy"}, "hwdec:"),
    ({"vo": ""}, "vo:"),
    ({"vo": 3}, "vo:"),
    ({"extra_args": "--fs"}, "extra_args: must be a list"),
    ({"extra_args": ["fs"]}, "'fs' must be a string \"--name\""),
    ({"extra_args": ["--"]}, "extra_args: '--'"),
    ({"extra_args": ["--input-ipc-server=/tmp/x"]}, "managed by the driver"),
    ({"extra_args": ["--no-config"]}, "use the user_config option"),
    ({"extra_args": ["--vo=drm"]}, "use the vo option"),
    ({"extra_args": ["--osd-msg1=a\nquit"]}, "line break"),
    ({"reply_timeout_s": 0}, "reply_timeout_s: 0 is out of range"),
    ({"start_timeout_s": "10"}, "start_timeout_s: must be a number"),
    ({"max_rss_mb": True}, "max_rss_mb: must be a number"),
    ({"ipc": "tcp"}, "ipc: 'tcp'"),
    ({"colour": "red"}, "colour: unknown option"),
])
def test_bad_options_get_clear_messages(options: dict[str, Any], needle: str) -> None:
    problems = MpvDriver.check_options(_spec(options))
    assert len(problems) == 1, problems
    assert needle in problems[0]


def test_check_options_never_raises() -> None:
    assert MpvDriver.check_options(_spec(["not", "a", "mapping"])) != []
    assert MpvDriver.check_options(_spec({}, width=0)) != []


def test_bad_options_refuse_to_build_a_driver(tmp_path: Path) -> None:
    ctx = DriverContext(clock=RealClock(), run_dir=tmp_path)
    with pytest.raises(ValueError, match="hwdec"):
        MpvDriver(_spec({"hwdec": "auto copy"}), ctx)


def test_argv_has_the_kiosk_arguments() -> None:
    opts, problems = parse_options({"display": 1, "hwdec": "auto", "vo": "gpu",
                                    "extra_args": ["--drm-mode=1920x1080"]})
    assert problems == []
    argv = build_argv(opts, "/usr/bin/mpv", screen_id="shop 1", width=1920, height=1080)
    assert argv[0] == "/usr/bin/mpv"
    for arg in ("--idle=yes", "--force-window=yes", "--keep-open=yes",
                "--image-display-duration=inf", "--no-terminal", "--no-config",
                "--keep-open-pause=no", "--input-default-bindings=no", "--vo=gpu",
                "--hwdec=auto", "--aid=no", "--fullscreen=yes", "--screen=1", "--fs-screen=1",
                "--title=signage shop_1"):
        assert arg in argv
    # extra args come after the kiosk defaults (a site may change those) but before the
    # arguments the driver's start/end model rests on (nothing may change those)
    extra = argv.index("--drm-mode=1920x1080")
    assert argv.index("--osc=no") < extra < argv.index("--keep-open=yes")
    assert extra < argv.index("--idle=yes") and extra < argv.index("--keep-open-pause=no")


def test_argv_display_names_and_audio() -> None:
    drm, _ = parse_options({"vo": "drm", "display": "HDMI-A-2", "ao": "alsa",
                            "fullscreen": False, "user_config": True})
    argv = build_argv(drm, "mpv", screen_id="s", width=640, height=360)
    assert "--drm-connector=HDMI-A-2" in argv and "--ao=alsa" in argv
    assert "--aid=no" not in argv and "--no-config" not in argv
    assert "--geometry=640x360" in argv
    x11, _ = parse_options({"display": "HDMI-1"})
    argv = build_argv(x11, "mpv", screen_id="s", width=640, height=360)
    assert "--fs-screen-name=HDMI-1" in argv
    assert not any(a.startswith("--drm-connector") for a in argv)


def test_check_text_reports_glyphs_the_slide_font_lacks() -> None:
    spec = _spec({})
    assert MpvDriver.check_text(spec, "谨防电信诈骗 110") == []
    problems = MpvDriver.check_text(spec, "防\U000F0000骗")  # private use plane: no glyph
    assert problems and "U+F0000" in problems[0]


def test_two_long_screen_ids_with_the_same_beginning_get_their_own_runtime_directories(
        tmp_path: Path) -> None:
    """Ids may be 64 characters; the runtime directory (IPC socket, overlay file) must stay
    short for AF_UNIX, but two screens must never share it."""
    ctx = DriverContext(clock=RealClock(), run_dir=tmp_path)
    a, b = "hdmi-" + "x" * 50 + "-north", "hdmi-" + "x" * 50 + "-south"
    dirs = {MpvDriver(ScreenSpec(i, 320, 240, {}, Path("/nonexistent-media")), ctx).runtime_dir
            for i in (a, b, "hdmi-1")}
    assert len(dirs) == 3
    assert all(len(d.name) <= 48 for d in dirs)
    assert tmp_path / "mpv" / "hdmi-1" in dirs  # a short id is its own name, as before
