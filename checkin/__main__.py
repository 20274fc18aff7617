"""Composition root: ``checkin <command>``; the one place that picks real or offline providers.

Commands: serve, chat, directory import|resolve, visits list, retention run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from checkin.config import Settings, load_settings
from checkin.errors import CheckinError, ConfigError
from checkin.log import configure_logging


def build_parser() -> argparse.ArgumentParser:
    """The ``checkin`` argument parser with every sub-command registered."""
    from checkin.cli import call, chat, directory, retention, serve, users, visits

    parser = argparse.ArgumentParser(
        prog="checkin", description="checkin: a voice receptionist for office lobbies."
    )
    parser.add_argument(
        "--config", help="path of config.yaml (default: $CHECKIN_CONFIG or ./config.yaml)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (serve, chat, directory, visits, retention, call, users):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, load settings once and run the chosen command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings: Settings = load_settings(args.config)
    except ConfigError as err:
        print(f"checkin: configuration error: {err}", file=sys.stderr)
        return 2
    configure_logging(fmt=settings.logging.format, level=settings.logging.level)
    try:
        return int(asyncio.run(args.handler(args, settings)))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `checkin visits list | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0
    except CheckinError as err:
        print(f"checkin: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
