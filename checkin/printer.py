"""Visitor badges: PdfBadgePrinter renders a 4 x 3 in badge PDF (reportlab) into a folder.

Owns the badge's value types (Badge, PrintReceipt), its layout, the font choice and the file
naming. Label and office printers (ZPL, Brother QL, CUPS) and the retry wrapper live in
``checkin.printers`` behind the same ``print_badge`` method. It must not import voice, notify,
llm, tools, conversation, db or directory; it raises only checkin.errors types.

Privacy: the file name is ``<visit_id>-<n>.pdf`` and never carries the visitor's name.
"""

from __future__ import annotations

import asyncio
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import reportlab
import structlog
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from checkin.errors import ProviderUnavailable

log = structlog.get_logger(__name__)

PAGE_W, PAGE_H = 4 * inch, 3 * inch
MARGIN = 14.0
HEADER_H, BAND_H, QR_SIZE = 34.0, 30.0, 74.0
INK, MUTED, ACCENT = (
    colors.HexColor("#1d2433"),
    colors.HexColor("#5b6473"),
    colors.HexColor("#d9480f"),
)

# Helvetica covers Latin-1 only ("Joško" would lose its š), so embed a TrueType font. DejaVu
# covers all of Latin Extended and is on most Linux systems; reportlab ships Bitstream Vera as a
# fallback, which lacks a few letters (ń, ř, ą...) that are then written without their accent.
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
)
_FONT_FILES = (("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"), ("Vera.ttf", "VeraBd.ttf"))


@dataclass(frozen=True, slots=True)
class Badge:
    """What goes on a visitor badge; ``visit_id`` is encoded in the QR code."""

    visit_id: str
    visitor_name: str
    company: str
    host_name: str
    issued_at: datetime
    site_name: str = ""


@dataclass(frozen=True, slots=True)
class PrintReceipt:
    """Where a badge went: the printer kind and the file or queue it was written to."""

    printer: str
    location: str


class PdfBadgePrinter:
    """Badge printer that writes one PDF per badge into ``folder`` (created if missing)."""

    def __init__(self, folder: Path) -> None:
        self._folder = Path(folder)

    async def print_badge(self, badge: Badge) -> PrintReceipt:
        """Render and save the badge; raise ProviderUnavailable(code="printer-failed")."""
        path = await asyncio.to_thread(self._write, badge)
        log.info("badge_printed", printer="pdf", visit_id=badge.visit_id)
        return PrintReceipt(printer="pdf", location=str(path))

    def _write(self, badge: Badge) -> Path:
        try:
            pdf = render_badge(badge)
        except Exception as exc:  # reportlab raises assorted types; the tool needs ProviderError
            log.warning("badge_print_failed", error_type=type(exc).__name__)
            raise ProviderUnavailable("printer", code="printer-failed") from None
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", badge.visit_id).strip("._") or "visit"
            for n in range(1, 10_000):  # a reprint gets the next number, never overwrites
                path = self._folder / f"{stem}-{n}.pdf"
                try:
                    with path.open("xb") as out:
                        out.write(pdf)
                    return path
                except FileExistsError:
                    continue
        except OSError as exc:
            log.warning("badge_print_failed", error_type=type(exc).__name__, errno=exc.errno)
        raise ProviderUnavailable("printer", code="printer-failed") from None


def qr_widget(visit_id: str) -> QrCodeWidget:
    """The QR code printed on the badge; it encodes the visit id and nothing personal."""
    return QrCodeWidget(visit_id, barLevel="M", barBorder=2)


