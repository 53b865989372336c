"""Bitmap packing (manual appendix 2) and the A7 00 dynamic-area layout (manual §5.4.1)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from signage_drivers.led.area import (
    AreaUpdate,
    DisplayMode,
    Page,
    RunMode,
    parse_update_area,
    update_area_request,
)
from signage_drivers.led.bitmap import (
    bitmap_size,
    join_pages,
    pack_bitmap,
    paginate,
    planes_for_image,
    planes_for_text,
    unpack_bitmap,
)
from signage_drivers.led.codec import ProtocolError


def img(rows: list[str]) -> Image.Image:
    """'#' = lit."""
    out = Image.new("1", (len(rows[0]), len(rows)), 0)
    for y, row in enumerate(rows):
        for x, ch in enumerate(row):
            if ch == "#":
                out.putpixel((x, y), 1)
    return out


def test_bit7_is_leftmost_and_0_is_lit() -> None:
    assert pack_bitmap(img(["#......."])) == bytes([0b01111111])
    assert pack_bitmap(img([".......#"])) == bytes([0b11111110])
    assert pack_bitmap(img(["########"])) == b"\x00"
    assert pack_bitmap(img(["........"])) == b"\xff"


def test_rows_are_row_major_and_right_edge_padded_with_ones() -> None:
    packed = pack_bitmap(img(["#.........", ".........#"]))  # 10 wide: 2 bytes per row
    assert packed == bytes([0b01111111, 0b11111111, 0b11111111, 0b10111111])


def test_left_edge_padding_follows_the_screen_grid_manual_example() -> None:
    """Manual: an area starting at x = 35 has its first byte coded 111*****."""
    packed = pack_bitmap(img(["#####"]), x=35)
    assert packed == bytes([0b11100000])
    packed = pack_bitmap(img(["#" * 6]), x=35)  # 3 + 6 = 9 bits: two bytes
    assert packed == bytes([0b11100000, 0b01111111])
    assert bitmap_size(6, 1, x=35) == 2 and bitmap_size(5, 1, x=35) == 1


def test_dual_colour_sends_green_byte_after_each_red_byte() -> None:
    red = img(["#.......#......."])
    green = img([".#.......#......"])
    assert pack_bitmap(red, green) == bytes([0b01111111, 0b10111111, 0b01111111, 0b10111111])
    r, g = planes_for_text(img(["##"]), 2, "green")
    assert r.getbbox() is None and g is not None and g.getbbox() is not None
    r, g = planes_for_text(img(["##"]), 2, "yellow")
    assert pack_bitmap(r, g) == bytes([0b00111111, 0b00111111])


@given(st.integers(1, 40), st.integers(1, 6), st.integers(0, 70), st.sampled_from([1, 2]),
       st.randoms(use_true_random=False))
def test_pack_unpack_round_trip(width: int, height: int, x: int, colors: int,
                                rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    planes = [Image.new("1", (width, height), 0) for _ in range(colors)]
    for plane in planes:
        for yy in range(height):
            for xx in range(width):
                if rnd.random() < 0.5:
                    plane.putpixel((xx, yy), 1)
    data = pack_bitmap(planes[0], planes[1] if colors == 2 else None, x=x)
    assert len(data) == bitmap_size(width, height, x, colors)
    red, green = unpack_bitmap(data, width, height, x, colors)
    assert red.tobytes() == planes[0].tobytes()
    if colors == 2:
        assert green is not None and green.tobytes() == planes[1].tobytes()


def test_bitmaps_with_a5_and_5a_bytes_survive_the_frame() -> None:
    from signage_drivers.led.codec import FrameDecoder, Packet, encode_frame

    # rows whose packed bytes are exactly A5, 5A, A6, 5B
    rows = [format(b ^ 0xFF, "08b").replace("1", "#").replace("0", ".")
            for b in (0xA5, 0x5A, 0xA6, 0x5B)]
    picture = img(rows)
    packed = pack_bitmap(picture)
    assert packed == b"\xa5\x5a\xa6\x5b"
    area = AreaUpdate(area_id=0, x=0, y=0, width=8, height=4,
                      pages=(Page(bitmap=packed, valid_len=8),))
    frame = encode_frame(update_area_request(area), dst=1)
    (pkt,) = FrameDecoder().feed(frame)
    assert isinstance(pkt, Packet)
    back = parse_update_area(pkt.data[3:])
    assert back == area
    assert unpack_bitmap(back.pages[0].bitmap, 8, 4)[0].tobytes() == picture.tobytes()


def test_a7_00_layout_byte_by_byte() -> None:
    """Field order and sizes as in the manual's table (§5.4.1), for one 8×2 static page."""
    page = Page(bitmap=b"\x7f\xff", valid_len=8, display_mode=DisplayMode.STATIC, speed=1,
                stay_10ms=100, repeat=1)
    area = AreaUpdate(area_id=0, x=0, y=0, width=8, height=2, pages=(page,),
                      run_mode=RunMode.HOLD_LAST, imme_play=1)
    expected = bytes.fromhex(
        "01 a7 00"  # RtnReq, CmdGroup, Cmd
        "00 00"  # Reserved
        "2b 00 00 00"  # AreaDataLen = 43 bytes follow
        "00"  # AreaId
        "01"  # RunMode: hold the last page
        "00 00"  # Timeout
        "00"  # RelateAllPro
        "00 00"  # RelateProNum (no serials follow)
        "01"  # ImmePlay
        "00 00 00 00"  # Reserved
        "10"  # AreaType
        "00 00 00 00 08 00 02 00"  # AreaX, AreaY, AreaWidth, AreaHeight
        "00"  # AreaFFlag: no frame
        "01 00"  # PageNum
        "0f 00 00 00"  # PageDataLen = 13 parameter bytes + 2 bitmap bytes
        "00 01 00 01"  # PageStyle, DisplayMode static, ClearMode, Speed
        "64 00"  # StayTime 100 × 10 ms
        "01"  # RepeatTime
        "08 00"  # ValidLen
        "00 00 00 00"  # Reserved
        "7f ff"  # PicPageData
    )
    assert update_area_request(area) == expected
    assert parse_update_area(expected[3:]) == area


