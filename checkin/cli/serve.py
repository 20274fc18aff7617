"""``checkin serve``: the FastAPI app under uvicorn on the configured providers."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvicorn

from checkin.app import create_app
from checkin.config import Settings
from checkin.migrate import upgrade_to_head
from checkin.runtime import build_runtime


def register(sub: Any) -> None:
    """Add ``serve`` to the command line."""
    p = sub.add_parser("serve", help="run the service (HTTP API, phone and web channels)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Migrate the database, then serve until interrupted."""
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    runtime = build_runtime(settings)
    app = create_app(runtime)
    print(f"checkin: serving on http://{args.host}:{args.port}  (health: /health, "
          f"providers: llm={settings.providers.llm}, notifier={settings.providers.notifier}, "
          f"printer={settings.providers.printer})", flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_config=None,
                            access_log=False, lifespan="on")
    await uvicorn.Server(config).serve()
    return 0
