"""Command-line front ends; each module registers its sub-commands on the ``checkin`` parser.

A handler is ``async def handler(args, settings) -> int`` (the exit code), set with
``parser.set_defaults(handler=...)``. Handlers print for people on stdout/stderr; logs go to
stderr through structlog.
"""
