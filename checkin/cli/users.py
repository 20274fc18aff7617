"""``checkin users add|list|token``: staff accounts for the back office, and API tokens.

The password is prompted for (twice) on a terminal, or read as one line from stdin when stdin
is not a terminal, so it never appears in the shell history or the process list.
Imports staff, cli._db, cli.directory (table), config.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from checkin.cli._db import migrated_sessions
from checkin.cli.directory import table
from checkin.config import Settings
from checkin.db import transaction
from checkin.staff import Role, create_api_token, create_user, find_user, list_users


def register(sub: Any) -> None:
    """Add ``users add``, ``users list`` and ``users token``."""
    parser = sub.add_parser("users", help="staff accounts for the visit log and dashboard")
    commands = parser.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    add = commands.add_parser("add", help="create a staff account")
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--sso-only", action="store_true",
                     help="no password: the account signs in through single sign-on only")
    add.set_defaults(handler=run_add)
    lst = commands.add_parser("list", help="list staff accounts")
    lst.set_defaults(handler=run_list)
    tok = commands.add_parser("token", help="create an API token for scripts (shown once)")
    tok.add_argument("email")
    tok.add_argument("--name", default="script", help="what the token is for")
    tok.set_defaults(handler=run_token)


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise SystemExit("checkin users: the passwords differ")
    return first


async def run_add(args: argparse.Namespace, settings: Settings) -> int:
    """Create one account."""
    password = None if args.sso_only else _read_password()
    async with migrated_sessions(settings.database_url) as sessions:
        try:
            async with transaction(sessions) as db:
                user = await create_user(session=db, email=args.email, role=Role(args.role),
                                         password=password)
        except ValueError as err:
            print(f"checkin users: {err}", file=sys.stderr)
            return 1
    print(f"Created {user.email} ({user.role}).")
    return 0


async def run_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print every account."""
    async with migrated_sessions(settings.database_url) as sessions, sessions() as db:
        users = await list_users(session=db)
    rows = [(u.email, u.role, "yes" if u.active else "no",
             f"{u.last_sign_in_at:%Y-%m-%d %H:%M}" if u.last_sign_in_at else "never")
            for u in users]
    print(table(("EMAIL", "ROLE", "ACTIVE", "LAST SIGN-IN (UTC)"), rows) if rows else "No users.")
    return 0


async def run_token(args: argparse.Namespace, settings: Settings) -> int:
    """Create a token and print it once."""
    async with migrated_sessions(settings.database_url) as sessions, transaction(sessions) as db:
        user = await find_user(session=db, email=args.email)
        if user is None:
            print("checkin users: no such account", file=sys.stderr)
            return 1
        plain = await create_api_token(session=db, user=user, name=args.name)
    print(plain)
    print("Store it now: it is not shown again. Send it as 'Authorization: Bearer <token>'.",
          file=sys.stderr)
    return 0
