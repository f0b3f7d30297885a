"""Reading the PEM certificates a user uploads for "Verify certificate: Certificate"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

_PEM_BLOCK = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----"
)


class CertificateError(ValueError):
    """The uploaded text is not usable as a trust anchor; the message says why."""


@dataclass(frozen=True)
class CertificateInfo:
    """What the API and UI show of one uploaded certificate."""

    subject: str
    issuer: str
    sha256_fingerprint: str
    not_before: datetime
    not_after: datetime

    def as_dict(self) -> dict[str, str]:
        """A JSON-ready view."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "sha256_fingerprint": self.sha256_fingerprint,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
        }


def _info(cert: x509.Certificate) -> CertificateInfo:
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sha256_fingerprint=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def parse_certificates(
    pem: str,
    *,
    label: str = "certificate",
    now: datetime | None = None,
    check_expiry: bool = True,
) -> list[CertificateInfo]:
    """Parse one or more PEM certificates; reject non-PEM text and expired certificates."""
    if "PRIVATE KEY-----" in pem:
        # The certificate text is stored and shown in clear; a key in it would leak.
        raise CertificateError(
            f"the {label} text holds a private key; upload the certificate only "
            "(for mutual TLS the key goes into client_key)"
        )
    blocks = _PEM_BLOCK.findall(pem)
    if not blocks:
        raise CertificateError(
            f"the {label} is not PEM: paste or upload text that starts with "
            "'-----BEGIN CERTIFICATE-----' (convert DER with "
            "'openssl x509 -inform der -in cert.cer')"
        )
    moment = now or datetime.now(UTC)
    infos: list[CertificateInfo] = []
    for index, block in enumerate(blocks, start=1):
        try:
            cert = x509.load_pem_x509_certificate(block.encode())
        except ValueError:
            # The library's own text (with its FAQ link) tells a user nothing.
            raise CertificateError(
                f"{label} {index} cannot be read: the text between its BEGIN and END lines "
                "is damaged or incomplete; copy the whole PEM block again"
            ) from None
        info = _info(cert)
        if check_expiry and info.not_after < moment:
            raise CertificateError(
                f"{label} {index} ({info.subject}) expired on {info.not_after:%Y-%m-%d}; "
                "upload a current one"
            )
        infos.append(info)
    return infos


def check_private_key(pem: str) -> None:
    """Make sure a client key is a readable, unencrypted PEM private key."""
    try:
        serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise CertificateError(
            "the client key is encrypted; export it without a passphrase "
            "(openssl pkey -in key.pem -out plain-key.pem)"
        ) from None
    except ValueError:
        raise CertificateError(
            "the client key cannot be read: paste the whole unencrypted PEM private key, "
            "from -----BEGIN to -----END"
        ) from None


def key_matches_certificate(key_pem: str, cert_pem: str) -> bool:
    """True when the private key belongs to the first certificate of ``cert_pem``."""
    block = _PEM_BLOCK.search(cert_pem)
    if block is None:
        return False
    try:
        cert = x509.load_pem_x509_certificate(block.group(0).encode())
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    return bool(
        cert.public_key().public_bytes(encoding, public)
        == key.public_key().public_bytes(encoding, public)
    )
