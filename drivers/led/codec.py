"""Onbon BX-5E dynamic-area protocol: the wire format, pure (no I/O).

Layers, as in the 5th-generation "动态区域用户手册" (dynamic area user manual):

* PHY0: ``8 × 0xA5`` frame head, the escaped PHY1 packet, ``0x5A`` frame tail.
* PHY1: 16-byte little-endian packet header, the data field, CRC16 of both (LSB first).
* data field: a request ``RtnReq, CmdGroup, Cmd, data…`` or a response
  ``Reserved, CmdGroup, Cmd, Status(2), Error(2), DataLen(2), Data``.

CRC and length fields are computed on unescaped bytes. The manual's own example frame (ping,
§5.5.1) is the golden test of this module. Bitmap packing lives in :mod:`.bitmap`; the
dynamic-area command layout in :mod:`.area`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

FRAME_HEAD = 0xA5
FRAME_TAIL = 0x5A
PREAMBLE = bytes([FRAME_HEAD]) * 8
HEADER_LEN = 16
CRC_LEN = 2
PROTOCOL_VERSION = 0xF0
PC_ADDRESS = 0x8000  # SrcAddr of the PC client software (manual §4)
WILDCARD = 0xFFFE  # DstAddr / DeviceType wildcard used by the manual's ping example
#: Upper bound of one escaped frame the decoder accepts (4 areas × 300 KiB, all escaped).
MAX_FRAME_BYTES = 2 * 4 * 300 * 1024 + 64

#: DeviceType values (manual §4). Only the BX-5E family is driven by this package.
DEVICE_TYPES: Mapping[str, int] = MappingProxyType({
    "any": WILDCARD,
    "BX-5E1": 0x0154,
    "BX-5E2": 0x0254,
    "BX-5E3": 0x0354,
    "BX-5Q0+": 0x1056,
    "BX-5Q1+": 0x1156,
    "BX-5Q2+": 0x1256,
    # 6th generation (6th manual §4): different A7 00 layout and word-based bitmaps.
    "BX-6QL": 0x0066,
    "BX-6Q1": 0x0166,
    "BX-6Q2": 0x0266,
    "BX-6Q3": 0x0366,
    "BX-6Q2L": 0x0466,
    "BX-6Q3L": 0x0566,
    "BX-6E1": 0x0174,
    "BX-6E2": 0x0274,
    "BX-6E3": 0x0374,
    "BX-6E1X": 0x0474,
    "BX-6E2X": 0x0574,
})
SUPPORTED_MODELS = ("any", "BX-5E1", "BX-5E2", "BX-5E3")


class Group(IntEnum):
    ANSWER = 0xA0
    SYSTEM = 0xA2
    DYNAMIC = 0xA7


class ErrorCode(IntEnum):
    """Error register values (manual §5.2.2)."""

    ERR_NO = 0
    ERR_OUTOFGROUP = 1
    ERR_NOCMD = 2
    ERR_BUSY = 3
    ERR_MEMORYVOLUME = 4
    ERR_CHECKSUM = 5
    ERR_FILENOTEXIST = 6
    ERR_FLASH = 7
    ERR_FILE_DOWNLOAD = 8
    ERR_FILE_NAME = 9
    ERR_FILE_TYPE = 10
    ERR_FILE_CRC16 = 11
    ERR_FONT_NOT_EXIST = 12
    ERR_FIRMWARE_TYPE = 13
    ERR_DATE_TIME_FORMAT = 14
    ERR_FILE_EXIST = 15
    ERR_FILE_BLOCK_NUM = 16
    ERR_CONTROLLER_TYPE = 17
    ERR_SCREEN_PARA = 18
    ERR_CONTROLLER_ID = 19


def error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"ERR_UNKNOWN_{code}"


class ProtocolError(ValueError):
    """Bytes that do not follow the manual (bad escape, short packet, wrong length)."""


# ---- CRC16 (appendix 1: x^16 + x^15 + x^2 + 1, reflected, init 0 = CRC-16/ARC) ------------
def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


# ---- escaping (manual §2.3) ----------------------------------------------------------------
_BAD_ESCAPE = re.compile(rb"[\xa6\x5b](?![\x01\x02])|[\xa5\x5a]", re.DOTALL)


def escape(data: bytes) -> bytes:
    """A5→A6 02, A6→A6 01, 5A→5B 02, 5B→5B 01 (escape bytes first, so no double escaping)."""
    return (
        data.replace(b"\xa6", b"\xa6\x01")
        .replace(b"\xa5", b"\xa6\x02")
        .replace(b"\x5b", b"\x5b\x01")
        .replace(b"\x5a", b"\x5b\x02")
    )


def unescape(data: bytes) -> bytes:
    """Inverse of :func:`escape`; raises ProtocolError on a lone escape byte or raw A5/5A."""
    bad = _BAD_ESCAPE.search(data)
    if bad is not None:
        at = bad.start()
        raise ProtocolError(f"bad escape sequence at offset {at}: {data[at:at + 2].hex(' ')}")
    return (
        data.replace(b"\xa6\x02", b"\xa5")
        .replace(b"\xa6\x01", b"\xa6")
        .replace(b"\x5b\x02", b"\x5a")
        .replace(b"\x5b\x01", b"\x5b")
    )


# ---- packet header (manual §4) --------------------------------------------------------------
_HEADER = struct.Struct("<HHBBH4sI")  # Dst, Src, Ver, Reserved, DeviceType, Reserved4, DataLen


@dataclass(frozen=True, slots=True)
class Header:
    dst: int
    src: int
    device_type: int
    data_len: int
    protocol_version: int = PROTOCOL_VERSION

    def pack(self) -> bytes:
        return _HEADER.pack(self.dst, self.src, self.protocol_version, 0, self.device_type,
                            b"\0\0\0\0", self.data_len)

    @classmethod
    def unpack(cls, raw: bytes) -> Header:
        dst, src, ver, _res, dev, _res4, dlen = _HEADER.unpack(raw[:HEADER_LEN])
        return cls(dst=dst, src=src, device_type=dev, data_len=dlen, protocol_version=ver)


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded, CRC-checked PHY1 packet."""

    header: Header
    data: bytes


