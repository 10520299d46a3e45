"""E-receipts: a PDF in Chinese (reportlab, imported only here and only when a receipt is made) kept in a
private bucket with server-side encryption, handed out through 5-minute presigned links.

All text is set in one embedded face, Noto Sans SC (its Latin glyphs too), subset to a fixed character set by
`make fonts` (tools/receipt_font.py) into chalicelib/fonts/, which the Lambda package carries: the PDF names no
font a viewer must have, so it looks the same on any phone, printer or archive."""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from chalicelib.domain.receipts import ReceiptDocument, amount_in_words, local_time
from chalicelib.observability import logger

LINK_SECONDS = 300
CREATOR = "物业管理系统 · 业主端"
FONT_NAME = "ReceiptSans"
FONT_PATH = Path(__file__).resolve().parent.parent / "fonts" / "NotoSansSC-Receipt.ttf"
ONLINE = "在线支付"
FRONT_DESK = "前台收费"
METHOD_NAMES = {"alipay": ("支付宝", ONLINE), "wechat": ("微信支付", ONLINE), "card": ("银行卡", ONLINE),
                "sandbox": ("沙箱支付", ONLINE), "cash": ("现金", FRONT_DESK), "pos": ("POS 刷卡", FRONT_DESK),
                "bank_transfer": ("银行转账", FRONT_DESK)}
TYPE_NAMES = {"property": "物业费", "water": "水费", "electricity": "电费", "parking": "停车费", "other": "其他"}
LABELS = {"title": "电子收据", "receipt_no": "收据编号：", "payee": "收款单位：", "community": "小区：",
          "payer": "付款人：", "units": "房屋：", "method": "支付方式：", "reference": "收费凭证号：",
          "txn": "交易流水号：", "paid_at": "支付时间：", "total": "合计金额：", "words": "大写金额：",
          "code": "验证码：", "verify": "扫描二维码或访问以下地址，可核验本收据的真实性："}
# Every fixed string a receipt prints, and the characters the amount in words and the time use: the font
# subset keeps all of these whatever else it drops (tools/receipt_font.py).
RECEIPT_TEXT = "".join([*LABELS.values(), *(n for pair in METHOD_NAMES.values() for n in pair),
                        *TYPE_NAMES.values(), "零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整人民币",
                        "北京时间（），：、·×¥㎡"])


BOTTOM = 50  # points: the page's bottom margin
QR_BOTTOM, QR_SIZE = 40, 120
FOOTER_HEIGHT = 130  # the totals, amount in words, code and link above the QR code


class ReceiptFontMissing(RuntimeError):
    """The receipt font was not built into the package (`make fonts`)."""


def yuan(cents: int) -> str:
    return f"¥{Decimal(cents) / 100:,.2f}"


def method_text(method: str) -> str:
    """支付宝（在线支付）, 现金（前台收费）: what was used and where."""
    name, where = METHOD_NAMES.get(method, (method, ONLINE))
    return f"{name}（{where}）"


def at_front_desk(method: str) -> bool:
    return METHOD_NAMES.get(method, ("", ONLINE))[1] == FRONT_DESK


