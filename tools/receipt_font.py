"""Build the receipt font: Noto Sans SC (SIL OFL 1.1), subset to what receipts can print.

`make fonts` runs this. The source is a pinned npm package (the Google Fonts TrueType build of Noto Sans SC:
reportlab embeds `glyf` outlines only, not CFF), fetched with the ordinary npm client and checked against the
SHA-256 digests below before anything is read from it. The output goes to `chalicelib/fonts/` (gitignored,
generated): chalice packages everything under `chalicelib/`, so the Lambda zip carries the font and a receipt
never depends on a font installed where it is rendered or viewed.

The character set is fixed: ASCII, every character GBK encodes (GB2312's symbols and 6,763 hanzi, and all
20,902 CJK Unified Ideographs of Unicode's basic block: residents' and communities' names often use characters
GB2312 lacks, such as 镕, 堃 or 喆), and every fixed string the receipt adapter prints (`RECEIPT_TEXT`). That is
about 7 MB in the package; a PDF embeds only the glyphs it uses (tens of KB).

    python -m tools.receipt_font [OUTPUT.ttf]
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@expo-google-fonts/noto-sans-sc@0.4.3"
TARBALL_SHA256 = "0d69d0f4971d2ff574e3d93cbc218dc950bf3f3f8f8e2c008d97687ed53aee59"
FONT_MEMBER = "package/400Regular/NotoSansSC_400Regular.ttf"
FONT_SHA256 = "d45f67f0a7c0ca3f256950777ce6a61cc7ce5f9696d02900cbbaac25f8aa7d16"
LICENSE_MEMBER = "package/LICENSE_FONT"

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "chalicelib" / "fonts" / "NotoSansSC-Receipt.ttf"
LICENSE_NAME = "OFL-NotoSansSC.txt"


class FontBuildError(Exception):
    """The pinned font could not be fetched or did not match its digest."""


def gbk_characters() -> str:
    """Every character GBK encodes in two bytes (a superset of GB2312)."""
    found = []
    for lead in range(0x81, 0xFF):
        for trail in (*range(0x40, 0x7F), *range(0x80, 0xFF)):
            try:
                found.append(bytes((lead, trail)).decode("gbk"))
            except UnicodeDecodeError:
                continue  # unassigned code points
    return "".join(found)


def character_set() -> set[int]:
    """The code points the subset keeps."""
    sys.path.insert(0, str(ROOT))
    from chalicelib.adapters.receipts import RECEIPT_TEXT

    text = "".join(chr(c) for c in range(0x20, 0x7F)) + gbk_characters() + RECEIPT_TEXT
    return {ord(c) for c in text}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_tarball(workdir: Path) -> bytes:
    """The package's tarball, through npm (its cache makes a second build offline)."""
    npm = shutil.which("npm")
    if npm is None:
        raise FontBuildError("npm (Node.js) is needed to fetch the receipt font package")
    result = subprocess.run([npm, "pack", PACKAGE, "--silent", "--pack-destination", str(workdir)],  # noqa: S603
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FontBuildError(f"npm pack {PACKAGE} failed: {result.stderr.strip()[-500:]}")
    tarballs = list(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise FontBuildError(f"npm pack {PACKAGE} produced no single tarball")
    data = tarballs[0].read_bytes()
    if sha256(data) != TARBALL_SHA256:
        raise FontBuildError(f"{PACKAGE} does not match its pinned SHA-256 digest")
    return data


def read_member(tarball: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(name)
        if member is None:
            raise FontBuildError(f"{name} is missing from {PACKAGE}")
        return member.read()


def subset(font_bytes: bytes, codepoints: set[int]) -> bytes:
    """The font cut down to `codepoints`, hinting dropped (receipts are printed and zoomed, not shown at
    9 px), timestamps kept so the same inputs build the same bytes."""
    from fontTools import subset as ft_subset
    from fontTools.ttLib import TTFont

    options = ft_subset.Options()
    options.hinting = False
    options.desubroutinize = True
    options.notdef_outline = True
    options.name_IDs = ["*"]  # keep the copyright, licence and family names the OFL asks to keep
    options.layout_features = []  # reportlab shapes nothing: plain cmap lookups
    font = TTFont(io.BytesIO(font_bytes), recalcTimestamp=False)
    if "glyf" not in font:
        raise FontBuildError("the font has no TrueType outlines (glyf), which reportlab needs")
    subsetter = ft_subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def build(output: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="receipt-font-") as workdir:
        tarball = fetch_tarball(Path(workdir))
    font_bytes = read_member(tarball, FONT_MEMBER)
    if sha256(font_bytes) != FONT_SHA256:
        raise FontBuildError(f"{FONT_MEMBER} does not match its pinned SHA-256 digest")
    data = subset(font_bytes, character_set())
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, output)  # never a half-written font where the renderer looks
    (output.parent / LICENSE_NAME).write_bytes(read_member(tarball, LICENSE_MEMBER))
    return output


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    try:
        built = build(output)
    except FontBuildError as error:
        print(f"receipt font: {error}", file=sys.stderr)
        return 1
    print(f"receipt font: {built.relative_to(ROOT) if built.is_relative_to(ROOT) else built} "
          f"({built.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
