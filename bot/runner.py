"""`python -m bot`: the Telegram bot process.

Start-up: settings (BOT_TOKEN and SALES_CHAT_ID required), logging with the
secret filter, migrations, the sales chat id (following a recorded group
migration), services, bot and dispatcher, getMe retried with backoff until the
Bot API answers (an unreachable API is waited out, not a crash loop; a refused
token stops with exit code 2), the outbox worker, then long polling, or a
webhook server when WEBHOOK_URL is set.

Webhook: requests without the right X-Telegram-Bot-Api-Secret-Token get 401;
an update is acknowledged only once handled (handle_in_background=False), so a
crash, or a database that stays away, makes Telegram deliver it again.

Polling (bot.telegram.polling): an update is confirmed to Telegram only once it
is handled, so a crash at any moment loses nothing (a redelivery is applied
once); a transient database failure makes the update wait, not disappear.

SIGTERM / SIGINT: stop taking updates (polling stops fetching and confirms what
it finished; the webhook answers 503 so Telegram keeps the update), wait for the
handlers in flight, stop the outbox worker (it hands back rows it has not
started), close the sessions, exit 0.

Module-level imports are stdlib only: aiogram is imported when the bot starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from aiohttp import web

    from bot.settings import Settings
    from bot.telegram.app import TelegramApp
    from bot.telegram.polling import Poller, PollingConfig

log = logging.getLogger("qualibot")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
POLLING_CONCURRENCY = 32  # updates handled at once (each chat still one at a time)


def main() -> int:
    from bot.settings import load_settings

    settings = load_settings("bot_token", "sales_chat_id")
    configure_logging(settings)
    return run_coroutine(BotRunner(settings).run())


def configure_logging(settings: Settings) -> None:
    from bot.telegram.logsafe import install_secret_filter, token_secrets

    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format=LOG_FORMAT)
    if level > logging.DEBUG:
        # One line per update and per webhook request is noise at INFO.
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    secrets_: list[str] = []
    if settings.bot_token is not None:
        secrets_.extend(token_secrets(settings.bot_token.get_secret_value()))
    if settings.webhook_secret is not None:
        secrets_.append(settings.webhook_secret.get_secret_value())
    install_secret_filter(*secrets_)


def run_coroutine(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed (faster I/O), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        return runner.run(coro)


class BotRunner:
    """One bot process. `run()` returns the exit code; `stop()` (or SIGTERM) ends it.

    `app_options` go to `build_app` (tests pass a fake clock, scaled limits);
    `ready` is set once updates are being taken, `port` is the webhook's bound port.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        app_options: dict[str, Any] | None = None,
        database: Any | None = None,
        handle_signals: bool = True,
        drain_timeout: float = 25.0,
        startup_delays: tuple[float, float] = (1.0, 60.0),
        polling_timeout: int = 25,
        polling: PollingConfig | None = None,
    ) -> None:
        self.settings = settings
        self.app_options = dict(app_options or {})
        self.database = database  # an open storage Database to use (and not dispose)
        self.handle_signals = handle_signals
        self.drain_timeout = drain_timeout
        self.startup_delays = startup_delays
        self.polling_timeout = polling_timeout
        self.polling = polling  # backoffs, concurrency (timeout and drain come from above)
        self.poller: Poller | None = None
        self.ready = asyncio.Event()
        self.stopping = asyncio.Event()
        self.app: TelegramApp | None = None
        self.timer_worker: Any = None  # bot.telegram.timer_worker.TimerWorker, once running
        self.port: int | None = None
        self._accepting = False

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("Stopping: no new updates; finishing the ones in flight")
        self.stopping.set()

    # ------------------------------------------------------------------ run

    async def run(self) -> int:
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.stop)
        if self.database is not None:
            return await self._run(self.database)
        from storage.database import Database

        db = Database(self.settings.database())
        try:
            return await self._run(db)
        finally:
            await db.dispose()

    async def _run(self, db: Any) -> int:
        from sqlalchemy.exc import InterfaceError, OperationalError

        from bot.telegram.hooks import resolve_sales_chat
        from storage.migrate import upgrade_async

        database_down = (OperationalError, InterfaceError, OSError, TimeoutError)
        if not await self._retrying("the database", lambda: upgrade_async(db), database_down):
            return 0
        assert self.settings.sales_chat_id is not None
        chat_id = await resolve_sales_chat(db, self.settings.sales_chat_id)

        from bot.telegram.app import build_app

        options = {"webhook": bool(self.settings.webhook_url), **self.app_options}
        app = self.app = build_app(self.settings, db, sales_chat_id=chat_id, **options)
        worker: asyncio.Task[None] | None = None
        timers: asyncio.Task[None] | None = None
        try:
            code = await self._check_token(app)
            if code is not None:
                return code
            worker = asyncio.create_task(app.worker.run(), name="outbox-worker")
            from bot.telegram.timer_worker import create_timer_worker

            self.timer_worker = create_timer_worker(app)
            timers = asyncio.create_task(self.timer_worker.run(), name="timer-worker")
            if self.settings.webhook_url:
                await self._webhook(app)
            else:
                await self._polling(app)
            return 0
        finally:
            if timers is not None:
                self.timer_worker.stop()
                await asyncio.gather(timers, return_exceptions=True)
            await self._shutdown(app, worker)

    async def _retrying(
        self, what: str, call: Any, transient: tuple[type[BaseException], ...]
    ) -> bool:
        """Call until it succeeds, backing off on `transient` errors (anything else is
        raised: waiting cannot fix a refused token); False if stopped meanwhile."""
        delay, cap = self.startup_delays
        while not self.stopping.is_set():
            try:
                await call()
                return True
            except transient as exc:
                log.error(
                    "Cannot reach %s (%s: %s); retrying in %.0f s",
                    what,
                    type(exc).__name__,
                    exc,
                    delay,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(cap, delay * 2)
        return False

    async def _check_token(self, app: TelegramApp) -> int | None:
        from aiogram.exceptions import (
            TelegramAPIError,
            TelegramNetworkError,
            TelegramRetryAfter,
            TelegramServerError,
        )

        api_down = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter)
        try:
            ok = await self._retrying("the Telegram Bot API", app.bot.me, api_down)
        except TelegramAPIError as exc:
            log.error(
                "Telegram refused getMe (%s): check BOT_TOKEN and TELEGRAM_API_URL",
                type(exc).__name__,
            )
            return 2
        if not ok:
            return 0
        me = await app.bot.me()
        log.info("Bot @%s (id %s) connected; sales chat %s", me.username, me.id, app.sales_chat)
        await _set_commands(app)
        return None

    # -------------------------------------------------------------- polling

    async def _polling(self, app: TelegramApp) -> None:
        from dataclasses import replace

        from bot.telegram.polling import Poller, PollingConfig

        # A webhook left from an earlier deployment makes getUpdates fail with 409.
        await app.bot.delete_webhook(drop_pending_updates=False)
        config = replace(
            self.polling or PollingConfig(concurrency=POLLING_CONCURRENCY),
            timeout=self.polling_timeout,
            drain_timeout=self.drain_timeout,
        )
        # Our loop, not dp.start_polling: aiogram confirms an update (the next offset)
        # while it is still being handled, so a crash then would lose it.
        poller = self.poller = Poller(
            app.bot,
            app.dispatcher,
            allowed_updates=app.dispatcher.resolve_used_update_types(),
            config=config,
            stopping=self.stopping,
        )
        # A transient failure (database away) waits in place for as long as it takes,
        # or is left unconfirmed for the next process; never apologised for and dropped.
        app.parts.errors.hold = poller
        self.ready.set()
        log.info("Long polling started")
        await poller.run()

    # -------------------------------------------------------------- webhook

    async def _webhook(self, app: TelegramApp) -> None:
        from aiohttp import web

        settings = self.settings
        assert settings.webhook_url is not None
        secret = (
            settings.webhook_secret.get_secret_value()
            if settings.webhook_secret is not None
            # Without WEBHOOK_SECRET a random one still keeps strangers out: only
            # Telegram learns it, through setWebhook.
            else secrets.token_urlsafe(32)
        )
        runner = web.AppRunner(self._web_app(app, secret), shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, settings.listen_host, settings.listen_port)
        await site.start()
        self.port = _bound_port(runner)
        self._accepting = True
        try:
            await app.bot.set_webhook(
                url=settings.webhook_url,
                secret_token=secret,
                allowed_updates=app.dispatcher.resolve_used_update_types(),
                drop_pending_updates=False,
            )
            self.ready.set()
            log.info("Webhook server listening on %s:%s", settings.listen_host, self.port)
            await self.stopping.wait()
        finally:
            # Refuse new updates first (503: Telegram keeps them), then let the ones
            # being handled finish before the server goes away.
            self._accepting = False
            await site.stop()
            await app.parts.in_flight.drain(self.drain_timeout)
            await runner.cleanup()

    def _web_app(self, app: TelegramApp, secret: str) -> web.Application:
        from aiogram.webhook.aiohttp_server import SimpleRequestHandler
        from aiohttp import web

        handler = SimpleRequestHandler(
            app.dispatcher, app.bot, handle_in_background=False, secret_token=secret
        )
        path = urlsplit(self.settings.webhook_url or "").path or "/"

        async def receive(request: web.Request) -> web.StreamResponse:
            if not self._accepting:
                return web.Response(status=503, text="shutting down")
            return await handler.handle(request)

        async def health(_: web.Request) -> web.StreamResponse:
            return web.json_response({"ok": True, "accepting": self._accepting})

        web_app = web.Application()
        # Not handler.register(): that would close the bot session when the server
        # stops, while the outbox worker may still be sending.
        web_app.router.add_post(path, receive)
        web_app.router.add_get("/healthz", health)
        return web_app

    # ------------------------------------------------------------- shutdown

    async def _shutdown(self, app: TelegramApp, worker: asyncio.Task[None] | None) -> None:
        drained = await app.parts.in_flight.drain(self.drain_timeout)
        if not drained:
            log.warning(
                "%d update(s) still being handled after %.0f s; stopping anyway",
                app.parts.in_flight.count,
                self.drain_timeout,
            )
        app.worker.stop()
        if worker is not None:
            try:
                await asyncio.wait_for(worker, self.drain_timeout)
            except TimeoutError:
                log.warning("Outbox worker did not stop in time; its rows stay leased")
            except Exception:
                log.exception("Outbox worker failed")
        await app.bot.session.close()
        log.info("Stopped")


