"""Pillow: safe decoding, orientation, metadata stripping and re-encoding of repair photos.

Pillow is imported inside the functions: only the photo processor pays for it.
Decompression bombs are refused from the declared dimensions in the header, before any pixel is decoded.

Memory: the processor must stay under 300 MiB peak (RSS) for every image it accepts (bench/photo_processing.py
measures the worst cases). So at most one full-size copy is made besides the decoded pixels, the decoded image is
released as soon as that copy exists, and resizing comes before orientation and re-encoding, which then work on
the <= 2048 px image only.
"""

from __future__ import annotations

import io

from chalicelib.domain.photos import CleanImage, ImageRejected

MAX_PIXELS = 50_000_000  # a 50 MP phone photo passes; anything larger is refused before decoding
# PNG has no reduced-size decoding: a full RGBA decode costs 4 bytes a pixel and its flattening onto white
# another 4 (Pillow keeps RGB in 4 bytes too), so its limit keeps that pair under 200 MiB.
MAX_PNG_PIXELS = 24_000_000
# A progressive JPEG (or a sequential one stored in several scans) is decoded from a buffer that holds every DCT
# coefficient of the full-size image (2 bytes each), however small the size asked of the decoder. That buffer,
# not the pixel count, bounds such a file's memory: 4:2:0 colour needs 3 bytes a pixel (every 50 MP photo
# passes), 4:4:4 needs 6 (about 28 MP pass) and CMYK 8 (about 21 MP).
MAX_JPEG_COEFFICIENT_BYTES = 160 * 1024 * 1024
MAX_SIDE = 2048
THUMBNAIL_SIDE = 320
JPEG_QUALITY = 85
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
ORIENTATION_TAG = 0x0112


class PillowCodec:
    def clean(self, data: bytes, content_type: str) -> CleanImage:
        from PIL import Image

        # A second line of defence: even a path that forgets the check below cannot decode a bomb.
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        expected = _FORMATS.get(content_type)
        if expected is None:
            raise ImageRejected("content_type")
        try:
            # Only the declared format is tried: a PNG renamed .jpg is not "helpfully" decoded.
            image = Image.open(io.BytesIO(data), formats=[expected])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected("too_many_pixels") from None
        except Exception:  # noqa: BLE001 - any decoder complaint means "not an image we accept"
            raise ImageRejected("not_an_image") from None
        with image:
            width, height = image.size
            limit = MAX_PNG_PIXELS if expected == "PNG" else MAX_PIXELS
            if width < 1 or height < 1 or width * height > limit:
                raise ImageRejected("too_many_pixels")
            if expected == "JPEG" and jpeg_coefficient_bytes(data, image) > MAX_JPEG_COEFFICIENT_BYTES:
                raise ImageRejected("too_many_pixels")
            try:
                return _reencode(image)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise ImageRejected("too_many_pixels") from None
            except (OSError, ValueError, SyntaxError):
                raise ImageRejected("not_an_image") from None


def jpeg_coefficient_bytes(data: bytes, image) -> int:
    """The size of the whole-image coefficient buffer the JPEG decoder needs for this file (0 if it needs none:
    a sequential file in one interleaved scan is decoded a row of blocks at a time)."""
    components = first_scan_components(data)
    if not image.info.get("progressive") and components is not None and components >= image.layers:
        return 0
    layout = image.layer  # (component id, horizontal sampling, vertical sampling, quantisation table)
    if not layout:
        return 0
    h_max, v_max = max(c[1] for c in layout), max(c[2] for c in layout)
    # Components are stored in whole MCUs: each MCU holds h x v blocks of 8 x 8 coefficients of a component.
    mcus_across = -(-image.width // (8 * h_max))
    mcus_down = -(-image.height // (8 * v_max))
    return sum(mcus_across * h * mcus_down * v for _, h, v, _ in layout) * 64 * 2


def first_scan_components(data: bytes) -> int | None:
    """How many components the first scan (SOS segment) of a JPEG holds; None if the headers do not lead to one."""
    position = 2  # after SOI
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        if marker == 0xDA:
            return data[position + 4] if position + 4 < len(data) else None
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    return None


# EXIF orientation → the transposition that shows the image upright.
_UPRIGHT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
            7: "TRANSVERSE", 8: "ROTATE_90"}


def _reencode(image) -> CleanImage:
    from PIL import Image

    orientation = image.getexif().get(ORIENTATION_TAG, 1)  # read now: no copy of the pixels carries it
    long_side = max(image.size)
    if image.format == "JPEG" and long_side > MAX_SIDE:
        # Let the JPEG decoder scale by 1/2, 1/4, 1/8 while it decodes (much less time and memory),
        # but never below 1600 px on the long side: the final resize takes it to <= 2048.
        target = 1600 / long_side
        image.draft("RGB", (max(1, int(image.width * target)), max(1, int(image.height * target))))
    image.load()
    flat = _flat(image)
    # The box is square, so fitting before turning gives the same size as turning first, at a fraction of the cost.
    flat.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    # A fresh image carries no info dict: no EXIF, GPS, XMP, ICC or comments can follow into the output.
    clean = Image.new(flat.mode, flat.size)
    clean.paste(flat)
    flat.close()
    if orientation in _UPRIGHT:
        clean = clean.transpose(Image.Transpose[_UPRIGHT[orientation]])
    width, height = clean.size
    full = _jpeg(clean)
    clean.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    return CleanImage(full, _jpeg(clean), width, height)


def _flat(image):
    """The decoded `image` as RGB or L, converted once; when that makes a copy, `image`'s pixels are released."""
    from PIL import Image

    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits (a plain conversion would clip every value above 255 to white).
        scaled = image.point(lambda value: value / 256)
        image.close()
        flat = scaled.convert("L")
        scaled.close()
        return flat
    if (image.mode == "P" and "transparency" in image.info) or image.mode == "PA":
        rgba = image.convert("RGBA")
        image.close()
        image = rgba
    if image.mode in ("RGBA", "LA"):
        # Composite onto white in one step: the image is its own mask (its alpha band), no extra band is copied.
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image)
    else:
        flat = image.convert("RGB")
    image.close()
    return flat


def _jpeg(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return out.getvalue()
