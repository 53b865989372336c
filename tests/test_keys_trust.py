"""The signing key and the trust file: real Ed25519 through libsodium (PyNaCl), checked against
OpenSSL (cryptography); real files and modes."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given
from hypothesis import strategies as st

from signage.keys import (
    PublicKey,
    SigningKey,
    SigningKeyError,
    load_signing_key,
    write_new_key,
)
from signage.trust import TrustFileError, load_trust


def test_generate_load_sign_verify(tmp_path: Path) -> None:
    path = tmp_path / "box.key"
    key = write_new_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_signing_key(path)
    assert again.public == key.public
    sig = again.sign(b"signage-test-v1\0hello")
    assert key.public.verify(sig, b"signage-test-v1\0hello")
    assert not key.public.verify(sig, b"signage-test-v1\0hellO")
    # an independent verifier (the library directly, from the documented text form)
    raw = PublicKey.from_text(key.public.text).raw
    Ed25519PublicKey.from_public_bytes(raw).verify(sig, b"signage-test-v1\0hello")


def test_same_bytes_as_openssl(tmp_path: Path) -> None:
    """Key file, public key and signatures are those `cryptography` (OpenSSL) makes for the
    same key, both ways: a file either wrote is read by the other."""
    for _ in range(20):
        ours = SigningKey.generate()
        theirs = load_pem(ours.pem())
        assert theirs.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()) == ours.pem()
        assert theirs.public_key().public_bytes_raw() == ours.public.raw
        for msg in (b"", b"signage-test-v1\0" + os.urandom(100)):
            sig = ours.sign(msg)
            assert sig == theirs.sign(msg)  # Ed25519 is deterministic (RFC 8032)
            theirs.public_key().verify(sig, msg)
    other = Ed25519PrivateKey.generate()
    path = tmp_path / "openssl.key"
    path.write_bytes(other.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    os.chmod(path, 0o600)
    assert load_signing_key(path).sign(b"x") == other.sign(b"x")
    bad = other.sign(b"x")[:-1] + bytes([other.sign(b"x")[-1] ^ 1])
    assert not SigningKey(other).public.verify(bad, b"x")
    assert not PublicKey(bytes(32)).verify(bytes(64), b"x")  # not a usable key: refused


def load_pem(data: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def test_other_pem_forms_go_to_cryptography(tmp_path: Path) -> None:
    """A PEM that is not the plain RFC 8410 text alone (here: what `openssl pkey -text`
    prints, the PEM followed by a dump) is read by cryptography as before; an RSA key is
    refused by name."""
    import subprocess

    from cryptography.hazmat.primitives.asymmetric import rsa

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    text = subprocess.run(["openssl", "pkey", "-text"], input=pem, capture_output=True,
                          check=True, timeout=30).stdout
    assert text.startswith(pem) and len(text) > len(pem)
    path = tmp_path / "dump.key"
    path.write_bytes(text)
    os.chmod(path, 0o600)
    assert load_signing_key(path).sign(b"x") == key.sign(b"x")
    rsa_path = tmp_path / "rsa.key"
    rsa_path.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    os.chmod(rsa_path, 0o600)
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        load_signing_key(rsa_path)


def test_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "box.key"
    write_new_key(path)
    before = path.read_bytes()
    with pytest.raises(SigningKeyError, match="never overwritten"):
        write_new_key(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_refused_when_others_can_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "box.key"
    write_new_key(path)
    os.chmod(path, mode)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        load_signing_key(path)


def test_bad_key_files_named(tmp_path: Path) -> None:
    d = tmp_path / "dir.key"
    d.mkdir(mode=0o700)
    with pytest.raises(SigningKeyError, match="not a regular file"):
        load_signing_key(d)
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"hello")
    os.chmod(junk, 0o600)
    with pytest.raises(SigningKeyError, match=str(junk)):
        load_signing_key(junk)
    with pytest.raises(SigningKeyError, match="signage keys generate"):
        load_signing_key(tmp_path / "missing.key")


@given(st.binary(min_size=32, max_size=32))
def test_public_text_round_trip(raw: bytes) -> None:
    pub = PublicKey(raw)
    assert PublicKey.from_text(pub.text) == pub
    assert len(pub.text) == len("ed25519:") + 43
    assert len(pub.key_id) == 16


@pytest.mark.parametrize("text", ["", "ed25519:", "rsa:AAAA", "ed25519:" + "A" * 42,
                                  "ed25519:" + "=" * 43, "ed25519:" + "A" * 44])
def test_public_text_refused(text: str) -> None:
    with pytest.raises(SigningKeyError, match="public key"):
        PublicKey.from_text(text)


def _trust(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "keys.toml"
    p.write_text(body, encoding="utf-8")
    return p


def test_trust_file(tmp_path: Path) -> None:
    k1, k2 = SigningKey.generate(), SigningKey.generate()
    p = _trust(tmp_path, f'''version = 1
[[site]]
id = "demo-mall"
name = "示例商场"
  [[site.key]]
  public = "{k1.public.text}"
  valid_from = 2026-01-01T00:00:00+08:00
  valid_to = 2026-07-01T00:00:00+08:00
  [[site.key]]
  public = "{k2.public.text}"
  valid_from = 2026-07-01T00:00:00+08:00
''')
    trust = load_trust(p)
    site = trust.site("demo-mall")
    assert site is not None and site.name == "示例商场"
    tk1 = trust.key_for("demo-mall", k1.key_id)
    tk2 = trust.key_for("demo-mall", k2.key_id)
    assert tk1 is not None and tk2 is not None
    june = datetime(2026, 6, 30, 15, 59, tzinfo=UTC)
    assert tk1.valid_at(june) and not tk2.valid_at(june)
    assert not tk1.valid_at(june + timedelta(minutes=1))
    assert tk2.valid_at(june + timedelta(minutes=1))
    assert trust.key_for("other", k1.key_id) is None


@pytest.mark.parametrize(("body", "needle"), [
    ("version = 2\n", "version"),
    ('version = 1\n[[site]]\nid = "a"\n', "at least one"),
    ('version = 1\n[[site]]\nid = "a"\n[[site.key]]\npublic = "x"\n'
     'valid_from = 2026-01-01T00:00:00+08:00\n', "key #1: public"),
    ('version = 1\n[[site]]\nid = "a"\n[[site.key]]\npublic = "PUB"\n'
     'valid_from = "2026-01-01"\n', "valid_from"),
    ('version = 1\n[[site]]\nid = "a"\n[[site.key]]\npublic = "PUB"\n'
     'valid_from = 2026-01-01T00:00:00\n', "offset"),
    ('version = 1\n[[site]]\nid = "a"\nkye = 1\n', "unknown field 'kye'"),
    ('version = 1\n[[site]]\nid = "a\u202e"\n', "text-direction"),
    ("version = 1\n[[site\n", "not valid TOML"),
])
def test_trust_file_refused(tmp_path: Path, body: str, needle: str) -> None:
    body = body.replace("PUB", SigningKey.generate().public.text)
    with pytest.raises(TrustFileError, match=needle):
        load_trust(_trust(tmp_path, body))


def test_trust_twice_and_fifo(tmp_path: Path) -> None:
    pub = SigningKey.generate().public.text
    site = (f'[[site]]\nid = "a"\n[[site.key]]\npublic = "{pub}"\n'
            'valid_from = 2026-01-01T00:00:00+08:00\n')
    with pytest.raises(TrustFileError, match="listed twice"):
        load_trust(_trust(tmp_path, "version = 1\n" + site + site))
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(TrustFileError, match="not a regular file"):
        load_trust(fifo)
