"""The app factory: a Bot, a Dispatcher and everything around them, built fresh
on every call (no module-level routers or singletons), so tests can build as
many as they like in one process.

    app = build_app(settings, db)            # services, bot, dispatcher, outbox worker
    await app.dispatcher.start_polling(app.bot, handle_signals=False)

`create_bot` and `create_dispatcher` are the two halves for callers that
bring their own pieces.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.services.clock import Clock, system_clock
from bot.services.config import ServiceConfig
from bot.settings import Settings
from bot.telegram.deps import Deps
from bot.telegram.hooks import ServiceHooks
from bot.telegram.middlewares import ChatLock, ErrorIsolation, InFlight, RecentUpdates, Returned
from bot.telegram.outbox_worker import OutboxWorker, WorkerConfig
from bot.telegram.pacing import Limits, Pacer, PacingMiddleware
from bot.telegram.retry import RetryMiddleware, RetryPolicy
from bot.telegram.routers.admin import create_admin_router
from bot.telegram.routers.prospect import create_prospect_router
from bot.telegram.routers.sales import create_fallback_router, create_sales_router
from bot.telegram.sales_chat import SalesChat
from storage.database import Database
from storage.locks import ChatLocks

Sleep = Callable[[float], Awaitable[None]]


def _dumps(value: Any) -> str:
    # aiogram wants str; orjson gives bytes (UTF-8, no ASCII escaping: smaller bodies).
    return orjson.dumps(value).decode()


_frozen = False


def _freeze_startup_objects() -> None:
    """Move what start-up made (modules, aiogram's and SQLAlchemy's classes, flows) out
    of the garbage collector's sight: its full passes re-scanned them all and took
    ~5% of the CPU under load. Once per process (tests build many apps)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


def create_session(settings: Settings, *, timeout: float | None = None) -> AiohttpSession:
    kwargs: dict[str, Any] = {}
    if timeout is not None:
        kwargs["timeout"] = timeout
    return AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_url.rstrip("/")),
        json_loads=orjson.loads,
        json_dumps=_dumps,
        **kwargs,
    )


def create_bot(
    settings: Settings,
    session: BaseSession | None = None,
    *,
    retry: RetryMiddleware | None = None,
    pacer: Pacer | None = None,
) -> Bot:
    """A Bot on TELEGRAM_API_URL, HTML by default, with retries and pacing on every call.

    Request middlewares run outermost first: the retry wraps the pacer, so each
    new attempt waits for its own token.
    """
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    session = session or create_session(settings)
    session.middleware(retry or RetryMiddleware())
    session.middleware(PacingMiddleware(pacer or Pacer()))
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


@dataclass
class DispatcherParts:
    in_flight: InFlight
    chat_lock: ChatLock
    errors: ErrorIsolation
    recent: RecentUpdates


def create_dispatcher(
    settings: Settings,
    deps: Deps,
    *,
    retry: RetryMiddleware | None = None,
    redeliver_on_transient: bool = False,
    sleep: Sleep = asyncio.sleep,
    chat_locks: ChatLocks | None = None,
) -> Dispatcher:
    """Routers (admin, sales, prospect, fallback) and the update middlewares.

    aiogram's FSM is off: the interview row is the state, and its event
    isolation is replaced by our ChatLock. The parts are kept on the
    dispatcher as `dispatcher["parts"]` (InFlight is what shutdown waits on).
    """
    dp = Dispatcher(disable_fsm=True, name="qualibot")
    parts = DispatcherParts(
        in_flight=InFlight(),
        chat_lock=ChatLock(shared=chat_locks),
        errors=ErrorIsolation(redeliver_on_transient=redeliver_on_transient, sleep=sleep),
        recent=RecentUpdates(),
    )
    dp.update.outer_middleware(parts.in_flight)
    dp.update.outer_middleware(parts.chat_lock)
    if retry is not None:
        dp.update.outer_middleware(Returned(retry))
    dp.update.outer_middleware(parts.errors)
    dp.update.outer_middleware(parts.recent)
    dp.include_routers(
        create_admin_router(deps),
        create_sales_router(deps),
        create_prospect_router(deps),
        create_fallback_router(),
    )
    dp["parts"] = parts
    return dp


