"""Owner ↔ property message threads (API.md §9).

A message belongs to the community of the owner's unit it was written from; staff see the threads of their
communities only. Replies live inside the thread item (bounded), appended with a condition on the status, so
a reply can never land on a closed thread even when the close happens at the same moment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.model import Account, AuditEvent, Principal
from chalicelib.domain.paging import across_partitions
from chalicelib.domain.ports import AccountRepository, AuditLog, Page
from chalicelib.errors import Conflict, NotFound, field_error

Category = Literal["suggestion", "complaint", "question"]
CATEGORIES: tuple[str, ...] = ("suggestion", "complaint", "question")
STATUSES: tuple[str, ...] = ("open", "closed")
MAX_REPLIES = 100  # keeps a thread item far below DynamoDB's 400 KB


class ThreadClosed(Conflict):
    message = "The thread is closed and takes no more replies."


class ThreadFull(Conflict):
    message = "The thread has reached its maximum number of replies; start a new message."


@dataclass(frozen=True)
class Reply:
    body: str
    at: str
    author_role: str
    author_id: str


@dataclass(frozen=True)
class Message:
    message_id: str
    owner_id: str
    community_id: str
    unit_id: str
    category: str
    subject: str
    body: str
    status: str
    created_at: str
    updated_at: str
    replies: tuple[Reply, ...] = ()


@dataclass(frozen=True)
class NewMessage:
    category: str
    subject: str
    body: str
    unit_id: str | None = None


class MessageRepository(Protocol):
    def create(self, message: Message) -> None: ...

    def get(self, message_id: str) -> Message | None: ...

    def add_reply(self, message_id: str, reply: Reply, max_replies: int) -> Message:
        """Append if the thread is open and not full (`ThreadClosed` / `ThreadFull`); the updated thread."""

    def close(self, message: Message, at: str) -> Message: ...

    def list_by_owner(self, owner_id: str, limit: int, start: dict[str, Any] | None) -> Page[Message]: ...

    def list_by_community(self, community_id: str, status: str, limit: int,
                          start: dict[str, Any] | None) -> Page[Message]: ...


def unit_of(account: Account, unit_id: str | None) -> tuple[str, str]:
    """(unit_id, community_id) of the owner's chosen unit, by default their first one."""
    if not account.units:
        raise NotFound("You have no unit.")
    if unit_id is None:
        return account.units[0].unit_id, account.units[0].community_id
    for unit in account.units:
        if unit.unit_id == unit_id:
            return unit.unit_id, unit.community_id
    raise NotFound("The unit was not found.")


class MessageService:
    def __init__(self, messages: MessageRepository, accounts: AccountRepository, audit: AuditLog,
                 clock: Callable[[], datetime] = utcnow):
        self._messages = messages
        self._accounts = accounts
        self._audit = audit
        self._clock = clock

    # -- owners --------------------------------------------------------------------------------

    def create(self, caller: Principal, cmd: NewMessage) -> Message:
        account = self._accounts.get(caller.user_id)
        if account is None:
            raise NotFound()
        unit_id, community_id = unit_of(account, cmd.unit_id)
        now = iso(self._clock())
        message = Message(new_id("m"), caller.user_id, community_id, unit_id, cmd.category, cmd.subject, cmd.body,
                          "open", now, now)
        self._messages.create(message)
        self._audit.record(AuditEvent(caller.user_id, now, "message.created", f"Message sent: {cmd.subject}",
                                      message.message_id))
        return message

    def own(self, caller: Principal, message_id: str) -> Message:
        message = self._messages.get(message_id)
        if message is None or message.owner_id != caller.user_id:
            raise NotFound("The message was not found.")
        return message

    def list_own(self, caller: Principal, limit: int, start: dict[str, Any] | None) -> Page[Message]:
        return self._messages.list_by_owner(caller.user_id, limit, start)

    def owner_reply(self, caller: Principal, message_id: str, body: str) -> Message:
        self.own(caller, message_id)
        return self._reply(caller, message_id, body)

    # -- staff ---------------------------------------------------------------------------------

    def staff_list(self, caller: Principal, community_id: str | None, status: str, limit: int,
                   start: dict[str, Any] | None) -> Page[Message]:
        """Threads of one community, or of every community of a staff member (admins name one)."""
        if community_id is not None:
            if not caller.can_access_community(community_id):
                raise NotFound("The community was not found.")
            communities = [community_id]
        elif caller.is_admin:
            raise field_error("community_id", "is required for admins")
        else:
            communities = sorted(caller.community_ids)
        return across_partitions(communities, limit, start,
                                 lambda cid, n, key: self._messages.list_by_community(cid, status, n, key))

    def staff_reply(self, caller: Principal, message_id: str, body: str) -> Message:
        self._managed(caller, message_id)
        return self._reply(caller, message_id, body)

    def close(self, caller: Principal, message_id: str) -> Message:
        message = self._managed(caller, message_id)
        if message.status == "closed":
            return message
        return self._messages.close(message, iso(self._clock()))

    # -- helpers -------------------------------------------------------------------------------

    def _managed(self, caller: Principal, message_id: str) -> Message:
        message = self._messages.get(message_id)
        if message is None or not caller.can_access_community(message.community_id):
            raise NotFound("The message was not found.")
        return message

    def _reply(self, caller: Principal, message_id: str, body: str) -> Message:
        reply = Reply(body, iso(self._clock()), caller.role, caller.user_id)
        return self._messages.add_reply(message_id, reply, MAX_REPLIES)
