"""The box's signing key: Ed25519, through PyNaCl (libsodium).

libsodium, not the `cryptography` package, because this module is on the daemon's path and
the daemon's memory budget is 60 MB (docs/benchmarks.md): importing PyNaCl's signing costs
~1.3 MiB of RSS, cryptography's Ed25519 and PEM loading ~9.6 MiB (its binary carries a whole
OpenSSL). Ed25519 signatures are deterministic (RFC 8032): both libraries make the same bytes
(tests/test_keys_trust.py checks this against cryptography, and verifies with it).

The private key makes evidence (log checkpoints, inspection codes, acknowledgements); the
public key checks it. Whoever verifies needs only the public key, so verifying gives no power
to forge.

Text forms (a public contract, see docs/keys.md):

- public key: ``ed25519:`` followed by the 32 raw public-key bytes in base64url without
  padding (43 characters);
- key id: the first 8 bytes of SHA-256 over the 32 raw public-key bytes, as 16 lowercase hex
  digits; short enough to print on every checkpoint and QR code, long enough that no two keys
  of a fleet share it by chance;
- fingerprint: the whole SHA-256 of the raw public key, 64 hex digits in groups of four, for
  reading aloud or comparing at registration.

The private key file is PKCS#8 PEM, unencrypted (the box must sign unattended), mode 0600,
created atomically and never overwritten. A key file that group or others can read is refused.
An Ed25519 PKCS#8 key without attributes is always the same 16 DER bytes and the 32-byte seed
(RFC 8410, section 7; what `cryptography` and `openssl genpkey -algorithm ed25519` write):
that form is read and written here; any other PEM (e.g. with the public key attached) is
handed to `cryptography`, loaded only then, which accepts or refuses it as before.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import nacl.signing
from nacl.exceptions import CryptoError

from .i18n import _
from .secretfile import create_secret

PUBLIC_PREFIX = "ed25519:"
SIGNATURE_LEN = 64
#: a PEM Ed25519 private key is about 120 bytes; anything much larger is not one
MAX_KEY_FILE_BYTES = 4096
#: DER of an Ed25519 PrivateKeyInfo (RFC 8410) up to the 32-byte seed: SEQUENCE, version 0,
#: AlgorithmIdentifier id-Ed25519 (1.3.101.112), OCTET STRING holding an OCTET STRING of 32
PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_PEM_BEGIN = b"-----BEGIN PRIVATE KEY-----"
_PEM_END = b"-----END PRIVATE KEY-----"


class SigningKeyError(Exception):
    """A key file or a public-key text is unusable; the message names it and says why."""


_B64U_ALPHABET = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64u(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)


@functools.lru_cache(maxsize=256)
def key_id_of(raw_public: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(raw_public).digest()[:8].hex()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key (32 raw bytes)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise SigningKeyError(_("an Ed25519 public key is 32 bytes, not "
                                    "{n}").format(n=len(self.raw)))

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """Parse ``ed25519:<base64url>``; raises SigningKeyError with what is expected."""
        t = text.strip()
        if not t.startswith(PUBLIC_PREFIX):
            raise SigningKeyError(_("not a public key: expected 'ed25519:' and 43 base64url "
                                    "characters, got {t!r}").format(t=t[:20]))
        body = t[len(PUBLIC_PREFIX):]
        if len(body) != 43 or not all(c in _B64U_ALPHABET for c in body):
            raise SigningKeyError(
                _("not a public key: expected 'ed25519:' and 43 base64url characters"))
        try:
            raw = _unb64u(body)
        except ValueError:
            raise SigningKeyError(_("not a public key: bad base64url")) from None
        if _b64u(raw) != body:
            raise SigningKeyError(_("not a public key: not the canonical base64url of 32 bytes"))
        return cls(raw)

    @property
    def text(self) -> str:
        return PUBLIC_PREFIX + _b64u(self.raw)

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256(self.raw).hexdigest()
        return " ".join(h[i:i + 4] for i in range(0, 64, 4))

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature over ``message``."""
        if len(signature) != SIGNATURE_LEN:
            return False
        try:
            nacl.signing.VerifyKey(self.raw).verify(message, signature)
        except CryptoError:  # a bad signature, or a key that is no curve point
            return False
        return True


class _RawPrivateKey(Protocol):
    def private_bytes_raw(self) -> bytes: ...


