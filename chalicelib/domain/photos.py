"""The photo processor: what happens to an uploaded repair photo (API.md §7), without S3 or Pillow.

The presigned POST promises a key, a content type and a size range, but an emulator (and a bug) may not keep
those promises, so every one of them is checked again here before the image is decoded. Outcomes:
`ready` (a clean re-encoded image and a thumbnail are stored) or `rejected` (the original is deleted).
Processing is idempotent: only a `pending` photo is processed, and the outcome is stored conditionally.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from chalicelib.domain.repairs import MAX_PHOTO_BYTES, PHOTO_TYPES, Photo, RepairRepository
from chalicelib.observability import count, logger

PROCESSED_PREFIX = "processed/"
THUMBNAIL_PREFIX = "thumbs/"
UPLOAD_PREFIX = "uploads/"

_MAGIC = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",)}


class ImageRejected(Exception):
    """The bytes are not an acceptable image; `reason` is a short machine-readable word."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str | None


@dataclass(frozen=True)
class CleanImage:
    image: bytes  # JPEG, no metadata, long side <= 2048
    thumbnail: bytes  # JPEG, long side <= 320
    width: int
    height: int


class ObjectStore(Protocol):
    def head(self, key: str) -> StoredObject | None: ...

    def read(self, key: str, max_bytes: int) -> bytes | None:
        """At most `max_bytes` + 1 bytes of the object (so an oversized one is noticed), None if it is gone."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def delete(self, key: str) -> None: ...


class ImageCodec(Protocol):
    def clean(self, data: bytes, content_type: str) -> CleanImage:
        """Decode safely, orient, strip metadata, re-encode; raise `ImageRejected`."""


def sniff(data: bytes) -> str | None:
    """The content type the first bytes announce (JPEG or PNG), whatever the upload claimed."""
    for content_type, signatures in _MAGIC.items():
        if any(data.startswith(sig) for sig in signatures):
            return content_type
    return None


def parse_upload_key(key: str) -> tuple[str, str] | None:
    """`uploads/<repair_id>/<photo_id>.<ext>` → (repair_id, photo_id); None for anything else."""
    if not key.startswith(UPLOAD_PREFIX):
        return None
    parts = key[len(UPLOAD_PREFIX):].split("/")
    if len(parts) != 2 or "." not in parts[1]:
        return None
    photo_id, ext = parts[1].rsplit(".", 1)
    if not parts[0] or not photo_id or ext not in PHOTO_TYPES.values():
        return None
    return parts[0], photo_id


class PhotoProcessor:
    def __init__(self, repairs: RepairRepository, store: ObjectStore, codec: ImageCodec):
        self._repairs = repairs
        self._store = store
        self._codec = codec

    def process(self, key: str) -> str:
        """Process the object at `key`; returns what happened (`ready`, `rejected`, `skipped`, ...)."""
        ids = parse_upload_key(key)
        photo = self._repairs.get_photo(*ids) if ids else None
        if photo is None or photo.upload_key != key:
            # Nobody was issued this key: nothing may stay under uploads/ that no photo owns.
            logger.warning("unknown upload deleted", extra={"key": key})
            self._store.delete(key)
            return "unknown"
        if photo.status != "pending":
            # A redelivery: the outcome is stored; make sure the original is gone and stop.
            self._store.delete(key)
            return "skipped"
        try:
            clean = self._check_and_clean(photo)
        except ImageRejected as rejected:
            return self._reject(photo, rejected.reason)
        if clean is None:
            return "missing"
        processed_key = f"{PROCESSED_PREFIX}{photo.repair_id}/{photo.photo_id}.jpg"
        thumbnail_key = f"{THUMBNAIL_PREFIX}{photo.repair_id}/{photo.photo_id}.jpg"
        self._store.put(processed_key, clean.image, "image/jpeg")
        self._store.put(thumbnail_key, clean.thumbnail, "image/jpeg")
        if self._repairs.finish_photo(replace(photo, status="ready", processed_key=processed_key,
                                              thumbnail_key=thumbnail_key)):
            count("RepairPhotoReady")
            logger.info("photo ready", extra={"repair_id": photo.repair_id, "photo_id": photo.photo_id,
                                              "width": clean.width, "height": clean.height})
        # The original still carries its metadata (GPS): it is never served, so it is not kept.
        self._store.delete(key)
        return "ready"

    def _check_and_clean(self, photo: Photo) -> CleanImage | None:
        head = self._store.head(photo.upload_key)
        if head is None:
            logger.warning("upload is gone", extra={"photo_id": photo.photo_id})
            return None
        if not 1 <= head.size <= MAX_PHOTO_BYTES:
            raise ImageRejected("size")
        if head.content_type != photo.content_type:
            raise ImageRejected("content_type")
        data = self._store.read(photo.upload_key, MAX_PHOTO_BYTES)
        if data is None:
            return None
        if len(data) > MAX_PHOTO_BYTES:
            raise ImageRejected("size")
        if sniff(data) != photo.content_type:
            raise ImageRejected("not_an_image")
        return self._codec.clean(data, photo.content_type)

    def _reject(self, photo: Photo, reason: str) -> str:
        if self._repairs.finish_photo(replace(photo, status="rejected", reason=reason)):
            count("RepairPhotoRejected")
            logger.info("photo rejected", extra={"repair_id": photo.repair_id, "photo_id": photo.photo_id,
                                                 "reason": reason})
        self._store.delete(photo.upload_key)
        return "rejected"
