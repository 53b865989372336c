"""Frame layer: the manual's own example frame, CRC, escaping, the streaming decoder."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st
from signage_drivers.led.codec import (
    PREAMBLE,
    WILDCARD,
    ErrorCode,
    FrameDecoder,
    FrameError,
    Header,
    Packet,
    ProtocolError,
    ack,
    brightness_request,
    crc16,
    decode_packet,
    delete_areas_request,
    encode_frame,
    encode_packet,
    error_name,
    escape,
    nack,
    parse_request,
    parse_response,
    ping_request,
    unescape,
)

# 5th and 6th manual, §5.5.1 "Ping命令", 命令示例 (verbatim)
MANUAL_PING = bytes.fromhex(
    "a5 a5 a5 a5 a5 a5 a5 a5 fe ff 00 80 f0 00 fe ff 00 00 00 00 05 00 00 00 "
    "01 A2 00 00 00 C6 86 5a"
)


def decode_all(stream: bytes, chunk: int = 0) -> list[Packet | FrameError]:
    dec = FrameDecoder()
    if not chunk:
        return list(dec.feed(stream))
    out: list[Packet | FrameError] = []
    for i in range(0, len(stream), chunk):
        out.extend(dec.feed(stream[i:i + chunk]))
    return out


def test_manual_ping_example_is_what_we_send() -> None:
    assert encode_frame(ping_request(), dst=WILDCARD, device_type=WILDCARD) == MANUAL_PING


def test_manual_ping_example_decodes() -> None:
    (pkt,) = decode_all(MANUAL_PING)
    assert isinstance(pkt, Packet)
    assert pkt.header == Header(dst=0xFFFE, src=0x8000, device_type=0xFFFE, data_len=5)
    req = parse_request(pkt.data)
    assert (req.rtn_req, req.group, req.cmd, req.body) == (1, 0xA2, 0x00, b"\0\0")


def test_crc16_is_crc16_arc() -> None:
    assert crc16(b"123456789") == 0xBB3D  # the CRC-16/ARC check value
    assert crc16(b"") == 0
    body = MANUAL_PING[8:-3]
    assert struct.pack("<H", crc16(body)) == MANUAL_PING[-3:-1]  # sent LSB first


def test_escape_table_from_manual() -> None:
    assert escape(b"\xa5") == b"\xa6\x02"
    assert escape(b"\xa6") == b"\xa6\x01"
    assert escape(b"\x5a") == b"\x5b\x02"
    assert escape(b"\x5b") == b"\x5b\x01"
    assert escape(b"\xa6\x02") == b"\xa6\x01\x02"  # not mistaken for an escaped A5


def test_unescape_rejects_lone_escape_bytes() -> None:
    for bad in (b"\xa6", b"\xa6\x03", b"\x5b\x00", b"\x01\xa5", b"\x5a"):
        try:
            unescape(bad)
        except ProtocolError:
            continue
        raise AssertionError(f"{bad.hex()} accepted")


@given(st.binary(max_size=600))
def test_escape_round_trip(data: bytes) -> None:
    escaped = escape(data)
    assert b"\xa5" not in escaped and b"\x5a" not in escaped
    assert unescape(escaped) == data


@given(st.binary(max_size=2000), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_frame_round_trip_and_no_markers_inside(data: bytes, dst: int, dev: int) -> None:
    frame = encode_frame(data, dst=dst, device_type=dev)
    assert frame.startswith(PREAMBLE) and frame.endswith(b"\x5a")
    inside = frame[len(PREAMBLE):-1]
    assert 0xA5 not in inside and 0x5A not in inside
    (pkt,) = decode_all(frame)
    assert isinstance(pkt, Packet)
    assert pkt.data == data
    assert (pkt.header.dst, pkt.header.device_type, pkt.header.src) == (dst, dev, 0x8000)
    assert pkt.header.data_len == len(data)  # length of the UNESCAPED data


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5), st.integers(1, 64),
       st.binary(max_size=40).filter(lambda b: 0xA5 not in b))
def test_decoder_any_chunking_with_noise(payloads: list[bytes], chunk: int,
                                         noise: bytes) -> None:
    stream = noise + b"".join(encode_frame(p, dst=1) for p in payloads)
    got = decode_all(stream, chunk)
    assert [p.data for p in got if isinstance(p, Packet)] == payloads
    assert not [e for e in got if isinstance(e, FrameError)]


def test_gb2312_dan_goes_through() -> None:
    """单 is B5 A5 in GB2312: the A5 must be escaped, and come back intact."""
    text = "凡是网络兼职刷单返还佣金就是诈骗！".encode("gb2312")
    assert b"\xb5\xa5" in text
    frame = encode_frame(text, dst=1)
    assert b"\xb5\xa6\x02" in frame
    (pkt,) = decode_all(frame, chunk=3)
    assert isinstance(pkt, Packet) and pkt.data.decode("gb2312").endswith("诈骗！")


def test_decoder_resyncs_on_a5_after_a_truncated_frame() -> None:
    good = encode_frame(b"\x01\xa2\x00\x00\x00", dst=1)
    cut = good[: len(good) // 2]
    got = decode_all(b"\x00\x11" + cut + good)
    assert isinstance(got[0], FrameError) and "truncated" in got[0].reason
    assert isinstance(got[1], Packet) and got[1].data == b"\x01\xa2\x00\x00\x00"


def test_decoder_reports_crc_errors_and_carries_on() -> None:
    raw = bytearray(encode_packet(b"hello", dst=1))
    raw[-2] ^= 0x01
    bad = PREAMBLE + escape(bytes(raw)) + b"\x5a"
    got = decode_all(bad + encode_frame(b"next", dst=1))
    assert isinstance(got[0], FrameError) and got[0].is_crc_error
    assert isinstance(got[1], Packet) and got[1].data == b"next"


def test_decoder_reports_length_mismatch_and_short_packets() -> None:
    body = Header(dst=1, src=0x8000, device_type=WILDCARD, data_len=9).pack() + b"abc"
    packet = body + struct.pack("<H", crc16(body))
    try:
        decode_packet(packet)
    except ProtocolError as exc:
        assert "DataLen" in str(exc)
    else:
        raise AssertionError("length mismatch accepted")
    (err,) = decode_all(PREAMBLE + b"\x01\x02" + b"\x5a")
    assert isinstance(err, FrameError) and "too short" in err.reason


def test_decoder_bounds_memory() -> None:
    dec = FrameDecoder(max_frame=100)
    got = list(dec.feed(b"\xa5" + b"\x01" * 500))
    assert len(got) == 1 and isinstance(got[0], FrameError)
    assert [p for p in dec.feed(encode_frame(b"ok", dst=1)) if isinstance(p, Packet)]


def test_responses_ack_nack_named() -> None:
    a = parse_response(bytes.fromhex("00 a0 00 00 00 00 00 00 00"))
    assert a.is_ack and not a.is_nack and a.describe() == "ACK"
    n = parse_response(bytes.fromhex("00 a0 01 01 00 03 00 00 00"))
    assert n.is_nack and n.error == ErrorCode.ERR_BUSY and n.error_name == "ERR_BUSY"
    assert parse_response(nack(18).pack()).describe() == "NACK 18 ERR_SCREEN_PARA"
    assert parse_response(ack().pack()) == ack()
    assert error_name(5) == "ERR_CHECKSUM" and error_name(77) == "ERR_UNKNOWN_77"
    with_data = parse_response(bytes.fromhex("00 a2 99 00 00 00 00 02 00 0a 0b"))
    assert with_data.data == b"\x0a\x0b" and not with_data.is_ack
    for bad in (b"\x00\xa0", bytes.fromhex("00 a0 00 00 00 00 00 05 00")):
        try:
            parse_response(bad)
        except ProtocolError:
            continue
        raise AssertionError("malformed response accepted")


def test_brightness_and_delete_layouts() -> None:
    b = brightness_request(7)
    assert b[:3] == b"\x01\xa2\x07"
    assert b[3:5] == b"\x31\x00"  # DataLen 0x31 = 49 = mode + 48 half-hours
    assert b[5] == 0 and b[6:] == bytes([7]) * 48
    timed = brightness_request(list(range(16)) * 3)
    assert timed[5] == 1 and timed[6:] == bytes(range(16)) * 3
    assert delete_areas_request() == b"\x01\xa7\x01\x00\x00\xff"
    assert delete_areas_request([0, 2]) == b"\x01\xa7\x01\x00\x00\x02\x00\x02"
