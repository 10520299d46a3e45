"""The receipt PDF as a reader sees it: fonts listed by poppler's pdffonts, text extracted by pdftotext and by
PDFium, pages rasterised by PDFium and the QR code scanned by ZXing: implementations that share nothing with
reportlab (pinned in requirements-dev.txt; poppler-utils from Debian, installed by `make test`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC
from decimal import Decimal

import pytest

from chalicelib.adapters.receipts import dark_runs, missing_characters, receipt_font, render_pdf
from chalicelib.domain.billing import Bill, BillItem
from chalicelib.domain.receipts import ReceiptDocument, verify_url


def _receipt(bills: int = 2, **changes) -> ReceiptDocument:
    items = (BillItem("property", "物业费", Decimal("89.5"), "㎡", 250, 22375),
             BillItem("water", "水费", Decimal("12"), "吨", 350, 4200))
    document = ReceiptDocument(
        receipt_no="R20261202-000123", code="ABCD2345EFGH",
        verify_url=verify_url("https://pm.example.com/receipts", "R20261202-000123", "ABCD2345EFGH"),
        community_name="阳光花园", payer_name="张三", method="alipay",
        provider_txn_id="2026120222001400001234567890", paid_at="2026-12-02T08:00:00Z",
        amount_cents=26575 * bills,
        bills=tuple(Bill(f"b{i}", f"u{i % 2}", "c1", f"1栋10{i % 2 + 1}", "property", f"2026-{i % 12 + 1:02d}",
                         items, "2026-12-01") for i in range(bills)),
        payee="阳光物业服务有限公司")
    return replace(document, **changes)


def _poppler(tool: str, pdf: bytes, tmp_path, *args: str) -> str:
    """What a poppler tool prints for the PDF (skipped where poppler-utils is missing, except in CI)."""
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} (poppler-utils) is missing: `make test` installs it")
        pytest.skip(f"{tool} (poppler-utils) is not installed: `make pdf-tools` installs it")
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf)
    out = [] if tool == "pdffonts" else ["-"]  # pdftotext writes to a file unless told "-"
    return subprocess.run([tool, *args, str(path), *out], capture_output=True, check=True).stdout.decode()


def _pdfium_text(pdf: bytes) -> str:
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


def _ink(pdf: bytes, box_points: tuple[float, float, float, float]) -> int:
    """Dark pixels PDFium paints inside (left, top, right, bottom), in points from the first page's top left."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        picture = document[0].render(scale=2).to_pil().convert("L")
    finally:
        document.close()
    area = picture.crop(tuple(int(v * 2) for v in box_points))
    return sum(count for level, count in enumerate(area.histogram()) if level < 128)


def _scanned_codes(pdf: bytes) -> list[str]:
    """The QR codes a phone would read on the receipt's last page (printed at 144 dpi)."""
    import pypdfium2
    import zxingcpp

    document = pypdfium2.PdfDocument(pdf)
    try:
        page = document[len(document) - 1]
        picture = page.render(scale=2).to_pil()
    finally:
        document.close()
    return [found.text for found in zxingcpp.read_barcodes(picture, formats=zxingcpp.BarcodeFormat.QRCode)]


@pytest.mark.parametrize("bills", [2, 12])  # 12 bills: the code is on the second page
def test_the_receipts_qr_code_opens_its_verification_url(bills):
    doc = _receipt(bills)
    assert _scanned_codes(render_pdf(doc)) == [doc.verify_url]


def test_the_receipt_embeds_every_font_it_uses(tmp_path):
    # given a receipt with Chinese and Latin text, figures and ids, over two pages
    listing = _poppler("pdffonts", render_pdf(_receipt(12)), tmp_path)
    # then pdffonts lists fonts, and every one is embedded: no STSong-Light, no base-14 Helvetica left to the viewer
    rows = listing.splitlines()[2:]
    assert rows, listing
    for row in rows:
        name, emb = row.split()[0], row.split()[-5]
        assert emb == "yes", listing
        assert "STSong" not in name and "Helvetica" not in name, listing


EXPECTED_TEXT = ("阳光花园 电子收据", "收款单位", "阳光物业服务有限公司", "付款人", "张三", "1栋101", "1栋102",
                 "支付宝（在线支付）", "2026120222001400001234567890", "2026-12-02 16:00:00（北京时间）",
                 "¥531.50", "人民币伍佰叁拾壹元伍角", "ABCD2345EFGH",
                 "https://pm.example.com/receipts/R20261202-000123/verify?code=ABCD2345EFGH")


@pytest.mark.parametrize("extract", ["pdftotext", "pdfium"])
def test_the_receipt_text_reads_back_in_chinese(extract, tmp_path):
    pdf = render_pdf(_receipt())
    text = _poppler("pdftotext", pdf, tmp_path, "-layout") if extract == "pdftotext" else _pdfium_text(pdf)
    for expected in EXPECTED_TEXT:
        assert expected in text, (expected, text)
    assert "UTC" not in text and "fen" not in text


