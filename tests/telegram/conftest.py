"""End-to-end fixtures: the real bot (BotRunner, aiogram's HTTP client) against the
fake Bot API, on a migrated database (a SQLite file, and PostgreSQL when
TEST_DATABASE_URL is set: every test using `tg` runs on both).

    async def test_x(tg: TgEnv) -> None:
        bot = await tg.start()                 # polling; tg.start(webhook=True) for webhook
        alice = tg.fake.user("Alice")
        alice.start()
        first = await alice.next_message()

Time: `tg.time` is one fake clock for the services (datetimes), the pacer, the
retry middleware's sleeps and the outbox worker's scheduled waits; a sleep on it
advances it at once. So a 429 with retry_after=5, or 20 cards a minute into the
sales group, cost no real time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from bot.runner import BotRunner
from bot.settings import Settings
from bot.telegram.app import TelegramApp
from bot.telegram.outbox_worker import WorkerConfig
from bot.telegram.pacing import Limits
from bot.telegram.retry import RetryPolicy
from storage.database import Database
from tests.fakebot import DEFAULT_TOKEN, FakeGroup, FakeTelegramServer, FakeUser
from tests.fakebot.fixtures import fake_api  # noqa: F401
from tests.storage.conftest import (  # noqa: F401
    _pg_session_url,
    _sqlite_template,
    backend,
    database,
    db_url,
)

ADMIN_ID = 777
T = TypeVar("T")


class FakeTime:
    """Monotonic seconds and aware datetimes from one counter; `sleep` advances it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime(2030, 1, 15, 9, 0, tzinfo=UTC)
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    async def sleep(self, seconds: float) -> None:
        self.seconds += max(0.0, seconds)
        await asyncio.sleep(0)  # let others run, as a real sleep would

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 5.0) -> T:
    """Poll an async check (a database read) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in {timeout} s: {check}")
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningBot:
    runner: BotRunner
    task: asyncio.Task[int]

    @property
    def app(self) -> TelegramApp:
        assert self.runner.app is not None
        return self.runner.app

    async def stop(self) -> int:
        self.runner.stop()
        return await asyncio.wait_for(self.task, 10)


@dataclass
class TgEnv:
    fake: FakeTelegramServer
    database: Database
    sales: FakeGroup
    seller: FakeUser
    time: FakeTime = field(default_factory=FakeTime)
    running: list[RunningBot] = field(default_factory=list)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "bot_token": DEFAULT_TOKEN,
            "sales_chat_id": self.sales.id,
            "telegram_api_url": self.fake.url,
            "admin_ids": str(ADMIN_ID),
            "log_level": "DEBUG",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def app_options(self, **overrides: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "clock": self.time.now,
            "monotonic": self.time.monotonic,
            "sleep": self.time.sleep,
            "limits": Limits(),
            "retry_policy": RetryPolicy(jitter=0.0),
            "worker_config": WorkerConfig(idle_poll=0.05),
        }
        options.update(overrides)
        return options

    async def start(
        self,
        *,
        database: Database | None = None,  # noqa: F811 (not the fixture: another process's db)
        webhook: bool = False,
        settings: Settings | None = None,
        **options: Any,
    ) -> RunningBot:
        """A bot process (BotRunner) on this database, taking updates when it returns."""
        if settings is None:
            extra: dict[str, Any] = {}
            if webhook:
                port = free_port()
                extra = {
                    "webhook_url": f"http://127.0.0.1:{port}/tg/webhook",
                    "webhook_listen": f"127.0.0.1:{port}",
                    "webhook_secret": "s3cret-webhook-token",
                }
            settings = self.settings(**extra)
        runner = BotRunner(
            settings,
            app_options=self.app_options(**options),
            database=database or self.database,
            handle_signals=False,
            drain_timeout=5.0,
            startup_delays=(0.05, 0.2),
            polling_timeout=5,
        )
        task = asyncio.create_task(runner.run())
        ready = asyncio.create_task(runner.ready.wait())
        done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if task.done():
                raise AssertionError(f"bot exited during start-up: {task.result()}")
            raise AssertionError("bot did not start in 10 s")
        bot = RunningBot(runner, task)
        self.running.append(bot)
        return bot

    async def settle(self, timeout: float = 5.0) -> None:
        """Nothing left to do: the fake is idle and no bot is still handling an update
        (a handler that only writes to the database makes no call the fake could see)."""
        await self.fake.wait_idle(timeout=timeout)
        for bot in self.running:
            if not bot.task.done() and bot.runner.app is not None:
                assert await bot.app.parts.in_flight.drain(timeout)
        await self.fake.wait_idle(timeout=timeout)

    def user(self, name: str = "Alice", **kwargs: Any) -> FakeUser:
        return self.fake.user(name, **kwargs)


@pytest.fixture
async def tg(
    fake_api: FakeTelegramServer,  # noqa: F811
    database: Database,  # noqa: F811
) -> AsyncIterator[TgEnv]:
    seller = fake_api.user("Sam", username="sam_sales")
    sales = fake_api.group("Sales", members={seller.id: "member"})
    env = TgEnv(fake=fake_api, database=database, sales=sales, seller=seller)
    try:
        yield env
    finally:
        for bot in env.running:
            if not bot.task.done():
                bot.runner.stop()
                try:
                    await asyncio.wait_for(bot.task, 10)
                except Exception:  # the test already failed; do not hide why
                    bot.task.cancel()
