"""DynamoDB's Time to Live for the emulator, which never expires anything.

In AWS, items whose TTL attribute is in the past are deleted in the background. moto keeps them, so a local
stack running for hours accumulates every session, challenge, rate-limit counter and idempotency record
ever written, and every scan and query over those tables slows down with it. The sweeper deletes expired
items of each table whose TTL is enabled, every `INTERVAL_SECONDS`. The app never relies on the deletion
(DynamoDB may take days), so sweeping sooner or later changes no answer.
"""

from __future__ import annotations

import threading
import time
from typing import Any

INTERVAL_SECONDS = 60


def _expired_keys(dynamodb: Any, table: str, attribute: str, key_names: list[str], now: int) -> list[dict]:
    names = {f"#k{i}": name for i, name in enumerate(key_names)} | {"#ttl": attribute}
    keys: list[dict] = []
    for page in dynamodb.get_paginator("scan").paginate(
            TableName=table, FilterExpression="#ttl < :now", ExpressionAttributeValues={":now": {"N": str(now)}},
            ProjectionExpression=", ".join(k for k in names if k != "#ttl"), ExpressionAttributeNames=names):
        keys.extend(page.get("Items", []))
    return keys


def sweep(dynamodb: Any, now: int | None = None) -> int:
    """Delete every item past its TTL in every table with TTL enabled; return how many were deleted."""
    now = int(time.time()) if now is None else now
    deleted = 0
    for table in dynamodb.list_tables()["TableNames"]:
        ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") != "ENABLED":
            continue
        key_names = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
        keys = _expired_keys(dynamodb, table, ttl["AttributeName"], key_names, now)
        for start in range(0, len(keys), 25):
            batch = [{"DeleteRequest": {"Key": key}} for key in keys[start:start + 25]]
            dynamodb.batch_write_item(RequestItems={table: batch})
        deleted += len(keys)
    return deleted


def run(stop: threading.Event, interval: float = INTERVAL_SECONDS) -> None:
    """Sweep every `interval` seconds until `stop` is set."""
    from chalicelib import deps

    dynamodb = deps.aws_client("dynamodb")
    while not stop.wait(interval):
        try:
            sweep(dynamodb)
        except Exception as error:  # keep sweeping after an emulator hiccup
            print(f"[ttl] sweep failed: {type(error).__name__}", flush=True)
