"""Secrets Manager rotation for the token signing keys (deployed inline by infra/stack.py; stdlib + boto3 only).

The secret holds `{"current": kid, "keys": {kid: base64}}` (chalicelib/adapters/keyring.py). A rotation adds a
fresh 256-bit key, makes it current and keeps the previous current key so tokens it signed stay valid until
they expire (15 minutes, far shorter than the rotation interval). Older keys are dropped. The `long_lived` key
(receipt verification codes, payment ids) is carried over unchanged, and created if the document has none.
"""

import base64
import json
import secrets

import boto3


def next_document(previous: str, kid: str) -> str:
    """The document after a rotation: the new key current, the previous current key kept for verification."""
    long_lived = None
    try:
        document = json.loads(previous)
        keys = document.get("keys") or {}
        kept = {document["current"]: keys[document["current"]]} if document.get("current") in keys else {}
        long_lived = document.get("long_lived") or None
    except (ValueError, AttributeError, KeyError, TypeError):
        kept = {}  # the bootstrap value of a new secret
    kept[kid] = base64.b64encode(secrets.token_bytes(32)).decode()
    long_lived = long_lived if isinstance(long_lived, str) else base64.b64encode(secrets.token_bytes(32)).decode()
    return json.dumps({"current": kid, "keys": kept, "long_lived": long_lived})


def handler(event, _context, client=None):
    client = client or boto3.client("secretsmanager")
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step == "createSecret":
        try:
            client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
            return  # a retried step: the pending version already exists
        except client.exceptions.ResourceNotFoundException:
            pass
        current = client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
        kid = "k" + token.replace("-", "")[:16]
        client.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=next_document(current, kid),
                                VersionStages=["AWSPENDING"])
    elif step == "finishSecret":
        versions = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
        current = next((v for v, stages in versions.items() if "AWSCURRENT" in stages), None)
        if current != token:
            client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                               RemoveFromVersionId=current)
    # setSecret / testSecret: no external system holds the key, nothing to do.
