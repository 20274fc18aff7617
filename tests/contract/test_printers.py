"""Each real badge printer against a local stand-in for the device.

ZPL and Brother QL jobs go to a loopback TCP sink on 127.0.0.1 (what a printer's port 9100
is: bytes in, nothing back) and are decoded again: ZPL fields and escaping, the Brother raster
turned back into an image whose QR code must scan. CUPS runs a stub ``lp`` put first on PATH
that records its arguments and the PDF it was given. Failures: nothing listening, a printer that
never accepts, ``lp`` failing, missing or hanging.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pypdf
import pytest
from structlog.testing import capture_logs

from checkin.config import load_settings
from checkin.errors import ProviderTimeout, ProviderUnavailable
from checkin.printer import Badge
from checkin.printers import (
    BrotherQlBadgePrinter,
    CupsBadgePrinter,
    RetryingPrinter,
    ZplBadgePrinter,
    zpl_label,
)
from checkin.printers.brother import badge_image, raster_badge

pytestmark = pytest.mark.contract

ISSUED = datetime(2025, 3, 18, 9, 58, tzinfo=ZoneInfo("America/New_York"))
VISIT = "V-2025-0318-0007"
NAME = "Joško Müller-Nuñez"


def _badge(**changes: str) -> Badge:
    fields = {
        "visit_id": VISIT,
        "visitor_name": NAME,
        "company": "Kestrel Automation GmbH",
        "host_name": "Sarah Chen",
        "site_name": "Brightline Robotics",
    }
    return Badge(issued_at=ISSUED, **{**fields, **changes})


# --- a loopback "port 9100" -----------------------------------------------------------------


class TcpSink:
    """Accepts connections on 127.0.0.1 and keeps what each sent until it closed."""

    def __init__(self) -> None:
        self.jobs: list[bytes] = []
        self.port = 0
        self._arrived = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.jobs.append(await reader.read())  # until the client's EOF, like a printer
        writer.close()
        self._arrived.set()

    async def job(self) -> bytes:
        """The first complete job, waiting for it to finish arriving."""
        await asyncio.wait_for(self._arrived.wait(), timeout=2)
        return self.jobs[0]


@pytest.fixture
async def sink() -> AsyncIterator[TcpSink]:
    sink = TcpSink()
    server = await asyncio.start_server(sink.handle, "127.0.0.1", 0)
    sink.port = server.sockets[0].getsockname()[1]
    async with server:
        yield sink


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose listen queue is full: a connect there hangs, like an asleep printer."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


# --- ZPL ------------------------------------------------------------------------------------


def _fields(zpl: str) -> list[str]:
    """Every ``^FD`` payload, with ``^FH`` hex escapes decoded."""
    raw = re.findall(r"\^FD(.*?)\^FS", zpl, flags=re.S)
    return [re.sub(r"_([0-9A-Fa-f]{2})", lambda m: chr(int(m[1], 16)), f) for f in raw]


async def test_the_zpl_label_carries_every_field_and_a_qr_code_of_the_visit_id(
    sink: TcpSink,
) -> None:
    receipt = await ZplBadgePrinter("127.0.0.1", sink.port, timeout_s=2).print_badge(_badge())

    zpl = (await sink.job()).decode("utf-8")  # ^CI28: the job is UTF-8 on the wire
    assert (receipt.printer, receipt.location) == ("zpl", f"tcp://127.0.0.1:{sink.port}")
    assert zpl.startswith("^XA^CI28^PW812^LL609")  # 4 x 3 in at 203 dpi
    assert zpl.rstrip().endswith("^XZ") and zpl.count("^XA") == zpl.count("^XZ") == 1
    assert _fields(zpl) == [
        "Brightline Robotics", "2025-03-18", NAME, "Kestrel Automation GmbH",
        "Visiting Sarah Chen", "Checked in 09:58", f"QA,{VISIT}", "VISITOR",
    ]  # fmt: skip
    assert re.search(r"\^BQN,2,6\^FH\^FDQA," + re.escape(VISIT) + r"\^FS", zpl)
    assert NAME.encode() in await sink.job()  # raw UTF-8, not transliterated


async def test_carets_and_tildes_in_names_cannot_inject_zpl_commands(sink: TcpSink) -> None:
    evil = _badge(visitor_name="Eve ^XZ^XA~JR Mal_lory", company="~DGR:LOGO.GRF ^PQ99")
    await ZplBadgePrinter("127.0.0.1", sink.port).print_badge(evil)

    zpl = (await sink.job()).decode("utf-8")
    assert zpl.count("^XA") == zpl.count("^XZ") == 1
    assert "~" not in zpl and "^PQ99" not in zpl and "~JR" not in zpl
    assert "^FH^FDEve _5EXZ_5EXA_7EJR Mal_5Flory^FS" in zpl
    assert _fields(zpl)[2:4] == ["Eve ^XZ^XA~JR Mal_lory", "~DGR:LOGO.GRF ^PQ99"]
    assert zpl.count("^FD") == zpl.count("^FH^FD")  # every field is hex-escaped


def test_a_300_dpi_printer_gets_the_same_label_scaled_and_long_names_are_cut() -> None:
    zpl = zpl_label(_badge(visitor_name="Maximiliana Alexandrovna Przybyszewska-Wojciechowska "
                           "von Hohenzollern-Sigmaringen"), dpi=300)

    assert zpl.startswith("^XA^CI28^PW1200^LL900")
    name = _fields(zpl)[2]
    assert name.endswith("…") and len(name) <= 66
    assert "^BQN,2,9" in zpl  # magnification follows the dots


async def test_no_printer_listening_raises_printer_unreachable() -> None:
    printer = ZplBadgePrinter("127.0.0.1", _closed_port(), timeout_s=1)

    with pytest.raises(ProviderUnavailable) as caught:
        await printer.print_badge(_badge())
    assert caught.value.code == "printer-unreachable" and caught.value.__suppress_context__


async def test_a_printer_that_never_accepts_times_out(unanswered_port: int) -> None:
    printer = ZplBadgePrinter("127.0.0.1", unanswered_port, timeout_s=0.3)

    with pytest.raises(ProviderTimeout) as caught:
        await asyncio.wait_for(printer.print_badge(_badge()), timeout=2)
    assert caught.value.code == "printer-timeout"


# --- Brother QL -----------------------------------------------------------------------------


def _decode_raster(job: bytes, folder: Path):  # -> PIL.Image.Image
    """Turn a raster job back into the picture the printer would print (brother_ql's reader)."""
    from brother_ql.reader import BrotherQLReader
    from PIL import Image

    path = folder / "job.bin"
    path.write_bytes(job)
    with path.open("rb") as stream:
        reader = BrotherQLReader(stream)
        reader.filename_fmt = str(folder / "label{counter:04d}.png")
        reader.analyse()
    return Image.open(folder / "label0001.png")


def _qr_texts(image) -> list[str]:  # PIL image -> decoded QR payloads
    zxingcpp = pytest.importorskip("zxingcpp")
    return [code.text for code in zxingcpp.read_barcodes(image.convert("L"))]


async def test_a_brother_raster_job_over_tcp_prints_a_badge_whose_qr_scans(
    sink: TcpSink, tmp_path: Path
) -> None:
    printer = BrotherQlBadgePrinter(host="127.0.0.1", port=sink.port, model="QL-820NWB",
                                    label="62", timeout_s=2)
    receipt = await printer.print_badge(_badge())

    job = await sink.job()
    assert receipt.location == f"tcp://127.0.0.1:{sink.port}"
    assert job.startswith(b"\x1bia\x01")  # ESC i a 1: switch to raster mode
    assert b"\x00" * 400 + b"\x1b@" in job  # invalidate, then initialise
    assert job.endswith(b"\x1a")  # print with feed
    assert job.count(b"g\x00\x5a") == 522  # one 90-byte raster row per dot: 696 x 522 badge
    printed = _decode_raster(job, tmp_path)
    assert printed.size == (720, 522)  # the head is 720 dots; the 62 mm tape shows 696
    assert _qr_texts(printed) == [VISIT]


async def test_a_brother_job_can_go_to_a_device_file(tmp_path: Path) -> None:
    device = tmp_path / "lp0"
    printer = BrotherQlBadgePrinter(device=str(device), label="62x29", timeout_s=2)

    receipt = await printer.print_badge(_badge())

    assert receipt.location == f"file://{device}"
    printed = _decode_raster(device.read_bytes(), tmp_path)
    assert printed.size[1] == 271  # die-cut 62 x 29 mm: the badge scaled down to fit
    assert _qr_texts(printed) == [VISIT]


def test_an_unknown_brother_model_or_label_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="model"):
        BrotherQlBadgePrinter(host="127.0.0.1", model="QL-9999")
    with pytest.raises(ValueError, match="label"):
        BrotherQlBadgePrinter(host="127.0.0.1", model="QL-820NWB", label="102x152")
    with pytest.raises(ValueError, match="exactly one"):
        BrotherQlBadgePrinter(host="127.0.0.1", device="/dev/usb/lp0")


