"""render.wrap: the fast wrap (advances first, then a few real layouts per line) gives the
lines of the definition, extending a line one character at a time with the font's layout."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageFont

from signage import render

ALPHABET = "近期有骗子冒充电商客服，以退款为由诱导转账。AVAVWa To 96110 yes. ij fi ff 【预警】——\t"


def by_definition(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    lines: list[str] = []
    cur = ""
    for ch in text:
        if font.getlength(cur + ch) <= max_width or not cur:
            cur += ch
        else:
            lines.append(cur)
            cur = ch.lstrip()
    if cur:
        lines.append(cur)
    return lines


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=160), width=st.integers(1, 2500),
       size=st.sampled_from([12, 20, 48, 100]))
def test_wrap_is_the_greedy_wrap_by_layout(text: str, width: int, size: int) -> None:
    font = render._font(render.SMOOTH_FONT, size)
    assert render.wrap(text, font, width) == by_definition(text, font, width)


def test_no_line_overflows_unless_one_character() -> None:
    font = render._font(render.SMOOTH_FONT, 100)
    text = "凡是自称客服要求转账的都是诈骗。接到此类电话请立即挂断，拨打96110咨询。" * 20
    lines = render.wrap(text, font, 1800)
    assert "".join(lines) == text
    assert all(font.getlength(ln) <= 1800 for ln in lines)
