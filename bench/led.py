"""Bytes on the wire for the LED driver, against the payload minimum (the raw bitmap).

    .venv/bin/python bench/led.py

Per slogan (the five "五个凡是" of playlists/wugefanshi.toml) on a 128×16 single-colour board,
and per full-screen update of a 128×32 board in 1 and 2 colours, it prints the bitmap bytes
(the minimum any encoding of those LEDs needs), the frame bytes the driver really sends (frame
head/tail, header, A7 00 area and page fields, CRC, escaping), and the time on an 8N1 line
(10 bits per byte) at 9600 and 57600 baud. Nothing is sent anywhere: the frames come from
``LedDriver.frame_for``, exactly what ``show()`` writes.
"""

from __future__ import annotations

import random
import sys
import tomllib
from pathlib import Path

from PIL import Image
from signage_drivers.led.area import AreaUpdate, Page, update_area_request
from signage_drivers.led.bitmap import bitmap_size, pack_bitmap
from signage_drivers.led.cli import RealClock
from signage_drivers.led.codec import WILDCARD, encode_frame
from signage_drivers.led.driver import LedDriver

from signage import render
from signage.driver import DriverContext, ItemKind, ScreenSpec, Showable

ROOT = Path(__file__).resolve().parent.parent
FALLBACK = [
    "凡是网络兼职刷单返还佣金就是诈骗！",
    "凡是免息无抵押担保网络贷款就是诈骗！",
    "凡是低投入高回报网络投资理财就是诈骗！",
    "凡是以QQ、微信好友名义要求转账就是诈骗！",
    "凡是以公检法办案名义要求将资金转入安全账户就是诈骗！",
]


def slogans() -> list[str]:
    path = ROOT / "playlists" / "wugefanshi.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        texts = [str(it["text"]) for it in data["items"] if it.get("type") == "text"]
        return texts or FALLBACK
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return FALLBACK


def driver(width: int, height: int, colors: int = 1) -> LedDriver:
    spec = ScreenSpec("bench", width, height, {"port": "loop://", "colors": colors},
                      ROOT, "bench")
    return LedDriver(spec, DriverContext(clock=RealClock(), run_dir=ROOT, virtual=True))


def wire(n: int, baud: int) -> str:
    return f"{n * 10 / baud:7.3f}"


def row(label: str, payload: int, frame: int) -> str:
    over = frame - payload
    return (f"{label:<40} {payload:>7} {frame:>7} {over:>6} {100 * over / max(1, payload):>6.1f}%"
            f" {wire(frame, 9600)} {wire(frame, 57600)}")


HEAD = (f"{'':<40} {'bitmap':>7} {'wire':>7} {'extra':>6} {'extra':>7} {'9600 s':>7} "
        f"{'57600 s':>7}")


def pages_for(text: str, width: int, height: int) -> int:
    px = render.text_width(text, height)
    return -(-px // width) if px > width else 1


def per_slogan() -> list[str]:
    lines = ["Slogans on a 128x16 single-colour board (Unifont 16 px); scrolling text is sent "
             "as 128-px pages", HEAD]
    drv = driver(128, 16)
    for i, text in enumerate(slogans(), 1):
        item = Showable(f"s{i}", ItemKind.TEXT, 10.0, True, text=text)
        frame = drv.frame_for(item)
        px = render.text_width(text, 16)
        pages = pages_for(text, 128, 16)
        payload = pages * bitmap_size(128, 16)
        lines.append(row(f"{i}. {px} px, {pages} page(s)", payload, len(frame)))
        lines.append(f"   {text}")
    return lines


def full_screen() -> list[str]:
    lines = ["", "Updates of a 128x32 board (WenQuanYi Micro Hei 32 px)", HEAD]
    rnd = random.Random(5)  # noqa: S311 - a reproducible pixel pattern, not a secret
    for colors in (1, 2):
        drv = driver(128, 32, colors)
        size = bitmap_size(128, 32, 0, colors)
        for words in ("谨防诈骗", "防范电信网络诈骗"):
            text = Showable("t", ItemKind.TEXT, 10.0, True, text=words)
            pages = pages_for(words, 128, 32)
            how = "static" if pages == 1 else f"{pages} pages, scrolls"
            lines.append(row(f"{colors} colour(s): {len(words)} chars, {how}", pages * size,
                             len(drv.frame_for(text))))
        noise = Image.frombytes("1", (128, 32), rnd.randbytes(512))
        planes = (noise, noise if colors == 2 else None)
        for label, bitmap in (("all dark", b"\xff" * size),
                              ("random pixels", pack_bitmap(*planes)),
                              ("worst case, every byte A5", b"\xa5" * size)):
            page = Page(bitmap=bitmap, valid_len=128)
            area = AreaUpdate(area_id=0, x=0, y=0, width=128, height=32, pages=(page,))
            frame = encode_frame(update_area_request(area), dst=WILDCARD)
            lines.append(row(f"{colors} colour(s): {label}", size, len(frame)))
    lines.append("")
    lines.append("Fixed cost per update: 8 head + 16 header + 2 CRC + 1 tail + 33 A7 00 command "
                 "and area fields + 17 per page; an ACK back is 36 bytes (37.5 ms at 9600).")
    return lines


def main() -> int:
    for line in per_slogan() + full_screen():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
