"""render.dot_matrix paints one image through masks: the same pixels as compositing the lit,
unlit and background images whole (what it did before; the daemon's memory)."""

from __future__ import annotations

from PIL import Image

from signage import render


def _composited(bitmap: Image.Image, pitch: int, width: int, offset_x: int,
                color: tuple[int, int, int]) -> Image.Image:
    window = Image.new("L", (width, bitmap.height), 0)
    window.paste(bitmap.convert("L"), (-offset_x, 0))
    lit = window.resize((width * pitch, bitmap.height * pitch), Image.Resampling.NEAREST)
    dots = render._tile(pitch, width, bitmap.height)
    face = Image.composite(Image.new("RGB", lit.size, color),
                           Image.new("RGB", lit.size, (50, 20, 15)), lit)
    return Image.composite(face, Image.new("RGB", lit.size, (15, 15, 15)), dots)


def test_dot_matrix_pixels_are_unchanged() -> None:
    bmp = render.render_bitmap("谨防电信诈骗 ABC 123，不转账", 128, 16, "Unifont")
    for pitch, offset, color in ((8, 0, (255, 40, 20)), (4, 37, (0, 255, 0)), (2, 0, (255, 255, 0)),
                                 (5, 3, (255, 40, 20))):
        got = render.dot_matrix(bmp, pitch=pitch, width=128, offset_x=offset, color=color)
        want = _composited(bmp, pitch, 128, offset, color)
        assert got.mode == "RGB" and got.size == want.size
        assert got.tobytes() == want.tobytes(), (pitch, offset, color)
