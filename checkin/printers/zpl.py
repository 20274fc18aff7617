"""ZplBadgePrinter: a visitor badge as a ZPL II label, sent to a Zebra printer on TCP 9100.

The label is 4 x 3 in (the common visitor-badge stock), laid out in dots for 203 or 300 dpi:
a black header with the site and date, the visitor's name large, company, host, check-in
time, a QR code of the visit id (``^BQ``) and a VISITOR band. ``^CI28`` makes field data UTF-8.

Names are untrusted input: in ZPL a ``^`` or ``~`` anywhere in field data starts a new command
(``^XZ`` would end the label, ``~JR`` would reset the printer), so every text field is sent with
``^FH`` and those characters, plus the ``_`` escape character itself, as ``_hh`` hex.
Imports errors, printer and this package only.
"""

from __future__ import annotations

import structlog

from checkin.printer import Badge, PrintReceipt
from checkin.printers.raw_tcp import send_raw

log = structlog.get_logger(__name__)

_BASE_DPI = 203  # the layout below is in 203-dpi dots (8 dots/mm); 300 dpi scales it
_WIDTH_IN, _HEIGHT_IN = 4, 3
_HEX_ESCAPES = {"_": "_5F", "^": "_5E", "~": "_7E"}


class ZplBadgePrinter:
    """Zebra (or ZPL-compatible) label printer reached over raw TCP, usually port 9100."""

    def __init__(
        self, host: str, port: int = 9100, *, timeout_s: float = 2.0, dpi: int = 203
    ) -> None:
        self._host, self._port = host, port
        self._timeout_s = timeout_s
        self._dpi = dpi

    async def print_badge(self, badge: Badge) -> PrintReceipt:
        """Send the badge label; raise printer-unreachable or printer-timeout."""
        data = zpl_label(badge, dpi=self._dpi).encode("utf-8")
        await send_raw(self._host, self._port, data, timeout_s=self._timeout_s, printer="zpl")
        log.info("badge_printed", printer="zpl", visit_id=badge.visit_id, size=len(data))
        return PrintReceipt(printer="zpl", location=f"tcp://{self._host}:{self._port}")


def zpl_label(badge: Badge, *, dpi: int = 203) -> str:
    """The badge as one ZPL format, ``^XA`` ... ``^XZ``.

    ``Badge(visitor_name="Ann ^XZ")`` -> ``...^FO30,100^A0N,64,64^FB752,2,0,L^FH^FDAnn _5EXZ^FS...``
    """

    def d(dots: int) -> int:  # layout dots at 203 dpi -> this printer's dots
        return round(dots * dpi / _BASE_DPI)

    width, height = d(_WIDTH_IN * _BASE_DPI), d(_HEIGHT_IN * _BASE_DPI)
    name_size, name_chars = _name_font(badge.visitor_name)
    date_text = f"{badge.issued_at:%Y-%m-%d}"
    lines = [
        f"^XA^CI28^PW{width}^LL{height}^LH0,0",
        # header: a filled box, then reversed (white on black) text over it
        f"^FO0,0^GB{width},{d(64)},{d(64)}^FS",
        f"^FO{d(24)},{d(16)}^A0N,{d(34)},{d(34)}^FB{d(560)},1,0,L^FR"
        + _field(_cut(badge.site_name or "Visitor", 34)),
        f"^FO{d(560)},{d(18)}^A0N,{d(30)},{d(30)}^FB{d(228)},1,0,R^FR" + _field(date_text),
        f"^FO{d(24)},{d(92)}^A0N,{d(name_size)},{d(name_size)}^FB{d(764)},2,0,L"
        + _field(_cut(badge.visitor_name, name_chars)),
        f"^FO{d(24)},{d(270)}^A0N,{d(36)},{d(36)}^FB{d(540)},1,0,L"
        + _field(_cut(badge.company, 28)),
        f"^FO{d(24)},{d(320)}^A0N,{d(32)},{d(32)}^FB{d(540)},1,0,L"
        + _field(_cut(f"Visiting {badge.host_name}", 32)),
        f"^FO{d(24)},{d(366)}^A0N,{d(28)},{d(28)}^FB{d(540)},1,0,L"
        + _field(f"Checked in {badge.issued_at:%H:%M}"),
        # QR model 2, magnification 6 (at 203 dpi); "QA," = automatic mode, error correction Q
        f"^FO{d(580)},{d(250)}^BQN,2,{max(1, d(6))}" + _field(f"QA,{badge.visit_id}"),
        f"^FO0,{d(515)}^GB{width},{height - d(515)},{height - d(515)}^FS",
        f"^FO0,{d(538)}^A0N,{d(52)},{d(52)}^FB{width},1,0,C^FR" + _field("VISITOR"),
        "^PQ1^XZ",
    ]
    return "\n".join(lines) + "\n"


def _field(text: str) -> str:
    """``^FH^FD<data>^FS`` with the characters ZPL would read as commands hex-escaped."""
    flat = " ".join(text.split())  # a newline or tab in a name is noise on a badge
    return "^FH^FD" + "".join(_HEX_ESCAPES.get(ch, ch) for ch in flat) + "^FS"


def _name_font(name: str) -> tuple[int, int]:
    """Font height (203-dpi dots) and character budget: long names get smaller type.

    Font 0 is proportional, so the budgets are conservative estimates for two wrapped lines;
    ``^FB`` prints text beyond its last line on top of that line, so we cut instead.
    """
    length = len(" ".join(name.split()))
    if length <= 18:
        return 64, 36
    if length <= 30:
        return 48, 56
    return 40, 66


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
