"""`python -m bot flows check|graph|list|import|activate|rollback|download|threshold|weight`.

`check` and `graph` need no database; the rest go through AdminService, the
same code the Telegram admin chat uses, so both record who changed what.
Problems print as `file:line: reason` on stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services.admin import AdminService, FlowInfo


def main(args: argparse.Namespace) -> int:
    command = args.flows_command
    if command == "check":
        from flows.check import main as check

        return check(args.paths)
    if command == "graph":
        return _graph(args.name, args.output)
    return asyncio.run(_admin(args))


def _graph(name: str, output: str) -> int:
    from flows.graph import draw
    from flows.loader import load_file, load_text
    from flows.schema import FlowError

    try:
        if Path(name).is_file():
            flow = load_file(name)
        else:
            # The live version: stored by an admin, else the built-in file.
            text = asyncio.run(_live_source(name))
            if text is None:
                print(f"qualibot: no flow or file '{name}'", file=sys.stderr)
                return 1
            flow = load_text(text, name)
    except FlowError as exc:
        print(exc, file=sys.stderr)
        return 1
    drawn = draw(flow, output)
    print(f"wrote {drawn.path} ({drawn.format})")
    if getattr(drawn, "note", None):
        print(drawn.note, file=sys.stderr)
    return 0


async def _live_source(flow_id: str) -> str | None:
    """The YAML of a flow's live version (stored, else built-in); None if unknown."""
    from bot.cli_common import migrate, open_database
    from bot.services.admin import AdminError, AdminService

    db = open_database()
    try:
        await migrate(db)
        try:
            return (await AdminService(db).download(flow_id))[1]
        except AdminError:
            return None
    finally:
        await db.dispose()


async def _admin(args: argparse.Namespace) -> int:
    from bot.cli_common import run_admin
    from flows.schema import FlowError

    return await run_admin(lambda admin: _run(admin, args), FlowError)


async def _run(admin: AdminService, args: argparse.Namespace) -> int:
    from bot.services.admin import cli_actor

    command = args.flows_command
    if command == "list":
        _print_list(await admin.list_flows())
        return 0
    if command == "import":
        path = Path(args.path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{args.path}:1: cannot read the file: {exc}", file=sys.stderr)
            return 1
        result = await admin.import_flow(
            text, filename=args.path, actor=cli_actor(), activate=args.activate
        )
        v = result.version
        state = "already stored as" if result.duplicate else "imported as"
        print(f"{v.flow_id}: {state} v{v.version}" + (", now live" if v.active else ""))
        for line in result.preview.diff.lines():
            print(f"  {line}")
        for line in result.preview.examples:
            print(f"  example {line}")
        if not v.active:
            print(f"  make it live: python -m bot flows activate {v.flow_id} {v.version}")
        return 0
    if command == "activate":
        v = await admin.activate(args.flow, args.version, actor=cli_actor())
        print(f"{v.flow_id}: v{v.version} is live")
        return 0
    if command == "rollback":
        back = await admin.rollback(args.flow, actor=cli_actor())
        live = f"v{back.version}" if back else "the built-in file"
        print(f"{args.flow}: {live} is live again")
        return 0
    if command == "download":
        name, text = await admin.download(args.flow, args.version)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(f"wrote {args.output} ({name})")
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    if command in ("threshold", "weight"):
        # The chat's /threshold and /weight: a new version of the live flow, live at
        # once unless an example now fails; the audit says "cli:<os user>".
        if command == "threshold":
            result = await admin.change_threshold(
                args.flow, args.tier, args.percent, actor=cli_actor()
            )
            change = "; ".join(result.preview.diff.thresholds)
        else:
            result = await admin.change_weight(
                args.flow, args.target, args.value, actor=cli_actor()
            )
            change = "; ".join(result.preview.diff.weights)
        v = result.version
        if v.active:
            print(f"{v.flow_id}: v{v.version} is live: {change or 'no change'}")
            return 0
        print(f"{v.flow_id}: stored as v{v.version}, not live: an example no longer passes")
        for line in result.preview.examples:
            print(f"  example {line}")
        print(f"  make it live anyway: python -m bot flows activate {v.flow_id} {v.version}")
        return 0
    raise AssertionError(command)


def _print_list(flows: list[FlowInfo]) -> None:
    for info in flows:
        origin = " (built-in file)" if info.has_builtin else ""
        print(f"{info.flow_id}{origin}: live {info.live}")
        for v in info.versions:
            mark = "*" if v.active else " "
            when = v.created_at.strftime("%Y-%m-%d %H:%M")
            print(f"  {mark} v{v.version}  {when}  {v.created_by or '-'}  {v.digest[:8]}")
