"""Run the fake Bot API standalone (benchmarks, multi-process tests)::

    python -m tests.fakebot --port 0 --print-port [--token 123:ABC ...] [--seed 0]

With ``--print-port`` the first stdout line is the port number. Drive it with the
control API (``/_control/...``, see control.py) or ``tests.fakebot.remote``. Stops on
SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .server import DEFAULT_TOKEN, FakeTelegramServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakebot", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--print-port", action="store_true", help="print the port on stdout")
    parser.add_argument("--token", action="append", default=[], help="bot token (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    parser.add_argument("--webhook-retry-delay", type=float, default=0.1)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop if installed")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    tokens = args.token or [DEFAULT_TOKEN]
    server = FakeTelegramServer(host=args.host, port=args.port, token=tokens[0], seed=args.seed)
    for token in tokens[1:]:
        server.add_bot(token)
    server.webhook_retry_delay = args.webhook_retry_delay
    await server.start()
    if args.print_port:
        print(server.port, flush=True)
    else:
        print(f"fake Bot API on {server.url}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(serve(args))
            return
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
