"""``sanitize``: text from a log, a site or the network made safe to print or draw. Its own
module so that printing needs no drawing library (the audit's start-up does not load Pillow);
signage/render.py re-exports it."""

from __future__ import annotations

import unicodedata


def sanitize(text: str) -> str:
    """Drop control and format characters (ANSI escapes, bidi overrides) before drawing or
    printing; keep ordinary spaces."""
    return "".join(
        " " if ch in "\t\n\r" else ch
        for ch in text
        if ch in "\t\n\r" or unicodedata.category(ch)[0] != "C"
    )
