"""The picture an LED board acknowledged, kept for the console and the campaign summary: the
first page the real (fake-board) ACK confirmed, drawn as the board's dot matrix."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from drivers.led.driver import LedDriver
from drivers.led.fakeboard import FakeBoard
from signage import render
from signage.driver import ItemKind, Showable
from signage.runtime.status import frame_of

from .conftest import MakeDriver


def _text(item: str, t: str) -> Showable:
    return Showable(item_id=item, kind=ItemKind.TEXT, duration_s=5.0, anti_fraud=True, text=t)


def test_acknowledged_bitmap_is_kept_as_the_screen_frame(board: FakeBoard,
                                                         make_driver: MakeDriver,
                                                         tmp_path: Path) -> None:
    drv: LedDriver = make_driver(board.port)
    drv.open()
    drv.show(_text("a", "谨防诈骗"))
    cur = frame_of(tmp_path, "shop-1")
    assert cur == tmp_path / "frames" / "shop-1.png"
    shown = board.emulator.shown(0)
    assert shown is not None
    # exactly the board's bitmap, drawn as the simulator draws an LED board
    want = render.dot_matrix(shown.red, width=128, pitch=8)
    with Image.open(cur) as got:
        assert got.size == want.size and got.convert("RGB").tobytes() == \
            want.convert("RGB").tobytes()
    drv.show(_text("b", "凡是刷单返利就是诈骗"))
    drv.show(_text("a", "谨防诈骗"))
    kept = sorted((tmp_path / "frames" / "shop-1").glob("*.png"))
    assert len(kept) == 2  # once per distinct bitmap
    assert cur.read_bytes() in {p.read_bytes() for p in kept}


def test_no_frame_without_an_acknowledgement(board: FakeBoard, make_driver: MakeDriver,
                                             tmp_path: Path) -> None:
    drv: LedDriver = make_driver(board.port, confirm=False)
    drv.open()
    drv.show(_text("a", "谨防诈骗"))
    assert frame_of(tmp_path, "shop-1") is None
