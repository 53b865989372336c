"""An inspection code as a witness for `signage audit --witness` (docs/inspection-code.md,
"As a witness"): the code's seq and head prefix, signed by the box, checked like a witnessed
checkpoint except that the log's digest at that seq must *begin* with the code's 16 bytes.

A witness file line is taken as a code when it is a hub scan record (a JSON object with
``"type":"inspection_scan"`` and ``payload``), a code URL (``…/v/<payload>``) or a bare
payload; every other line is left to the checkpoint reader.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ..keys import PublicKey
from .statement import MAX_TEXT, SignedStatement, StatementError, parse

_BARE = re.compile(rb"[A-Za-z0-9_-]{100,400}")


@dataclass(frozen=True, slots=True)
class CodeWitness:
    """Duck-types the fields of playlog.v2.Checkpoint that the audit's witness check reads."""

    signed: SignedStatement

    @property
    def seq(self) -> int:
        return self.signed.statement.seq

    @property
    def site(self) -> str:
        return self.signed.statement.site

    @property
    def key(self) -> str:
        return self.signed.statement.key_id

    @property
    def wall(self) -> str:
        return datetime.fromtimestamp(self.signed.statement.time, UTC).isoformat()

    @property
    def mac(self) -> str:
        """The digest prefix the code commits to (32 hex digits)."""
        return self.signed.statement.head.hex()

    @property
    def head(self) -> str:
        return self.mac

    def verify(self, public: PublicKey) -> bool:
        return self.signed.signature_valid(public)


class NotACode(ValueError):
    pass


def code_witness(line: bytes) -> CodeWitness | None:
    """The code a witness line holds, None when the line is not one (a checkpoint line).
    Raises NotACode for a line that looks like a code but is not a valid one."""
    raw = line.strip()
    text: str | None = None
    if raw.startswith(b"{") and b'"inspection_scan"' in raw:
        try:
            obj = json.loads(raw)
        except ValueError:
            raise NotACode("an inspection scan line that is not JSON") from None
        if not isinstance(obj, dict) or obj.get("type") != "inspection_scan" or \
                not isinstance(obj.get("payload"), str):
            raise NotACode("an inspection scan line without its payload")
        text = obj["payload"]
    elif raw.startswith(b"{"):
        return None
    elif b"/v/" in raw or _BARE.fullmatch(raw):
        text = raw.decode("ascii", "replace")
    if text is None:
        return None
    if len(text) > MAX_TEXT:
        raise NotACode("inspection code too long")
    try:
        return CodeWitness(parse(text))
    except StatementError as exc:
        raise NotACode(f"not an inspection code: {exc}") from None


__all__ = ["CodeWitness", "NotACode", "code_witness"]
