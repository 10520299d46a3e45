"""Repairs in DynamoDB: the `repairs` and `repair-photos` tables and their repository.

Each list of API.md §7 is a Query on its own index (no scans). A change of a request is one `UpdateItem`
conditioned on its `version`, so two concurrent changes cannot both succeed; a photo is counted on its
request and stored in one transaction conditioned on the count, so a 7th photo can never slip in.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.base import (
    IntAttribute,
    Model,
    is_conditional_failure,
    save_once,
    table_meta,
    update_once,
)
from chalicelib.domain.ports import Page
from chalicelib.domain.repairs import OPEN_STATUSES, Group, Photo, Rating, Repair, TimelineEntry, group_of
from chalicelib.errors import Conflict


class TimelineEntryAttribute(MapAttribute):
    status = UnicodeAttribute()
    at = UnicodeAttribute()
    actor_role = UnicodeAttribute()
    note = UnicodeAttribute(null=True)


class RatingAttribute(MapAttribute):
    stars = IntAttribute()
    at = UnicodeAttribute()
    comment = UnicodeAttribute(null=True)


class ByOwnerIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByOwnerGroupIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-owner-group"
        projection = AllProjection()

    owner_group = UnicodeAttribute(hash_key=True)  # "<owner_id>#open" | "<owner_id>#closed"
    created_key = UnicodeAttribute(range_key=True)


class ByCommunityIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-community"
        projection = AllProjection()

    community_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByCommunityStatusIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-community-status"
        projection = AllProjection()

    community_status = UnicodeAttribute(hash_key=True)  # "<community_id>#<status>"
    created_key = UnicodeAttribute(range_key=True)


class ByAssigneeIndex(GlobalSecondaryIndex):
    """Sparse: only assigned requests carry `assignee_id`."""

    class Meta:
        index_name = "by-assignee"
        projection = AllProjection()

    assignee_id = UnicodeAttribute(hash_key=True)
    assignee_key = UnicodeAttribute(range_key=True)  # "<open|closed>#<created_at>#<repair_id>"


class RepairModel(Model):
    Meta = table_meta("repairs")

    repair_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    unit_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    category = UnicodeAttribute()
    location = UnicodeAttribute()
    description = UnicodeAttribute()
    preferred_time = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_key = UnicodeAttribute()  # "<created_at>#<repair_id>"
    owner_group = UnicodeAttribute()
    community_status = UnicodeAttribute()
    assignee_id = UnicodeAttribute(null=True)
    assignee_key = UnicodeAttribute(null=True)
    eta = UnicodeAttribute(null=True)
    timeline = ListAttribute(of=TimelineEntryAttribute, default=list)
    rating = RatingAttribute(null=True)
    version = IntAttribute()
    photo_count = IntAttribute(default=0)
    notices_sent = UnicodeSetAttribute(null=True)

    by_owner = ByOwnerIndex()
    by_owner_group = ByOwnerGroupIndex()
    by_community = ByCommunityIndex()
    by_community_status = ByCommunityStatusIndex()
    by_assignee = ByAssigneeIndex()


class RepairPhotoModel(Model):
    Meta = table_meta("repair-photos")

    repair_id = UnicodeAttribute(hash_key=True)
    photo_id = UnicodeAttribute(range_key=True)
    content_type = UnicodeAttribute()
    upload_key = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    processed_key = UnicodeAttribute(null=True)
    thumbnail_key = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)


REPAIR_MODELS: list[type[Model]] = [RepairModel, RepairPhotoModel]


# -- conversion -------------------------------------------------------------------------------------------


def _created_key(repair: Repair) -> str:
    return f"{repair.created_at}#{repair.repair_id}"


def _derived(repair: Repair) -> dict[str, Any]:
    """The index keys that follow from a request's state."""
    return {
        "owner_group": f"{repair.owner_id}#{repair.group}",
        "community_status": f"{repair.community_id}#{repair.status}",
        "assignee_key": f"{repair.group}#{_created_key(repair)}" if repair.assignee_id else None,
    }


def _timeline(entries: tuple[TimelineEntry, ...]) -> list[TimelineEntryAttribute]:
    return [TimelineEntryAttribute(status=e.status, at=e.at, actor_role=e.actor_role, note=e.note) for e in entries]


def _rating(rating: Rating | None) -> RatingAttribute | None:
    return RatingAttribute(stars=rating.stars, at=rating.at, comment=rating.comment) if rating else None


def repair_from_model(m: RepairModel) -> Repair:
    rating = Rating(m.rating.stars, m.rating.at, m.rating.comment) if m.rating else None
    return Repair(
        repair_id=m.repair_id, owner_id=m.owner_id, unit_id=m.unit_id, community_id=m.community_id, kind=m.kind,
        category=m.category, location=m.location, description=m.description, status=m.status,
        created_at=m.created_at, updated_at=m.updated_at,
        timeline=tuple(TimelineEntry(e.status, e.at, e.actor_role, e.note) for e in (m.timeline or [])),
        version=m.version, preferred_time=m.preferred_time, assignee_id=m.assignee_id, eta=m.eta, rating=rating,
    )


def _photo(m: RepairPhotoModel) -> Photo:
    return Photo(m.repair_id, m.photo_id, m.content_type, m.upload_key, m.status, m.created_at, m.processed_key,
                 m.thumbnail_key, m.reason)


def _page(result: Any, limit: int) -> Page[Repair]:
    items = [repair_from_model(m) for m in result]
    return Page(items, result.last_evaluated_key if len(items) == limit else None)


