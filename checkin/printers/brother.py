"""BrotherQlBadgePrinter: the badge as Brother QL raster, over TCP 9100 or to a device file.

The badge is the same one the PDF printer makes: ``render_badge`` is rasterised with pdfium at
the label's printable width (696 dots for 62 mm endless tape) and converted by ``brother_ql``
(the maintained ``brother-ql-next`` fork: the original breaks with Pillow >= 10 when it must
resize). Die-cut labels get the badge scaled to fit and centred. Network QL printers send no
status back on 9100, so "sent" is the best success we can report; ``file`` targets (for example
``/dev/usb/lp0``) are written directly. Imports errors, printer and this package only.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import structlog
from PIL import Image

from checkin.errors import ProviderRejected, ProviderTimeout, ProviderUnavailable
from checkin.printer import PAGE_W, Badge, PrintReceipt, render_badge
from checkin.printers.raw_tcp import send_raw

log = structlog.get_logger(__name__)

# pdfium keeps global state and is not thread-safe; renders from worker threads take turns.
_PDFIUM_LOCK = threading.Lock()


class BrotherQlBadgePrinter:
    """Brother QL label printer: give ``host`` (raw TCP) or ``device`` (a file to write)."""

    def __init__(
        self,
        *,
        host: str = "",
        port: int = 9100,
        device: str = "",
        model: str = "QL-820NWB",
        label: str = "62",
        timeout_s: float = 2.0,
    ) -> None:
        if bool(host) == bool(device):
            raise ValueError("give exactly one of host or device")
        _check_model_and_label(model, label)
        self._host, self._port, self._device = host, port, device
        self._model, self._label = model, label
        self._timeout_s = timeout_s

    async def print_badge(self, badge: Badge) -> PrintReceipt:
        """Rasterise and send the badge; raise printer-* provider errors."""
        try:
            data = await asyncio.to_thread(raster_badge, badge, model=self._model,
                                           label=self._label)
        except Exception as exc:  # pdfium/Pillow/brother_ql raise their own kinds on bad input
            log.warning("badge_print_failed", printer="brother", error_type=type(exc).__name__)
            raise ProviderUnavailable("printer", code="printer-failed") from None
        if self._host:
            await send_raw(self._host, self._port, data, timeout_s=self._timeout_s,
                           printer="brother")
            location = f"tcp://{self._host}:{self._port}"
        else:
            await self._write_device(data)
            location = f"file://{self._device}"
        log.info("badge_printed", printer="brother", visit_id=badge.visit_id, size=len(data))
        return PrintReceipt(printer="brother", location=location)

    async def _write_device(self, data: bytes) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                # The write blocks while the printer is busy or asleep; on timeout the thread
                # finishes (or fails) on its own, and the visitor is not kept waiting for it.
                await asyncio.to_thread(_write, Path(self._device), data)
        except TimeoutError:
            log.warning("badge_print_failed", printer="brother", error_type="TimeoutError")
            raise ProviderTimeout("printer", code="printer-timeout") from None
        except OSError as exc:
            log.warning("badge_print_failed", printer="brother",
                        error_type=type(exc).__name__, errno=exc.errno)
            raise ProviderUnavailable("printer", code="printer-unreachable") from None


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as device:
        device.write(data)


def badge_image(badge: Badge, *, width: int, height: int = 0) -> Image.Image:
    """The badge PDF as an RGB image ``width`` pixels wide; letterboxed when ``height`` is set."""
    import pypdfium2 as pdfium

    pdf = render_badge(badge)
    with _PDFIUM_LOCK:
        document = pdfium.PdfDocument(pdf)
        try:
            page = document[0]
            scale = width / PAGE_W
            if height:  # die-cut: fit the whole badge inside the label
                scale = min(scale, height / page.get_height())
            image: Image.Image = page.render(scale=scale).to_pil().convert("RGB")
        finally:
            document.close()
    if height and image.size != (width, height):
        canvas = Image.new("RGB", (width, height), "white")
        canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
        image = canvas
    return image


def raster_badge(badge: Badge, *, model: str = "QL-820NWB", label: str = "62") -> bytes:
    """The Brother QL raster job (``ESC i a 1`` ... ``0x1a``) for one badge on ``label``."""
    from brother_ql.conversion import convert
    from brother_ql.raster import BrotherQLRaster

    width, height = _printable_dots(label)
    if height > width:  # a portrait die-cut label (29x90): lay the landscape badge along it
        image = badge_image(badge, width=height, height=width).rotate(90, expand=True)
    else:
        image = badge_image(badge, width=width, height=height)
    # threshold 70 %: the dark header and the accent band print black with white text on them
    data: bytes = convert(qlr=BrotherQLRaster(model), images=[image], label=label, rotate="0",
                          threshold=70.0, dither=False, compress=False, red=False,
                          dpi_600=False, hq=True, cut=True)
    return data


def _printable_dots(label: str) -> tuple[int, int]:
    """(width, height) in dots; height 0 for endless tape."""
    from brother_ql.labels import LabelsManager

    found: Any = next((x for x in LabelsManager().iter_elements() if x.identifier == label), None)
    if found is None:
        raise ProviderRejected("printer", code="printer-bad-label")
    width, height = found.dots_printable
    return int(width), int(height)


def _check_model_and_label(model: str, label: str) -> None:
    """Fail at start-up, not at the first visitor, when config names an unknown model/label."""
    from brother_ql.labels import LabelsManager
    from brother_ql.models import ModelsManager

    if model not in ModelsManager().identifiers():
        raise ValueError(f"unknown Brother QL model {model!r}")
    labels = {x.identifier: x for x in LabelsManager().iter_elements()}
    # Label.works_with_model() checks the model list instead of the label's restriction
    # (brother-ql-next 0.12), so the restriction is read directly.
    restricted = labels[label].restricted_to_models if label in labels else []
    if label not in labels or (restricted and model not in restricted):
        raise ValueError(f"label {label!r} does not fit model {model!r}")