def test_the_badge_png_is_label_sized_not_blank_and_scans() -> None:
    image = badge_image(_badge(), width=696)

    assert image.size == (696, 522)
    grey = image.convert("L")
    low, high = grey.getextrema()
    assert low < 40 and high > 230  # ink and paper both present
    dark = sum(grey.histogram()[:128]) / (grey.width * grey.height)
    assert 0.1 < dark < 0.6  # header, band, name and QR: inked, but not a black page
    assert _qr_texts(image) == [VISIT]


def test_a_raster_job_is_deterministic_for_the_same_badge() -> None:
    assert raster_badge(_badge()) == raster_badge(_badge())


# --- CUPS lp --------------------------------------------------------------------------------

FAKE_LP = """#!{python}
# A stand-in for CUPS lp: records argv and the document, answers like lp does.
import json, os, pathlib, sys, time
record = pathlib.Path(os.environ["FAKE_LP_RECORD"])
n = len(list(record.glob("call-*.json"))) + 1
document = pathlib.Path(sys.argv[-1])
(record / f"call-{{n}}.json").write_text(json.dumps(sys.argv[1:]))
(record / f"doc-{{n}}.pdf").write_bytes(document.read_bytes())
time.sleep(float(os.environ.get("FAKE_LP_SLEEP", "0")))
if os.environ.get("FAKE_LP_FAIL"):
    print("lp: The printer or class does not exist.", file=sys.stderr)
    sys.exit(1)
print(f"request id is lobby-{{40 + n}} (1 file(s))")
"""


