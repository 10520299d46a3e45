"""DynamoDB side of §9: message threads, board posts and the counters behind the board's posting limit."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.adapters.dynamo.base import IntAttribute, Model, is_conditional_failure, save_once, table_meta
from chalicelib.domain.board import Post
from chalicelib.domain.messages import Message, Reply, ThreadClosed, ThreadFull
from chalicelib.domain.ports import Page
from chalicelib.errors import NotFound

# -- messages -------------------------------------------------------------------------------------


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


# -- board ----------------------------------------------------------------------------------------


class PostsByCommunityIndex(GlobalSecondaryIndex):
    """Sparse: only visible posts carry `list_community` (hiding a post removes it from the lists)."""

    class Meta:
        index_name = "by-community"
        projection = AllProjection()

    list_community = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)  # "<created_at>#<post_id>"


class PostsByCommunityCategoryIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-community-category"
        projection = AllProjection()

    list_community_category = UnicodeAttribute(hash_key=True)  # "<community_id>#<category>"
    created_key = UnicodeAttribute(range_key=True)


class BoardPostModel(Model):
    Meta = table_meta("board-posts")

    post_id = UnicodeAttribute(hash_key=True)
    community_id = UnicodeAttribute()
    author_id = UnicodeAttribute()
    author_name = UnicodeAttribute()
    category = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    price_cents = IntAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    created_key = UnicodeAttribute()
    list_community = UnicodeAttribute(null=True)
    list_community_category = UnicodeAttribute(null=True)

    by_community = PostsByCommunityIndex()
    by_community_category = PostsByCommunityCategoryIndex()


def _post(m: BoardPostModel) -> Post:
    return Post(m.post_id, m.community_id, m.author_id, m.author_name, m.category, m.title, m.body, m.price_cents,
                m.created_at, m.status)


class DynamoBoard:
    def create(self, post: Post) -> None:
        model = BoardPostModel(
            post.post_id, community_id=post.community_id, author_id=post.author_id, author_name=post.author_name,
            category=post.category, title=post.title, body=post.body, price_cents=post.price_cents,
            status=post.status, created_at=post.created_at, created_key=f"{post.created_at}#{post.post_id}",
            list_community=post.community_id, list_community_category=f"{post.community_id}#{post.category}")
        save_once(model, BoardPostModel.post_id.does_not_exist())

    def get(self, post_id: str) -> Post | None:
        try:
            return _post(BoardPostModel.get(post_id, consistent_read=True))
        except DoesNotExist:
            return None

    def delete(self, post_id: str) -> None:
        try:
            BoardPostModel(post_id).delete(condition=BoardPostModel.post_id.exists())
        except DeleteError as error:
            if not is_conditional_failure(error):
                raise  # already gone: a retried DELETE is still a success

    def hide(self, post_id: str) -> None:
        try:
            BoardPostModel(post_id).update(
                actions=[BoardPostModel.status.set("hidden"), BoardPostModel.list_community.remove(),
                         BoardPostModel.list_community_category.remove()],
                condition=BoardPostModel.post_id.exists())
        except UpdateError as error:
            if is_conditional_failure(error):
                raise NotFound("The post was not found.") from None
            raise

    def list(self, community_id: str, category: str | None, limit: int, start: dict[str, Any] | None) -> Page[Post]:
        if category is None:
            result = BoardPostModel.by_community.query(community_id, scan_index_forward=False, limit=limit,
                                                       last_evaluated_key=start)
        else:
            result = BoardPostModel.by_community_category.query(f"{community_id}#{category}",
                                                                scan_index_forward=False, limit=limit,
                                                                last_evaluated_key=start)
        items = [_post(m) for m in result]
        return Page(items, result.last_evaluated_key if len(items) == limit else None)


MESSAGES_MODELS: list[type[Model]] = [MessageModel, BoardPostModel]
