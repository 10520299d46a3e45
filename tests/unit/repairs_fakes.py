"""In-memory stand-ins for the repair ports (they keep state and enforce the same conditions as DynamoDB)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from chalicelib.domain.photos import StoredObject
from chalicelib.domain.ports import Page
from chalicelib.domain.repairs import Photo, Repair
from chalicelib.errors import Conflict
from tests.unit.fakes import _page


class FakeRepairs:
    def __init__(self) -> None:
        self.items: dict[str, Repair] = {}
        self.photo_items: dict[tuple[str, str], Photo] = {}
        self.notices: dict[str, set[str]] = {}

    def create(self, repair: Repair) -> None:
        self.items[repair.repair_id] = repair

    def get(self, repair_id: str) -> Repair | None:
        return self.items.get(repair_id)

    def update(self, before: Repair, after: Repair) -> None:
        if self.items[before.repair_id].version != before.version:
            raise Conflict("changed meanwhile")
        self.items[before.repair_id] = after

    def _sorted(self, predicate: Any) -> list[Repair]:
        return sorted((r for r in self.items.values() if predicate(r)), key=lambda r: r.created_at, reverse=True)

    def list_for_owner(self, owner_id: str, group: str | None, limit: int, start: dict[str, Any] | None) -> Page:
        return _page(self._sorted(lambda r: r.owner_id == owner_id and group in (None, r.group)), limit, start, "o")

    def list_for_community(self, community_id: str, status: str | None, limit: int, start: dict[str, Any] | None):
        return _page(self._sorted(lambda r: r.community_id == community_id and status in (None, r.status)),
                     limit, start, "o")

    def list_for_assignee(self, assignee_id: str, group: str | None, limit: int, start: dict[str, Any] | None):
        return _page(self._sorted(lambda r: r.assignee_id == assignee_id and group in (None, r.group)),
                     limit, start, "o")

    def add_photo(self, photo: Photo, max_photos: int) -> None:
        if sum(1 for (rid, _) in self.photo_items if rid == photo.repair_id) >= max_photos:
            raise Conflict(code="too_many_photos")
        self.photo_items[(photo.repair_id, photo.photo_id)] = photo

    def photos(self, repair_id: str) -> list[Photo]:
        return [p for (rid, _), p in self.photo_items.items() if rid == repair_id]

    def get_photo(self, repair_id: str, photo_id: str) -> Photo | None:
        return self.photo_items.get((repair_id, photo_id))

    def finish_photo(self, photo: Photo) -> bool:
        current = self.photo_items[(photo.repair_id, photo.photo_id)]
        if current.status != "pending":
            return False
        self.photo_items[(photo.repair_id, photo.photo_id)] = photo
        return True

    def claim_notice(self, repair_id: str, notice: str) -> bool:
        sent = self.notices.setdefault(repair_id, set())
        if notice in sent:
            return False
        sent.add(notice)
        return True

    def release_notice(self, repair_id: str, notice: str) -> None:
        self.notices.get(repair_id, set()).discard(notice)

    def add_pending_photo(self, repair_id: str, photo_id: str, content_type: str = "image/jpeg") -> Photo:
        ext = "jpg" if content_type == "image/jpeg" else "png"
        photo = Photo(repair_id, photo_id, content_type, f"uploads/{repair_id}/{photo_id}.{ext}", "pending",
                      "2026-11-25T06:00:00Z")
        self.photo_items[(repair_id, photo_id)] = photo
        return photo


class FakeUploads:
    def __init__(self) -> None:
        self.policies: list[dict[str, Any]] = []

    def presign_upload(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
        self.policies.append({"key": key, "content_type": content_type, "max_bytes": max_bytes,
                              "expires_in": expires_in})
        return {"url": "https://bucket.example/", "fields": {"key": key, "Content-Type": content_type}}

    def presign_get(self, key: str, expires_in: int) -> str:
        return f"https://bucket.example/{key}?expires={expires_in}"


class FakeJobs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, kind: str, payload: dict[str, Any]) -> None:
        self.sent.append((kind, copy.deepcopy(payload)))


class FakeSms:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def send(self, phone: str, text: str) -> str:
        if self.fail:
            raise RuntimeError("SNS is down")
        self.sent.append((phone, text))
        return f"m{len(self.sent)}"


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str | None]] = {}

    def head(self, key: str) -> StoredObject | None:
        if key not in self.objects:
            return None
        data, content_type = self.objects[key]
        return StoredObject(len(data), content_type)

    def read(self, key: str, max_bytes: int) -> bytes | None:
        return self.objects[key][0][:max_bytes + 1] if key in self.objects else None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (data, content_type)

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)


def with_status(repair: Repair, status: str, assignee_id: str | None = None) -> Repair:
    return replace(repair, status=status, assignee_id=assignee_id or repair.assignee_id)
