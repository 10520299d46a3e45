"""E-receipts: a PDF in Chinese (reportlab, imported only here and only when a receipt is made) kept in a
private bucket with server-side encryption, handed out through 5-minute presigned links."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from chalicelib.domain.receipts import ReceiptDocument

LINK_SECONDS = 300
METHOD_NAMES = {"alipay": "支付宝", "wechat": "微信支付", "card": "银行卡", "sandbox": "沙箱支付"}
TYPE_NAMES = {"property": "物业费", "water": "水费", "electricity": "电费", "parking": "停车费", "other": "其他"}


def yuan(cents: int) -> str:
    return f"¥{Decimal(cents) / 100:,.2f}"


def render_pdf(doc: ReceiptDocument) -> bytes:
    """Draw the receipt. Chinese text uses the built-in CID font STSong-Light; numbers and ids use Helvetica
    so they stay machine-readable (copy, search, text extraction)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4)
    c.setTitle(f"Receipt {doc.receipt_no}")
    width, height = A4
    y = height - 60

    def line(label: str, value: str, size: int = 11) -> None:
        nonlocal y
        c.setFont("STSong-Light", size)
        c.drawString(50, y, label)
        c.setFont("Helvetica", size)
        c.drawString(160, y, value)
        y -= 20

    def zh_line(label: str, value: str) -> None:
        nonlocal y
        c.setFont("STSong-Light", 11)
        c.drawString(50, y, label)
        c.drawString(160, y, value)
        y -= 20

    c.setFont("STSong-Light", 20)
    c.drawCentredString(width / 2, y, f"{doc.community_name} 电子收据")
    y -= 40
    line("收据编号：", doc.receipt_no)
    zh_line("付款人：", doc.payer_name)
    zh_line("房屋：", "、".join(sorted({b.unit_label for b in doc.bills})))
    zh_line("支付方式：", METHOD_NAMES.get(doc.method, doc.method))
    line("交易流水号：", doc.provider_txn_id)
    line("支付时间：", doc.paid_at.replace("T", " ").replace("Z", " UTC"))
    y -= 10
    for bill in doc.bills:
        c.setFont("STSong-Light", 12)
        c.drawString(50, y, f"{TYPE_NAMES.get(bill.type, bill.type)}  {bill.period}")
        c.setFont("Helvetica", 12)
        c.drawRightString(width - 50, y, yuan(bill.total_cents))
        y -= 18
        for item in bill.items:
            c.setFont("STSong-Light", 10)
            c.drawString(70, y, f"{item.name}  {item.quantity} {item.unit} × {yuan(item.unit_price_cents)}")
            c.setFont("Helvetica", 10)
            c.drawRightString(width - 50, y, yuan(item.amount_cents))
            y -= 16
        y -= 6
        if y < 220:
            c.showPage()
            y = height - 60
    c.setFont("STSong-Light", 14)
    c.drawString(50, y, "合计金额：")
    c.setFont("Helvetica-Bold", 14)
    c.drawString(160, y, f"{yuan(doc.amount_cents)} ({doc.amount_cents} fen)")
    y -= 30
    line("验证码：", doc.code)
    c.setFont("STSong-Light", 9)
    c.drawString(50, y, "扫描二维码或访问以下地址，可核验本收据的真实性：")
    c.setFont("Helvetica", 8)
    c.drawString(50, y - 14, doc.verify_url)
    size = 120
    draw_qr(c, qr_modules(doc.verify_url), width - 50 - size, 40, size)
    c.showPage()
    c.save()
    return buffer.getvalue()


QUIET_MODULES = 4  # the light margin a QR code needs around it, in modules (the standard's minimum)


def qr_modules(text: str) -> list[list[bool]]:
    """The QR code of `text` as rows of dark (True) and light modules, top row first (error correction L, the
    smallest version that holds it; reportlab's encoder, which also picks the mask)."""
    from reportlab.graphics.barcode import qrencoder

    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.L)
    code.addData(text)
    code.make()
    return [[bool(module) for module in row] for row in code.modules]


def dark_runs(row: list[bool]) -> list[tuple[int, int]]:
    """(first column, length) of each run of dark modules in a row."""
    runs, start = [], None
    for column, dark in enumerate([*row, False]):
        if dark and start is None:
            start = column
        elif not dark and start is not None:
            runs.append((start, column - start))
            start = None
    return runs


def draw_qr(c: Any, modules: list[list[bool]], x: float, y: float, size: float) -> None:
    """Draw the code in the `size` square whose lower left corner is (x, y), quiet margin included, as one
    filled path of one rectangle per horizontal run (one fill: no seams between touching modules either)."""
    module = size / (len(modules) + 2 * QUIET_MODULES)
    path = c.beginPath()
    for row_index, row in enumerate(modules):
        bottom = y + size - (row_index + QUIET_MODULES + 1) * module
        for start, length in dark_runs(row):
            path.rect(x + (start + QUIET_MODULES) * module, bottom, length * module, module)
    c.saveState()
    c.setFillColorRGB(0, 0, 0)
    c.drawPath(path, stroke=0, fill=1)
    c.restoreState()



class S3ReceiptStore:
    def __init__(self, s3: Any, bucket: str):
        self._s3 = s3
        self._bucket = bucket

    def put(self, key: str, pdf: bytes) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=pdf, ContentType="application/pdf",
                            ServerSideEncryption="AES256")

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=key)
        except self._s3.exceptions.ClientError:
            return False
        return True

    def link(self, key: str) -> str:
        return self._s3.generate_presigned_url("get_object", Params={"Bucket": self._bucket, "Key": key},
                                               ExpiresIn=LINK_SECONDS)
