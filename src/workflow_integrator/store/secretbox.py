"""Encryption of secrets at rest: AES-256-GCM with keys that never live in the database."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "wi1"


class SecretKeyError(RuntimeError):
    """A key is missing, malformed, or cannot decrypt a stored secret."""


def new_key() -> str:
    """A fresh random 256-bit key, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _decode_key(text: str) -> bytes:
    raw = text.strip()
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except ValueError:
        raise SecretKeyError("a secret key is not base64url text") from None
    if len(key) != 32:
        raise SecretKeyError("a secret key must decode to 32 bytes (use `wi secrets new-key`)")
    return key


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class SecretBox:
    """Encrypts with the newest key; decrypts with whichever key made the ciphertext.

    Ciphertext text: ``wi1:<key id>:<base64url(nonce || ciphertext+tag)>``.
    """

    def __init__(self, keys: list[str], *, key_file: Path | None = None) -> None:
        self._use(keys)
        # With a key file, `wi secrets rotate-key` may replace the keys under a running
        # WI: following the file keeps it reading new ciphertexts and writing readable ones.
        self._key_file = key_file
        self._file_stamp = self._stamp()

    def _use(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError("at least one secret key is needed")
        decoded = [_decode_key(k) for k in keys]
        self._newest = decoded[0]
        self._by_id = {_key_id(k): AESGCM(k) for k in decoded}

    def _stamp(self) -> tuple[int, int] | None:
        if self._key_file is None:
            return None
        try:
            info = self._key_file.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_ino

    def _follow_key_file(self) -> None:
        stamp = self._stamp()
        if stamp is None or stamp == self._file_stamp or self._key_file is None:
            return
        keys = [line.strip() for line in self._key_file.read_text().splitlines() if line.strip()]
        if keys:
            self._use(keys)
        self._file_stamp = stamp

    @property
    def key_id(self) -> str:
        """Id of the key new ciphertexts are made with."""
        self._follow_key_file()
        return _key_id(self._newest)

    def encrypt(self, plain: str) -> str:
        """Encrypt ``plain`` under the newest key."""
        key_id = self.key_id
        nonce = os.urandom(12)
        sealed = self._by_id[key_id].encrypt(nonce, plain.encode(), _PREFIX.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_PREFIX}:{key_id}:{body}"

    def decrypt(self, token: str) -> str:
        """Decrypt a ciphertext made by this or an older key."""
        try:
            prefix, key_id, body = token.split(":", 2)
        except ValueError:
            raise SecretKeyError("stored secret is not WI ciphertext") from None
        self._follow_key_file()
        aead = self._by_id.get(key_id)
        if prefix != _PREFIX or aead is None:
            raise SecretKeyError(
                f"stored secret was encrypted with key {key_id}, which is not configured"
            )
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            return aead.decrypt(blob[:12], blob[12:], _PREFIX.encode()).decode()
        except InvalidTag:
            raise SecretKeyError(f"stored secret does not decrypt with key {key_id}") from None


def load_keys(env_value: str | None, key_file: Path) -> list[str]:
    """Keys from ``WI_SECRET_KEY`` (comma separated, newest first), else the key file.

    The key file is created on first use with mode 0600.
    """
    if env_value and env_value.strip():
        return [k.strip() for k in env_value.split(",") if k.strip()]
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        write_key_file(key_file, [new_key()])
    mode = key_file.stat().st_mode & 0o077
    if mode:
        raise SecretKeyError(
            f"the secret key file {key_file} is readable by others; run chmod 600 on it"
        )
    keys = [line.strip() for line in key_file.read_text().splitlines() if line.strip()]
    if not keys:
        raise SecretKeyError(f"the secret key file {key_file} is empty")
    return keys


def write_key_file(key_file: Path, keys: list[str]) -> None:
    """Write keys (newest first) atomically with mode 0600."""
    tmp = key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys) + "\n")
    os.replace(tmp, key_file)


_SEAL_PREFIX = "wi-sealed1"


def seal(plain: str, passphrase: str) -> str:
    """Encrypt a secret for another WI with a passphrase (scrypt + AES-GCM), for exports."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    salt = os.urandom(16)
    key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(passphrase.encode())
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plain.encode(), _SEAL_PREFIX.encode())
    body = base64.urlsafe_b64encode(salt + nonce + sealed).decode().rstrip("=")
    return f"{_SEAL_PREFIX}:{body}"


class WrongPassphrase(ValueError):
    """The passphrase does not open a sealed export value."""


def open_sealed(token: str, passphrase: str) -> str:
    """Decrypt a value made by :func:`seal`; ValueError names what went wrong."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    prefix, _, body = token.partition(":")
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        blob = b""
    # salt (16) + nonce (12) + GCM tag (16) at least; anything shorter was cut or edited.
    if prefix != _SEAL_PREFIX or len(blob) < 44:
        raise ValueError("an exported secret is damaged: export it again")
    salt, nonce, sealed = blob[:16], blob[16:28], blob[28:]
    key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(passphrase.encode())
    try:
        return AESGCM(key).decrypt(nonce, sealed, _SEAL_PREFIX.encode()).decode()
    except InvalidTag:
        raise WrongPassphrase("the passphrase does not open the exported secrets") from None
