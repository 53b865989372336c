"""LED boards tall enough for a code: the real LED driver over a real pty to the fake board
puts the code beside a static slogan; what the board holds decodes (drawn as the dot matrix
the street sees, then degraded as a phone photo). Too long a slogan scrolls without a code."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageFilter
from signage_drivers.led.cli import RealClock
from signage_drivers.led.driver import LedDriver
from signage_drivers.led.fakeboard import FakeBoard

from signage import render
from signage.driver import DriverContext, InspectionCode, ItemKind, ScreenSpec, Showable
from signage.inspection.check import read_codes
from signage.inspection.picture import led_rows_needed, qr_modules
from signage.inspection.statement import Statement, sign
from signage.keys import SigningKey
from tests.inspection.photo import phone_photo

KEY = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
W, H = 384, 64


@pytest.fixture
def board(tmp_path: Path) -> Iterator[FakeBoard]:
    fb = FakeBoard(width=W, height=H, link=tmp_path / "ttyLED", png=tmp_path / "board.png")
    fb.start()
    yield fb
    fb.stop()


def _driver(board: FakeBoard, tmp_path: Path) -> LedDriver:
    spec = ScreenSpec("gate", W, H, {"port": str(board.port), "baud": 57600,
                                     "timeout_s": 2.0, "retries": 2}, tmp_path)
    assert LedDriver.check_options(spec) == []
    return LedDriver(spec, DriverContext(clock=RealClock(), run_dir=tmp_path))


def _code(i: int) -> InspectionCode:
    st = Statement("demo-mall", "gate", 1796090400 + i, True, i, 30_000, 500 + i,
                   bytes(16), KEY.key_id)
    url = sign(st, KEY).url("https://hub.example.cn")
    return InspectionCode(url, qr_modules(url))


def test_a_64_row_board_shows_a_readable_code_beside_a_static_slogan(
        board: FakeBoard, tmp_path: Path) -> None:
    code = _code(1)
    assert led_rows_needed(len(code.modules)) <= H
    drv = _driver(board, tmp_path)
    drv.open()
    try:
        item = Showable("af1", ItemKind.TEXT, 8.0, True, "谨防诈骗", code=code)
        drv.prepare(item)
        drv.show(item)
        shown = board.emulator.shown(0)
        assert shown is not None and not shown.scrolls
        lit = shown.lit
        assert lit.size == (W, H)
        # exactly what the board holds decodes
        assert code.text in read_codes_img(lit.convert("L"), tmp_path)
        # a phone photo of the code's end of the board (the last 160 LEDs), the dots a little
        # merged by the camera at a distance (blur of 0.35 LED pitch), then the chat-app
        # degradation. NB: sharp dots (no optical blur) or half-pitch blur did not decode
        # reliably when this was explored: LED codes are less certain than HDMI ones.
        pitch = 8
        face = render.dot_matrix(lit.crop((W - 160, 0, W, H)), width=160, pitch=pitch)
        face = face.filter(ImageFilter.GaussianBlur(pitch * 0.35))
        rng = random.Random(3)
        for k in range(10):
            p = tmp_path / f"led{k}.jpg"
            phone_photo(face, rng).save(p, quality=95)
            assert code.text in read_codes(p), k
        # the slogan is on the board, left of the code, untouched by it
        plain = render.render_line("谨防诈骗", H).point(lambda v: 255 if v >= 128 else 0)
        left = lit.crop((0, 0, W - H - 4, H)).convert("L")
        assert left.getbbox() is not None
        assert plain.width <= W - H
        # a slogan too long to stand beside the code scrolls as before, without a code
        long_item = Showable("af2", ItemKind.TEXT, 8.0, True, "凡是公检法要求转账汇款的都是诈骗",
                             code=_code(2))
        drv.show(long_item)
        shown = board.emulator.shown(0)
        assert shown is not None and shown.scrolls
        strip = shown.lit.convert("L")
        assert not read_codes_img(strip, tmp_path)
    finally:
        drv.close()


def read_codes_img(img: Image.Image, tmp_path: Path) -> list[str]:
    p = tmp_path / "strip.png"
    img.resize((img.width * 4, img.height * 4), Image.Resampling.NEAREST).save(p)
    return read_codes(p)
