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
