"""Owner ↔ property messages (API.md §9; the community board is in board.py)."""

from __future__ import annotations

from typing import Literal, TypedDict

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.contract import endpoint, page_of
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.routing import principal
from chalicelib.domain import messages as messages_domain
from chalicelib.domain.messages import Message

SUBJECT_MAX, BODY_MAX, REPLY_MAX = 100, 2000, 1000

Category = Literal["suggestion", "complaint", "question"]
Status = Literal["open", "closed"]


class NewMessage(v.Shape):
    category = v.choice(messages_domain.CATEGORIES)
    subject = v.text(SUBJECT_MAX)
    body = v.text(BODY_MAX, multiline=True)
    unit_id = v.about(v.ident(required=False), "One of the owner's units; default: the first")


class NewReply(v.Shape):
    body = v.text(REPLY_MAX, multiline=True)


class StaffMessagesQuery(PageQuery):
    status = v.choice(messages_domain.STATUSES, required=False, default="open")
    community_id = v.about(v.ident(required=False), "One of the caller's communities; default: all of them")


class MessageReply(TypedDict):
    body: str
    at: str
    author_role: Literal["owner", "staff", "admin"]


class MessageSummary(TypedDict):
    message_id: str
    category: Category
    subject: str
    body: str
    status: Status
    created_at: str
    updated_at: str
    community_id: str
    unit_id: str
    reply_count: int


class MessageDetail(MessageSummary):
    replies: list[MessageReply]


def summary_json(message: Message) -> MessageSummary:
    return MessageSummary(
        message_id=message.message_id, category=message.category, subject=message.subject,  # type: ignore[typeddict-item]
        body=message.body, status=message.status, created_at=message.created_at,  # type: ignore[typeddict-item]
        updated_at=message.updated_at, community_id=message.community_id, unit_id=message.unit_id,
        reply_count=len(message.replies))


def message_json(message: Message) -> MessageDetail:
    replies = [MessageReply(body=r.body, at=r.at, author_role=r.author_role)  # type: ignore[typeddict-item]
               for r in message.replies]
    return MessageDetail(**summary_json(message), replies=replies)


# -- owners ---------------------------------------------------------------------------------------


@endpoint(body=NewMessage, response=MessageDetail, status=201, errors=("not_found",))
def create_message(body: NewMessage) -> MessageDetail:
    """Write to the property: a suggestion, complaint or question about one of the owner's units."""
    new = messages_domain.NewMessage(category=body.category, subject=body.subject, body=body.body,
                                     unit_id=body.unit_id)
    return message_json(deps.messages().create(principal(), new))


@endpoint(query=PageQuery, response=page_of(MessageSummary))
def list_messages(query: PageQuery) -> dict:
    """The owner's messages, newest first."""
    page = deps.messages().list_own(principal(), query.limit, start_of(query, "messages"))
    return page_answer([summary_json(m) for m in page.items], "messages", page.last_key)


@endpoint(response=MessageDetail)
def get_message(message_id: str) -> MessageDetail:
    """One of the owner's messages with its replies."""
    return message_json(deps.messages().own(principal(), message_id))


@endpoint(body=NewReply, response=MessageDetail, status=201, errors=("conflict",))
def owner_reply(message_id: str, body: NewReply) -> MessageDetail:
    """Add to an open message of the owner's."""
    return message_json(deps.messages().owner_reply(principal(), message_id, body.body))


# -- staff ----------------------------------------------------------------------------------------


@endpoint(query=StaffMessagesQuery, response=page_of(MessageSummary), errors=("not_found",))
def staff_messages(query: StaffMessagesQuery) -> dict:
    """Messages of the caller's communities, by status, newest first."""
    list_id = f"staff-messages:{query.community_id or '*'}:{query.status}"
    page = deps.messages().staff_list(principal(), query.community_id, query.status, query.limit,
                                      start_of(query, list_id))
    return page_answer([summary_json(m) for m in page.items], list_id, page.last_key)


@endpoint(body=NewReply, response=MessageDetail, status=201, errors=("conflict",))
def staff_reply(message_id: str, body: NewReply) -> MessageDetail:
    """Answer a message of one of the caller's communities."""
    return message_json(deps.messages().staff_reply(principal(), message_id, body.body))


@endpoint(response=MessageDetail, errors=("conflict",))
def close_message(message_id: str) -> MessageDetail:
    """Close a message (no more replies)."""
    return message_json(deps.messages().close(principal(), message_id))
