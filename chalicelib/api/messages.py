"""Owner ↔ property messages (API.md §9; the community board is in board.py)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body
from chalicelib.api.http import created
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import OWNERS, principal, route
from chalicelib.domain import messages as messages_domain
from chalicelib.domain.messages import Message, NewMessage

bp = Blueprint(__name__)

SUBJECT_MAX, BODY_MAX, REPLY_MAX = 100, 2000, 1000


def message_json(message: Message, *, replies: bool = True) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "message_id": message.message_id, "category": message.category, "subject": message.subject,
        "body": message.body, "status": message.status, "created_at": message.created_at,
        "updated_at": message.updated_at, "community_id": message.community_id, "unit_id": message.unit_id,
        "reply_count": len(message.replies)}
    if replies:
        shaped["replies"] = [{"body": r.body, "at": r.at, "author_role": r.author_role} for r in message.replies]
    return shaped


def _page(list_id: str, extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    params = page_params(bp.current_request.query_params, extra)
    return params, decode_cursor(params["cursor"], list_id, principal().user_id)


# -- owners ---------------------------------------------------------------------------------------


@route(bp, "/messages", ["POST"], roles=OWNERS)
def create_message() -> Any:
    data = body(bp, {"category": v.choice(messages_domain.CATEGORIES), "subject": v.text(SUBJECT_MAX),
                     "body": v.text(BODY_MAX, multiline=True), "unit_id": v.ident(required=False)})
    return created(message_json(deps.messages().create(principal(), NewMessage(**data))))


@route(bp, "/messages", roles=OWNERS)
def list_messages() -> Any:
    params, start = _page("messages")
    caller = principal()
    page = deps.messages().list_own(caller, params["limit"], start)
    return page_body([message_json(m, replies=False) for m in page.items], "messages", caller.user_id, page.last_key)


@route(bp, "/messages/{message_id}", roles=OWNERS)
def get_message(message_id: str) -> Any:
    return message_json(deps.messages().own(principal(), message_id))


@route(bp, "/messages/{message_id}/replies", ["POST"], roles=OWNERS)
def owner_reply(message_id: str) -> Any:
    data = body(bp, {"body": v.text(REPLY_MAX, multiline=True)})
    return created(message_json(deps.messages().owner_reply(principal(), message_id, data["body"])))


# -- staff ----------------------------------------------------------------------------------------


@route(bp, "/staff/messages")
def staff_messages() -> Any:
    filters = {"status": v.choice(messages_domain.STATUSES, required=False, default="open"),
               "community_id": v.ident(required=False)}
    params = page_params(bp.current_request.query_params, filters)
    caller = principal()
    list_id = f"staff-messages:{params['community_id'] or '*'}:{params['status']}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    page = deps.messages().staff_list(caller, params["community_id"], params["status"], params["limit"], start)
    return page_body([message_json(m, replies=False) for m in page.items], list_id, caller.user_id, page.last_key)


@route(bp, "/staff/messages/{message_id}/replies", ["POST"])
def staff_reply(message_id: str) -> Any:
    data = body(bp, {"body": v.text(REPLY_MAX, multiline=True)})
    return created(message_json(deps.messages().staff_reply(principal(), message_id, data["body"])))


@route(bp, "/staff/messages/{message_id}/close", ["POST"])
def close_message(message_id: str) -> Any:
    body(bp, {})
    return message_json(deps.messages().close(principal(), message_id))
