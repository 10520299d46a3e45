"""The caller's own profile changes, household and history (API.md §5; `GET /me` is in platform.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body, profile_json
from chalicelib.api.http import created, no_content
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import OWNERS, principal, route
from chalicelib.api.validation import Field, FieldProblem
from chalicelib.domain.household import Member, NewMember
from chalicelib.domain.model import TAGS
from chalicelib.domain.profile import NOTIFICATION_PREFS, ProfileChanges
from chalicelib.observability import mask_phone

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


# -- household ------------------------------------------------------------------------------------


def member_json(member: Member, now: datetime) -> dict[str, Any]:
    # Household members' phones are shown masked even to the owner, like every phone but the owner's own.
    return {"member_id": member.member_id, "unit_id": member.unit_id, "name": member.name,
            "relation": member.relation, "phone": mask_phone(member.phone) if member.phone else None,
            "access_granted": member.access_granted(now), "access_until": member.access_until,
            "created_at": member.created_at}


@route(bp, "/me/household", roles=OWNERS)
def list_household() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params)
    start = decode_cursor(params["cursor"], "household", caller.user_id)
    page = deps.household().list(caller, params["limit"], start)
    now = datetime.now(UTC)
    return page_body([member_json(m, now) for m in page.items], "household", caller.user_id, page.last_key)


@route(bp, "/me/household", ["POST"], roles=OWNERS)
def add_member() -> Any:
    data = body(bp, {"unit_id": v.ident(), "name": v.text(30), "relation": v.text(20),
                     "phone": v.phone(required=False), "access": v.boolean(required=True),
                     "access_until": v.date_field(required=False)})
    member = deps.household().add(principal(), NewMember(**data))
    return created(member_json(member, datetime.now(UTC)))


@route(bp, "/me/household/{member_id}", ["DELETE"], roles=OWNERS)
def remove_member(member_id: str) -> Any:
    deps.household().remove(principal(), member_id)
    return no_content()
