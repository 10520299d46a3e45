"""DynamoDB's per-request isolation for moto, which has none across threads.

DynamoDB applies each write, and each TransactWriteItems with its condition checks, atomically, and a read
never sees half of a write. moto's backend is plain Python objects mutated step by step, so two request
threads (the moto server serves each request on a thread of its own; `mock_aws` runs in the caller's threads)
can interleave inside one call: a condition is checked, the other thread writes, then the first write lands.
One re-entrant lock around every backend operation that reads or writes items restores that isolation, so
concurrency tests and the local stack exercise our conditions, not moto's lack of isolation.

The lock is taken on the backend class, so it covers both `mock_aws` (integration tests) and the moto server
(`make run`): the server's request handlers call these same methods. TransactWriteItems is one backend call,
its condition checks and reads included; BatchWriteItem and TransactGetItems are split by moto's request
handler into per-item calls, so the handler methods are wrapped as well (DynamoDB makes TransactGetItems
atomic; BatchWriteItem is atomic per item only, as here).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

# Backend methods that read or change items (moto.dynamodb.models.DynamoDBBackend).
_BACKEND_OPERATIONS = ("transact_write_items", "update_item", "put_item", "delete_item", "batch_write_item",
                       "get_item", "query", "scan", "execute_statement", "execute_transaction",
                       "batch_execute_statement")
# Request handlers that loop over per-item backend calls (moto.dynamodb.responses.DynamoHandler).
_HANDLER_OPERATIONS = ("transact_get_items", "batch_get_item")

LOCK = threading.RLock()
_MARK = "_devstack_isolated"


def _locked(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def isolated(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return original(self, *args, **kwargs)

    setattr(isolated, _MARK, True)
    return isolated


def _wrap(cls: type, names: tuple[str, ...]) -> None:
    for name in names:
        original = getattr(cls, name, None)
        if original is None or getattr(original, _MARK, False):
            continue  # absent in this moto version, or already wrapped
        setattr(cls, name, _locked(original))


def isolate_writes() -> None:
    """Give moto's DynamoDB per-request isolation (idempotent; call before the first request)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    _wrap(DynamoDBBackend, _BACKEND_OPERATIONS)
    _wrap(DynamoHandler, _HANDLER_OPERATIONS)
