"""PdfBadgePrinter writes a finished-looking badge PDF per visit, named by visit id only."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import pytest

from checkin.errors import ProviderUnavailable
from checkin.printer import Badge, PdfBadgePrinter, PrintReceipt, qr_widget

pytestmark = pytest.mark.unit

ISSUED = datetime(2025, 3, 18, 9, 58, tzinfo=ZoneInfo("America/New_York"))


def _badge(**changes: str) -> Badge:
    fields = {
        "visit_id": "V-2025-0318-0007",
        "visitor_name": "Joško Müller-Nuñez",
        "company": "Kestrel Automation GmbH",
        "host_name": "Sarah Chen",
        "site_name": "Brightline Robotics · HQ Lobby",
    }
    return Badge(issued_at=ISSUED, **{**fields, **changes})


def _text(receipt: PrintReceipt) -> str:
    return pypdf.PdfReader(receipt.location).pages[0].extract_text()


async def test_a_badge_pdf_carries_the_visitor_company_host_site_and_date(tmp_path: Path) -> None:
    receipt = await PdfBadgePrinter(tmp_path).print_badge(_badge())

    assert receipt.printer == "pdf"
    page = pypdf.PdfReader(receipt.location).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (288, 216)  # 4 x 3 in
    text = _text(receipt)
    for expected in (
        "Joško Müller-Nuñez",  # Latin Extended survives: an embedded TrueType font, not Helvetica
        "Kestrel Automation GmbH",
        "Visiting Sarah Chen",
        "Brightline Robotics",
        "18 Mar 2025",
        "Checked in 09:58",
        "V I S I T O R",
    ):
        assert expected in text


async def test_the_file_is_named_by_visit_id_and_a_reprint_never_overwrites(
    tmp_path: Path,
) -> None:
    printer = PdfBadgePrinter(tmp_path / "badges" / "today")  # created when missing

    first = await printer.print_badge(_badge())
    second = await printer.print_badge(_badge())

    assert Path(first.location).name == "V-2025-0318-0007-1.pdf"
    assert Path(second.location).name == "V-2025-0318-0007-2.pdf"
    for receipt in (first, second):
        name = Path(receipt.location).name.casefold()
        assert "josko" not in name and "joško" not in name and "muller" not in name
        assert "Joško" in _text(receipt)


async def test_a_visit_id_cannot_escape_the_folder(tmp_path: Path) -> None:
    receipt = await PdfBadgePrinter(tmp_path).print_badge(_badge(visit_id="../../etc/passwd"))

    assert Path(receipt.location).parent == tmp_path
    assert Path(receipt.location).name == "etc_passwd-1.pdf"


def test_the_qr_code_encodes_the_visit_id_and_nothing_personal() -> None:
    assert qr_widget("V-2025-0318-0007").value == "V-2025-0318-0007"


async def test_long_names_are_wrapped_or_shrunk_not_lost(tmp_path: Path) -> None:
    name = "Maximiliana Alexandrovna Przybyszewska-Wojciechowska"
    receipt = await PdfBadgePrinter(tmp_path).print_badge(_badge(visitor_name=name))

    assert "Maximiliana Alexandrovna\nPrzybyszewska-Wojciechowska" in _text(receipt)


async def test_a_candidate_without_company_still_gets_a_complete_badge(tmp_path: Path) -> None:
    receipt = await PdfBadgePrinter(tmp_path).print_badge(_badge(company="", site_name=""))

    text = _text(receipt)
    assert "Visiting Sarah Chen" in text and "V I S I T O R" in text


async def test_page_one_renders_to_png_and_its_qr_code_scans(tmp_path: Path) -> None:
    """Leaves badge.png in the test's tmp dir so a person can look at the layout."""
    pdfium = pytest.importorskip("pypdfium2")
    receipt = await PdfBadgePrinter(tmp_path).print_badge(_badge())

    image = pdfium.PdfDocument(receipt.location)[0].render(scale=3).to_pil()
    image.save(tmp_path / "badge.png")
    assert image.size == (864, 648)

    zxingcpp = pytest.importorskip("zxingcpp")
    assert [code.text for code in zxingcpp.read_barcodes(image)] == ["V-2025-0318-0007"]


async def test_an_unwritable_folder_raises_printer_failed(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the badge folder should be")

    with pytest.raises(ProviderUnavailable) as caught:
        await PdfBadgePrinter(blocker / "badges").print_badge(_badge())

    assert caught.value.code == "printer-failed"
    assert caught.value.provider == "printer"
    assert caught.value.__suppress_context__
