"""`python -m bot card check|import|activate|reset|show|list|vars`: the sales card template.

`check` needs no database. The rest go through AdminService, the same code the
admin chat uses, so the audit log says who changed the card ("cli:<os user>").
A refused template prints `file:line: reason` on stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services.admin import AdminService


def main(args: argparse.Namespace) -> int:
    command = args.card_command
    if command == "vars":
        from bot.services.card_template import describe_variables

        print(describe_variables())
        return 0
    if command == "check":
        return _check(args.path, show=args.show)
    return asyncio.run(_admin(args))


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: cannot read the file: {exc}", file=sys.stderr)
        return None


def _check(path: str, *, show: bool) -> int:
    from bot.services.card_template import CardTemplateError, check_template

    text = _read(path)
    if text is None:
        return 1
    try:
        checked = check_template(text, path)
    except CardTemplateError as exc:
        print(exc, file=sys.stderr)
        return 1
    size = len(checked.sample_html)
    print(f"ok {path}: the sample card has {size} of 4096 characters")
    if show:
        print(checked.sample_html)
    return 0


async def _admin(args: argparse.Namespace) -> int:
    from bot.cli_common import run_admin
    from bot.services.card_template import CardTemplateError

    return await run_admin(lambda admin: _run(admin, args), CardTemplateError)


async def _run(admin: AdminService, args: argparse.Namespace) -> int:
    from bot.services.admin import cli_actor

    command = args.card_command
    if command == "import":
        text = _read(args.path)
        if text is None:
            return 1
        result = await admin.import_card(
            text, filename=args.path, actor=cli_actor(), activate=args.activate
        )
        v = result.version
        state = "already stored as" if result.duplicate else "imported as"
        print(f"card template: {state} v{v.version}" + (", now live" if v.active else ""))
        if not v.active:
            print(f"  make it live: python -m bot card activate {v.version}")
        return 0
    if command == "activate":
        v = await admin.activate_card(args.version, actor=cli_actor())
        print(f"card template v{v.version} is live")
        return 0
    if command == "reset":
        was = await admin.reset_card(actor=cli_actor())
        if was is None:
            print("the built-in card is live already")
        else:
            print(f"the built-in card is live again (was v{was.version})")
        return 0
    if command == "show":
        name, text, _ = await admin.card_source(args.version)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(f"wrote {args.output} ({name})")
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    if command == "list":
        versions = await admin.card_versions()
        live = next((f"v{v.version}" for v in versions if v.active), "built-in")
        print(f"card template: live {live}")
        for v in versions:
            mark = "*" if v.active else " "
            when = v.created_at.strftime("%Y-%m-%d %H:%M")
            print(f"  {mark} v{v.version}  {when}  {v.created_by or '-'}  {v.filename or '-'}")
        return 0
    raise AssertionError(command)