@dataclass
class TelegramApp:
    settings: Settings
    db: Database
    bot: Bot
    dispatcher: Dispatcher
    deps: Deps
    worker: OutboxWorker
    retry: RetryMiddleware
    pacer: Pacer
    sales_chat: SalesChat
    interview: Any
    handoff: Any

    @property
    def parts(self) -> DispatcherParts:
        parts: DispatcherParts = self.dispatcher["parts"]
        return parts


def build_app(
    settings: Settings,
    db: Database,
    *,
    session: BaseSession | None = None,
    sales_chat_id: int | None = None,
    clock: Clock = system_clock,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    limits: Limits | None = None,
    retry_policy: RetryPolicy | None = None,
    worker_config: WorkerConfig | None = None,
    webhook: bool = False,
    interview: Any | None = None,
    handoff: Any | None = None,
) -> TelegramApp:
    """Everything for one bot process. `sales_chat_id` overrides SALES_CHAT_ID (the
    runner passes the id a migration led to); clock, sleep and limits are for tests."""
    from bot.services.handoff import HandoffService
    from bot.services.interview import InterviewService

    chat_id = sales_chat_id if sales_chat_id is not None else settings.sales_chat_id
    if chat_id is None:
        raise ValueError("SALES_CHAT_ID is not set")
    config = ServiceConfig.from_settings(settings)
    if chat_id != config.sales_chat_id:
        from dataclasses import replace

        config = replace(config, sales_chat_id=chat_id)
    if handoff is None:
        handoff = HandoffService(db, config=config, clock=clock)
    if interview is None:
        interview = InterviewService(
            db, handoff.registry, config=config, clock=clock, handoff=handoff
        )
    sales_chat = SalesChat(chat_id, settings.sales_topic_id)
    hooks = ServiceHooks(db, interview)
    retry = RetryMiddleware(retry_policy, sleep=sleep, sales_chat=sales_chat, hooks=hooks)
    # Several processes can share PostgreSQL: the sales group's pacing and the per-chat
    # lock then go through the database. SQLite serves one process: in memory only.
    shared_rate = None
    if db.is_postgres:
        from storage.rate_slots import SharedRate

        # The database's clock in production (hosts' clocks may disagree); a test's
        # fake clock when it brings one, so its fake sleeps move the same time.
        wall = None if clock is system_clock else (lambda: clock().timestamp())
        shared_rate = SharedRate(db, wall=wall)
    if limits is None:
        per_second = settings.sends_per_second
        if per_second > 0:
            limits = Limits(overall=(per_second, 1.0))
        else:  # Telegram's 429s regulate private chats; the sales group stays paced
            limits = Limits(overall=None, chat=None)
    pacer = Pacer(limits, clock=monotonic, sleep=sleep, shared=shared_rate)
    bot = create_bot(settings, session, retry=retry, pacer=pacer)
    worker = OutboxWorker(
        bot,
        db,
        handoff=handoff,
        sales_chat=sales_chat,
        clock=clock,
        sleep=sleep,
        config=worker_config,
    )
    deps = Deps(
        interview=interview,
        handoff=handoff,
        sales_chat=sales_chat,
        admin_ids=frozenset(settings.admin_ids),
        wake_outbox=worker.wake,
        on_blocked=retry.mark_blocked,
        on_returned=retry.mark_returned,
        clock=monotonic,
    )
    _freeze_startup_objects()
    dispatcher = create_dispatcher(
        settings,
        deps,
        retry=retry,
        redeliver_on_transient=webhook,
        sleep=sleep,
        chat_locks=ChatLocks(db) if db.is_postgres else None,
    )
    return TelegramApp(
        settings=settings,
        db=db,
        bot=bot,
        dispatcher=dispatcher,
        deps=deps,
        worker=worker,
        retry=retry,
        pacer=pacer,
        sales_chat=sales_chat,
        interview=interview,
        handoff=handoff,
    )
