"""A phone photo of a whole screen sent through a chat app, made with Pillow from a frame:
perspective, 5° rotation, blur, glare, 1,280 px on the long side, JPEG quality 60."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter

PHOTO_LONG_SIDE = 1280  # px: what a chat app sends


def _perspective_coeffs(src: list[tuple[float, float]],
                        dst: list[tuple[float, float]]) -> list[float]:
    """Coefficients for Image.transform(PERSPECTIVE) mapping output ``dst`` corners to input
    ``src`` corners (solved with plain Gaussian elimination)."""
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    n = 8
    m = [r + [b] for r, b in zip(rows, rhs, strict=True)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [a - f * b for a, b in zip(m[r], m[c], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def phone_photo(frame: Image.Image, rng: random.Random, *, rotate_deg: float = 5.0,
                tilt: float = 0.06, blur: float = 1.0, glare: float = 0.45,
                quality: int = 60) -> Image.Image:
    """The degraded photo (an RGB image decoded back from the JPEG bytes)."""
    w, h = frame.size
    pad = int(max(w, h) * 0.08)
    scene = Image.new("RGB", (w + 2 * pad, h + 2 * pad), (70, 66, 60))  # the wall around
    scene.paste(frame.convert("RGB"), (pad, pad))
    # the camera's resolution first: the scene shrunk to a little more than the photo's long
    # side (the rotation below widens it by ~5 %). The perspective and rotation then resample
    # at the photo's own scale, which blurs the modules a little more than resampling the full
    # frame and shrinking after (never less), at a third of the pixels for a 1920x1080 frame.
    k = PHOTO_LONG_SIDE * 1.05 / max(scene.size)
    if k < 1:
        scene = scene.resize((round(scene.width * k), round(scene.height * k)),
                             Image.Resampling.LANCZOS)
    sw, sh = scene.size
    # perspective: the phone held a little off-axis (one side of the screen nearer)
    d = tilt * sw
    near_left = rng.random() < 0.5
    dst = [(0.0, 0.0), (sw, 0.0), (sw, sh), (0.0, sh)]
    src = [(0.0, -d if near_left else d), (sw, d if near_left else -d),
           (sw, sh - d if near_left else sh + d), (0.0, sh + d if near_left else sh - d)]
    src = [(u, max(-sh, min(2 * sh, v))) for u, v in src]
    img = scene.transform((sw, sh), Image.Transform.PERSPECTIVE,
                          _perspective_coeffs(src, dst), Image.Resampling.BICUBIC,
                          fillcolor=(70, 66, 60))
    img = img.rotate(rotate_deg if rng.random() < 0.5 else -rotate_deg,
                     Image.Resampling.BICUBIC, expand=True, fillcolor=(70, 66, 60))
    scale = PHOTO_LONG_SIDE / max(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)),
                     Image.Resampling.LANCZOS)
    img = img.filter(ImageFilter.GaussianBlur(blur))
    # glare: a soft bright ellipse somewhere on the screen
    mask = Image.new("L", img.size, 0)
    gx, gy = rng.uniform(0.2, 0.8) * img.width, rng.uniform(0.2, 0.8) * img.height
    r = rng.uniform(0.12, 0.25) * img.width
    ImageDraw.Draw(mask).ellipse((gx - r, gy - r * 0.6, gx + r, gy + r * 0.6),
                                 fill=int(255 * glare))
    mask = mask.filter(ImageFilter.GaussianBlur(r / 3))
    img = Image.composite(Image.new("RGB", img.size, (255, 255, 250)), img, mask)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        out.load()
        return out.convert("RGB")
