"""What mpv actually drew, read back through vo=image (one PNG per displayed frame)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from signage.driver import ItemKind

from .conftest import MakeDriver, Media, item


def _newest_frame(outdir: Path) -> tuple[int, int, int]:
    frames = sorted(outdir.glob("*.png"))
    assert frames, "mpv wrote no frame"
    with Image.open(frames[-1]) as img:
        px = img.convert("RGB").getpixel((img.width // 2, img.height - 3))
    assert isinstance(px, tuple)
    return (int(px[0]), int(px[1]), int(px[2]))


def _close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_frame_on_screen_when_show_returns(make_driver: MakeDriver, media: Media,
                                           tmp_path: Path) -> None:
    out = tmp_path / "frames"
    out.mkdir()
    drv = make_driver(vo="image", extra_args=[f"--vo-image-outdir={out}",
                                              "--vo-image-format=png"])
    drv.show(item(ItemKind.IMAGE, media.blue))
    assert _close(_newest_frame(out), (0, 0, 255))
    drv.show(item(ItemKind.IMAGE, media.red))
    assert _close(_newest_frame(out), (255, 0, 0))
    # a text slide: drawn by signage.render (anti-fraud red background), shown as an image
    drv.show(item(ItemKind.TEXT, text="公检法不会电话办案"))
    assert _close(_newest_frame(out), (160, 20, 20))
    drv.clear()
    assert _close(_newest_frame(out), (0, 0, 0))
