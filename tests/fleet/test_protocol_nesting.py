"""Fleet messages are network input: JSON nested deeper than the parser goes is a refused
message (ProtocolError, which the hub reports per site), never a RecursionError escaping the
MQTT callback (it stopped the hub's network loop)."""

from __future__ import annotations

import pytest

from signage.fleet import protocol as p


@pytest.mark.parametrize("payload", [b"[" * 5000, b'{"fv":1,"x":' + b"[" * 5000])
def test_deep_nesting_is_a_protocol_error(payload: bytes) -> None:
    with pytest.raises(p.ProtocolError, match="not JSON"):
        p.decode_json(payload, "status")


def test_a_hostile_showing_line_is_not_a_row() -> None:
    """The hub's dataset reads showing lines that only the chain vouches for (in format 2
    anyone can chain a record): deep nesting or a 400-digit start_mono proves nothing."""
    from signage.hub.dataset import showing_row

    base = ('{"v":2,"seq":5,"type":"showing","run":"r","boot":"b","wall":"2026-11-30T08:00:00'
            '.000+08:00","mono":1.0,"screen":"s1","item":"a","anti_fraud":true,"outcome":'
            '"completed","start":"2026-11-30T08:00:00.000+08:00","end":"2026-11-30T08:00:10'
            '.000+08:00","end_mono":11.0,"start_mono":')
    for tail in ("1" + "0" * 400 + "}", "[" * 5000):
        assert showing_row((base + tail).encode()) is None
