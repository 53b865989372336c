"""The mpv overlay's pixels written band by band are the same bytes as the whole tile."""

from __future__ import annotations

import io

from signage.driver import InspectionCode
from signage.inspection.picture import code_overlay, qr_modules, write_code_overlay


def test_banded_overlay_is_byte_identical_to_the_whole_tile() -> None:
    for text, (w, h), size, pos in (("https://hub.example.cn/v/" + "A" * 150, (1920, 1080), 0.4,
                                     "bottom-right"),
                                    ("https://hub.example.cn/v/xyz", (1280, 720), 0.33,
                                     "bottom-left"),
                                    ("https://hub.example.cn/v/" + "B" * 40, (854, 480), 0.4,
                                     "bottom-right")):
        code = InspectionCode(text=text, modules=qr_modules(text), position=pos, size=size)
        whole = code_overlay(code, w, h)
        out = io.BytesIO()
        box = write_code_overlay(code, w, h, out)
        assert whole is not None and box == whole[0]
        assert out.getvalue() == whole[1] and len(whole[1]) == box.side * box.side * 4


def test_no_overlay_when_the_screen_is_too_small() -> None:
    text = "https://hub.example.cn/v/" + "C" * 150
    code = InspectionCode(text=text, modules=qr_modules(text))
    out = io.BytesIO()
    assert write_code_overlay(code, 64, 32, out) is None and code_overlay(code, 64, 32) is None
    assert out.getvalue() == b""
