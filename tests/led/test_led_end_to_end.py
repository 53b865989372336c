"""Driver ↔ fake board over a REAL pseudo-terminal (and once over TCP): no mocks."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import serial
from PIL import Image
from signage_drivers.led.area import DisplayMode, RunMode
from signage_drivers.led.cli import RealClock
from signage_drivers.led.codec import (
    PREAMBLE,
    ErrorCode,
    FrameDecoder,
    Packet,
    encode_packet,
    escape,
    parse_request,
    parse_response,
)
from signage_drivers.led.driver import LedDriver
from signage_drivers.led.fakeboard import FakeBoard

from signage import render
from signage.driver import (
    ContentRejected,
    DriverContext,
    ItemKind,
    ScreenSpec,
    ScreenUnavailable,
    Showable,
)

from .conftest import MakeDriver

SLOGAN = "防范电信网络诈骗，人人参与，家家受益"
SHORT = "谨防诈骗"


def text(t: str, duration: float = 10.0) -> Showable:
    return Showable(item_id="it-1", kind=ItemKind.TEXT, duration_s=duration, anti_fraud=True,
                    text=t)


def test_static_slogan_reaches_the_board_pixel_exact(board: FakeBoard,
                                                     make_driver: MakeDriver) -> None:
    drv = make_driver(board.port)
    drv.open()
    t0 = time.monotonic()
    confirmed = drv.show(text(SHORT))
    assert t0 <= confirmed <= time.monotonic()
    shown = board.emulator.shown(0)
    assert shown is not None
    expected = render.render_bitmap(SHORT, 128, 16, render.font_for_height(16))
    assert shown.red.size == (128, 16)
    assert shown.red.tobytes() == expected.tobytes()
    assert shown.red.getbbox() is not None  # something is lit
    u = shown.update
    assert (u.imme_play, u.run_mode, len(u.pages)) == (1, RunMode.HOLD_LAST, 1)
    assert u.pages[0].display_mode == DisplayMode.STATIC
    assert u.pages[0].stay_10ms == 1000
    assert (board.link is not None) and (board.link.parent / "board.png").stat().st_size > 0


def test_long_slogan_scrolls_in_area_wide_pages(board: FakeBoard,
                                                make_driver: MakeDriver) -> None:
    drv = make_driver(board.port)
    drv.open()
    drv.show(text(SLOGAN))
    shown = board.emulator.shown(0)
    assert shown is not None and shown.scrolls
    line = render.render_bitmap(SLOGAN, 128, 16)
    assert line.width > 128
    assert shown.red.tobytes() == line.tobytes()  # pages joined up to ValidLen = the line
    assert all(p.display_mode == DisplayMode.CONTINUOUS_LEFT for p in shown.update.pages)
    assert shown.update.run_mode == RunMode.LOOP
    duration = type(drv).text_duration_s(drv.spec, SLOGAN)
    assert duration == pytest.approx((line.width + 128) / 32.0)


def test_ack_latency_is_measured(board: FakeBoard, make_driver: MakeDriver) -> None:
    drv = make_driver(board.port)
    first_guess = drv.switch_latency_s
    assert first_guess > 0
    drv.open()
    spans = []
    for t in ("凡是", "诈骗", "转账"):
        start = time.monotonic()
        end = drv.show(text(t))
        spans.append(end - start)
    assert drv.switch_latency_s != first_guess
    assert min(spans) * 0.5 <= drv.switch_latency_s <= max(spans) * 1.5
    assert drv.health().ok


def test_wire_time_is_real_at_9600_baud(tmp_path: Path, make_driver: MakeDriver) -> None:
    """The fake board emulates the 8N1 line: 10 bits per byte at 9600 baud."""
    with FakeBoard(width=64, height=16, baud=9600, link=tmp_path / "slow") as slow:
        drv = make_driver(slow.port, width=64, baud=9600, timeout_s=2.0)
        drv.open()
        start = time.monotonic()
        drv.show(text("诈骗"))
        took = time.monotonic() - start
        assert drv.last_outcome is not None
        wire = (drv.last_outcome.frame_bytes + 36) * 10 / 9600  # frame out, ACK back
        assert wire > 0.15
        assert wire * 0.95 <= took <= wire + 5.0  # the line rate is a floor; the top: a hang
        assert drv.estimate_latency_s() == pytest.approx(wire, rel=0.25)


def test_busy_nack_resends_whole_frame(board: FakeBoard, make_spec: Callable[..., ScreenSpec],
                                       tmp_path: Path) -> None:
    events: list[tuple[str, Mapping[str, Any]]] = []
    ctx = DriverContext(clock=RealClock(), run_dir=tmp_path,
                        event=lambda kind, detail: events.append((kind, detail)))
    drv = LedDriver(make_spec(board.port), ctx)
    drv.open()
    before = len(board.emulator.requests)
    board.faults.busy = 2
    drv.show(text(SHORT))
    sent = board.emulator.requests[before:]
    assert len(sent) == 3 and sent[0] == sent[1] == sent[2]
    assert drv.last_outcome is not None and drv.last_outcome.attempts == 3
    assert [r.error for r in board.emulator.replies[-3:]] == [ErrorCode.ERR_BUSY] * 2 + [0]
    assert events == [("led_resend", {"attempts": 3,
                                      "problems": ["NACK 3 ERR_BUSY", "NACK 3 ERR_BUSY"]})]
    drv.close()


def test_busy_beyond_retries_is_screen_unavailable(board: FakeBoard,
                                                   make_driver: MakeDriver) -> None:
    drv = make_driver(board.port, retries=1)
    drv.open()
    board.faults.busy = 5
    with pytest.raises(ScreenUnavailable, match="ERR_BUSY"):
        drv.show(text(SHORT))


def test_corrupt_reply_is_resent(board: FakeBoard, make_driver: MakeDriver) -> None:
    drv = make_driver(board.port)
    drv.open()
    board.faults.corrupt = 1
    drv.show(text(SHORT))
    assert drv.last_outcome is not None and drv.last_outcome.attempts == 2
    assert "garbled reply" in drv.last_outcome.problems[0]


def test_request_crc_error_gets_nack_5(board: FakeBoard) -> None:
    raw = bytearray(encode_packet(b"\x01\xa2\x00\x00\x00", dst=0xFFFE))
    raw[-1] ^= 0x55
    with serial.serial_for_url(board.port, baudrate=57600, timeout=1) as port:
        port.write(PREAMBLE + escape(bytes(raw)) + b"\x5a")
        reply = port.read_until(b"\x5a")
    (pkt,) = FrameDecoder().feed(reply)
    assert isinstance(pkt, Packet)
    assert parse_response(pkt.data).error == ErrorCode.ERR_CHECKSUM


def test_silence_is_screen_unavailable_within_the_timeout(board: FakeBoard,
                                                          make_driver: MakeDriver) -> None:
    drv = make_driver(board.port, timeout_s=0.2, retries=1)
    drv.open()
    board.faults.silent = True
    start = time.monotonic()
    with pytest.raises(ScreenUnavailable, match=r"no reply within 0\.2 s"):
        drv.show(text(SHORT))
    took = time.monotonic() - start
    assert 0.4 <= took < 5.0  # two attempts × 0.2 s at least; bounded (a hang)
    assert not drv.health().ok
    with pytest.raises(ScreenUnavailable, match=r"no reply"):
        drv.open()  # the ping goes unanswered too
    board.faults.silent = False
    drv.open()
    drv.show(text(SHORT))


def test_unplug_then_replug(board: FakeBoard, make_driver: MakeDriver) -> None:
    drv = make_driver(board.port, timeout_s=0.3)
    drv.open()
    drv.show(text(SHORT))
    board.unplug()
    with pytest.raises(ScreenUnavailable, match="failed"):
        drv.show(text("凡是"))
    with pytest.raises(ScreenUnavailable, match="cannot open"):
        drv.open()  # /dev/ttyUSB0 is gone while unplugged
    board.replug()
    drv.open()
    drv.show(text("诈骗"))
    shown = board.emulator.shown(0)
    assert shown is not None
    assert shown.red.tobytes() == render.render_bitmap("诈骗", 128, 16).tobytes()


def test_show_before_open_is_screen_unavailable(board: FakeBoard,
                                                make_driver: MakeDriver) -> None:
    with pytest.raises(ScreenUnavailable, match="not open"):
        make_driver(board.port).show(text(SHORT))


def test_wrong_address_is_not_answered(tmp_path: Path, make_driver: MakeDriver) -> None:
    with FakeBoard(address=7, link=tmp_path / "rs485") as b7:
        with pytest.raises(ScreenUnavailable):
            make_driver(b7.port, address=3, timeout_s=0.1, retries=0).open()
        drv = make_driver(b7.port, address=7)
        drv.open()
        drv.show(text(SHORT))
        assert b7.emulator.requests[-1].header.dst == 7


def test_wrong_model_is_a_clear_screen_unavailable(board: FakeBoard,
                                                   make_driver: MakeDriver) -> None:
    with pytest.raises(ScreenUnavailable, match="ERR_CONTROLLER_TYPE"):
        make_driver(board.port, model="BX-5E3").open()
    drv = make_driver(board.port, model="BX-5E1", brightness=9)
    drv.open()
    assert board.emulator.brightness == 9
    assert board.emulator.requests[-1].header.device_type == 0x0154


def test_area_off_the_board_is_screen_unavailable(board: FakeBoard,
                                                  make_driver: MakeDriver) -> None:
    drv = make_driver(board.port, width=160)
    drv.open()
    with pytest.raises(ScreenUnavailable, match="ERR_SCREEN_PARA"):
        drv.show(text(SHORT))


def test_confirm_false_returns_when_the_frame_left(board: FakeBoard,
                                                   make_driver: MakeDriver) -> None:
    drv = make_driver(board.port, confirm=False, timeout_s=10.0)
    drv.open()
    board.faults.silent = True  # nothing comes back, and nothing is awaited
    start = time.monotonic()
    drv.show(text(SHORT))
    assert time.monotonic() - start < 5.0  # no 10 s wait for a reply
    deadline = time.monotonic() + 2
    while len(board.emulator.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert parse_request(board.emulator.requests[-1].data).rtn_req == 0


def test_two_colour_image_and_clear(tmp_path: Path, make_driver: MakeDriver) -> None:
    pic = tmp_path / "banner.png"
    im = Image.new("RGB", (64, 16), (0, 0, 0))
    im.paste((255, 0, 0), (0, 0, 32, 16))
    im.paste((0, 255, 0), (32, 0, 64, 16))
    im.save(pic)
    with FakeBoard(width=64, height=16, colors=2, link=tmp_path / "dual") as dual:
        drv = make_driver(dual.port, width=64, colors=2)
        drv.open()
        drv.show(Showable("img", ItemKind.IMAGE, 5.0, False, path=pic))
        shown = dual.emulator.shown(0)
        assert shown is not None and shown.green is not None
        assert shown.red.getbbox() == (0, 0, 32, 16)
        assert shown.green.getbbox() == (32, 0, 64, 16)
        drv.clear()
        cleared = dual.emulator.shown(0)
        assert cleared is not None and cleared.lit.getbbox() is None


def test_rejected_content_leaves_the_screen_alone(board: FakeBoard, tmp_path: Path,
                                                  make_driver: MakeDriver) -> None:
    drv = make_driver(board.port)
    drv.open()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    count = len(board.emulator.requests)
    with pytest.raises(ContentRejected, match=r"broken\.png"):
        drv.show(Showable("img", ItemKind.IMAGE, 5.0, False, path=bad))
    with pytest.raises(ContentRejected, match="clips"):
        drv.show(Showable("clip", ItemKind.CLIP, 5.0, False, path=tmp_path / "a.mp4"))
    with pytest.raises(ContentRejected, match="empty"):
        drv.show(text("\x1b\x07\u202e\x00"))
    assert len(board.emulator.requests) == count
    drv.show(text("谨防\x1b[2J诈骗\u202e"))  # control characters never reach the board
    shown = board.emulator.shown(0)
    assert shown is not None
    assert shown.red.tobytes() == render.render_bitmap("谨防[2J诈骗", 128, 16).tobytes()


def test_tcp_socket_url(tmp_path: Path, make_driver: MakeDriver) -> None:
    with FakeBoard(tcp_port=0) as net:
        assert net.port.startswith("socket://127.0.0.1:")
        drv = make_driver(net.port)
        drv.open()
        drv.show(text(SHORT))
        assert net.emulator.shown(0) is not None
        net.unplug()
        with pytest.raises(ScreenUnavailable):
            drv.show(text("凡是"))
        net.replug()
        drv.open()
        drv.show(text("凡是"))


def test_prepare_is_used_only_for_the_same_item(board: FakeBoard,
                                                make_driver: MakeDriver) -> None:
    drv = make_driver(board.port)
    drv.open()
    drv.prepare(text(SLOGAN))
    drv.show(text(SHORT))  # not the prepared item: SHORT is rendered and shown
    shown = board.emulator.shown(0)
    assert shown is not None
    assert shown.red.tobytes() == render.render_bitmap(SHORT, 128, 16).tobytes()
    drv.prepare(text(SLOGAN))
    drv.show(text(SLOGAN))
    shown = board.emulator.shown(0)
    assert shown is not None
    assert shown.red.tobytes() == render.render_bitmap(SLOGAN, 128, 16).tobytes()
    drv.prepare(Showable("clip", ItemKind.CLIP, 5.0, False))  # a hint: never raises
    with pytest.raises(ContentRejected):
        drv.show(Showable("clip", ItemKind.CLIP, 5.0, False))
