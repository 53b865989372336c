"""Item (planner's view) -> Showable (driver's view), with media paths resolved once."""

from __future__ import annotations

from pathlib import Path

from ..driver import ItemKind, Showable
from ..load import media_path
from ..model import Item


class Showables:
    def __init__(self, media_root: Path) -> None:
        self._root = media_root
        self._cache: dict[tuple[str, str, int], Showable] = {}
        # by the item object itself (kept in the value: an id() is unique only while its
        # object lives), so that a switch skips making the key tuple
        self._by_obj: dict[int, tuple[Item, Showable]] = {}

    def __call__(self, item: Item) -> Showable:
        got = self._by_obj.get(id(item))
        if got is not None and got[0] is item:
            return got[1]
        key = (item.id, item.path or item.text, item.duration_ms)
        s = self._cache.get(key)
        if s is None:
            path: Path | None = None
            if item.kind is not ItemKind.TEXT:
                try:
                    path = media_path(self._root, item.path)
                except ValueError:
                    path = None  # the driver rejects a missing path: substitution follows
            s = Showable(item.id, item.kind, item.duration_ms / 1000.0, item.anti_fraud,
                         item.text, path, item.category)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = s
        if len(self._by_obj) > 4096:
            self._by_obj.clear()
        self._by_obj[id(item)] = (item, s)
        return s
