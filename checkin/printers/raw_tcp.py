"""Send a print job to raw TCP port 9100 (AppSocket / "JetDirect") with asyncio streams.

The protocol has no handshake, framing or acknowledgement: connect, send, close. A printer that
accepted the bytes is all we can know (paper-out shows only through a status query), so success
here means "delivered to the printer". Imports errors only.
"""

from __future__ import annotations

import asyncio

import structlog

from checkin.errors import ProviderTimeout, ProviderUnavailable

log = structlog.get_logger(__name__)


async def send_raw(
    host: str, port: int, data: bytes, *, timeout_s: float, printer: str
) -> None:
    """Deliver ``data`` to ``host:port`` within ``timeout_s``; raise printer-* provider errors."""
    try:
        async with asyncio.timeout(timeout_s):  # one bound for connect, send and close
            _, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(data)
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()  # tells the printer the job is complete
            finally:
                writer.close()
                await writer.wait_closed()
    except TimeoutError:
        log.warning("badge_print_failed", printer=printer, error_type="TimeoutError")
        raise ProviderTimeout("printer", code="printer-timeout") from None
    except OSError as exc:  # refused, reset, no route, unknown host (socket.gaierror)
        log.warning("badge_print_failed", printer=printer, error_type=type(exc).__name__,
                    errno=exc.errno)
        raise ProviderUnavailable("printer", code="printer-unreachable") from None
