"""Test images for the repair photo processor, made in the test run (no binary fixtures in the repository)."""

from __future__ import annotations

import io
import struct
import zlib

GPS_LATITUDE = 0x0002
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_gps(width: int = 1200, height: int = 800, orientation: int = 6) -> bytes:
    """A real JPEG with GPS coordinates, a comment and an orientation tag (6 = rotate 90° when shown)."""
    from PIL import Image

    image = Image.new("RGB", (width, height), (200, 80, 40))
    for x in range(0, width, 50):  # some detail, so it is not a flat colour
        image.paste((20, 120, 200), (x, 0, x + 10, height))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "TestCam"
    exif.get_ifd(GPS_IFD).update({1: "N", GPS_LATITUDE: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"secret comment", quality=90)
    return out.getvalue()


def png(width: int = 300, height: int = 200) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (width, height), (10, 200, 30, 128)).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 20_000, height: int = 20_000, rows: int = 64) -> bytes:
    """A few KiB of PNG declaring `width` × `height` pixels: decoding it would need 400 MP of memory."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    data = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def exif_of(data: bytes) -> dict:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return {"exif": dict(image.getexif()), "info": {k: v for k, v in image.info.items()
                                                        if k in ("exif", "comment", "xmp", "icc_profile")},
                "size": image.size, "format": image.format}