class SigningKey:
    """The private half; lives only on the box."""

    __slots__ = ("_id", "_key", "public")

    def __init__(self, key: bytes | _RawPrivateKey) -> None:
        """From the 32-byte Ed25519 seed (the private key of RFC 8032), or from a key object
        that gives it (`cryptography`'s Ed25519PrivateKey, e.g. in tests)."""
        seed = key if isinstance(key, bytes) else key.private_bytes_raw()
        if len(seed) != 32:
            raise SigningKeyError(
                _("an Ed25519 private key is 32 bytes, not {n}").format(n=len(seed)))
        self._key = nacl.signing.SigningKey(seed)
        self.public = PublicKey(bytes(self._key.verify_key))
        self._id = self.public.key_id  # (every checkpoint names it twice)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def key_id(self) -> str:
        return self._id

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature over ``message``. Each format that signs documents
        its canonical bytes, which begin with a tag naming the format and version, so that a
        signature made for one purpose can never be read as another."""
        return self._key.sign(message).signature

    def pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted: the RFC 8410 form, byte for byte what `cryptography`
        writes for the same key."""
        der = base64.b64encode(PKCS8_PREFIX + bytes(self._key)).decode("ascii")
        return f"{_PEM_BEGIN.decode()}\n{der}\n{_PEM_END.decode()}\n".encode("ascii")


def _seed_from_pem(data: bytes) -> bytes | None:
    """The seed of a PEM holding the RFC 8410 form of an Ed25519 key; None for any other text
    (which `cryptography` then reads or refuses)."""
    lines = data.strip().splitlines()
    if len(lines) < 3 or lines[0].strip() != _PEM_BEGIN or lines[-1].strip() != _PEM_END:
        return None
    try:
        der = base64.b64decode(b"".join(x.strip() for x in lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(der) != len(PKCS8_PREFIX) + 32 or not der.startswith(PKCS8_PREFIX):
        return None
    return der[len(PKCS8_PREFIX):]


def _seed_via_cryptography(path: Path, data: bytes) -> bytes:
    """Any other PEM form, read by `cryptography` (imported only here)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(_("{path}: not a PEM private key without a "
                                "password").format(path=path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(_("{path}: not an Ed25519 key").format(path=path))
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def load_signing_key(path: Path) -> SigningKey:
    """Load the private key from ``path``: a regular file, mode 0600 or stricter, holding a
    PKCS#8 PEM Ed25519 key. Every failure is a SigningKeyError naming the file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SigningKeyError(_("{path}: signing key not found (create one with: signage keys "
                                "generate)").format(path=path)) from None
    except OSError as exc:
        raise SigningKeyError(_("{path}: cannot read signing key: "
                                "{strerror}").format(path=path, strerror=exc.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        raise SigningKeyError(_("{path}: not a regular file (a signing key is a PEM "
                                "file)").format(path=path))
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(
            _("{path}: signing key is accessible by group or others (mode {mode:o}); run: chmod "
              "600 {path}").format(path=path, mode=stat.S_IMODE(st.st_mode)))
    if st.st_size > MAX_KEY_FILE_BYTES:
        raise SigningKeyError(_("{path}: not a signing key ({size} bytes; a key is "
                                "~120)").format(path=path, size=st.st_size))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(_("{path}: cannot read signing key: "
                                "{strerror}").format(path=path, strerror=exc.strerror)) from None
    seed = _seed_from_pem(data)
    return SigningKey(seed if seed is not None else _seed_via_cryptography(path, data))


def write_new_key(path: Path) -> SigningKey:
    """Generate a key and write it to ``path`` (mode 0600), atomically: written and fsynced in
    a private temporary file, then hard-linked into place. Never overwrites: an existing file
    raises SigningKeyError."""
    if path.exists() or path.is_symlink():
        raise SigningKeyError(_("{path}: already exists; a signing key is never overwritten (use: "
                                "signage keys rotate)").format(path=path))
    key = SigningKey.generate()
    if not create_secret(path, key.pem()):
        raise SigningKeyError(_("{path}: already exists; a signing key is never "
                                "overwritten").format(path=path))
    return key


__all__ = [
    "PKCS8_PREFIX",
    "PUBLIC_PREFIX",
    "SIGNATURE_LEN",
    "PublicKey",
    "SigningKey",
    "SigningKeyError",
    "key_id_of",
    "load_signing_key",
    "write_new_key",
]
