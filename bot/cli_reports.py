"""`python -m bot stats [flow] [--days N]` and `python -m bot export [-o FILE]`."""

from __future__ import annotations

import argparse
import asyncio
import sys


def main(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    from bot.cli_common import migrate, open_database
    from bot.services.stats import StatsService, format_stats

    db = open_database()
    try:
        await migrate(db)
        stats = StatsService(db)
        if args.command == "stats":
            print(format_stats(await stats.funnel(args.flow, args.days), args.days))
            return 0
        if args.output:
            # newline="": the csv module writes its own line endings.
            with open(args.output, "w", encoding="utf-8", newline="") as f:
                count = await stats.export_csv(f)
            print(f"wrote {count} leads to {args.output}")
        else:
            await stats.export_csv(sys.stdout)
        return 0
    finally:
        await db.dispose()
