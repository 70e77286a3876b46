"""Command line: `python -m bot [command]`.

Imports are lazy per command: the console and `flows` must start fast and
must not pay for aiogram, and each command checks only its own settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bot", description="Qualibot: lead qualification bot"
    )
    sub = p.add_subparsers(dest="command")

    sub.add_parser("run", help="run the Telegram bot (the default)")

    chat = sub.add_parser("chat", help="run an interview in the terminal, no token needed")
    chat.add_argument("--flow", help="flow id, e.g. bant, gpctba, champ, anum, retail")
    chat.add_argument("--lang", default=None, help="en or ru")
    chat.add_argument("--name", default=None, help="the prospect's first name")
    chat.add_argument("--memory", action="store_true", help="keep nothing on disk")

    flows = sub.add_parser("flows", help="check, draw, list and manage flows")
    fsub = flows.add_subparsers(dest="flows_command", required=True)
    check = fsub.add_parser("check", help="validate flow files and run their examples")
    check.add_argument("paths", nargs="*", help="flow files (default: the built-in flows)")
    graph = fsub.add_parser("graph", help="draw a flow (SVG/PNG with Graphviz, else Mermaid)")
    graph.add_argument("name", help="flow id or path to a flow file")
    graph.add_argument("-o", "--output", required=True, help="output file (.svg, .png, .mmd)")
    fsub.add_parser("list", help="list flows and their versions")
    imp = fsub.add_parser("import", help="add a flow file as a new version")
    imp.add_argument("path")
    imp.add_argument("--activate", action="store_true", help="make it live at once")
    act = fsub.add_parser("activate", help="make a version live")
    act.add_argument("flow")
    act.add_argument("version", type=int)
    rb = fsub.add_parser("rollback", help="make the previous version live again")
    rb.add_argument("flow")
    dl = fsub.add_parser("download", help="write a version's YAML to a file or stdout")
    dl.add_argument("flow")
    dl.add_argument("version", type=int, nargs="?")
    dl.add_argument("-o", "--output")
    th = fsub.add_parser("threshold", help="move a threshold (a new version, as /threshold)")
    th.add_argument("flow")
    th.add_argument("tier", choices=("hot", "warm"))
    th.add_argument("percent", type=float, help="e.g. 80")
    wt = fsub.add_parser("weight", help="change a weight (a new version, like /weight)")
    wt.add_argument("flow")
    wt.add_argument("target", help="PARAMETER (its max) or QUESTION.OPTION (its points)")
    wt.add_argument("value", type=int)

    card = sub.add_parser("card", help="the sales card template: check, import, reset, show")
    csub = card.add_subparsers(dest="card_command", required=True)
    cchk = csub.add_parser("check", help="validate a card template and render a sample card")
    cchk.add_argument("path")
    cchk.add_argument("--show", action="store_true", help="print the sample card's HTML")
    cimp = csub.add_parser("import", help="store a card template as a new version")
    cimp.add_argument("path")
    cimp.add_argument("--activate", action="store_true", help="make it live at once")
    cact = csub.add_parser("activate", help="make a stored card template live")
    cact.add_argument("version", type=int)
    csub.add_parser("reset", help="back to the built-in card")
    cshow = csub.add_parser("show", help="print the live card template (or version N)")
    cshow.add_argument("version", type=int, nargs="?")
    cshow.add_argument("-o", "--output", help="write it to a file instead")
    csub.add_parser("list", help="stored card templates")
    csub.add_parser("vars", help="what a card template can use")

    stats = sub.add_parser("stats", help="funnel numbers per flow version")
    stats.add_argument("flow", nargs="?")
    stats.add_argument("--days", type=int, default=30)
    export = sub.add_parser("export", help="leads as CSV")
    export.add_argument("-o", "--output", help="file (default: stdout)")

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="db_command", required=True)
    dsub.add_parser("upgrade", help="apply migrations")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bot.settings import SettingsError

    try:
        return _dispatch(args)
    except SettingsError as exc:
        print(f"qualibot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command or "run"
    if command == "run":
        from bot.runner import main as run_bot

        return run_bot()
    if command == "chat":
        from bot.console import main as chat

        return chat(args)
    if command == "flows":
        from bot.cli_flows import main as flows

        return flows(args)
    if command == "card":
        from bot.cli_card import main as card

        return card(args)
    if command in ("stats", "export"):
        from bot.cli_reports import main as reports

        return reports(args)
    if command == "db":
        from bot.settings import load_settings
        from storage.migrate import upgrade

        url = load_settings().database()
        upgrade(url)
        print("Database is up to date.")
        return 0
    raise AssertionError(command)


if __name__ == "__main__":
    sys.exit(main())