def encode_packet(data: bytes, *, dst: int, src: int = PC_ADDRESS,
                  device_type: int = WILDCARD) -> bytes:
    """PHY1: header + data + CRC16 (LSB first), unescaped."""
    body = Header(dst=dst, src=src, device_type=device_type, data_len=len(data)).pack() + data
    return body + struct.pack("<H", crc16(body))


def encode_frame(data: bytes, *, dst: int, src: int = PC_ADDRESS,
                 device_type: int = WILDCARD) -> bytes:
    """PHY0: 8 × A5, escaped PHY1 packet, 5A."""
    packet = encode_packet(data, dst=dst, src=src, device_type=device_type)
    return PREAMBLE + escape(packet) + bytes([FRAME_TAIL])


def decode_packet(packet: bytes) -> Packet:
    """Check an unescaped PHY1 packet (length, DataLen, CRC) and split it."""
    if len(packet) < HEADER_LEN + CRC_LEN:
        raise ProtocolError(f"packet too short: {len(packet)} bytes")
    body, (crc,) = packet[:-CRC_LEN], struct.unpack("<H", packet[-CRC_LEN:])
    if crc16(body) != crc:
        raise ProtocolError(f"CRC error: got {crc:04X}, computed {crc16(body):04X}")
    header = Header.unpack(body)
    data = body[HEADER_LEN:]
    if header.data_len != len(data):
        raise ProtocolError(f"DataLen {header.data_len} but {len(data)} data bytes")
    return Packet(header, data)


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame that arrived but could not be used (CRC error, bad escape, truncated)."""

    reason: str
    raw: bytes

    @property
    def is_crc_error(self) -> bool:
        return self.reason.startswith("CRC error")


class FrameDecoder:
    """Streaming PHY0 decoder. Feed it bytes as they arrive; it yields Packets and FrameErrors.

    As the manual says, any 0xA5 starts a frame: the first byte that is not A5 is the first
    byte of the packet; 0x5A ends it. A frame cut short by a new A5 is reported as truncated
    and decoding resynchronises on that A5. Bytes outside a frame are ignored (counted)."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self._max = max_frame
        self.noise_bytes = 0

    def reset(self) -> None:
        self._buf.clear()
        self._in_frame = False

    def feed(self, chunk: bytes) -> Iterator[Packet | FrameError]:
        pos = 0
        n = len(chunk)
        while pos < n:
            if not self._in_frame:
                start = chunk.find(FRAME_HEAD, pos)
                if start < 0:
                    self.noise_bytes += n - pos
                    return
                self.noise_bytes += start - pos
                self._in_frame = True
                pos = start
            # in a frame: skip head bytes until the first packet byte, then collect to 5A
            while pos < n and not self._buf and chunk[pos] == FRAME_HEAD:
                pos += 1
            head = chunk.find(FRAME_HEAD, pos)
            tail = chunk.find(FRAME_TAIL, pos)
            if tail >= 0 and (head < 0 or tail < head):
                self._buf += chunk[pos:tail]
                pos = tail + 1
                raw = bytes(self._buf)
                self.reset()
                yield self._finish(raw)
            elif head >= 0:
                self._buf += chunk[pos:head]
                pos = head
                if self._buf:
                    raw = bytes(self._buf)
                    self._buf.clear()
                    yield FrameError("truncated frame (resync on A5)", raw)
            else:
                self._buf += chunk[pos:]
                pos = n
                if len(self._buf) > self._max:
                    raw = bytes(self._buf[:64])
                    self.reset()
                    yield FrameError(f"frame longer than {self._max} bytes dropped", raw)

    @staticmethod
    def _finish(raw: bytes) -> Packet | FrameError:
        try:
            return decode_packet(unescape(raw))
        except ProtocolError as exc:
            return FrameError(str(exc), raw)


