"""CupsBadgePrinter: the badge PDF sent to any office printer through the CUPS ``lp`` command.

``lp -d QUEUE -t "badge <visit id>" [-o option ...] <file>`` runs without a shell (names are
untrusted input) via ``asyncio.create_subprocess_exec``; exit 0 means CUPS accepted the job,
and its ``request id is <queue>-<n>`` line becomes the receipt. The temporary PDF and the job
title carry the visit id, never the visitor's name, because both show up in ``lpstat`` and the
spool. Imports errors, printer and this package only.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

import structlog

from checkin.errors import ProviderTimeout, ProviderUnavailable
from checkin.printer import Badge, PrintReceipt, render_badge

log = structlog.get_logger(__name__)

_REQUEST_ID = re.compile(rb"request id is (\S+)")


class CupsBadgePrinter:
    """Prints the badge PDF on CUPS queue ``queue`` with ``lp``."""

    def __init__(
        self,
        queue: str,
        *,
        options: tuple[str, ...] = (),
        timeout_s: float = 2.0,
        lp_command: str = "lp",
    ) -> None:
        self._queue = queue
        self._options = options  # e.g. ("media=Custom.4x3in", "fit-to-page")
        self._timeout_s = timeout_s
        self._lp = lp_command  # looked up on PATH when it is a bare name

    async def print_badge(self, badge: Badge) -> PrintReceipt:
        """Render the PDF and queue it; raise printer-lp-* or printer-timeout provider errors."""
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", badge.visit_id).strip("._") or "visit"
        try:
            pdf = await asyncio.to_thread(render_badge, badge)
        except Exception as exc:  # reportlab raises assorted types on a broken font or value
            log.warning("badge_print_failed", printer="cups", error_type=type(exc).__name__)
            raise ProviderUnavailable("printer", code="printer-failed") from None
        with tempfile.TemporaryDirectory(prefix="checkin-badge-") as folder:
            path = Path(folder) / f"badge-{stem}.pdf"
            await asyncio.to_thread(path.write_bytes, pdf)
            # lp copies the file into the spool before it exits, so deleting it after is safe
            request_id = await self._run_lp(path, title=f"badge {stem}")
        log.info("badge_printed", printer="cups", visit_id=badge.visit_id)
        return PrintReceipt(printer="cups", location=request_id or self._queue)

    async def _run_lp(self, path: Path, *, title: str) -> str:
        argv = [self._lp, "-d", self._queue, "-t", title]
        for option in self._options:
            argv += ["-o", option]
        argv.append(str(path))
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:  # FileNotFoundError: no CUPS client installed
            log.warning("badge_print_failed", printer="cups", error_type=type(exc).__name__)
            raise ProviderUnavailable("printer", code="printer-lp-missing") from None
        try:
            async with asyncio.timeout(self._timeout_s):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            log.warning("badge_print_failed", printer="cups", error_type="TimeoutError")
            raise ProviderTimeout("printer", code="printer-timeout") from None
        if process.returncode != 0:
            # lp's stderr names the queue and CUPS's reason; its size is enough for the log
            log.warning("badge_print_failed", printer="cups", exit_code=process.returncode,
                        stderr_chars=len(stderr))
            raise ProviderUnavailable("printer", code="printer-lp-failed")
        match = _REQUEST_ID.search(stdout)
        return match.group(1).decode("ascii", "replace") if match else ""