class DynamoRepairs:
    def create(self, repair: Repair) -> None:
        derived = _derived(repair)
        model = RepairModel(
            repair.repair_id, owner_id=repair.owner_id, unit_id=repair.unit_id, community_id=repair.community_id,
            kind=repair.kind, category=repair.category, location=repair.location, description=repair.description,
            preferred_time=repair.preferred_time, status=repair.status, created_at=repair.created_at,
            updated_at=repair.updated_at, created_key=_created_key(repair), owner_group=derived["owner_group"],
            community_status=derived["community_status"], timeline=_timeline(repair.timeline),
            version=repair.version, photo_count=0,
        )
        save_once(model, RepairModel.repair_id.does_not_exist())

    def get(self, repair_id: str) -> Repair | None:
        try:
            return repair_from_model(RepairModel.get(repair_id, consistent_read=True))
        except DoesNotExist:
            return None

    def update(self, before: Repair, after: Repair) -> None:
        derived = _derived(after)
        actions = [
            RepairModel.status.set(after.status), RepairModel.updated_at.set(after.updated_at),
            RepairModel.timeline.set(_timeline(after.timeline)), RepairModel.version.set(after.version),
            RepairModel.owner_group.set(derived["owner_group"]),
            RepairModel.community_status.set(derived["community_status"]),
        ]
        if after.assignee_id:
            actions += [RepairModel.assignee_id.set(after.assignee_id),
                        RepairModel.assignee_key.set(derived["assignee_key"])]
        if after.eta:
            actions.append(RepairModel.eta.set(after.eta))
        if after.rating:
            actions.append(RepairModel.rating.set(_rating(after.rating)))
        try:
            RepairModel(before.repair_id).update(actions=actions, condition=RepairModel.version == before.version)
        except UpdateError as error:
            if is_conditional_failure(error):
                raise Conflict("The request was changed at the same time; reload it and try again.") from None
            raise

    def list_for_owner(self, owner_id: str, group: Group | None, limit: int,
                       start: dict[str, Any] | None) -> Page[Repair]:
        if group is None:
            result = RepairModel.by_owner.query(owner_id, scan_index_forward=False, limit=limit,
                                                last_evaluated_key=start)
        else:
            result = RepairModel.by_owner_group.query(f"{owner_id}#{group}", scan_index_forward=False, limit=limit,
                                                      last_evaluated_key=start)
        return _page(result, limit)

    def list_for_community(self, community_id: str, status: str | None, limit: int,
                           start: dict[str, Any] | None) -> Page[Repair]:
        if status is None:
            result = RepairModel.by_community.query(community_id, scan_index_forward=False, limit=limit,
                                                    last_evaluated_key=start)
        else:
            result = RepairModel.by_community_status.query(f"{community_id}#{status}", scan_index_forward=False,
                                                           limit=limit, last_evaluated_key=start)
        return _page(result, limit)

    def list_for_assignee(self, assignee_id: str, group: Group | None, limit: int,
                          start: dict[str, Any] | None) -> Page[Repair]:
        condition = RepairModel.assignee_key.startswith(f"{group}#") if group else None
        # Newest first; with no group, "open#..." sorts after "closed#..." so open work comes first.
        result = RepairModel.by_assignee.query(assignee_id, range_key_condition=condition, scan_index_forward=False,
                                               limit=limit, last_evaluated_key=start)
        return _page(result, limit)

    # -- photos ---------------------------------------------------------------------------------------

    def add_photo(self, photo: Photo, max_photos: int) -> None:
        from chalicelib.adapters.dynamo.repositories import connection

        model = RepairPhotoModel(photo.repair_id, photo.photo_id, content_type=photo.content_type,
                                 upload_key=photo.upload_key, status=photo.status, created_at=photo.created_at)
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(RepairModel(photo.repair_id), actions=[RepairModel.photo_count.add(1)],
                          condition=(RepairModel.photo_count < max_photos)
                          & RepairModel.status.is_in(*OPEN_STATUSES))
                tx.save(model, condition=RepairPhotoModel.photo_id.does_not_exist())
        except TransactWriteError as error:
            if not is_conditional_failure(error):
                raise
            current = self.get(photo.repair_id)
            if current is not None and group_of(current.status) == "closed":
                raise Conflict("Photos can only be added to an open request.") from None
            raise Conflict(f"A request has at most {max_photos} photos.", code="too_many_photos") from None

    def photos(self, repair_id: str) -> list[Photo]:
        return [_photo(m) for m in RepairPhotoModel.query(repair_id, consistent_read=True)]

    def get_photo(self, repair_id: str, photo_id: str) -> Photo | None:
        try:
            return _photo(RepairPhotoModel.get(repair_id, photo_id, consistent_read=True))
        except DoesNotExist:
            return None

    def finish_photo(self, photo: Photo) -> bool:
        actions = [RepairPhotoModel.status.set(photo.status)]
        if photo.processed_key:
            actions.append(RepairPhotoModel.processed_key.set(photo.processed_key))
        if photo.thumbnail_key:
            actions.append(RepairPhotoModel.thumbnail_key.set(photo.thumbnail_key))
        if photo.reason:
            actions.append(RepairPhotoModel.reason.set(photo.reason))
        try:
            update_once(RepairPhotoModel(photo.repair_id, photo.photo_id), actions,
                        RepairPhotoModel.status == "pending")
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    # -- notices --------------------------------------------------------------------------------------

    def claim_notice(self, repair_id: str, notice: str) -> bool:
        try:
            update_once(RepairModel(repair_id), [RepairModel.notices_sent.add({notice})],
                        RepairModel.repair_id.exists() & ~RepairModel.notices_sent.contains(notice))
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def release_notice(self, repair_id: str, notice: str) -> None:
        RepairModel(repair_id).update(actions=[RepairModel.notices_sent.delete({notice})])