def test_each_bill_line_names_its_flat():
    text = _pdfium_text(render_pdf(_receipt()))
    assert re.search(r"1栋101\s+物业费\s+2026-01", text) and re.search(r"1栋102\s+物业费\s+2026-02", text)


def test_front_desk_payments_show_the_desk_and_the_reference():
    doc = _receipt(method="bank_transfer", provider_txn_id="bank_transfer:CMB20261202-88",
                   method_reference="CMB20261202-88")
    text = _pdfium_text(render_pdf(doc))
    assert "银行转账（前台收费）" in text and re.search(r"收费凭证号：\s*CMB20261202-88", text)
    assert "交易流水号" not in text


def test_the_time_is_the_communitys_wall_clock():
    text = _pdfium_text(render_pdf(_receipt(timezone="Asia/Urumqi")))
    assert "2026-12-02 14:00:00（Asia/Urumqi，UTC+06:00）" in text


def test_chinese_glyphs_are_painted_not_blank():
    # the title (centred, 20 pt, 60 pt from the top) and the label column hold Chinese characters only: with
    # a font the viewer lacks, PDFium paints nothing there; with the embedded face, the glyphs
    pdf = render_pdf(_receipt())
    assert _ink(pdf, (150, 40, 445, 72)) > 1500
    assert _ink(pdf, (50, 75, 135, 250)) > 1500


def test_names_with_characters_gb2312_lacks_still_print():
    # 镕 and 堃 are outside GB2312 yet common in names: the subset keeps all of GBK
    pdf = render_pdf(_receipt(payer_name="朱镕堃", community_name="喆园"))
    text = _pdfium_text(pdf)
    assert "朱镕堃" in text and "喆园 电子收据" in text
    assert missing_characters(receipt_font(), ["朱镕堃", "喆园", "𠮷野"]) == {"𠮷"}


def test_a_long_list_of_flats_wraps_inside_the_page():
    flats = tuple(Bill(f"b{i}", f"u{i}", "c1", f"3栋{i:03d}", "water", "2026-11", (), "2026-12-01")
                  for i in range(40))
    pdf = render_pdf(replace(_receipt(), bills=flats, amount_cents=0))
    assert "3栋039" in _pdfium_text(pdf)
    assert _ink(pdf, (555, 0, 595, 842)) == 0  # nothing printed in the right margin


def test_dark_runs_cover_exactly_the_dark_modules():
    row = [True, True, False, True, False, False, True]
    assert dark_runs(row) == [(0, 2), (3, 1), (6, 1)]
    assert dark_runs([False] * 3) == [] and dark_runs([True] * 3) == [(0, 3)]


def test_importing_the_receipt_modules_loads_no_pdf_library():
    # the API imports these to hand out links; reportlab and the font load only when a receipt is drawn
    probe = ("import sys, chalicelib.adapters.receipts, chalicelib.domain.receipts; "
             "assert not [m for m in sys.modules if m.startswith(('reportlab', 'fontTools'))]")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_receipt_identifies_as_pdf_a_2b_with_what_that_requires():
    """Read back with pypdf and Pillow's littlecms: what ISO 19005-2 asks of a PDF/A-2b file beyond embedded fonts
    (no veraPDF here: it is a Java program on no registry this project uses)."""
    import io

    import pypdf
    from PIL import ImageCms

    pdf = render_pdf(_receipt(12))
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    # the XMP packet: unfiltered, part 2 conformance B, repeating the information dictionary
    metadata = root["/Metadata"].get_object()
    assert "/Filter" not in metadata
    xmp, info = reader.xmp_metadata, reader.metadata
    packet = metadata.get_data().decode()
    assert "<pdfaid:part>2</pdfaid:part>" in packet and "<pdfaid:conformance>B</pdfaid:conformance>" in packet
    assert xmp.dc_title == {"x-default": info.title} and xmp.dc_creator == [info.author]
    assert xmp.dc_description == {"x-default": info.subject} and xmp.pdf_keywords == info.get("/Keywords")
    assert xmp.pdf_producer == info.producer and xmp.xmp_creator_tool == info.creator
    assert xmp.xmp_create_date == info.creation_date.astimezone(UTC).replace(tzinfo=None)
    assert xmp.xmp_modify_date == info.modification_date.astimezone(UTC).replace(tzinfo=None)
    # an RGB output intent whose profile a colour engine opens
    (intent,) = [i.get_object() for i in root["/OutputIntents"]]
    assert intent["/S"] == "/GTS_PDFA1"
    profile = ImageCms.ImageCmsProfile(io.BytesIO(intent["/DestOutputProfile"].get_object().get_data()))
    assert profile.profile.xcolor_space.strip() == "RGB" and profile.profile.device_class == "mntr"
    # an end-of-line before every endstream, a file identifier, no encryption
    assert pdf.count(b"endstream") == len(re.findall(rb"[\r\n]endstream", pdf)) > 0
    assert reader.trailer.get("/ID") and not reader.is_encrypted
