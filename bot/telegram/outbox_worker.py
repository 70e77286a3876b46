"""The outbox sender: delivers what the services queued, within Telegram's limits.

Rows (docs/ARCHITECTURE.md, "Outbox rows the Telegram sender delivers"):
`card` (a new sales card), `card_edit` (the card edited in place), `message`
(plain text to a prospect). They are claimed in id order with a lease
(storage.outbox.claim_batch) and sent one chat after another in that order;
different chats go in parallel. Pacing is the session's PacingMiddleware
(20 a minute into the group, ~1/s per chat, ~30/s overall).

Guarantees and how:
- Nothing lost: rows stay in the database until marked; a crash leaves them
  `sending` until the lease runs out, then they are claimed again. A graceful
  stop hands back the rows it has not started.
- A card is never given up for what an operator or time can fix (Telegram
  down, the bot removed from the sales chat): it waits and is retried, less
  often as it ages. Messages to prospects give up after a few attempts, and at
  once on a 403 (the prospect blocked the bot).
- Never sent twice by us: a row is marked sent (with the card's message id
  attached to the handoff, in the same transaction) right after Telegram
  accepts it, and only the worker holding the claim may mark it. The one gap
  is Telegram's: a send whose answer is lost (connection dropped after
  delivery) is retried, and Telegram has no idempotency key.
- In order per chat: a 429 does not sleep in memory; the row and every later
  row of that chat in the batch go back to the database with not_before =
  now + retry_after. Before sending, a chat's rows wait behind any older row of
  that chat still undelivered (a database check, so the order survives
  restarts and holds between several workers). A row leased by another worker
  is looked at again after `behind_recheck` seconds, not at its lease's end.
- The sales chat is one queue with priorities (its budget, one message every
  3 s, is the scarce thing): cards are claimed first and go out in the order
  the leads turned hot; an edit waits only for its own card, and steps aside
  (back to the queue) whenever a card is waiting. Edits of one card coalesce:
  only the newest pending edit of a card is sent, the older ones are cancelled
  (storage.outbox.coalesce_edit), so a lead answering five questions while the
  group is busy costs the group one edit, not five.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Message
from sqlalchemy import func
from sqlmodel import col, select

from bot.services.clock import Clock, system_clock
from bot.telegram.deps import HandoffPort
from bot.telegram.rendering import buttons_from_json, html_text, inline_keyboard
from bot.telegram.retry import flood_wait_disabled
from bot.telegram.sales_chat import SalesChat
from storage import outbox
from storage import repositories as repo
from storage.database import Database
from storage.tables import Outbox
from storage.timestamps import as_utc

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
_TAG = re.compile(r"<[^>]+>")
CARD_KINDS = ("card", "card_edit")
# Bad requests that mean "the sales chat is wrong or closed to us", not "this card is bad".
SALES_CHAT_PROBLEMS = ("chat not found", "not enough rights", "have no rights", "not a member")


@dataclass(frozen=True)
class WorkerConfig:
    batch: int = 10
    lease_seconds: float = 180.0  # longer than a batch at 20 a minute (10 cards: 30 s)
    idle_poll: float = 1.0  # real seconds between looks when nothing is queued
    max_chats: int = 8  # chats sent to in parallel
    max_attempts: int = outbox.DEFAULT_MAX_ATTEMPTS
    retry_base: float = 5.0  # after a failure: 5 s, 10 s, 20 s ... up to retry_cap
    retry_cap: float = 300.0
    edit_wait: float = 3.0  # a card edit whose card is not sent yet
    behind_recheck: float = 1.0  # an older row of the chat is being sent by another worker
    error_pause: float = 2.0  # the database failed: wait before the next claim
    # Housekeeping, hourly: update ids are kept 3 days (Telegram redelivers for 24 hours),
    # delivered / dead / cancelled outbox rows 90 days.
    housekeeping_every: timedelta = timedelta(hours=1)
    keep_update_ids: timedelta = timedelta(days=3)
    keep_outbox: timedelta = timedelta(days=90)


class _Held(Exception):
    """This chat is rate limited until `until`: hand back the rest of its rows."""

    def __init__(self, until: datetime) -> None:
        self.until = until


class OutboxWorker:
    def __init__(
        self,
        bot: Bot,
        db: Database,
        *,
        handoff: HandoffPort,
        sales_chat: SalesChat,
        clock: Clock = system_clock,
        sleep: Sleep = asyncio.sleep,
        config: WorkerConfig | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.bot = bot
        self.db = db
        self.handoff = handoff
        self.sales_chat = sales_chat
        self.clock = clock
        self.sleep = sleep
        self.config = config or WorkerConfig()
        self.worker_id = worker_id or f"bot-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.sent = 0
        self.failed = 0
        self._next_housekeeping: datetime | None = None

    # ------------------------------------------------------------------ loop

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        log.info("Outbox worker %s started", self.worker_id)
        while not self.stopping:
            self._wake.clear()
            await self._housekeeping()
            try:
                claimed = await self.run_once()
            except Exception:
                log.exception("Outbox worker: claiming failed; trying again shortly")
                await self._pause(self.config.error_pause, real=True)
                continue
            if claimed or self.stopping:
                continue
            try:
                delay = await self._next_due_in()
            except Exception:
                log.exception("Outbox worker: reading the queue failed")
                delay = None
            if delay is None:
                await self._pause(self.config.idle_poll, real=True)
            else:
                # Something is scheduled (a retry_after, a backoff): sleep until it is due.
                await self._pause(max(delay, 0.01), real=False)
        log.info("Outbox worker %s stopped", self.worker_id)

    async def _housekeeping(self) -> None:
        now = self.clock()
        if self._next_housekeeping is not None and now < self._next_housekeeping:
            return
        self._next_housekeeping = now + self.config.housekeeping_every
        try:
            async with self.db.transaction() as session:
                updates = await repo.purge_processed_updates(
                    session, now - self.config.keep_update_ids
                )
                rows = await outbox.purge_outbox(session, now - self.config.keep_outbox)
        except Exception:
            log.exception("Outbox worker: housekeeping failed")
            return
        if updates or rows:
            log.info("Housekeeping: %d old update ids, %d old outbox rows removed", updates, rows)

    async def _pause(self, seconds: float, *, real: bool) -> None:
        """Wait `seconds` (the injectable sleep, or real time when idle) or until woken."""
        if self._wake.is_set():
            return
        waker = asyncio.create_task(self._wake.wait())
        sleeper = asyncio.create_task(asyncio.sleep(seconds) if real else self.sleep(seconds))
        try:
            await asyncio.wait({waker, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waker, sleeper):
                task.cancel()
            await asyncio.gather(waker, sleeper, return_exceptions=True)

    async def _next_due_in(self) -> float | None:
        """Seconds until the next queued row is due (<= 0: now); None if nothing is queued.

        A row another worker holds counts from its lease's end, when it is due again.
        """
        async with self.db.session() as session:
            # count(*) > count(not_before): some pending row has no time, i.e. is due now.
            first, pending, timed = (
                await session.exec(
                    select(
                        func.min(col(Outbox.not_before)),
                        func.count(),
                        func.count(col(Outbox.not_before)),
                    ).where(col(Outbox.status) == "pending")
                )
            ).one()
            leased = (
                await session.exec(
                    select(func.min(col(Outbox.lease_until))).where(col(Outbox.status) == "sending")
                )
            ).one()
        if pending > timed:
            return 0.0
        times = [as_utc(t) for t in (first, leased) if t is not None]
        if not times:
            return None
        return (min(times) - self.clock()).total_seconds()

    # ----------------------------------------------------------------- batch

    async def run_once(self) -> int:
        """Claim one batch of due rows and deliver them; the number claimed."""
        now = self.clock()
        rows = await outbox.claim_batch(
            self.db,
            now,
            limit=self.config.batch,
            lease_seconds=self.config.lease_seconds,
            worker_id=self.worker_id,
            max_attempts=self.config.max_attempts,
        )
        if not rows:
            return 0
        by_chat: dict[int, list[Outbox]] = {}
        for row in rows:
            by_chat.setdefault(self._chat_key(row), []).append(row)
        limit = asyncio.Semaphore(self.config.max_chats)

        async def one_chat(chat: int, chat_rows: list[Outbox]) -> None:
            async with limit:
                await self._deliver_chat(chat, chat_rows)

        await asyncio.gather(*(one_chat(c, r) for c, r in by_chat.items()))
        return len(rows)

    def _chat_key(self, row: Outbox) -> int:
        # Cards and their edits go to the sales chat whatever id was current when queued.
        if row.kind in CARD_KINDS:
            return self.sales_chat.chat_id
        return row.chat_id

    async def _deliver_chat(self, chat: int, rows: list[Outbox]) -> None:
        if chat == self.sales_chat.chat_id:
            await self._deliver_sales(rows)
            return
        until = await self._waiting_behind(chat, rows[0])
        if until is not None:
            # An older row of this chat is not delivered yet (held by a 429, being
            # retried, or leased by another worker): ours wait for it, to keep the order.
            await self._hand_back(rows, until)
            return
        rows = await self._collapse_edits(rows)
        for index, row in enumerate(rows):
            if self.stopping:
                await self._hand_back(rows[index:], self.clock())
                return
            try:
                await self._deliver(row)
            except _Held as exc:
                await self._hand_back(rows[index:], exc.until)
                return

    async def _waiting_behind(self, chat: int, first: Outbox) -> datetime | None:
        """When the oldest undelivered row of this chat before `first` is due, if any.

        The order is kept by the database, not in memory, so it holds across
        restarts and between several workers: rows held after a 429 stay pending
        with their not_before, and newer rows of that chat line up behind them.
        """
        # (The sales chat has its own rules: _sales_waiting_behind.)
        same_chat = (col(Outbox.chat_id) == chat) & col(Outbox.kind).not_in(CARD_KINDS)
        async with self.db.session() as session:
            older = (
                await session.exec(
                    select(Outbox)
                    .where(
                        same_chat,
                        col(Outbox.id) < first.id,
                        col(Outbox.status).in_(("pending", "sending")),
                    )
                    .order_by(col(Outbox.id))
                    .limit(1)
                )
            ).first()
        return self._due_after(older)

    def _due_after(self, older: Outbox | None) -> datetime | None:
        """When to look again at a row waiting behind `older` (None: it need not wait)."""
        if older is None:
            return None
        now = self.clock()
        soon = now + timedelta(seconds=0.5)
        if older.status == "pending":
            due = older.not_before
        else:
            # Being sent: by a live worker it is done in seconds, so look again soon; the
            # lease's end only matters if that worker died.
            recheck = now + timedelta(seconds=self.config.behind_recheck)
            due = min(as_utc(older.lease_until), recheck) if older.lease_until else recheck
        return max(as_utc(due), soon) if due is not None else soon

    # ------------------------------------------------------------ sales chat

    async def _deliver_sales(self, rows: list[Outbox]) -> None:
        """The sales chat's rows: cards first (claimed first), each row waiting only for
        what it must follow; edits coalesced and yielding to waiting cards."""
        rows = await self._collapse_edits(rows)
        for index, row in enumerate(rows):
            if self.stopping:
                await self._hand_back(rows[index:], self.clock())
                return
            if row.kind == "card_edit" and await self._card_waiting():
                # A new card is due but not in this batch: let the next claim take it first.
                await self._hand_back(rows[index:], self.clock())
                return
            until = await self._sales_waiting_behind(row)
            if until is not None:
                await self._hand_back([row], until)
                continue
            if row.kind == "card_edit":
                async with self.db.transaction() as session:
                    newer = await outbox.coalesce_edit(session, row)
                if newer is not None:
                    await self._mark_sent(row, None, note=f"superseded by outbox {newer}")
                    continue
            try:
                await self._deliver(row)
            except _Held as exc:
                await self._hand_back(rows[index:], exc.until)
                return

    async def _card_waiting(self) -> bool:
        async with self.db.session() as session:
            return await outbox.card_due(session, self.clock())

    async def _sales_waiting_behind(self, row: Outbox) -> datetime | None:
        """What a sales-chat row must follow: a card, the older cards (the order the
        leads turned hot) and older rows of its own lead (its card before its edits, an
        SLA note before the card raised again); an edit, older rows of its own lead;
        a plain message, older plain messages to the chat."""
        undelivered = col(Outbox.status).in_(("pending", "sending"))
        older = [col(Outbox.id) < row.id, undelivered]
        handoff_id = row.payload.get("handoff_id") if row.kind in CARD_KINDS else None
        mine: Any = None
        if isinstance(handoff_id, int):
            mine = col(Outbox.kind).in_(CARD_KINDS) & (
                Outbox.payload["handoff_id"].as_integer() == handoff_id  # type: ignore[index]
            )
        if row.kind == "card":
            follow: Any = col(Outbox.kind) == "card"
            if mine is not None:
                follow = follow | mine
        elif row.kind == "card_edit":
            if mine is None:
                return None
            follow = mine
        else:
            follow = (col(Outbox.kind).not_in(CARD_KINDS)) & (col(Outbox.chat_id) == row.chat_id)
        async with self.db.session() as session:
            first = (
                await session.exec(
                    select(Outbox).where(follow, *older).order_by(col(Outbox.id)).limit(1)
                )
            ).first()
        return self._due_after(first)

    async def _collapse_edits(self, rows: list[Outbox]) -> list[Outbox]:
        last: dict[Any, int] = {}
        for i, row in enumerate(rows):
            if row.kind == "card_edit":
                last[row.payload.get("handoff_id")] = i
        keep: list[Outbox] = []
        for i, row in enumerate(rows):
            if row.kind == "card_edit" and last[row.payload.get("handoff_id")] != i:
                await self._mark_sent(row, None, note="superseded by a later edit")
                continue
            keep.append(row)
        return keep

    async def _hand_back(self, rows: list[Outbox], at: datetime) -> None:
        async with self.db.transaction() as session:
            for row in rows:
                assert row.id is not None
                await outbox.reschedule(session, row.id, at, worker_id=self.worker_id)

    # ------------------------------------------------------------------- row

    async def _deliver(self, row: Outbox) -> None:
        assert row.id is not None
        try:
            with flood_wait_disabled():
                message = await self._send(row)
        except TelegramRetryAfter as exc:
            until = self.clock() + timedelta(seconds=exc.retry_after)
            log.warning(
                "Outbox %s: 429, chat %s held for %s s", row.id, row.chat_id, exc.retry_after
            )
            raise _Held(until) from exc
        except _Later as exc:
            await self._hand_back([row], self.clock() + timedelta(seconds=exc.seconds))
        except _Permanent as exc:
            await self._fail(row, str(exc), permanent=True)
        except TelegramForbiddenError as exc:
            # A prospect who blocked the bot (the retry middleware marked the lead): retrying
            # cannot help. For a card it means the bot lost the sales chat: fixable, so kept.
            await self._fail(row, f"forbidden: {exc.message}", permanent=row.kind not in CARD_KINDS)
        except TelegramBadRequest as exc:
            chat_problem = any(s in exc.message.lower() for s in SALES_CHAT_PROBLEMS)
            permanent = row.kind not in CARD_KINDS or not chat_problem
            await self._fail(row, f"bad request: {exc.message}", permanent=permanent)
        except (TelegramServerError, TelegramNetworkError) as exc:
            await self._fail(row, f"{type(exc).__name__}: {exc.message}", permanent=False)
        except TelegramAPIError as exc:
            await self._fail(row, f"{type(exc).__name__}: {exc.message}", permanent=False)
        except Exception as exc:
            log.exception("Outbox %s: unexpected error", row.id)
            await self._fail(row, f"{type(exc).__name__}: {exc}", permanent=False)
        else:
            await self._mark_sent(row, message)

    async def _send(self, row: Outbox) -> Message | None:
        payload = row.payload or {}
        if row.kind == "card":
            return await self._send_card(payload)
        if row.kind == "card_edit":
            return await self._edit_card(row, payload)
        if row.kind == "message":
            return await self.bot.send_message(
                chat_id=row.chat_id,
                text=html_text(str(payload.get("text", ""))),
                reply_markup=inline_keyboard(buttons_from_json(payload.get("buttons"))),
            )
        raise _Permanent(f"unknown outbox kind {row.kind!r}")

    async def _send_card(self, payload: dict[str, Any]) -> Message:
        message = await self._post_card(payload)
        self._shown(payload)
        return message

    def _shown(self, payload: dict[str, Any]) -> None:
        handoff_id = payload.get("handoff_id")
        if isinstance(handoff_id, int):
            self.sales_chat.shown.remember(
                handoff_id, str(payload.get("html", "")), buttons_from_json(payload.get("buttons"))
            )

    async def _post_card(self, payload: dict[str, Any]) -> Message:
        chat_id = self.sales_chat.chat_id
        text = str(payload.get("html", ""))
        markup = inline_keyboard(buttons_from_json(payload.get("buttons")))
        thread = self.sales_chat.thread_for(chat_id)
        try:
            return await self.bot.send_message(
                chat_id=chat_id, text=text, reply_markup=markup, message_thread_id=thread
            )
        except TelegramBadRequest as exc:
            reason = exc.message.lower()
            if thread is not None and "thread not found" in reason:
                log.error("SALES_TOPIC_ID %s not found: card sent to the chat itself", thread)
                return await self.bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
            if "parse entities" in reason:
                # Never lose a lead over markup: send the card as plain text.
                log.error("Card HTML refused (%s): sending it as plain text", exc.message)
                return await self.bot.send_message(
                    chat_id=chat_id,
                    text=html.unescape(_TAG.sub("", text)),
                    reply_markup=markup,
                    message_thread_id=thread,
                    parse_mode=None,
                )
            raise

    async def _edit_card(self, row: Outbox, payload: dict[str, Any]) -> Message | None:
        handoff_id = int(payload.get("handoff_id", 0))
        pinned = payload.get("message_id")
        if pinned is not None:
            # An edit of one particular message (the old card after an SLA re-raise):
            # if that message is gone there is nothing to edit, and no card to resend.
            return await self._edit_pinned(row, payload, int(pinned))
        target = await self.handoff.card_target(handoff_id)
        if target is None or target[1] is None:
            if await self._card_still_queued(handoff_id):
                raise _Later(self.config.edit_wait)
            # The card itself was never delivered (dead): this edit becomes the card.
            return await self._send_card(payload)
        chat_id, message_id = target
        html_ = str(payload.get("html", ""))
        buttons = buttons_from_json(payload.get("buttons"))
        if self.sales_chat.shown.same(handoff_id, html_, buttons):
            return None  # the card already shows exactly this
        try:
            result = await self.bot.edit_message_text(
                chat_id=chat_id,
                message_id=message_id,
                text=html_,
                reply_markup=inline_keyboard(buttons),
            )
        except TelegramBadRequest as exc:
            reason = exc.message.lower()
            if "not found" in reason or "can't be edited" in reason:
                log.warning("Card of handoff %s is gone (%s): sending anew", handoff_id, reason)
                return await self._send_card(payload)
            raise
        self._shown(payload)
        return result if isinstance(result, Message) else None

    async def _edit_pinned(
        self, row: Outbox, payload: dict[str, Any], message_id: int
    ) -> Message | None:
        try:
            result = await self.bot.edit_message_text(
                chat_id=row.chat_id,
                message_id=message_id,
                text=str(payload.get("html", "")),
                reply_markup=inline_keyboard(buttons_from_json(payload.get("buttons"))),
            )
        except TelegramBadRequest as exc:
            log.info("Old card message %s not edited: %s", message_id, exc.message)
            return None
        return result if isinstance(result, Message) else None

    async def _card_still_queued(self, handoff_id: int) -> bool:
        async with self.db.session() as session:
            handoff = await repo.get_handoff(session, handoff_id)
            if handoff is None:
                return False
            key = f"card:{handoff.interview_id}"
            row = (await session.exec(select(Outbox).where(col(Outbox.dedup_key) == key))).first()
        return row is not None and row.status in ("pending", "sending")

    async def _mark_sent(
        self, row: Outbox, message: Message | None, *, note: str | None = None
    ) -> None:
        assert row.id is not None
        message_id = message.message_id if message is not None else None
        handoff_id = row.payload.get("handoff_id") if row.kind in ("card", "card_edit") else None
        if row.payload.get("message_id") is not None:
            handoff_id = None  # an edit of an old message never becomes the current card
        # Marking and attaching the card commit together; retried because a send that is
        # not marked would be sent again once the lease runs out.
        for attempt in range(3):
            try:
                async with self.db.transaction() as session:
                    await outbox.mark_sent(
                        session,
                        row.id,
                        now=self.clock(),
                        message_id=message_id,
                        worker_id=self.worker_id,
                    )
                    if handoff_id is not None and message is not None:
                        await repo.attach_handoff_message(
                            session,
                            int(handoff_id),
                            message.message_id,
                            chat_id=message.chat.id,
                            now=self.clock(),
                        )
                break
            except Exception:
                if attempt == 2:
                    log.exception("Outbox %s sent but not marked", row.id)
                    return
                await asyncio.sleep(0.2 * (attempt + 1))
        if note is None:
            self.sent += 1
            log.info("Outbox %s (%s) delivered to chat %s", row.id, row.kind, row.chat_id)

    async def _fail(self, row: Outbox, error: str, *, permanent: bool) -> None:
        assert row.id is not None
        self.failed += 1
        if row.kind in CARD_KINDS and not permanent:
            await self._keep_card(row, error)
            return
        retry_at = None
        if not permanent:
            delay = min(
                self.config.retry_cap, self.config.retry_base * 2 ** max(0, row.attempts - 1)
            )
            retry_at = self.clock() + timedelta(seconds=delay)
        async with self.db.transaction() as session:
            status = await outbox.mark_failed(
                session,
                row.id,
                error,
                retry_at,
                max_attempts=self.config.max_attempts,
                worker_id=self.worker_id,
            )
        level = logging.ERROR if status == "dead" else logging.WARNING
        log.log(level, "Outbox %s (%s) failed, now %s: %s", row.id, row.kind, status, error)

    async def _keep_card(self, row: Outbox, error: str) -> None:
        """A card is never given up for a reason an operator or time can fix (Telegram
        down, the bot removed from the sales chat): retried, less often the older it
        is (half its age, between retry_base and retry_cap), without using up attempts."""
        assert row.id is not None
        age = (self.clock() - as_utc(row.created_at)).total_seconds()
        delay = min(self.config.retry_cap, max(self.config.retry_base, age / 2))
        await self._hand_back([row], self.clock() + timedelta(seconds=delay))
        log.error(
            "Card (outbox %s) not delivered, retrying in %.0f s: %s. Check that the bot is "
            "in the sales chat %s and may post there.",
            row.id,
            delay,
            error,
            self.sales_chat.chat_id,
        )


class _Later(Exception):
    """Not yet (a card edit whose card is still queued): try this row again later."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class _Permanent(Exception):
    """A row no retry can deliver (an unknown kind)."""