def test_related_programs_and_no_return_request() -> None:
    area = AreaUpdate(area_id=1, x=8, y=0, width=8, height=1,
                      pages=(Page(bitmap=b"\xff", valid_len=8),), imme_play=0, relate_all=0,
                      related_programs=(3, 0x0102))
    data = update_area_request(area, rtn_req=False)
    assert data[0] == 0
    assert data[14:20] == bytes.fromhex("02 00 03 00 02 01")
    assert parse_update_area(data[3:]) == area


def test_parse_rejects_inconsistent_lengths() -> None:
    good = update_area_request(AreaUpdate(area_id=0, x=0, y=0, width=8, height=1,
                                          pages=(Page(bitmap=b"\xff", valid_len=8),)))[3:]
    for bad in (good[:-1], good + b"\x00", good[:10]):
        try:
            parse_update_area(bad)
        except ProtocolError:
            continue
        raise AssertionError("inconsistent A7 00 accepted")


def test_area_check_limits() -> None:
    page = Page(bitmap=b"\xff" * 3, valid_len=8)
    area = AreaUpdate(area_id=4, x=0, y=0, width=8, height=2, pages=(page,))
    problems = area.check(colors=1)
    assert any("area id 4" in p for p in problems)
    assert any("expected 2" in p for p in problems)


def test_paginate_and_join() -> None:
    line = img(["#" + "." * 18 + "#"])  # 20 wide
    pages = paginate(line, 8)
    assert [valid for _p, valid in pages] == [8, 8, 4]
    assert all(p.size == (8, 1) for p, _v in pages)
    assert join_pages(pages).tobytes() == line.tobytes()


def test_images_fit_and_threshold() -> None:
    pic = Image.new("RGB", (40, 10), (0, 0, 0))
    pic.paste((255, 0, 0), (0, 0, 20, 10))
    pic.paste((0, 255, 0), (20, 0, 40, 10))
    red, green = planes_for_image(pic, 8, 2, colors=2)
    assert green is not None
    assert red.getpixel((0, 0)) and not red.getpixel((7, 0))
    assert green.getpixel((7, 0)) and not green.getpixel((0, 0))
    mono, none = planes_for_image(Image.new("L", (3, 3), 255), 8, 2, colors=1)
    assert none is None and mono.size == (8, 2)
