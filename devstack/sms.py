"""The texts the app sends on the local stack: read from the emulator as they arrive, echoed, kept for reading.

The moto server runs in this process, so the echo reads the SNS backend's `sms_messages` directly instead of
downloading the emulator's whole state dump (`/moto-api/data.json`, which grows with every item of every
table). Each poll copies the store once (one C-level copy of an insertion-ordered dict, atomic under the
GIL, so no lock against moto's request threads is needed) and walks back from the newest entry to the first
one already seen: the cost is the number of new texts, not the history.

The emulator keeps only the newest `KEEP_IN_EMULATOR` texts (so data.json stays small); this log keeps the
newest `KEEP_IN_LOG`, numbered in arrival order, for `GET /_devstack/sms` (see `devstack.api_server`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Any

KEEP_IN_EMULATOR = 1000
KEEP_IN_LOG = 5000
POLL_SECONDS = 0.2


class SmsLog:
    """The newest texts read from the emulator, numbered from 1 in arrival order (thread-safe, bounded)."""

    def __init__(self, keep: int = KEEP_IN_LOG):
        self._lock = threading.Lock()
        self._items: deque[dict[str, Any]] = deque(maxlen=keep)
        self._known: OrderedDict[str, None] = OrderedDict()
        self._keep = keep
        self._last = 0

    def knows(self, message_id: str) -> bool:
        with self._lock:
            return message_id in self._known

    def add(self, message_id: str, phone: str, message: str) -> dict[str, Any]:
        with self._lock:
            self._last += 1
            entry = {"seq": self._last, "phone": phone, "message": message, "received_at": time.time()}
            self._items.append(entry)
            self._known[message_id] = None
            while len(self._known) > self._keep:
                self._known.popitem(last=False)
            return entry

    def since(self, seq: int = 0, phone: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Texts numbered after `seq` (optionally to one phone), oldest first, and the last number given."""
        with self._lock:
            items = [dict(e) for e in self._items if e["seq"] > seq and (phone is None or e["phone"] == phone)]
            return items, self._last


def _store(region: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    # Looked up on every poll: restoring saved data replaces the backend object.
    return sns_backends[DEFAULT_ACCOUNT_ID][region].sms_messages


def collect(log: SmsLog, region: str) -> list[dict[str, Any]]:
    """Move the texts the emulator received since the last call into `log`; return them, oldest first."""
    store = _store(region)
    fresh = []
    for message_id, (phone, message) in reversed(list(store.items())):
        if log.knows(message_id):
            break
        fresh.append((message_id, phone, message))
    added = [log.add(*text) for text in reversed(fresh)]
    while len(store) > KEEP_IN_EMULATOR:
        store.pop(next(iter(store)), None)
    return added


def echo(stop: threading.Event, log: SmsLog, region: str) -> None:
    """Print every new text as `[sms] to <phone>: <text>` until `stop` is set."""
    while not stop.is_set():
        try:
            for entry in collect(log, region):
                print(f"[sms] to {entry['phone']}: {entry['message']}", flush=True)
        except Exception as error:  # the echo must outlive any hiccup
            print(f"[sms] reading texts failed: {type(error).__name__}", flush=True)
            stop.wait(1)
        stop.wait(POLL_SECONDS)
