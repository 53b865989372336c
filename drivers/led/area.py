"""The 5th-generation "update dynamic area" command (A7 00, manual §5.4.1), pure.

Layout of the data field after ``RtnReq, A7, 00`` (little-endian)::

    Reserved 2 | AreaDataLen 4 | AreaId 1 | RunMode 1 | Timeout 2 | RelateAllPro 1 |
    RelateProNum 2 | RelateProSerial 2×N | ImmePlay 1 | Reserved 4 | AreaType 1 (0x10) |
    AreaX 2 | AreaY 2 | AreaWidth 2 | AreaHeight 2 | AreaFrame (AreaFFlag 1 = 0: nothing more) |
    PageNum 2 | pages…

    page: PageDataLen 4 | PageStyle 1 | DisplayMode 1 | ClearMode 1 | Speed 1 | StayTime 2
          (10 ms) | RepeatTime 1 | ValidLen 2 | Reserved 4 | PicPageData N

AreaDataLen counts everything after itself ("下面数据的总长度"). The manual does not say what
PageDataLen counts; this package reads it the same way — the page's bytes after the field
(13 parameter bytes + bitmap). See docs/drivers/led.md, "uncertain".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from .bitmap import bitmap_size
from .codec import Group, ProtocolError, request

AREA_TYPE_DYNAMIC = 0x10
PAGE_PARAMS_LEN = 13
MAX_AREA_BYTES = 300 * 1024  # "每个动态区域最大容量为300K" (manual §1.3)
MAX_AREAS_5E = 4  # "4个动态区" (manual §1.1)


class DisplayMode(IntEnum):
    """A subset of the manual's 41 display modes; the value is sent as is."""

    RANDOM = 0x00
    STATIC = 0x01
    QUICK_TYPE = 0x02
    MOVE_LEFT = 0x03
    CONTINUOUS_LEFT = 0x04
    MOVE_UP = 0x05
    CONTINUOUS_UP = 0x06
    BLINK = 0x07


class RunMode(IntEnum):
    LOOP = 0  # 循环显示
    HOLD_LAST = 1  # 显示完成后静止显示最后一页
    LOOP_UNTIL_TIMEOUT = 2
    LOOP_THEN_LOGO = 3
    ONCE = 4


@dataclass(frozen=True, slots=True)
class Page:
    bitmap: bytes
    valid_len: int
    display_mode: int = DisplayMode.STATIC
    speed: int = 1
    stay_10ms: int = 0
    repeat: int = 1
    clear_mode: int = 0
    page_style: int = 0

    def pack(self) -> bytes:
        params = struct.pack("<BBBBHBH4x", self.page_style, self.display_mode, self.clear_mode,
                             self.speed, self.stay_10ms, self.repeat, self.valid_len)
        return struct.pack("<I", len(params) + len(self.bitmap)) + params + self.bitmap


@dataclass(frozen=True, slots=True)
class AreaUpdate:
    area_id: int
    x: int
    y: int
    width: int
    height: int
    pages: tuple[Page, ...]
    run_mode: int = RunMode.LOOP
    timeout_s: int = 0
    imme_play: int = 1  # 1: stop the stored programs, play only this area
    relate_all: int = 0
    related_programs: tuple[int, ...] = field(default=())
    area_type: int = AREA_TYPE_DYNAMIC

    def check(self, colors: int) -> list[str]:
        """Problems a BX-5E would answer with ERR_SCREEN_PARA / ERR_MEMORYVOLUME."""
        problems = []
        if not 0 <= self.area_id < MAX_AREAS_5E:
            problems.append(f"area id {self.area_id} outside 0..{MAX_AREAS_5E - 1}")
        if not self.pages or len(self.pages) > 0xFFFF:
            problems.append(f"{len(self.pages)} pages; 1..65535 allowed")
        want = bitmap_size(self.width, self.height, self.x, colors)
        for i, page in enumerate(self.pages):
            if len(page.bitmap) != want:
                problems.append(f"page {i}: {len(page.bitmap)} bitmap bytes, expected {want}")
        total = sum(len(p.bitmap) for p in self.pages)
        if total > MAX_AREA_BYTES:
            problems.append(f"{total} bitmap bytes exceed the {MAX_AREA_BYTES}-byte area limit")
        return problems


def update_area_request(area: AreaUpdate, *, rtn_req: bool = True) -> bytes:
    related = b"".join(struct.pack("<H", p) for p in area.related_programs)
    head = (
        struct.pack("<BBHBH", area.area_id, area.run_mode, area.timeout_s, area.relate_all,
                    len(area.related_programs))
        + related
        + struct.pack("<B4xBHHHH", area.imme_play, area.area_type, area.x, area.y,
                      area.width, area.height)
        + b"\x00"  # AreaFFlag = 0: no area frame, no further frame bytes
        + struct.pack("<H", len(area.pages))
    )
    payload = head + b"".join(p.pack() for p in area.pages)
    body = b"\0\0" + struct.pack("<I", len(payload)) + payload
    return request(Group.DYNAMIC, 0x00, body, rtn_req=rtn_req)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ProtocolError(f"A7 00 truncated at byte {self.pos} (need {size} more)")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return tuple(int(v) for v in values)

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError(f"A7 00 truncated at byte {self.pos} (need {n} more)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out


def parse_update_area(body: bytes) -> AreaUpdate:
    """Parse the bytes after ``RtnReq, A7, 00`` (what a board receives)."""
    rd = _Reader(body)
    rd.take("<2x")
    (area_len,) = rd.take("<I")
    if area_len != len(body) - rd.pos:
        raise ProtocolError(f"AreaDataLen {area_len} but {len(body) - rd.pos} bytes follow")
    area_id, run_mode, timeout_s, relate_all, n_related = rd.take("<BBHBH")
    related = rd.take(f"<{n_related}H") if n_related else ()
    imme_play, area_type, x, y, width, height = rd.take("<B4xBHHHH")
    (frame_flag,) = rd.take("<B")
    if frame_flag:
        raise ProtocolError("area frames (AreaFFlag != 0) are not supported")
    (n_pages,) = rd.take("<H")
    pages = []
    for i in range(n_pages):
        (page_len,) = rd.take("<I")
        if page_len < PAGE_PARAMS_LEN:
            raise ProtocolError(f"page {i}: PageDataLen {page_len} < {PAGE_PARAMS_LEN}")
        style, mode, clear, speed, stay, repeat, valid = rd.take("<BBBBHBH4x")
        bitmap = rd.raw(page_len - PAGE_PARAMS_LEN)
        pages.append(Page(bitmap=bitmap, valid_len=valid, display_mode=mode, speed=speed,
                          stay_10ms=stay, repeat=repeat, clear_mode=clear, page_style=style))
    if rd.pos != len(body):
        raise ProtocolError(f"{len(body) - rd.pos} bytes after the last page")
    return AreaUpdate(area_id=area_id, x=x, y=y, width=width, height=height,
                      pages=tuple(pages), run_mode=run_mode, timeout_s=timeout_s,
                      imme_play=imme_play, relate_all=relate_all,
                      related_programs=tuple(related), area_type=area_type)
