"""One BatchGetItem across tables: the owner reads (`GET /notices`, `GET /home`) fetch the items they know
by key — the account, read marks, sign-ups, the bill summary — in a single round trip."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.adapters.dynamo.base import Model
from chalicelib.adapters.dynamo.repositories import connection

BATCH_KEYS = 100  # DynamoDB's limit per BatchGetItem
UNPROCESSED_ROUNDS = 5  # throttled keys are asked for again this many times, with a growing pause


def _key(model: type[Model], key: tuple[Any, ...]) -> dict[str, Any]:
    attributes = [model._hash_key_attribute(), model._range_key_attribute()]
    return {a.attr_name: {a.attr_type: a.serialize(v)} for a, v in zip(attributes, key, strict=False) if a}


def get_across(wanted: list[tuple[type[Model], list[tuple[Any, ...]]]]) -> dict[type[Model], list[Any]]:
    """The items of each (model, keys) that exist, by model; strongly consistent.

    One BatchGetItem per 100 keys; only unprocessed keys (throttling) cost another call.
    """
    requests = [(model, _key(model, key)) for model, keys in wanted for key in dict.fromkeys(keys)]
    found: dict[type[Model], list[Any]] = {model: [] for model, _ in wanted}
    by_table = {model.Meta.table_name: model for model, _ in wanted}
    client = connection().client
    for start in range(0, len(requests), BATCH_KEYS):
        pending: dict[str, Any] = {}
        for model, key in requests[start:start + BATCH_KEYS]:
            pending.setdefault(model.Meta.table_name, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
        for attempt in range(UNPROCESSED_ROUNDS + 1):
            if attempt:
                time.sleep(0.05 * 2 ** attempt)
            answer = client.batch_get_item(RequestItems=pending)
            for table, items in answer.get("Responses", {}).items():
                found[by_table[table]] += [by_table[table].from_raw_data(item) for item in items]
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                break
        else:
            raise RuntimeError("DynamoDB left keys unprocessed after retries")
    return found
