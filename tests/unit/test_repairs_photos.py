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


# -- memory: every accepted input stays under the processor's budget ------------------------------------------

MEMORY_BUDGET_MIB = 300


@pytest.mark.parametrize("name", ["png-24mp-rgba", "jpeg-21mp-progressive-cmyk"])
def test_the_worst_accepted_inputs_stay_under_the_memory_budget(tmp_path, name):
    """The largest PNG (24 MP, RGBA: no reduced decoding) and the heaviest progressive JPEG under the coefficient
    cap, each processed in a fresh process: its peak RSS is Pillow's and ours, nothing else (allocations are
    deterministic; the margin is tens of MiB)."""
    from bench.photo_processing import WORST_CASES, measure_case

    case = next(case for case in WORST_CASES if case.name == name)
    result, _ = measure_case(case, tmp_path, repeat=1)
    assert result["outcome"].startswith("ready")
    assert result["peak_rss_mib"] < MEMORY_BUDGET_MIB


def _progressive_jpeg(width: int, height: int, mode: str = "CMYK", progressive: bool = True) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, (width, height), (10, 20, 30, 40)[:len(mode)]).save(out, "JPEG", progressive=progressive)
    return out.getvalue()


def test_a_progressive_jpeg_too_large_to_decode_within_the_budget_is_rejected(env):
    """22.6 MP of progressive CMYK needs 173 MiB of coefficients however small it is decoded: refused before
    decoding, with the same reason as any other oversized picture. The same picture stored sequentially passes."""
    repairs, store, processor = env
    for photo_id, progressive in (("p1", True), ("p2", False)):
        photo = repairs.add_pending_photo("r1", photo_id)
        store.put(photo.upload_key, _progressive_jpeg(5800, 3900, progressive=progressive), "image/jpeg")
        processor.process(photo.upload_key)
    assert repairs.get_photo("r1", "p1").status == "rejected"
    assert repairs.get_photo("r1", "p1").reason == "too_many_pixels"
    assert repairs.get_photo("r1", "p2").status == "ready"


def test_a_progressive_jpeg_under_the_coefficient_cap_is_processed(env):
    repairs, store, processor = env
    photo = repairs.add_pending_photo("r1", "p1")
    store.put(photo.upload_key, _progressive_jpeg(4000, 3000, "RGB"), "image/jpeg")
    assert processor.process(photo.upload_key) == "ready"
    size = exif_of(store.objects[repairs.get_photo("r1", "p1").processed_key][0])["size"]
    assert 1600 <= max(size) <= 2048


def _png_pixel(image_bytes: bytes, content_type: str = "image/png") -> tuple:
    import io

    from PIL import Image

    clean = PillowCodec().clean(image_bytes, content_type)
    with Image.open(io.BytesIO(clean.image)) as image:
        return image.convert("RGB").getpixel((image.width // 2, image.height // 2))


def test_a_16_bit_grey_png_keeps_its_grey():
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("I;16", (300, 200), 0x8000).save(out, "PNG")
    assert all(abs(value - 128) <= 2 for value in _png_pixel(out.getvalue()))  # not clipped to white


def test_a_transparent_png_is_shown_on_white():
    # png() is (10, 200, 30) at alpha 128: half of it over white.
    assert all(abs(got - want) <= 3 for got, want in zip(_png_pixel(png()), (132, 227, 142), strict=True))


def test_the_orientation_of_a_png_is_applied():
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.new("RGBA", (300, 200), (1, 2, 3, 255)).save(out, "PNG", exif=exif.tobytes())
    clean = PillowCodec().clean(out.getvalue(), "image/png")
    assert (clean.width, clean.height) == (200, 300)
    assert exif_of(clean.image)["size"] == (200, 300) and exif_of(clean.image)["exif"] == {}
