"""What every payment provider adapter shares: the reply shape, the signature error, header lookup and RSA.

`cryptography` is imported inside the functions that need it: most requests never verify a signature.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import Unauthenticated


class InvalidSignature(Unauthenticated):
    code = "invalid_signature"
    message = "The notice's signature does not verify."


@dataclass(frozen=True)
class Reply:
    """What the provider expects back for a notice it must not resend."""

    status: int
    body: str
    content_type: str = "application/json; charset=utf-8"


def header(headers: dict[str, str], name: str) -> str:
    """A header's value whatever its case ('' when absent)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get(name.lower(), "")


def load_public_key(pem: str) -> Any:
    """A PEM public key, or the bare base64 body Alipay's console shows."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = pem.strip()
    if "BEGIN" not in text:
        text = "-----BEGIN PUBLIC KEY-----\n" + text + "\n-----END PUBLIC KEY-----"
    return load_pem_public_key(text.encode())


def rsa_sha256_verifies(public_key: Any, message: bytes, signature_b64: str) -> bool:
    """PKCS#1 v1.5 SHA-256 verification of a base64 signature; False for any malformed input."""
    from cryptography.exceptions import InvalidSignature as CryptoInvalid
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (CryptoInvalid, ValueError):
        return False
    return True


class ProviderConfigError(ValueError):
    """A provider's configuration (its secret) is unusable: the message names the field and never its value."""
