"""Rotating the token signing keys by hand (the local stack has no rotation Lambda; deployed stages use
`aws secretsmanager rotate-secret`, which runs infra/token_rotation.py with the same rule)."""

from __future__ import annotations

import secrets

from chalicelib import deps
from chalicelib.adapters.keyring import rotated_document
from chalicelib.names import TOKEN_KEYS_SECRET


def rotate_token_keys() -> str:
    """Make a fresh token key current, keep the previous one, carry the long-lived key over; returns the new kid.

    Running containers pick the new key up within 5 minutes; this process's keyring reloads at once.
    """
    client = deps.aws_client("secretsmanager")
    secret_id = deps.get_settings().name(TOKEN_KEYS_SECRET)
    previous = client.get_secret_value(SecretId=secret_id)["SecretString"]
    kid = "k" + secrets.token_hex(8)
    client.put_secret_value(SecretId=secret_id, SecretString=rotated_document(previous, kid))
    deps.keyring().reload()
    return kid
