"""The Lambda package carries the receipt font `make fonts` builds (infra-check builds it first): a receipt is
never drawn with a font the function would have to find on the machine."""

from __future__ import annotations

import zipfile
from pathlib import Path


def test_the_package_carries_the_receipt_font_and_its_licence(synthesized):
    from chalicelib.adapters.receipts import FONT_PATH

    stack, _ = synthesized
    with zipfile.ZipFile(Path(stack.app._sam_package_dir) / "deployment.zip") as archive:
        font = archive.read("chalicelib/fonts/NotoSansSC-Receipt.ttf")
        licence = archive.read("chalicelib/fonts/OFL-NotoSansSC.txt").decode()
    assert font == FONT_PATH.read_bytes() and font[:4] == b"\x00\x01\x00\x00"  # TrueType outlines
    assert "SIL Open Font License" in licence