def receipt_font() -> str:
    """Register the embedded receipt face once per process and return its reportlab name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        if not FONT_PATH.is_file():
            raise ReceiptFontMissing(f"{FONT_PATH.name} is not built: run `make fonts`")
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH)))
    return FONT_NAME


def missing_characters(font_name: str, texts: list[str]) -> set[str]:
    """Characters of `texts` the subset has no glyph for (they would print as empty boxes)."""
    from reportlab.pdfbase import pdfmetrics

    cmap = pdfmetrics.getFont(font_name).face.charToGlyph
    return {c for text in texts for c in text if not c.isspace() and ord(c) not in cmap}


class _Page:
    """A cursor down an A4 page in the receipt face; starts a new page when the bottom margin is reached."""

    def __init__(self, c: Any, font: str, width: float, height: float):
        self.c, self.font, self.width, self.height = c, font, width, height
        self.y = height - 60

    def text(self, x: float, value: str, size: float, *, align: str = "left") -> None:
        self.c.setFont(self.font, size)
        draw = {"left": self.c.drawString, "right": self.c.drawRightString, "centre": self.c.drawCentredString}
        draw[align](x, self.y, value)

    def field(self, label: str, value: str, size: float = 11) -> None:
        self.text(50, label, size)
        for line in self.wrap(value, size, self.width - 50 - 140):
            self.text(140, line, size)
            self.y -= size + 9

    def wrap(self, value: str, size: float, width: float) -> list[str]:
        """`value` in lines no wider than `width`, broken anywhere (Chinese has no spaces to break at)."""
        from reportlab.pdfbase.pdfmetrics import stringWidth

        lines, line = [], ""
        for char in value:
            if line and stringWidth(line + char, self.font, size) > width:
                lines.append(line)
                line = ""
            line += char
        return [*lines, line]

    def down(self, step: float) -> None:
        self.y -= step

    def room_for(self, needed: float) -> None:
        """A new page unless `needed` points are left above the bottom of the page."""
        if self.y < needed:
            self.c.showPage()
            self.y = self.height - 60


def render_pdf(doc: ReceiptDocument) -> bytes:
    """Draw the receipt: payee, payer, flats, method, time in the community's zone, each bill and item
    labelled with its flat, the total in figures and in capitals, and the verification code, URL and QR."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = receipt_font()
    _warn_if_unprintable(font, doc)
    buffer = io.BytesIO()
    # the initial font too: otherwise every page names an unembedded Helvetica it never uses
    c = canvas.Canvas(buffer, pagesize=A4, initialFontName=font, initialFontSize=11)
    c.setTitle(f"{LABELS['title']} {doc.receipt_no}")
    c.setAuthor(doc.payee or doc.community_name)
    c.setSubject(LABELS["title"])
    c.setCreator(CREATOR)
    c.setKeywords(LABELS["title"])
    mark_pdfa_2b(c)
    page = _Page(c, font, *A4)
    _header(page, doc)
    _bills(page, doc)
    _footer(page, doc)
    c.showPage()
    c.save()
    return buffer.getvalue()


def mark_pdfa_2b(c: Any) -> None:
    """Make the document claim PDF/A-2b, and meet what that claim asks beyond embedded fonts: an XMP metadata
    packet (unfiltered) naming part 2, conformance B, that repeats the document information dictionary, and
    an sRGB output intent for the device colours the page uses."""
    from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFName, PDFStream, PDFString

    _end_streams_with_an_eol()
    doc = c._doc  # reportlab has no public API for the catalog's Metadata and OutputIntents
    profile = PDFStream(PDFDictionary({"N": 3}), srgb_profile())
    intent = PDFDictionary({"Type": PDFName("OutputIntent"), "S": PDFName("GTS_PDFA1"),
                            "OutputConditionIdentifier": PDFString("sRGB IEC61966-2.1"),
                            "Info": PDFString("sRGB IEC61966-2.1"), "DestOutputProfile": doc.Reference(profile)})
    catalog = doc.Catalog
    catalog.__NoDefault__ = [*catalog.__NoDefault__, "OutputIntents"]  # the keys the catalog writes
    catalog.OutputIntents = PDFArray([intent])
    catalog.Metadata = _unfiltered_stream(PDFDictionary({"Type": PDFName("Metadata"), "Subtype": PDFName("XML")}),
                                          xmp_packet)


def _end_streams_with_an_eol() -> None:
    """PDF/A (ISO 19005-2, 6.1.7.1) wants an end-of-line marker before every `endstream`; reportlab writes
    compressed streams without one. Patched once per process (the receipt job's): the marker is not part of a
    stream's Length, so the PDF stays valid for every reader and every other reportlab use."""
    from reportlab.pdfbase import pdfdoc

    original = pdfdoc.PDFStream.format
    if getattr(original, "ends_with_eol", False):
        return

    def format_with_eol(self: Any, document: Any) -> bytes:
        out = original(self, document)
        if out.endswith(b"endstream\n") and not out.endswith((b"\nendstream\n", b"\rendstream\n")):
            out = out[: -len(b"endstream\n")] + b"\nendstream\n"
        return out

    format_with_eol.ends_with_eol = True  # type: ignore[attr-defined]
    pdfdoc.PDFStream.format = format_with_eol


