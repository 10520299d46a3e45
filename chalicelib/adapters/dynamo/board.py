"""DynamoDB side of §9's community board: posts and their sparse list indexes."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.adapters.dynamo.base import IntAttribute, Model, is_conditional_failure, save_once, table_meta
from chalicelib.domain.board import Post
from chalicelib.domain.ports import Page
from chalicelib.errors import NotFound


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


BOARD_MODELS: list[type[Model]] = [BoardPostModel]
