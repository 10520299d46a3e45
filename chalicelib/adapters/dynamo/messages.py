"""DynamoDB side of §9's message threads (the board is in board.py)."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.adapters.dynamo.base import IntAttribute, Model, is_conditional_failure, save_once, table_meta
from chalicelib.domain.messages import Message, Reply, ThreadClosed, ThreadFull
from chalicelib.domain.ports import Page
from chalicelib.errors import NotFound


class ReplyMap(MapAttribute):
    body = UnicodeAttribute()
    at = UnicodeAttribute()
    author_role = UnicodeAttribute()
    author_id = UnicodeAttribute()


class MessagesByOwnerIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)  # "<created_at>#<message_id>"


class MessagesByCommunityStatusIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-community-status"
        projection = AllProjection()

    community_status = UnicodeAttribute(hash_key=True)  # "<community_id>#open" | "<community_id>#closed"
    created_key = UnicodeAttribute(range_key=True)


class MessageModel(Model):
    Meta = table_meta("messages")

    message_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    unit_id = UnicodeAttribute()
    category = UnicodeAttribute()
    subject = UnicodeAttribute()
    body = UnicodeAttribute()
    status = UnicodeAttribute()
    community_status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    created_key = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    replies = ListAttribute(of=ReplyMap, default=list)
    reply_count = IntAttribute(default=0)

    by_owner = MessagesByOwnerIndex()
    by_community_status = MessagesByCommunityStatusIndex()


def _message(m: MessageModel) -> Message:
    replies = tuple(Reply(r.body, r.at, r.author_role, r.author_id) for r in (m.replies or []))
    return Message(m.message_id, m.owner_id, m.community_id, m.unit_id, m.category, m.subject, m.body, m.status,
                   m.created_at, m.updated_at, replies)


class DynamoMessages:
    def create(self, message: Message) -> None:
        model = MessageModel(
            message.message_id, owner_id=message.owner_id, community_id=message.community_id,
            unit_id=message.unit_id, category=message.category, subject=message.subject, body=message.body,
            status=message.status, community_status=f"{message.community_id}#{message.status}",
            created_at=message.created_at, created_key=f"{message.created_at}#{message.message_id}",
            updated_at=message.updated_at, replies=[], reply_count=0)
        save_once(model, MessageModel.message_id.does_not_exist())

    def get(self, message_id: str) -> Message | None:
        try:
            return _message(MessageModel.get(message_id, consistent_read=True))
        except DoesNotExist:
            return None

    def add_reply(self, message_id: str, reply: Reply, max_replies: int) -> Message:
        item = MessageModel(message_id)
        entry = ReplyMap(body=reply.body, at=reply.at, author_role=reply.author_role, author_id=reply.author_id)
        try:
            item.update(actions=[MessageModel.replies.set(MessageModel.replies.append([entry])),
                                 MessageModel.reply_count.add(1), MessageModel.updated_at.set(reply.at)],
                        condition=(MessageModel.status == "open") & (MessageModel.reply_count < max_replies))
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise
            current = self.get(message_id)
            if current is None:
                raise NotFound("The message was not found.") from None
            raise (ThreadClosed(details={"status": "closed"}) if current.status == "closed" else ThreadFull()) from None
        return _message(item)

    def close(self, message: Message, at: str) -> Message:
        item = MessageModel(message.message_id)
        try:
            # The community/status key lives on the same item: the thread moves lists in one write.
            item.update(actions=[MessageModel.status.set("closed"), MessageModel.updated_at.set(at),
                                 MessageModel.community_status.set(f"{message.community_id}#closed")],
                        condition=MessageModel.message_id.exists())
        except UpdateError as error:
            if is_conditional_failure(error):
                raise NotFound("The message was not found.") from None
            raise
        return _message(item)

    def list_by_owner(self, owner_id: str, limit: int, start: dict[str, Any] | None) -> Page[Message]:
        result = MessageModel.by_owner.query(owner_id, scan_index_forward=False, limit=limit,
                                             last_evaluated_key=start)
        items = [_message(m) for m in result]
        return Page(items, result.last_evaluated_key if len(items) == limit else None)

    def list_by_community(self, community_id: str, status: str, limit: int,
                          start: dict[str, Any] | None) -> Page[Message]:
        result = MessageModel.by_community_status.query(f"{community_id}#{status}", scan_index_forward=False,
                                                        limit=limit, last_evaluated_key=start)
        items = [_message(m) for m in result]
        return Page(items, result.last_evaluated_key if len(items) == limit else None)


MESSAGES_MODELS: list[type[Model]] = [MessageModel]
