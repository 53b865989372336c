"""The gap guard against drivers that fail in unexpected ways, and at start (issue 11, 3a/3b).

* Any exception from a driver's show() is a rejection: a substitute is tried at once. The
  exception here is a real one: Pillow's DecompressionBombError, raised by decoding a real
  30,000 x 30,000 one-bit PNG (110 KB on disk).
* The first item after a start is anti-fraud, even when the plan has a store item starting at
  that very instant.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from datetime import datetime
from pathlib import Path

from PIL import Image
from signage_drivers.simulator import SimulatorDriver

from signage.driver import Showable
from signage.load import load_site
from signage.plan import Timeline
from signage.runtime.clock import VirtualClock
from signage.runtime.runner import ScreenRunner
from tests.conftest import small_site
from tests.runtime.runnerkit import TZ, drive_until, virtual_runner


def bomb_png(path: Path, side: int = 30_000) -> None:
    """A valid one-bit PNG of side x side black pixels, written without holding it in memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\x00" + bytes((side + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))


class DecodesImages(SimulatorDriver):
    """The simulator with its image decoding on also on the virtual clock (it renders frames
    only in real time): show() opens and loads the image as its real-time path does."""

    def show(self, item: Showable) -> float:
        if item.path is not None and item.path.suffix == ".png":
            with Image.open(item.path) as im:
                im.load()
        return super().show(item)


def _drive(r: ScreenRunner, clock: VirtualClock, seconds: float) -> None:
    drive_until(r, clock, clock.monotonic() + seconds)


def test_any_exception_from_show_is_a_rejection_and_a_substitute_plays(tmp_path: Path) -> None:
    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(), store_s=(1.0, 1.5))
    # validate refuses the bomb itself (it decodes every picture): it is a fine poster at
    # validation and replaced on disk before it is shown
    Image.new("1", (64, 64), 1).save(tmp_path / "media" / "bomb.png")
    (tmp_path / "playlists" / "af.toml").write_text(
        'name = "反诈"\ncontent = "anti-fraud"\n\n[[items]]\nid = "af-poster"\n'
        'type = "image"\npath = "bomb.png"\nduration_s = 2.0\n', "utf-8")
    r, clock, log = virtual_runner(tmp_path, cfg, datetime(2026, 12, 1, 10, 0, tzinfo=TZ),
                                   DecodesImages)
    bomb_png(tmp_path / "media" / "bomb.png")
    r.start()
    _drive(r, clock, 90.0)
    recs = log.recs
    errors = [x for x in recs if x["type"] == "driver_error" and x["item"] == "af-poster"]
    assert errors and "DecompressionBombError" in errors[0]["message"]
    assert errors[0]["error"] == "rejected"
    af = [x for x in recs if x["type"] == "showing" and x["anti_fraud"]
          and x["end_mono"] > x["start_mono"]]
    assert len(af) >= 12  # the built-in slogan carries the rule: one at least every 6 s
    gaps = [b["start_mono"] - a["end_mono"] for a, b in itertools.pairwise(af)]
    assert max(gaps) <= 6.0


def test_the_first_item_after_a_start_is_anti_fraud(tmp_path: Path) -> None:
    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(1.0, 1.0), store_s=(1.0,))
    site = load_site(cfg, datetime(2026, 12, 1).date()).site
    t0 = int(datetime(2026, 12, 1, 10, 0, tzinfo=TZ).timestamp() * 1000)
    store = next(e for e in Timeline(site, site.screens[0]).entries(t0) if not e.anti_fraud)
    # start exactly when the plan has a store item begin
    r, clock, log = virtual_runner(tmp_path, cfg, datetime.fromtimestamp(store.start_ms / 1000, TZ))
    r.start()
    _drive(r, clock, 10.0)
    first = next(x for x in log.recs if x["type"] == "showing_start")
    assert first["anti_fraud"] is True, first