def srgb_profile() -> bytes:
    """An sRGB ICC profile (littlecms's, through Pillow: no profile file to ship)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def xmp_packet(doc: Any) -> bytes:
    """The XMP metadata of `doc`: the PDF/A identification plus the information dictionary's entries, equal to
    them as PDF/A requires (same title, author, subject, keywords, tools and timestamps)."""
    from xml.sax.saxutils import escape

    info, stamp = doc.info, doc._timeStamp
    year, month, day, hour, minute, second = stamp.YMDhms
    when = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{stamp.dhh:+03d}:{stamp.dmm:02d}"
    values = {k: escape(v) for k, v in (("title", info.title), ("author", info.author), ("subject", info.subject),
                                        ("keywords", info.keywords), ("creator", info.creator),
                                        ("producer", info.producer))}
    return XMP_TEMPLATE.format(when=when, **values).encode()


XMP_TEMPLATE = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{subject}</rdf:li></rdf:Alt></dc:description>
   <pdf:Keywords>{keywords}</pdf:Keywords>
   <pdf:Producer>{producer}</pdf:Producer>
   <pdf:Trapped>False</pdf:Trapped>
   <xmp:CreatorTool>{creator}</xmp:CreatorTool>
   <xmp:CreateDate>{when}</xmp:CreateDate>
   <xmp:ModifyDate>{when}</xmp:ModifyDate>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def _unfiltered_stream(dictionary: Any, content: Callable[[Any], bytes]) -> Any:
    """A stream written as is: PDF/A forbids a Filter on the metadata stream, which reportlab would add."""
    from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFObject, format

    class UnfilteredStream(PDFObject):
        __RefOnly__ = 1  # streams are indirect objects

        def format(self, document: Any) -> bytes:
            data = content(document)
            header = PDFDictionary({**dictionary.dict, "Length": len(data)})
            return format(header, document) + b"\nstream\n" + data + b"\nendstream\n"

    return UnfilteredStream()


def _warn_if_unprintable(font: str, doc: ReceiptDocument) -> None:
    texts = [doc.payee, doc.community_name, doc.payer_name, doc.method_reference,
             *(b.unit_label for b in doc.bills), *(i.name + i.unit for b in doc.bills for i in b.items)]
    missing = missing_characters(font, texts)
    if missing:
        # rare characters beyond GBK (extension blocks): the receipt is still made; the count says how many
        logger.warning("receipt text outside the receipt font", extra={"receipt_no": doc.receipt_no,
                                                                       "missing_characters": len(missing)})


def _header(page: _Page, doc: ReceiptDocument) -> None:
    page.text(page.width / 2, f"{doc.community_name} {LABELS['title']}", 20, align="centre")
    page.down(40)
    page.field(LABELS["receipt_no"], doc.receipt_no)
    page.field(LABELS["payee"], doc.payee or doc.community_name)
    page.field(LABELS["community"], doc.community_name)
    page.field(LABELS["payer"], doc.payer_name)
    page.field(LABELS["units"], "、".join(sorted({b.unit_label for b in doc.bills})))
    page.field(LABELS["method"], method_text(doc.method))
    if doc.method_reference:
        page.field(LABELS["reference"], doc.method_reference)
    if doc.provider_txn_id and not at_front_desk(doc.method):  # the desk's id only repeats the reference
        page.field(LABELS["txn"], doc.provider_txn_id)
    page.field(LABELS["paid_at"], local_time(doc.paid_at, doc.timezone))
    page.down(10)


def _bills(page: _Page, doc: ReceiptDocument) -> None:
    for bill in doc.bills:
        page.room_for(BOTTOM + 24 + 16 * len(bill.items))  # a bill is never split across pages
        page.text(50, f"{bill.unit_label}  {TYPE_NAMES.get(bill.type, bill.type)}  {bill.period}", 12)
        page.text(page.width - 50, yuan(bill.total_cents), 12, align="right")
        page.down(18)
        for item in bill.items:
            page.text(70, f"{item.name}  {item.quantity} {item.unit} × {yuan(item.unit_price_cents)}", 10)
            page.text(page.width - 50, yuan(item.amount_cents), 10, align="right")
            page.down(16)
        page.down(6)


def _footer(page: _Page, doc: ReceiptDocument) -> None:
    page.room_for(QR_BOTTOM + QR_SIZE + FOOTER_HEIGHT)  # the totals, code and QR stay together
    page.field(LABELS["total"], yuan(doc.amount_cents), 14)
    page.field(LABELS["words"], "人民币" + amount_in_words(doc.amount_cents), 12)
    page.down(8)
    page.field(LABELS["code"], doc.code)
    page.text(50, LABELS["verify"], 9)
    page.down(14)
    for line in page.wrap(doc.verify_url, 8, page.width - 100):
        page.text(50, line, 8)
        page.down(11)
    draw_qr(page.c, qr_modules(doc.verify_url), page.width - 50 - QR_SIZE, QR_BOTTOM, QR_SIZE)


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
