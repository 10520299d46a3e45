"""The receipt PDF as a reader sees it: rasterised by PDFium and scanned by ZXing, two implementations that share
nothing with reportlab (pinned in requirements-dev.txt)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.adapters.receipts import dark_runs, render_pdf
from chalicelib.domain.billing import Bill, BillItem
from chalicelib.domain.receipts import ReceiptDocument, verify_url


def _receipt(bills: int = 2) -> ReceiptDocument:
    items = (BillItem("property", "物业费", Decimal("89.5"), "㎡", 250, 22375),
             BillItem("water", "水费", Decimal("12"), "吨", 350, 4200))
    return ReceiptDocument(
        receipt_no="R20261202-000123", code="ABCD2345EFGH",
        verify_url=verify_url("https://pm.example.com/receipts", "R20261202-000123", "ABCD2345EFGH"),
        community_name="阳光花园", payer_name="张三", method="alipay",
        provider_txn_id="2026120222001400001234567890", paid_at="2026-12-02T08:00:00Z",
        amount_cents=26575 * bills,
        bills=tuple(Bill(f"b{i}", "u1", "c1", "1栋101", "property", f"2026-{i % 12 + 1:02d}", items, "2026-12-01")
                    for i in range(bills)))


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


def test_dark_runs_cover_exactly_the_dark_modules():
    row = [True, True, False, True, False, False, True]
    assert dark_runs(row) == [(0, 2), (3, 1), (6, 1)]
    assert dark_runs([False] * 3) == [] and dark_runs([True] * 3) == [(0, 3)]