# ---- requests (manual §5.1.1, §5.4, §5.5) ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class Request:
    rtn_req: int
    group: int
    cmd: int
    body: bytes


def request(group: int, cmd: int, body: bytes = b"", *, rtn_req: bool = True) -> bytes:
    return bytes([1 if rtn_req else 0, group, cmd]) + body


def parse_request(data: bytes) -> Request:
    if len(data) < 3:
        raise ProtocolError(f"request too short: {len(data)} bytes")
    return Request(data[0], data[1], data[2], data[3:])


def ping_request() -> bytes:
    """Ping (A2 00): RtnReq must be 1; two reserved bytes follow (manual §5.5.1)."""
    return request(Group.SYSTEM, 0x00, b"\0\0")


def brightness_request(level: int | list[int], *, rtn_req: bool = True) -> bytes:
    """Brightness (A2 07), manual mode 0 with one level, or timed mode 1 with 48 half-hours."""
    if isinstance(level, int):
        mode, values = 0, [level] * 48
    else:
        mode, values = 1, list(level)
    if len(values) != 48 or not all(0 <= v <= 15 for v in values):
        raise ValueError("brightness: one level or 48 half-hour levels, each 0..15")
    body = struct.pack("<HB", 1 + 48, mode) + bytes(values)
    return request(Group.SYSTEM, 0x07, body, rtn_req=rtn_req)


def delete_areas_request(area_ids: list[int] | None = None, *, rtn_req: bool = True) -> bytes:
    """Delete dynamic areas (A7 01). None deletes all (DeleteAreaNum 0xFF, no ids follow, as
    the 6th-generation manual spells out; the 5th does not say)."""
    if area_ids is None:
        return request(Group.DYNAMIC, 0x01, b"\0\0\xff", rtn_req=rtn_req)
    if len(area_ids) >= 0xFF or not all(0 <= a <= 0xFF for a in area_ids):
        raise ValueError("delete_areas: fewer than 255 area ids, each 0..255")
    body = b"\0\0" + bytes([len(area_ids)]) + bytes(area_ids)
    return request(Group.DYNAMIC, 0x01, body, rtn_req=rtn_req)


# ---- responses (manual §5.1.2, §5.3) --------------------------------------------------------
_RESPONSE = struct.Struct("<BBBHHH")


@dataclass(frozen=True, slots=True)
class Response:
    group: int
    cmd: int
    status: int
    error: int
    data: bytes = b""

    @property
    def is_ack(self) -> bool:
        return self.group == Group.ANSWER and self.cmd == 0x00 and not self.status & 1

    @property
    def is_nack(self) -> bool:
        return (self.group == Group.ANSWER and self.cmd == 0x01) or bool(self.status & 1)

    @property
    def error_name(self) -> str:
        return error_name(self.error)

    def describe(self) -> str:
        if self.is_ack:
            return "ACK"
        if self.is_nack:
            return f"NACK {self.error} {self.error_name}"
        return (f"reply {self.group:02X} {self.cmd:02X} status {self.status:04X} "
                f"data {self.data.hex(' ')}")

    def pack(self) -> bytes:
        return _RESPONSE.pack(0, self.group, self.cmd, self.status, self.error,
                              len(self.data)) + self.data


def ack() -> Response:
    return Response(Group.ANSWER, 0x00, 0, ErrorCode.ERR_NO)


def nack(error: int) -> Response:
    return Response(Group.ANSWER, 0x01, 1, error)


def parse_response(data: bytes) -> Response:
    if len(data) < _RESPONSE.size:
        raise ProtocolError(f"response too short: {len(data)} bytes")
    _res, group, cmd, status, error, dlen = _RESPONSE.unpack(data[:_RESPONSE.size])
    payload = data[_RESPONSE.size:]
    if dlen != len(payload):
        raise ProtocolError(f"response DataLen {dlen} but {len(payload)} bytes follow")
    return Response(group, cmd, status, error, payload)
