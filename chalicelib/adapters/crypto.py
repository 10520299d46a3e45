"""Envelope encryption with KMS: a fresh data key per secret, AES-256-GCM, the encrypted data key kept beside it.

Sealed form: `v1.<b64 encrypted data key>.<b64 nonce>.<b64 ciphertext>`. The encryption context (e.g. the user
id) is bound both in KMS and as GCM associated data, so a sealed value copied onto another account won't open.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class KmsEnvelope:
    def __init__(self, kms: Any, key_id: str):
        self._kms = kms
        self._key_id = key_id

    def seal(self, plaintext: str, context: dict[str, str]) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        data_key = self._kms.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context)
        nonce = os.urandom(12)
        aad = json.dumps(context, sort_keys=True).encode()
        ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, plaintext.encode(), aad)
        return ".".join(["v1", _b64(data_key["CiphertextBlob"]), _b64(nonce), _b64(ciphertext)])

    def open(self, sealed: str, context: dict[str, str]) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        version, wrapped, nonce, ciphertext = sealed.split(".")
        if version != "v1":
            raise ValueError("unknown sealed format")
        key = self._kms.decrypt(CiphertextBlob=base64.b64decode(wrapped), EncryptionContext=context)["Plaintext"]
        aad = json.dumps(context, sort_keys=True).encode()
        return AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(ciphertext), aad).decode()
