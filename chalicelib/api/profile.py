"""The caller's profile changes and history (API.md §5; `GET /me` is in platform.py, the household in household.py)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body, profile_json
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import principal, route
from chalicelib.api.validation import Field, FieldProblem
from chalicelib.domain.model import TAGS
from chalicelib.domain.profile import NOTIFICATION_PREFS, ProfileChanges

bp = Blueprint(__name__)


def _tags() -> Field:
    def parse(value: Any) -> frozenset[str]:
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise FieldProblem("must be a list of tags")
        unknown = [t for t in value if t not in TAGS]
        if unknown:
            raise FieldProblem(f"unknown tags {', '.join(unknown)}; allowed: {', '.join(TAGS)}")
        if len(set(value)) != len(value):
            raise FieldProblem("must not repeat a tag")
        return frozenset(value)

    return Field(parse, required=False)


def _prefs() -> Field:
    def parse(value: Any) -> dict[str, bool]:
        if not isinstance(value, dict) or not value:
            raise FieldProblem(f"must be an object with some of {', '.join(NOTIFICATION_PREFS)}")
        unknown = [k for k in value if k not in NOTIFICATION_PREFS]
        if unknown:
            raise FieldProblem(f"unknown keys {', '.join(map(str, unknown))}; allowed: {', '.join(NOTIFICATION_PREFS)}")
        if not all(isinstance(b, bool) for b in value.values()):
            raise FieldProblem("values must be true or false")
        return dict(value)

    return Field(parse, required=False)


@route(bp, "/me", ["PATCH"])
def update_me() -> Any:
    """Change the caller's email, tags or notification preferences.

    Absent fields are left as they are. `"email": null` removes the email; tags are cleared with `[]`;
    `null` for `tags` or `notification_prefs` is refused (400 validation_error naming the field).
    """
    data = body(bp, {"email": v.nullable(v.email()), "tags": _tags(), "notification_prefs": _prefs()}, patch=True)
    clear_email = data["email"] is v.CLEAR
    changes = ProfileChanges(None if clear_email else data["email"], data["tags"], data["notification_prefs"],
                             clear_email=clear_email)
    account = deps.profile_service().update(principal(), changes)
    return profile_json(account, own=True)


@route(bp, "/me/history")
def history() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params)
    start = decode_cursor(params["cursor"], "history", caller.user_id)
    page = deps.profile_service().history(caller, params["limit"], start)
    return page_body([{"at": e.at, "action": e.action, "summary": e.summary, "ref": e.ref} for e in page.items],
                     "history", caller.user_id, page.last_key)
