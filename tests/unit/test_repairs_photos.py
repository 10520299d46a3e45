"""The photo processor with in-memory storage, and the Pillow codec on real image bytes."""

from __future__ import annotations

import pytest

from chalicelib.adapters.images import PillowCodec
from chalicelib.domain.photos import ImageRejected, PhotoProcessor, parse_upload_key, sniff
from chalicelib.events.repairs import object_keys
from tests.repairs_images import exif_of, jpeg_with_gps, png, png_bomb
from tests.unit.repairs_fakes import FakeRepairs, FakeStore


@pytest.fixture
def env():
    repairs, store = FakeRepairs(), FakeStore()
    return repairs, store, PhotoProcessor(repairs, store, PillowCodec())


def test_process_jpeg_with_gps_becomes_ready_without_metadata(env):
    repairs, store, processor = env
    photo = repairs.add_pending_photo("r1", "p1")
    store.put(photo.upload_key, jpeg_with_gps(1200, 800, orientation=6), "image/jpeg")
    assert processor.process(photo.upload_key) == "ready"
    done = repairs.get_photo("r1", "p1")
    assert done.status == "ready"
    full, thumb = exif_of(store.objects[done.processed_key][0]), exif_of(store.objects[done.thumbnail_key][0])
    assert full["exif"] == {} and full["info"] == {} and thumb["exif"] == {} and thumb["info"] == {}
    assert full["size"] == (800, 1200)  # the orientation tag was applied before it was dropped
    assert max(thumb["size"]) == 320
    assert photo.upload_key not in store.objects  # the original (with GPS) is not kept


def test_process_large_jpeg_is_resized_to_2048(env):
    repairs, store, processor = env
    photo = repairs.add_pending_photo("r1", "p1")
    store.put(photo.upload_key, jpeg_with_gps(4000, 3000, orientation=1), "image/jpeg")
    processor.process(photo.upload_key)
    size = exif_of(store.objects[repairs.get_photo("r1", "p1").processed_key][0])["size"]
    assert 1600 <= max(size) <= 2048


def test_process_png_is_reencoded_as_jpeg(env):
    repairs, store, processor = env
    photo = repairs.add_pending_photo("r1", "p1", "image/png")
    store.put(photo.upload_key, png(), "image/png")
    assert processor.process(photo.upload_key) == "ready"
    assert exif_of(store.objects[repairs.get_photo("r1", "p1").processed_key][0])["format"] == "JPEG"


@pytest.mark.parametrize(("make", "stored_type", "reason"), [
    (lambda: b"just some text, not a picture", "image/jpeg", "not_an_image"),
    (png, "image/jpeg", "not_an_image"),  # a PNG renamed as a JPEG
    (jpeg_with_gps, "image/png", "content_type"),  # stored with another type than the one registered
    (lambda: b"\xff\xd8\xff\xe0 truncated", "image/jpeg", "not_an_image"),
    (lambda: b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), "image/jpeg", "size"),
])
def test_process_rejects_and_deletes_what_is_not_an_acceptable_image(env, make, stored_type, reason):
    repairs, store, processor = env
    photo = repairs.add_pending_photo("r1", "p1", "image/jpeg")
    store.put(photo.upload_key, make(), stored_type)
    assert processor.process(photo.upload_key) == "rejected"
    assert repairs.get_photo("r1", "p1").reason == reason
    assert photo.upload_key not in store.objects


def test_process_rejects_a_decompression_bomb_from_its_header(env):
    repairs, store, processor = env
    photo = repairs.add_pending_photo("r1", "p1", "image/png")
    store.put(photo.upload_key, png_bomb(), "image/png")
    assert processor.process(photo.upload_key) == "rejected"
    assert repairs.get_photo("r1", "p1").reason == "too_many_pixels"


def test_process_twice_is_harmless(env):
    repairs, store, processor = env
    photo = repairs.add_pending_photo("r1", "p1")
    store.put(photo.upload_key, jpeg_with_gps(), "image/jpeg")
    processor.process(photo.upload_key)
    first = dict(store.objects)
    assert processor.process(photo.upload_key) == "skipped"
    assert store.objects == first and repairs.get_photo("r1", "p1").status == "ready"


def test_process_unknown_key_deletes_the_object(env):
    _, store, processor = env
    store.put("uploads/r9/p9.jpg", jpeg_with_gps(), "image/jpeg")
    assert processor.process("uploads/r9/p9.jpg") == "unknown"
    assert store.objects == {}


def test_codec_refuses_oversized_dimensions_before_decoding():
    with pytest.raises(ImageRejected) as error:
        PillowCodec().clean(png_bomb(), "image/png")
    assert error.value.reason == "too_many_pixels"


def test_sniff_and_key_parsing():
    assert sniff(jpeg_with_gps()) == "image/jpeg" and sniff(png()) == "image/png" and sniff(b"GIF89a") is None
    assert parse_upload_key("uploads/r_1/p_2.jpg") == ("r_1", "p_2")
    assert parse_upload_key("processed/r_1/p_2.jpg") is None
    assert parse_upload_key("uploads/r_1/x/p_2.jpg") is None


def test_object_keys_decodes_keys_and_ignores_test_events():
    assert object_keys('{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}') == []
    body = '{"Records":[{"eventName":"ObjectCreated:Post","s3":{"object":{"key":"uploads%2Fa+b.jpg"}}}]}'
    assert object_keys(body) == ["uploads/a b.jpg"]


def test_codec_refuses_a_png_over_its_own_pixel_limit():
    with pytest.raises(ImageRejected) as error:
        PillowCodec().clean(png_bomb(6000, 5000, rows=1), "image/png")
    assert error.value.reason == "too_many_pixels"


def test_importing_the_app_does_not_import_pillow():
    import subprocess
    import sys

    probe = "import sys, app; assert 'PIL' not in sys.modules, sorted(m for m in sys.modules if 'PIL' in m)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=600)  # a hang guard only: a cold import on a loaded machine is slow
    assert result.returncode == 0, result.stderr[-2000:]
