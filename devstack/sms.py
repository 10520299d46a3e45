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
    """The newest texts read from the emulator, numbered from 1 in arrival order (thread-safe, bounded).

    Both the echo thread and readers of `GET /_devstack/sms` call `collect`, so a reader sees a text as soon
    as the emulator holds it, without waiting for the echo's next poll.
    """

    def __init__(self, region: str, keep: int = KEEP_IN_LOG):
        self._region = region
        self._lock = threading.Lock()
        self._items: deque[dict[str, Any]] = deque(maxlen=keep)
        self._known: OrderedDict[str, None] = OrderedDict()
        self._keep = keep
        self._last = 0

    def collect(self) -> None:
        """Move the texts the emulator received since the last call into the log."""
        with self._lock:
            store = _store(self._region)
            fresh = []
            for message_id, (phone, message) in reversed(list(store.items())):
                if message_id in self._known:
                    break
                fresh.append((message_id, phone, message))
            for message_id, phone, message in reversed(fresh):
                self._last += 1
                self._items.append({"seq": self._last, "phone": phone, "message": message,
                                    "received_at": time.time(), "echoed_at": None})
                self._known[message_id] = None
            while len(self._known) > self._keep:
                self._known.popitem(last=False)
            while len(store) > KEEP_IN_EMULATOR:
                store.pop(next(iter(store)), None)

    def since(self, seq: int = 0, phone: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Texts numbered after `seq` (optionally to one phone), oldest first, and the last number given."""
        with self._lock:
            items = [dict(e) for e in self._items if e["seq"] > seq and (phone is None or e["phone"] == phone)]
            return items, self._last

    def mark_echoed(self, seq: int, at: float) -> None:
        with self._lock:
            if self._items and self._items[0]["seq"] <= seq:  # numbers are consecutive: index, do not search
                self._items[seq - self._items[0]["seq"]]["echoed_at"] = at


def _store(region: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    # Looked up on every poll: restoring saved data replaces the backend object.
    return sns_backends[DEFAULT_ACCOUNT_ID][region].sms_messages


def echo(stop: threading.Event, log: SmsLog, after: int = 0) -> None:
    """Print every text numbered after `after` as `[sms] to <phone>: <text>`, as they come, until `stop`."""
    while not stop.is_set():
        try:
            log.collect()
            items, _ = log.since(after)
            for entry in items:
                print(f"[sms] to {entry['phone']}: {entry['message']}", flush=True)
                log.mark_echoed(entry["seq"], time.time())
                after = entry["seq"]
        except Exception as error:  # the echo must outlive any hiccup
            print(f"[sms] reading texts failed: {type(error).__name__}", flush=True)
            stop.wait(1)
        stop.wait(POLL_SECONDS)
