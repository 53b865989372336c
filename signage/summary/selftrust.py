"""The box checking its own format-2 log: a trust file naming the box's own public key.

A format-2 log is verified against public keys from a trust file (docs/trust-file.md). The
inspector's trust file comes from outside the box; the console and `signage report` on the box
have only the box's own signing key, so they audit with a trust file that names it. That is a
self-check (it shows the log is intact and signed by this box's key), never an inspector's
verdict, and the campaign summary says so. Keys retired by a rotation are not named (their
part of the log then shows as not verified, never as verified).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from ..config import SiteConfig, resolve
from ..keys import SigningKeyError, load_signing_key
from ..trust import Trust, TrustFileError, parse_trust


def self_trust_text(cfg: SiteConfig, base: Path) -> str | None:
    """The trust file's text for a format-2 site (None for format 1, which uses the HMAC key).
    Raises SigningKeyError when the box's signing key cannot be read."""
    if cfg.log.format != 2:
        return None
    key = load_signing_key(resolve(base, cfg.log.signing_key))
    return ("version = 1\n\n[[site]]\n"
            f"id = {json.dumps(cfg.site.id, ensure_ascii=False)}\n"
            f"name = {json.dumps(cfg.site.name, ensure_ascii=False)}\n"
            "  [[site.key]]\n"
            f"  public = {json.dumps(key.public.text)}\n"
            "  valid_from = 2000-01-01T00:00:00+00:00\n"
            '  note = "the box\'s own key: a self-check, not an inspector\'s trust file"\n')


def self_trust(cfg: SiteConfig, base: Path) -> Trust | None:
    text = self_trust_text(cfg, base)
    if text is None:
        return None
    try:
        return parse_trust(tomllib.loads(text), "(the box's own key)")
    except (TrustFileError, tomllib.TOMLDecodeError) as exc:  # a bug, not bad input
        raise SigningKeyError(str(exc)) from None


__all__ = ["self_trust", "self_trust_text"]