@pytest.fixture
def fake_lp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Puts a recording ``lp`` first on PATH; returns the folder it records into."""
    bin_dir, record = tmp_path / "bin", tmp_path / "lp-record"
    bin_dir.mkdir()
    record.mkdir()
    lp = bin_dir / "lp"
    lp.write_text(FAKE_LP.format(python=sys.executable), encoding="utf-8")
    lp.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_LP_RECORD", str(record))
    return record


async def test_cups_queues_the_badge_pdf_with_lp(fake_lp: Path) -> None:
    printer = CupsBadgePrinter("lobby", options=("media=Custom.4x3in", "fit-to-page"),
                               timeout_s=5)

    receipt = await printer.print_badge(_badge())

    assert (receipt.printer, receipt.location) == ("cups", "lobby-41")
    argv = json.loads((fake_lp / "call-1.json").read_text())
    assert argv[:-1] == ["-d", "lobby", "-t", f"badge {VISIT}",
                         "-o", "media=Custom.4x3in", "-o", "fit-to-page"]
    document = Path(argv[-1])
    assert document.name == f"badge-{VISIT}.pdf"  # visit id only: lpstat shows the name
    assert not await asyncio.to_thread(document.exists)  # temp copy gone once lp spooled it
    assert NAME.split()[0].casefold() not in " ".join(argv).casefold()
    text = pypdf.PdfReader(fake_lp / "doc-1.pdf").pages[0].extract_text()
    assert NAME in text and "Visiting Sarah Chen" in text


async def test_lp_failing_raises_printer_lp_failed_and_logs_no_lp_text(
    fake_lp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LP_FAIL", "1")

    with capture_logs() as logs, pytest.raises(ProviderUnavailable) as caught:
        await CupsBadgePrinter("nope", timeout_s=5).print_badge(_badge())

    assert caught.value.code == "printer-lp-failed"
    failed = [e for e in logs if e["event"] == "badge_print_failed"]
    assert failed and failed[0]["exit_code"] == 1 and failed[0]["stderr_chars"] > 0
    assert "does not exist" not in repr(logs)


async def test_no_lp_command_raises_printer_lp_missing(tmp_path: Path) -> None:
    printer = CupsBadgePrinter("lobby", lp_command=str(tmp_path / "no-such-lp"))

    with pytest.raises(ProviderUnavailable) as caught:
        await printer.print_badge(_badge())
    assert caught.value.code == "printer-lp-missing"


async def test_a_hanging_lp_is_killed_at_the_timeout(
    fake_lp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LP_SLEEP", "30")

    with pytest.raises(ProviderTimeout) as caught:
        await asyncio.wait_for(CupsBadgePrinter("lobby", timeout_s=0.5).print_badge(_badge()),
                               timeout=5)
    assert caught.value.code == "printer-timeout"


# --- retry once, then report: to the log and on /health --------------------------------------


async def test_a_dead_printer_is_tried_twice_then_reported_in_logs_and_status() -> None:
    port = _closed_port()
    printer = RetryingPrinter(ZplBadgePrinter("127.0.0.1", port, timeout_s=1), kind="zpl",
                              retry_delay_s=0)

    with capture_logs() as logs, pytest.raises(ProviderUnavailable):
        await printer.print_badge(_badge())

    attempts = [e for e in logs if e["event"] == "badge_print_failed"]
    assert len(attempts) == 2  # the adapter's line, once per attempt
    final = [e for e in logs if e["event"] == "badge_not_printed"]
    assert final == [{"event": "badge_not_printed", "log_level": "warning", "printer": "zpl",
                      "code": "printer-unreachable", "attempts": 2, "visit_id": VISIT}]
    assert "Jo" not in repr(logs) and "Kestrel" not in repr(logs)
    assert printer.status.snapshot()["status"] == "failing"


async def test_health_shows_the_printers_last_error_code(
    tmp_path: Path, database_url: str
) -> None:
    from checkin.app import create_app
    from checkin.runtime import build_runtime

    config = tmp_path / "config.yaml"
    config.write_text(
        "providers:\n  printer: zpl\n"
        f"printer:\n  host: 127.0.0.1\n  port: {_closed_port()}\n  timeout_s: 1\n"
        "  retry_delay_s: 0\n",
        encoding="utf-8",
    )
    settings = load_settings(config, {"CHECKIN_DATABASE_URL": database_url})  # migrated
    runtime = build_runtime(settings)
    try:
        app = create_app(runtime, background_jobs=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            before = (await client.get("/health")).json()["providers"]["printer"]
            with pytest.raises(ProviderUnavailable):
                await runtime.printer.print_badge(_badge())
            after = (await client.get("/health")).json()["providers"]["printer"]
    finally:
        await runtime.aclose()

    assert before["mode"] == "zpl" and before["status"] == "ok"
    assert before["last_error_code"] is None and before["last_success_at"] is None
    assert after["status"] == "failing" and after["last_error_code"] == "printer-unreachable"
    assert after["consecutive_failures"] == 1 and after["last_error_at"]


# --- configured per lobby -------------------------------------------------------------------


def _settings(tmp_path: Path, yaml_text: str):  # -> Settings
    config = tmp_path / "config.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    return load_settings(config, {})


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("providers: {printer: pdf}\n", "PdfBadgePrinter"),
        ("providers: {printer: zpl}\nprinter: {host: 192.0.2.10, dpi: 300}\n", "ZplBadgePrinter"),
        ("providers: {printer: brother}\nprinter: {device: /dev/usb/lp0, label: 62x29}\n",
         "BrotherQlBadgePrinter"),
        ("providers: {printer: cups}\nprinter: {queue: lobby, lp_options: [fit-to-page]}\n",
         "CupsBadgePrinter"),
    ],
)
def test_each_printer_kind_is_built_from_config_and_wrapped_to_retry(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    from checkin.runtime import _printer

    printer = _printer(_settings(tmp_path, yaml_text))

    assert isinstance(printer, RetryingPrinter)
    assert type(printer.inner).__name__ == expected


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("providers: {printer: zpl}\n", "printer.host"),
        ("providers: {printer: cups}\n", "printer.queue"),
        ("providers: {printer: brother}\nprinter: {host: 192.0.2.10, model: QL-9}\n", "model"),
        ("providers: {printer: brother}\n", "exactly one of host or device"),
    ],
)
def test_a_printer_missing_its_settings_stops_start_up(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    from checkin.errors import ConfigError
    from checkin.runtime import _printer

    with pytest.raises(ConfigError, match=re.escape(message)):
        _printer(_settings(tmp_path, yaml_text))


def test_a_typo_in_the_printer_section_stops_start_up(tmp_path: Path) -> None:
    from checkin.errors import ConfigError

    with pytest.raises(ConfigError, match="printer.hots: unknown key"):
        _settings(tmp_path, "printer: {hots: 192.0.2.10}\n")
