"""Opaque, tamper-evident list cursors bound to the list and the caller that received them (API.md §1).

A cursor names the token key that signed it (`<payload>.<kid>.<mac>`), so it keeps working across one key
rotation (the previous key stays listed) and fails cleanly with 400 `invalid_cursor` after the second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.api.validation import Shape, about, integer, text
from chalicelib.errors import InvalidCursor

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_SIG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_PURPOSE = "list-cursor-v1"


def _signing_key() -> tuple[str, bytes]:
    from chalicelib import deps

    kid, _ = deps.keyring().current()
    key = deps.keyring().derived_for(kid, _PURPOSE)
    assert key is not None  # the current key is always listed
    return kid, key


def _key_for(kid: str) -> bytes | None:
    from chalicelib import deps

    return deps.keyring().derived_for(kid, _PURPOSE)


def encode_cursor(list_id: str, caller_id: str, position: dict[str, Any] | None) -> str | None:
    if position is None:
        return None
    payload = json.dumps({"l": list_id, "c": caller_id, "p": position}, separators=(",", ":"), sort_keys=True).encode()
    kid, key = _signing_key()
    signature = hmac.new(key, payload + kid.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return f"{_b64(payload)}.{kid}.{_b64(signature)}"


def decode_cursor(cursor: str | None, list_id: str, caller_id: str) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        payload_part, kid, signature_part = cursor.split(".")
        payload, signature = _unb64(payload_part), _unb64(signature_part)
    except (ValueError, TypeError):
        raise InvalidCursor() from None
    key = _key_for(kid)
    if key is None:  # signed before the last two rotations (or never): the client restarts the list
        raise InvalidCursor()
    expected = hmac.new(key, payload + kid.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    if not hmac.compare_digest(signature, expected):
        raise InvalidCursor()
    document = json.loads(payload)
    if document.get("l") != list_id or document.get("c") != caller_id:
        raise InvalidCursor()
    return document["p"]


def page_body(items: list[Any], list_id: str, caller_id: str, position: dict[str, Any] | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": encode_cursor(list_id, caller_id, position)}


class PageQuery(Shape):
    """`limit` and `cursor`, which every list takes (a list's own filters are added in a subclass)."""

    limit = about(integer(1, MAX_LIMIT, required=False, default=DEFAULT_LIMIT),
                  f"Items per page (default {DEFAULT_LIMIT})")
    cursor = about(text(2048, required=False), "`next_cursor` of the previous page; omit for the first page")


def start_of(query: PageQuery, list_id: str) -> dict[str, Any] | None:
    """Where the page asked for starts: the position signed into `query.cursor` for this list and caller."""
    from chalicelib.api.routing import principal

    return decode_cursor(query.cursor, list_id, principal().user_id)


def page_answer(items: list[Any], list_id: str, position: dict[str, Any] | None) -> dict[str, Any]:
    """A `Page` of `items`; its `next_cursor` resumes at `position` (None: this was the last page)."""
    from chalicelib.api.routing import principal

    return page_body(items, list_id, principal().user_id, position)
