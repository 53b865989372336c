"""What a BX-5E does with a decoded frame, without any I/O: the fake board's brain.

It answers per the manual (ACK A0 00, NACK A0 01 + error number), keeps the dynamic areas it
was sent, and can be told to misbehave (busy NACKs, corrupt replies, silence).
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from signage import render

from .area import MAX_AREA_BYTES, MAX_AREAS_5E, AreaUpdate, parse_update_area
from .bitmap import join_pages, unpack_bitmap
from .codec import (
    DEVICE_TYPES,
    WILDCARD,
    ErrorCode,
    FrameError,
    Group,
    Packet,
    ProtocolError,
    Response,
    ack,
    encode_frame,
    escape,
    nack,
    parse_request,
    unescape,
)


@dataclass
class Faults:
    busy: int = 0  # answer the next N requests with NACK ERR_BUSY
    corrupt: int = 0  # send the next N replies with a broken CRC
    silent: bool = False  # decode and record, answer nothing


@dataclass(frozen=True, slots=True)
class ShownArea:
    """A dynamic area as the board holds it, decoded back to pixels (lit = 1)."""

    update: AreaUpdate
    red: Image.Image  # the strip the board shows (pages joined up to ValidLen)
    green: Image.Image | None

    @property
    def lit(self) -> Image.Image:
        if self.green is None:
            return self.red
        both = Image.new("1", self.red.size, 0)
        both.paste(1, (0, 0), mask=self.red)
        both.paste(1, (0, 0), mask=self.green)
        return both

    @property
    def scrolls(self) -> bool:
        return len(self.update.pages) > 1 or self.update.pages[0].display_mode != 0x01


@dataclass
class BoardEmulator:
    width: int = 128
    height: int = 16
    colors: int = 1
    address: int = 1
    device_type: int = DEVICE_TYPES["BX-5E1"]
    faults: Faults = field(default_factory=Faults)
    requests: list[Packet] = field(default_factory=list)
    errors: list[FrameError] = field(default_factory=list)
    replies: list[Response] = field(default_factory=list)
    areas: dict[int, ShownArea] = field(default_factory=dict)
    brightness: int | None = None
    png: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def handle(self, event: Packet | FrameError) -> bytes | None:
        """One decoded frame in, the reply frame out (None: stay silent)."""
        with self.lock:
            if isinstance(event, FrameError):
                self.errors.append(event)
                if not event.is_crc_error or self.faults.silent:
                    return None  # a truncated frame has no trustworthy header: say nothing
                return self._reply(nack(ErrorCode.ERR_CHECKSUM), dst=0x8000)
            self.requests.append(event)
            if event.header.dst not in (self.address, WILDCARD):
                return None  # addressed to another board on the bus
            if self.faults.silent:
                return None
            try:
                req = parse_request(event.data)
            except ProtocolError:
                return self._reply(nack(ErrorCode.ERR_NOCMD), dst=event.header.src)
            if self.faults.busy > 0:
                self.faults.busy -= 1
                response = nack(ErrorCode.ERR_BUSY)
            elif event.header.device_type not in (self.device_type, WILDCARD):
                response = nack(ErrorCode.ERR_CONTROLLER_TYPE)
            else:
                response = self._execute(req.group, req.cmd, req.body)
            if not req.rtn_req:
                return None  # RtnReq = 0: no reply wanted
            return self._reply(response, dst=event.header.src)

    def _reply(self, response: Response, *, dst: int) -> bytes:
        self.replies.append(response)
        frame = encode_frame(response.pack(), dst=dst, src=self.address,
                             device_type=self.device_type)
        if self.faults.corrupt > 0:
            self.faults.corrupt -= 1
            raw = bytearray(unescape(frame[8:-1]))
            raw[-1] ^= 0xFF  # flip the CRC's high byte
            frame = frame[:8] + escape(bytes(raw)) + frame[-1:]
        return frame

    def _execute(self, group: int, cmd: int, body: bytes) -> Response:
        if group == Group.SYSTEM and cmd == 0x00:
            return ack()  # ping: "收到回包即可"
        if group == Group.SYSTEM and cmd == 0x07:
            if len(body) != 2 + 49 or struct.unpack_from("<H", body)[0] != 49:
                return nack(ErrorCode.ERR_SCREEN_PARA)
            self.brightness = body[3]
            return ack()
        if group == Group.DYNAMIC and cmd == 0x00:
            return self._update(body)
        if group == Group.DYNAMIC and cmd == 0x01:
            if len(body) < 3:
                return nack(ErrorCode.ERR_SCREEN_PARA)
            if body[2] == 0xFF:
                self.areas.clear()
            else:
                for area_id in body[3:3 + body[2]]:
                    self.areas.pop(area_id, None)
            self._write_png()
            return ack()
        if group not in (Group.SYSTEM, Group.DYNAMIC):
            return nack(ErrorCode.ERR_OUTOFGROUP)
        return nack(ErrorCode.ERR_NOCMD)

    def _update(self, body: bytes) -> Response:
        try:
            update = parse_update_area(body)
        except ProtocolError:
            return nack(ErrorCode.ERR_SCREEN_PARA)
        if sum(len(p.bitmap) for p in update.pages) > MAX_AREA_BYTES:
            return nack(ErrorCode.ERR_MEMORYVOLUME)
        if (update.area_id >= MAX_AREAS_5E or update.x + update.width > self.width
                or update.y + update.height > self.height or update.check(self.colors)):
            return nack(ErrorCode.ERR_SCREEN_PARA)
        reds, greens = [], []
        for page in update.pages:
            red, green = unpack_bitmap(page.bitmap, update.width, update.height, update.x,
                                       self.colors)
            reds.append((red, min(page.valid_len, update.width)))
            if green is not None:
                greens.append((green, min(page.valid_len, update.width)))
        self.areas[update.area_id] = ShownArea(update, join_pages(reds),
                                               join_pages(greens) if greens else None)
        self._write_png()
        return ack()

    def _write_png(self) -> None:
        if self.png is None:
            return
        img = self.preview()
        fd, tmp = tempfile.mkstemp(dir=self.png.parent, suffix=".png")
        os.close(fd)
        img.save(tmp, format="PNG")
        os.chmod(tmp, 0o644)
        Path(tmp).replace(self.png)

    def preview(self) -> Image.Image:
        """The board as a dot matrix: each area's first window; a scrolling area's whole strip
        is drawn to its right so the full slogan can be read."""
        lit = Image.new("1", (self.width, self.height), 0)
        extra: list[Image.Image] = []
        has_red = has_green = False
        for shown in self.areas.values():
            u = shown.update
            lit.paste(shown.lit.crop((0, 0, u.width, u.height)), (u.x, u.y))
            has_red = has_red or shown.red.getbbox() is not None
            has_green = has_green or (shown.green is not None and shown.green.getbbox() is not None)
            if shown.scrolls:
                extra.append(shown.lit)
        color = {(True, True): (255, 200, 0), (False, True): (40, 255, 40)}.get(
            (has_red, has_green), (255, 40, 20))
        board = render.dot_matrix(lit, color=color)
        if not extra:
            return board
        strips = [render.dot_matrix(s, color=color) for s in extra]
        out = Image.new("RGB", (max([board.width] + [s.width for s in strips]),
                                board.height + sum(s.height + 8 for s in strips)), (0, 0, 0))
        out.paste(board, (0, 0))
        top = board.height + 8
        for strip in strips:
            out.paste(strip, (0, top))
            top += strip.height + 8
        return out

    def shown(self, area_id: int = 0) -> ShownArea | None:
        with self.lock:
            return self.areas.get(area_id)