def render_badge(badge: Badge) -> bytes:
    """The badge as PDF bytes: header, name, company, host, date, QR code, VISITOR band."""
    regular, bold = _fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
    canvas.setTitle(f"Visitor badge {badge.visit_id}")
    canvas.setAuthor(badge.site_name or "checkin")
    canvas.setCreator("checkin")
    inner_w = PAGE_W - 2 * MARGIN

    canvas.setFillColor(INK)  # header: the site, and the day the badge is good for
    canvas.rect(0, PAGE_H - HEADER_H, PAGE_W, HEADER_H, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    date_text = badge.issued_at.strftime("%d %b %Y").lstrip("0")
    canvas.setFont(regular, 9)
    canvas.drawRightString(PAGE_W - MARGIN, PAGE_H - 21, date_text)
    site_w = inner_w - pdfmetrics.stringWidth(date_text, regular, 9) - 12
    _draw_line(canvas, badge.site_name or "Visitor", bold, (11, 8), MARGIN, PAGE_H - 21, site_w)

    qr_y = BAND_H + 8
    qr_top = qr_y + QR_SIZE
    lines, size = _fit(_printable(badge.visitor_name, bold), bold, inner_w, 30, 12)
    block_h = size * (0.72 + 1.1 * (len(lines) - 1))  # cap height of the first line and leading
    name_area_top, name_area_bottom = PAGE_H - HEADER_H, qr_top + 4
    y = name_area_top - (name_area_top - name_area_bottom - block_h) / 2 - size * 0.72
    canvas.setFillColor(INK)
    canvas.setFont(bold, size)
    for line in lines:
        canvas.drawString(MARGIN, y, line)
        y -= size * 1.1

    details_w = inner_w - QR_SIZE - 12
    y = qr_top - 16
    canvas.setFillColor(INK)
    if badge.company.strip():
        _draw_line(canvas, badge.company, bold, (12, 9), MARGIN, y, details_w)
        y -= 20
    _draw_line(canvas, f"Visiting {badge.host_name}", regular, (11, 8), MARGIN, y, details_w)
    canvas.setFillColor(MUTED)
    _draw_line(
        canvas, f"Checked in {badge.issued_at:%H:%M}", regular, (9, 9), MARGIN, y - 17, details_w
    )
    _draw_qr(canvas, badge.visit_id, PAGE_W - MARGIN - QR_SIZE + 4, qr_y)

    canvas.setFillColor(ACCENT)  # the band a guard reads from across the lobby
    canvas.rect(0, 0, PAGE_W, BAND_H, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    canvas.setFont(bold, 17)
    canvas.drawCentredString(PAGE_W / 2, 9.5, "V I S I T O R")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_line(
    canvas: Canvas, text: str, font: str, sizes: tuple[int, int], x: float, y: float, width: float
) -> None:
    """One line of text, shrunk from sizes[0] towards sizes[1] to fit, then cut with "…"."""
    text = _printable(text, font)
    size = sizes[0]
    while size > sizes[1] and pdfmetrics.stringWidth(text, font, size) > width:
        size -= 1
    canvas.setFont(font, size)
    canvas.drawString(x, y, _ellipsize(text, font, size, width))


def _draw_qr(canvas: Canvas, visit_id: str, x: float, y: float) -> None:
    widget = qr_widget(visit_id)
    left, bottom, right, top = widget.getBounds()
    scale = QR_SIZE / max(right - left, top - bottom)
    drawing = Drawing(QR_SIZE, QR_SIZE, transform=[scale, 0, 0, scale, 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)


@cache
def _fonts() -> tuple[str, str]:
    """Register and return (regular, bold): DejaVu if installed, else reportlab's own Vera."""
    bundled = Path(reportlab.__file__).parent / "fonts"
    for regular_file, bold_file in _FONT_FILES:
        for folder in (*_FONT_DIRS, bundled):
            regular, bold = folder / regular_file, folder / bold_file
            if regular.is_file() and bold.is_file():
                names = ("Badge", "Badge-Bold")
                pdfmetrics.registerFont(TTFont(names[0], str(regular)))
                pdfmetrics.registerFont(TTFont(names[1], str(bold)))
                return names
    return "Helvetica", "Helvetica-Bold"  # unreachable with reportlab installed; Latin-1 only


def _printable(text: str, font: str) -> str:
    """Drop the accent from any letter the font lacks rather than print an empty box."""
    face = getattr(pdfmetrics.getFont(font), "face", None)
    glyphs = getattr(face, "charToGlyph", None)
    if glyphs is None:
        return text
    out = []
    for ch in " ".join(text.split()):
        if ord(ch) not in glyphs:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if ord(c) in glyphs)
            ch = base or "?"
        out.append(ch)
    return "".join(out)


def _fit(text: str, font: str, width: float, largest: int, smallest: int) -> tuple[list[str], int]:
    """Lines and size for a name: one line, or two when that allows a clearly larger size.

    Lines break at spaces or after hyphens ("Müller-" / "Nuñez"); what still does not fit at
    ``smallest`` is cut with an ellipsis.
    """

    def size_for(lines: list[str]) -> int:
        size = largest
        while (
            size > smallest and max(pdfmetrics.stringWidth(ln, font, size) for ln in lines) > width
        ):
            size -= 1
        return size

    def overflow(lines: list[str], size: int) -> float:
        return max(pdfmetrics.stringWidth(ln, font, size) for ln in lines) - width

    one = size_for([text])
    breaks = [i for i in range(1, len(text)) if text[i - 1] in " -" and text[i] != " "]
    splits = [[text[:i].rstrip(), text[i:]] for i in breaks]
    if splits and (one < largest or overflow([text], one) > 0):
        two = min(splits, key=lambda lines: (-size_for(lines), overflow(lines, smallest)))
        two_size = min(size_for(two), int(largest * 0.8))  # two lines stay a bit smaller
        if two_size >= one + 3 or overflow([text], one) > 0:
            return [_ellipsize(line, font, two_size, width) for line in two], two_size
    return [_ellipsize(text, font, one, width)], one


def _ellipsize(text: str, font: str, size: float, width: float) -> str:
    """Cut ``text`` to ``width`` points, ending in "…" when something was cut."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"
