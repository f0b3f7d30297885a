"""Real X.509 certificates and keys for the tests, made with ``cryptography``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    """A self-signed certificate, its key and what a user would read off it."""

    cert_pem: str
    key_pem: str
    subject: str
    sha256_fingerprint: str
    not_after: datetime


def self_signed(
    common_name: str = "itsm.example.com",
    *,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> Issued:
    """A self-signed certificate valid from ``valid_from`` until ``valid_until``."""
    now = datetime.now(UTC)
    start = valid_from or now - timedelta(days=1)
    end = valid_until or now + timedelta(days=365)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return Issued(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        subject=cert.subject.rfc4514_string(),
        sha256_fingerprint=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        not_after=cert.not_valid_after_utc,
    )


def expired(common_name: str = "old.example.com") -> Issued:
    """A certificate that expired ten days ago."""
    now = datetime.now(UTC)
    return self_signed(
        common_name, valid_from=now - timedelta(days=400), valid_until=now - timedelta(days=10)
    )
