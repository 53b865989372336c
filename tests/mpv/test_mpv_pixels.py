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


def test_an_alert_is_drawn_full_screen_with_its_banner(make_driver: MakeDriver,
                                                       tmp_path: Path) -> None:
    """An urgent alert (category 预警) through real mpv: the alert layout of signage.render
    (yellow 紧急预警 banner, dark red body), and the grey drill layout with its blue banner."""
    from dataclasses import replace

    out = tmp_path / "frames"
    out.mkdir()
    drv = make_driver(vo="image", extra_args=[f"--vo-image-outdir={out}",
                                              "--vo-image-format=png"])
    text = "警惕冒充客服退款诈骗\n近期有骗子冒充客服。\n措施：请拨打96110。\n—— 反诈中心"
    alert = replace(item(ItemKind.TEXT, text=text, item_id="alert:A1"), category="预警")
    drv.show(alert)
    assert _close(_newest_frame(out), (110, 0, 0))  # the body, bottom centre
    with Image.open(sorted(out.glob("*.png"))[-1]) as img:
        banner = img.convert("RGB").getpixel((2, 2))
    assert isinstance(banner, tuple) and _close(banner[:3], (250, 210, 40))
    drv.show(replace(alert, item_id="alert:D1", text="【演练】" + text))
    assert _close(_newest_frame(out), (60, 60, 60))
    with Image.open(sorted(out.glob("*.png"))[-1]) as img:
        banner = img.convert("RGB").getpixel((2, 2))
    assert isinstance(banner, tuple) and _close(banner[:3], (0, 160, 220))
