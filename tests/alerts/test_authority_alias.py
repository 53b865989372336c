"""[fleet] authority_keys is another name for [authority] keys (issue 14 asked for the first;
the second works without a fleet, for a USB stick). Both at once must agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signage.config import load_config
from signage.keys import SigningKey
from signage.problems import InputError
from tests.alerts.alertsite import alert_site

K1 = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
K2 = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
FLEET = '\n[fleet]\nbroker = "mqtt://localhost:1883"\nauthority_keys = [{keys}]\n'


def _site(tmp: Path, authority_keys: str | None, fleet_keys: str) -> Path:
    cfg = alert_site(tmp, K1, extra=FLEET.format(keys=fleet_keys))
    text = cfg.read_text("utf-8")
    line = f'keys = ["{K1.public.text}"]\n'
    text = text.replace(line, f"keys = [{authority_keys}]\n" if authority_keys is not None
                        else "")
    cfg.write_text(text, "utf-8")
    return cfg


def test_fleet_authority_keys_alone_are_the_authority_keys(tmp_path: Path) -> None:
    cfg = load_config(_site(tmp_path, None, f'"{K2.public.text}"'))
    assert cfg.authority.keys == [K2.public.text]
    assert cfg.authority.regions == ["330106"]  # the rest of [authority] is kept


def test_the_same_keys_in_both_places_are_fine(tmp_path: Path) -> None:
    both = f'"{K1.public.text}", "{K2.public.text}"'
    rev = f'"{K2.public.text}", "{K1.public.text}"'
    cfg = load_config(_site(tmp_path, both, rev))
    assert sorted(cfg.authority.keys) == sorted([K1.public.text, K2.public.text])


def test_different_keys_in_both_places_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        load_config(_site(tmp_path, f'"{K1.public.text}"', f'"{K2.public.text}"'))
    text = str(e.value) + " ".join(p.message for p in e.value.problems)
    assert "fleet.authority_keys" in text and "authority.keys" in text


def test_a_bad_key_in_the_alias_is_named_there(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        load_config(_site(tmp_path, None, '"ed25519:nope"'))
    assert any("authority_keys" in p.field for p in e.value.problems), e.value.problems