COMMANDS: dict[str | None, list[tuple[str, str]]] = {
    None: [
        ("start", "Begin"),
        ("help", "What I do and the commands"),
        ("language", "Change the language"),
        ("restart", "Answer from the start"),
        ("cancel", "Stop the questions"),
        ("stop", "Never message me again"),
        ("privacy", "What I keep about you"),
        ("forget", "Erase my data"),
    ],
    "ru": [
        ("start", "Начать"),
        ("help", "Что я умею и команды"),
        ("language", "Сменить язык"),
        ("restart", "Ответить заново"),
        ("cancel", "Прервать вопросы"),
        ("stop", "Больше мне не писать"),
        ("privacy", "Что я храню о вас"),
        ("forget", "Стереть мои данные"),
    ],
}


async def _set_commands(app: TelegramApp) -> None:
    """The command menu prospects see; best effort (a failure only costs the menu)."""
    from aiogram.exceptions import TelegramAPIError
    from aiogram.types import BotCommand

    for language, commands in COMMANDS.items():
        try:
            await app.bot.set_my_commands(
                [BotCommand(command=c, description=d) for c, d in commands],
                language_code=language,
            )
        except TelegramAPIError as exc:
            log.warning("setMyCommands failed: %s", exc)


def _bound_port(runner: web.AppRunner) -> int | None:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return None
