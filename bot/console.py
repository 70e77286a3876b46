"""`python -m bot chat`: the whole interview in the terminal, no token needed.

The same services and engine as the Telegram bot, persisted in the default
SQLite database (DATABASE_URL if set; `--memory` keeps nothing on disk).
Options are numbered: type a number or your own words; "back" and "skip"
work on every question. Answers can be piped, one a line:

    python -m bot chat --flow bant < answers.txt

End of input ends politely (exit 0). aiogram is never imported here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, TextIO

from bot.services.types import OutMessage, Prospect, Reply

if TYPE_CHECKING:
    from bot.services.interview import InterviewService
    from storage.database import Database

# The console's pretend Telegram user. Real user ids are positive, so this never
# collides with a prospect; its lead is reused run after run.
CONSOLE_USER_ID = -1
BACK_WORDS = frozenset({"back", "назад", "/back"})
SKIP_WORDS = frozenset({"skip", "пропустить", "пропуск", "/skip"})
QUIT_WORDS = frozenset({"quit", "exit", "/quit", "/exit", "/cancel", "выход"})
RESTART_WORDS = frozenset({"/restart", "restart"})

HINTS = {
    "en": 'Type a number or answer in your own words. "back" changes the previous answer, '
    '"skip" skips a question, "quit" stops.',
    "ru": "Введите номер или ответьте своими словами. «назад» - изменить прошлый ответ, "
    "«пропустить» - пропустить вопрос, «выход» - закончить.",
}
BYE = {
    "en": "Stopped here. Your answers so far are saved; the next run starts a new interview.",
    "ru": "Остановились. Ответы сохранены; при следующем запуске начнётся новое интервью.",
}


class Console:
    """Prints replies and reads answers; one instance per run."""

    def __init__(self, out: TextIO, inp: TextIO, *, echo: bool) -> None:
        self.out = out
        self.inp = inp
        self.echo = echo  # piped input: show each answer, so the output reads as a chat

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def show(self, reply: Reply) -> None:
        for message in reply.messages:
            self._message(message)

    def _message(self, message: OutMessage) -> None:
        self.say()
        self.say(message.text)
        # Buttons become numbered lines; the engine reads "2" as the second option.
        # Back/Skip buttons are words here, so they are not listed.
        if message.kind in ("question", "reask"):
            options = [row[0] for row in message.buttons if not _nav(row[0].token)]
            for i, button in enumerate(options, 1):
                self.say(f"  {i}) {button.label.removeprefix('✓ ')}")
        else:
            for row in message.buttons:
                for button in row:
                    self.say(f"  [{button.label}]")

    def read(self) -> str | None:
        self.out.write("> " if not self.echo else "")
        self.out.flush()
        line = self.inp.readline()
        if not line:
            return None
        answer = line.strip()
        if self.echo:
            self.say(f"> {answer}")
        return answer


def _nav(token: str) -> bool:
    return token[:2] in ("b:", "s:", "m:")


async def run(args: argparse.Namespace, out: TextIO, inp: TextIO) -> int:
    from bot.cli_common import migrate
    from bot.services.clock import system_clock
    from bot.services.config import ServiceConfig
    from bot.services.flow_registry import UnknownFlowError
    from bot.services.interview import InterviewService
    from bot.settings import load_settings
    from storage.database import Database

    settings = load_settings()
    if args.memory:
        from sqlalchemy.pool import StaticPool

        # One shared connection: every new connection to :memory: is a new, empty database.
        db = Database("sqlite+aiosqlite:///:memory:", poolclass=StaticPool)
    else:
        db = Database(settings.database())
    try:
        await migrate(db)
        config = ServiceConfig(
            default_flow=settings.default_flow, stage_labels=settings.stage_labels
        )
        service = InterviewService(db, config=config, clock=system_clock)
        console = Console(out, inp, echo=not _is_tty(inp))
        prospect = Prospect(
            user_id=CONSOLE_USER_ID,
            chat_id=CONSOLE_USER_ID,
            first_name=args.name,
            username=None,
            language_code=args.lang,
        )
        await _set_name(db, args.name)
        try:
            reply = await service.start(
                prospect, "console", flow=args.flow, lang=args.lang, resume=False
            )
        except UnknownFlowError:
            known = ", ".join(await service.registry.known_ids())
            print(f"qualibot: no flow '{args.flow}'; known flows: {known}", file=sys.stderr)
            return 2
        lang = reply.lang or "en"
        console.say(HINTS.get(lang, HINTS["en"]))
        console.show(reply)
        return await _loop(service, console, prospect, lang)
    finally:
        await db.dispose()


async def _loop(service: InterviewService, console: Console, prospect: Prospect, lang: str) -> int:
    while True:
        answer = console.read()
        if answer is None or answer.casefold() in QUIT_WORDS:
            console.say()
            console.say(BYE.get(lang, BYE["en"]))
            return 0
        if not answer:
            continue
        word = answer.casefold()
        if word in BACK_WORDS:
            reply = await service.back(prospect)
        elif word in SKIP_WORDS:
            reply = await service.skip(prospect)
        elif word in RESTART_WORDS:
            reply = await service.restart(prospect)
        else:
            reply = await service.text(prospect, answer)
        console.show(reply)
        if reply.finished:
            card = await service.summary(prospect, lang)
            if card:
                console.say()
                console.say("─" * 40)
                console.say(card)
            return 0


async def _set_name(db: Database, name: str | None) -> None:
    """--name changes the console lead's first name (the profile is otherwise set once)."""
    from storage import repositories as repo

    async with db.transaction() as session:
        lead, created = await repo.get_or_create_lead(session, CONSOLE_USER_ID, first_name=name)
        if not created and lead.first_name != name and lead.id is not None:
            await repo.update_lead(session, lead.id, first_name=name)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(run(args, sys.stdout, sys.stdin))
    except KeyboardInterrupt:
        print(file=sys.stdout)
        return 130
