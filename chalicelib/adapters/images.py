"""Pillow: safe decoding, orientation, metadata stripping and re-encoding of repair photos.

Pillow is imported inside the functions: only the photo processor pays for it.
Decompression bombs are refused from the declared dimensions in the header, before any pixel is decoded.
"""

from __future__ import annotations

import io

from chalicelib.domain.photos import CleanImage, ImageRejected

MAX_PIXELS = 50_000_000  # a 50 MP phone photo passes; anything larger is refused before decoding
# PNG has no reduced-size decoding: a full RGBA decode costs 4 bytes a pixel, so its limit keeps the processor
# well inside a 512 MB Lambda (JPEGs are decoded at 1/2 to 1/8 size, see `_reencode`).
MAX_PNG_PIXELS = 24_000_000
MAX_SIDE = 2048
THUMBNAIL_SIDE = 320
JPEG_QUALITY = 85
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}


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
            try:
                return self._reencode(image)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise ImageRejected("too_many_pixels") from None
            except (OSError, ValueError, SyntaxError):
                raise ImageRejected("not_an_image") from None

    @staticmethod
    def _reencode(image) -> CleanImage:
        from PIL import Image, ImageOps

        long_side = max(image.size)
        if image.format == "JPEG" and long_side > MAX_SIDE:
            # Let the JPEG decoder scale by 1/2, 1/4, 1/8 while it decodes (much less time and memory),
            # but never below 1600 px on the long side: the final resize takes it to <= 2048.
            target = 1600 / long_side
            image.draft("RGB", (max(1, int(image.width * target)), max(1, int(image.height * target))))
        orientation = image.getexif().get(0x0112, 1)
        image.load()
        rotated = ImageOps.exif_transpose(image) if orientation != 1 else image
        if rotated.mode not in ("RGB", "L"):
            rotated = _flatten(rotated)
        rotated.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        # A fresh image carries no info dict: no EXIF, GPS, XMP, ICC or comments can follow into the output.
        clean = Image.new(rotated.mode, rotated.size)
        clean.paste(rotated)
        full = _jpeg(clean)
        thumb = clean.copy()
        thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
        return CleanImage(full, _jpeg(thumb), clean.width, clean.height)


def _flatten(image):
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return out.getvalue()
