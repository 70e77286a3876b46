"""InterviewService: one prospect's interview, one engine step per call.

Every call that changes something runs in ONE short transaction: the update id
mark (a duplicate delivery is applied once), the interview row, its answer
and signal rows, a stage change, the lead's contacts and a sales card in the
outbox commit together or not at all. Two processes stepping the same
interview at once are caught by the interview's `rev` and the loser's whole
call is run again on fresh data.

The Telegram handlers and the console both call this; it returns plain
`Reply` objects (texts and button tokens) and never talks to Telegram.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col

from bot.services import followup, texts
from bot.services.clock import Clock, system_clock
from bot.services.config import ServiceConfig
from bot.services.flow_registry import FlowRegistry, StartTarget, UnknownFlowError
from bot.services.handoff import HandoffService
from bot.services.records import (
    RowCache,
    is_sales_owned,
    known_facts,
    progress_of,
    state_from_record,
    state_from_stored,
    status_of,
    stored_of,
)
from bot.services.texts import t
from bot.services.tokens import DIGEST_CHARS, Token, TokenError, decode, fit
from bot.services.types import Button, EditPrevious, Keyboard, OutMessage, Prospect, Reply
from storage import outbox
from storage import repositories as repo
from storage.database import Database
from storage.repositories import InterviewRecord, StaleInterviewError, StoredRows
from storage.repositories.interviews import KEEP_MESSAGE_ID
from storage.tables import Interview, Lead, Outbox

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from flows.compiler import QuestionProg
    from flows.engine import CompiledFlow
    from flows.state import InterviewState, Step

__all__ = ["InterviewService", "UnknownFlowError"]

_RETRIES = 3  # a concurrent step by another process: run the call again on fresh data
_CHOSEN_MAX = 200  # characters of a typed answer echoed into the question's message


@dataclass
class _Ctx:
    """One interview loaded for a step."""

    lead: Lead
    interview: Interview
    compiled: CompiledFlow
    state: InterviewState
    stored: StoredRows | None = None  # its rows at interview.rev (None: save_step reads them)


@dataclass
class _Chat:
    """What this process last told a prospect: the interview and its rev then, and the
    id of the question message sent (a note not yet written to the database)."""

    interview_id: int
    rev: int
    message_id: int | None = None


class _Unread(Enum):
    """`_active(row=UNREAD)`: the caller has not read the interview row (None: there is none)."""

    UNREAD = 0


UNREAD = _Unread.UNREAD
_AFTER_COMMIT = "qualibot_after_commit"  # session.info key: row-cache entries to keep
_PUSHED = "qualibot_reminder_pushed"  # session.info key: reminders pushed back
_PUSH_EVERY = timedelta(minutes=30)  # see InterviewService._reminder_fresh
_NOTES_EVERY = 0.5  # seconds: see InterviewService._write_notes
_CHATS_MAX = 20_000  # prospects remembered (LRU): a forgotten note is a missed edit only
# A second unreadable message this soon after the one that was re-asked was typed
# before the prospect could read the re-ask: part of a flood, ignored, not a miss.
# Telegram dates messages in whole seconds, hence two.
_FLOOD_WINDOW = 2.0


Body = Callable[["AsyncSession"], Awaitable[Reply]]


class _Relayed(Exception):
    """Sales has this lead: the typed message is for the relay (text(check_relay=True))."""


class InterviewService:
    def __init__(
        self,
        db: Database,
        registry: FlowRegistry | None = None,
        *,
        config: ServiceConfig | None = None,
        clock: Clock = system_clock,
        handoff: HandoffService | None = None,
    ) -> None:
        self.db = db
        self.config = config or ServiceConfig()
        self.clock = clock
        self.registry = registry or FlowRegistry(db, config=self.config, clock=clock)
        self.handoff = handoff or HandoffService(db, self.registry, config=self.config, clock=clock)
        self._rows = RowCache()
        self._chats: OrderedDict[int, _Chat] = OrderedDict()  # by Telegram user id
        self._unwritten: dict[int, _Chat] = {}  # noted message ids not in the database yet
        self._notes_written = 0.0  # time.monotonic() of the last write of notes
        self._versions: dict[int, int] = {}  # flow_version id -> its number (never changes)
        self._pushed: dict[int, datetime] = {}  # interview id -> reminder last pushed back
        # user id -> (interview id, question, sent_at) of the last re-asked miss
        self._reasked: OrderedDict[int, tuple[int, str, float]] = OrderedDict()

    # ================================================================ public API
    async def start(
        self,
        prospect: Prospect,
        payload: str | None = None,
        *,
        flow: str | None = None,
        lang: str | None = None,
        update_id: int | None = None,
        resume: bool = True,
    ) -> Reply:
        """/start [payload]: welcome and the first question.

        The lead is found or created (a second /start never makes a second lead),
        and a lead who had opted out is back in. With `resume` (the default), a
        /start without a payload, or one that leads to the flow already running,
        continues the interview in progress instead of wiping the answers: people
        press /start again by accident. Otherwise an active interview is replaced.
        `flow` forces a flow id (the console's --flow); UnknownFlowError if there is none.
        """

        async def body(session: AsyncSession) -> Reply:
            lead, row = await self._lead_and_row(session, prospect)
            if lead.opted_out:
                lead = await repo.update_lead(
                    session, lead.id or 0, opted_out=False, now=self.clock()
                )
            if flow is not None:
                if flow not in await self.registry.known_ids(session):
                    raise UnknownFlowError(flow)
                target = StartTarget(flow, payload)
            else:
                target = await self.registry.resolve(payload, session)
            if resume:
                ctx = await self._active(session, lead, row)
                if ctx is not None and (not payload or ctx.interview.flow_id == target.flow_id):
                    return self._resumed(ctx)
            return await self._begin(session, lead, target, lang or prospect.language_code)

        return await self._run(update_id, body)

    async def text(
        self,
        prospect: Prospect,
        text: str,
        *,
        update_id: int | None = None,
        sent_at: float | None = None,
        check_relay: bool = False,
    ) -> Reply:
        """A typed message: the answer to the current question (intents are caught too).

        Without an interview in progress: a new prospect gets the default flow
        started, someone who finished is told so, someone who opted out is reminded.
        `sent_at` (the message's date, epoch seconds) lets a burst of unreadable
        messages count as one miss instead of skipping the question.
        With `check_relay` (the Telegram side), a message while sales has the lead
        (bot/services/relay.py) changes nothing and returns `Reply(relayed=True)`: relay
        it. The check rides on the step's own read, not a query of its own.
        """

        async def body(session: AsyncSession) -> Reply:
            if check_relay:
                lead, row = await self._lead_and_row_relayed(session, prospect)
            else:
                lead, row = await self._lead_and_row(session, prospect)
            ctx = await self._active(session, lead, row)
            if ctx is None:
                return await self._idle(session, lead, prospect)
            today = self.clock().date()
            step = ctx.compiled.answer(ctx.state, text, today=today)
            if sent_at is not None:
                if self._flooding(prospect.user_id, ctx, text, sent_at, today):
                    return Reply(interview_id=ctx.interview.id, lang=ctx.state.lang)
                if step.outcome == "reask" and ctx.interview.id is not None:
                    self._reasked[prospect.user_id] = (ctx.interview.id, ctx.state.state, sent_at)
                    self._reasked.move_to_end(prospect.user_id)
                    if len(self._reasked) > _CHATS_MAX:
                        self._reasked.popitem(last=False)
            return await self._apply(session, ctx, step)

        return await self._again_if_unsent(prospect, await self._run(update_id, body))

    async def option(
        self,
        prospect: Prospect,
        token: str,
        *,
        update_id: int | None = None,
        message_id: int | None = None,
    ) -> Reply:
        """A prospect's button (callback data). Old or foreign buttons change nothing."""
        try:
            parsed = decode(token)
        except TokenError:
            return self._stale(None)
        if parsed.kind == "l":
            return await self.set_language(prospect, parsed.target, update_id=update_id)
        if parsed.kind == "h":
            return self._stale(None)

        async def body(session: AsyncSession) -> Reply:
            lead, row = await self._lead_and_row(session, prospect)
            if parsed.kind == "e":
                ctx = await self._latest(session, lead, row)
                if ctx is None or not ctx.interview.digest.startswith(parsed.digest):
                    return self._stale(ctx)
                return await self._event(session, ctx, parsed.target)
            ctx = await self._active(session, lead, row)
            if parsed.kind == "c":  # Continue, under a reminder
                return await self._continue(session, lead, prospect, ctx)
            if ctx is None:
                return self._stale(None)
            qp = self._token_question(ctx, parsed)
            if qp is None:
                return self._stale(ctx)
            if parsed.kind == "a":
                option_id = _resolve(parsed.value, qp.option_ids)
                if option_id is None:
                    return self._stale(ctx)
                step = ctx.compiled.answer(ctx.state, option=option_id, question=qp.id)
                return await self._apply(session, ctx, step, message_id=message_id)
            if parsed.kind in ("t", "m"):
                mask = _mask(parsed.value, len(qp.option_ids))
                if mask is None:
                    return self._stale(ctx)
                if parsed.kind == "t":
                    return self._toggled(ctx, mask, message_id)
                if mask == 0:
                    return Reply(notice=None, interview_id=ctx.interview.id)
                # The engine reads "1, 3" as the first and third options.
                picked = ", ".join(str(i + 1) for i in range(len(qp.option_ids)) if mask >> i & 1)
                step = ctx.compiled.answer(ctx.state, picked, question=qp.id)
                return await self._apply(session, ctx, step, message_id=message_id)
            if parsed.kind == "s":
                return await self._apply(
                    session, ctx, ctx.compiled.skip(ctx.state), message_id=message_id
                )
            if parsed.kind == "b":
                return await self._back(session, ctx, message_id)
            return self._stale(ctx)

        return await self._again_if_unsent(prospect, await self._run(update_id, body))

    async def skip(self, prospect: Prospect, *, update_id: int | None = None) -> Reply:
        """Skip the current question (it counts as unknown, 0 points)."""

        async def body(session: AsyncSession) -> Reply:
            ctx = await self._active(session, *await self._lead_and_row(session, prospect))
            if ctx is None:
                return self._nothing(prospect)
            return await self._apply(session, ctx, ctx.compiled.skip(ctx.state))

        return await self._run(update_id, body)

    async def back(self, prospect: Prospect, *, update_id: int | None = None) -> Reply:
        """Undo the last answer and ask that question again."""

        async def body(session: AsyncSession) -> Reply:
            ctx = await self._active(session, *await self._lead_and_row(session, prospect))
            if ctx is None:
                return self._nothing(prospect)
            return await self._back(session, ctx, None)

        return await self._run(update_id, body)

    async def restart(self, prospect: Prospect, *, update_id: int | None = None) -> Reply:
        """Start again from the first question, same flow and source as the last interview."""

        async def body(session: AsyncSession) -> Reply:
            lead = await self._lead(session, prospect)
            if lead.opted_out:
                lead = await repo.update_lead(
                    session, lead.id or 0, opted_out=False, now=self.clock()
                )
            last = await self._last_interview(session, lead)
            if last is not None and last.flow_id in await self.registry.known_ids(session):
                target = StartTarget(last.flow_id, last.source)
            else:
                target = await self.registry.resolve(None, session)
            lang = last.lang if last is not None else prospect.language_code
            return await self._begin(session, lead, target, lead.language or lang)

        return await self._run(update_id, body)

    async def cancel(self, prospect: Prospect, *, update_id: int | None = None) -> Reply:
        """/cancel: abandon the interview in progress."""

        async def body(session: AsyncSession) -> Reply:
            lead = await self._lead(session, prospect)
            lang = self._lang(lead, prospect)
            ctx = await self._active(session, lead)
            if ctx is None:
                return Reply([OutMessage(t(lang, "nothing_to_cancel"))], lead_id=lead.id)
            await repo.cancel_interview(session, ctx.interview.id or 0, now=self.clock())
            return Reply(
                [OutMessage(t(ctx.state.lang, "cancelled"), remove_keyboard=True)],
                interview_id=ctx.interview.id,
                lead_id=lead.id,
            )

        return await self._run(update_id, body)

    async def stop(self, prospect: Prospect, *, update_id: int | None = None) -> Reply:
        """/stop: opt out of every later message. The interview in progress is
        cancelled (scored as the flow's `opted_out` event, if it has one) and
        messages queued for the prospect are dropped."""

        async def body(session: AsyncSession) -> Reply:
            lead = await self._lead(session, prospect)
            lang = self._lang(lead, prospect)
            ctx = await self._active(session, lead)
            if ctx is not None:
                lang = ctx.state.lang
                step = ctx.compiled.event(ctx.state, "opted_out")
                if step.outcome == "stale":  # the flow does not score opting out
                    await repo.cancel_interview(session, ctx.interview.id or 0, now=self.clock())
                else:
                    await self._apply(session, ctx, step, status="cancelled")
            await repo.update_lead(session, lead.id or 0, opted_out=True, now=self.clock())
            await self._drop_queued(session, lead)
            return Reply(
                [OutMessage(t(lang, "stopped"), remove_keyboard=True)],
                interview_id=ctx.interview.id if ctx else None,
                lead_id=lead.id,
            )

        return await self._run(update_id, body)

    async def set_language(
        self, prospect: Prospect, lang: str | None = None, *, update_id: int | None = None
    ) -> Reply:
        """/language: without `lang`, a message with a button per language; with it,
        switch (the interview too, if its flow has that language) and re-ask."""
        if not lang:
            buttons = tuple(
                (Button(t(code, "language_name"), Token("l", target=code).encode()),)
                for code in texts.languages()
            )
            return Reply([OutMessage(t(prospect.language_code, "pick_language"), buttons=buttons)])
        chosen = texts.pick(lang)

        async def body(session: AsyncSession) -> Reply:
            lead = await self._lead(session, prospect)
            await repo.update_lead(session, lead.id or 0, language=chosen, now=self.clock())
            ctx = await self._active(session, lead)
            messages = [OutMessage(t(chosen, "language_set"))]
            if ctx is None:
                return Reply(messages, lead_id=lead.id)
            flow_lang = ctx.compiled.pick_language(chosen)
            if flow_lang != ctx.interview.lang:
                await repo.update_interview(
                    session, ctx.interview.id or 0, lang=flow_lang, now=self.clock()
                )
                ctx.state = replace(ctx.state, lang=flow_lang)
            messages.append(self._question(ctx.compiled, ctx.state))
            return Reply(messages, interview_id=ctx.interview.id, lead_id=lead.id)

        return await self._run(update_id, body)

    async def event(self, prospect: Prospect, name: str, *, update_id: int | None = None) -> Reply:
        """An engagement event the flow scores (materials opened, talk to a person...),
        on the interview in progress or, after it ended, the last one."""

        async def body(session: AsyncSession) -> Reply:
            lead = await self._lead(session, prospect)
            ctx = await self._latest(session, lead)
            if ctx is None:
                return self._stale(None)
            return await self._event(session, ctx, name)

        return await self._run(update_id, body)

    async def contact(
        self, prospect: Prospect, phone: str, *, update_id: int | None = None
    ) -> Reply:
        """A shared contact: the answer to the phone question, or just saved on the lead."""

        async def body(session: AsyncSession) -> Reply:
            lead = await self._lead(session, prospect)
            ctx = await self._active(session, lead)
            if ctx is not None and ctx.compiled.program.questions[ctx.state.state].kind == "phone":
                step = ctx.compiled.answer(ctx.state, phone, today=self.clock().date())
                return await self._apply(session, ctx, step)
            from flows.answers import parse_phone

            number = parse_phone(phone) or phone.strip()[:32]
            await repo.update_lead(session, lead.id or 0, phone=number, now=self.clock())
            lang = ctx.state.lang if ctx else self._lang(lead, prospect)
            messages = [OutMessage(t(lang, "contact_saved"), remove_keyboard=True)]
            if ctx is not None:
                messages.append(self._question(ctx.compiled, ctx.state))
            return Reply(messages, lead_id=lead.id)

        return await self._run(update_id, body)

    async def forget(self, prospect: Prospect, *, update_id: int | None = None) -> Reply:
        """/forget: erase the prospect's personal data (names, contacts, answers' text),
        keep the numbers; cards already in the sales chat are edited to say so."""

        async def body(session: AsyncSession) -> Reply:
            lead = await self._lead(session, prospect)
            lang = self._lang(lead, prospect)
            now = self.clock()
            active = await repo.get_active_interview(session, lead.id or 0)
            if active is not None:
                await repo.cancel_interview(session, active.interview.id or 0, now=now)
            await repo.forget_lead(session, lead.id or 0, now=now)
            await self._edit_cards_forgotten(session, lead.id or 0)
            return Reply([OutMessage(t(lang, "forgotten"), remove_keyboard=True)], lead_id=lead.id)

        return await self._run(update_id, body)

    async def mark_blocked(self, chat_id: int) -> None:
        """The prospect blocked the bot (a 403 on send): mark the lead, score the flow's
        `blocked` event, end the interview in progress, drop queued messages."""
        async with self.db.transaction() as session:
            lead = await repo.get_lead_by_telegram_id(session, chat_id)
            if lead is None or lead.id is None:
                return
            await repo.update_lead(session, lead.id, blocked=True, now=self.clock())
            ctx = await self._latest(session, lead)
            if ctx is not None:
                step = ctx.compiled.event(ctx.state, "blocked")
                if step.outcome != "stale":
                    active = ctx.interview.status == "active"
                    await self._apply(session, ctx, step, status="cancelled" if active else None)
                elif ctx.interview.status == "active":
                    await repo.cancel_interview(session, ctx.interview.id or 0, now=self.clock())
            await self._drop_queued(session, lead)

    async def mark_unblocked(self, chat_id: int) -> None:
        """The prospect wrote again after blocking: messages may be sent again."""
        async with self.db.transaction() as session:
            lead = await repo.get_lead_by_telegram_id(session, chat_id)
            if lead is not None and lead.id is not None and lead.blocked:
                await repo.update_lead(session, lead.id, blocked=False, now=self.clock())

    async def current(self, prospect: Prospect) -> Reply:
        """The current question again (a Continue button, /help), or where things stand."""
        async with self.db.session() as session:
            lead = await repo.get_lead_by_telegram_id(session, prospect.user_id)
            if lead is None:
                return Reply([OutMessage(t(prospect.language_code, "no_interview"))])
            ctx = await self._active(session, lead)
            if ctx is None:
                return self._nothing(prospect, lead)
            self._shown(prospect.user_id, ctx.interview)
            return Reply(
                [self._question(ctx.compiled, ctx.state)],
                interview_id=ctx.interview.id,
                lead_id=lead.id,
            )

    async def _again_if_unsent(self, prospect: Prospect, reply: Reply) -> Reply:
        """A redelivered answer this process has said nothing about (it started after the
        first delivery, e.g. a crash between the commit and the reply): the reply may never
        have gone out, so the current question is shown again rather than nothing. Within
        one process a redelivery was answered the first time: it stays silent."""
        if not reply.duplicate or prospect.user_id in self._chats:
            return reply
        again = await self.current(prospect)
        if again.interview_id is None:
            return reply  # nothing in progress: nothing worth repeating
        again.notice = reply.notice
        return again

    async def note_message(self, prospect: Prospect, message_id: int) -> None:
        """The Telegram id of the question message just sent, so a typed answer can
        edit it later (EditPrevious.message_id).

        No transaction of its own (that was a second commit per question): the id
        is kept here, used by the prospect's next step in this process, and written
        to the database inside the next transaction this service runs (any chat's),
        guarded by the interview's rev. It only serves the cosmetic edit showing
        the chosen answer: a note lost to a crash or restart, or not yet written
        when another process handles the next answer, costs that one edit. A
        step clears the stored id once its question is answered, so a stale
        id is never used to edit the wrong message.
        """
        chat = self._chats.get(prospect.user_id)
        if chat is not None:
            chat.message_id = message_id
            self._unwritten[prospect.user_id] = chat

    async def summary(self, prospect: Prospect, lang: str | None = None) -> str | None:
        """The plain-text result card of the prospect's last interview (the console's ending)."""
        from bot.services.cards import render_card_text

        async with self.db.session() as session:
            lead = await repo.get_lead_by_telegram_id(session, prospect.user_id)
            if lead is None:
                return None
            ctx = await self._latest(session, lead)
            if ctx is None:
                return None
            handoffs = await repo.list_handoffs(session, interview_id=ctx.interview.id)
            version = await self._version(session, ctx.interview)
            data = self.handoff.data(
                lead=lead,
                interview=ctx.interview,
                compiled=ctx.compiled,
                state=ctx.state,
                result=ctx.compiled.result(ctx.state),
                handoff=handoffs[-1] if handoffs else None,
                version=version,
            )
            return render_card_text(data, lang or ctx.state.lang)

    def privacy(self, lang: str | None) -> Reply:
        return Reply([OutMessage(t(lang, "privacy"))])

    def help(self, lang: str | None) -> Reply:
        return Reply([OutMessage(t(lang, "help"))])

    def languages(self) -> tuple[str, ...]:
        return texts.languages()

    # ================================================================ plumbing
    async def _run(self, update_id: int | None, body: Body) -> Reply:
        """One transaction: the update id mark and the body's writes commit together."""
        for attempt in range(_RETRIES):
            try:
                async with self.db.transaction() as session:
                    if update_id is not None and not await repo.mark_update_processed(
                        session, update_id, now=self.clock()
                    ):
                        return Reply(duplicate=True)
                    reply = await body(session)
                    notes = await self._write_notes(session)
                    after: list[tuple[int, StoredRows]] = session.info.get(_AFTER_COMMIT, [])
                    pushed: list[tuple[int, datetime]] = session.info.get(_PUSHED, [])
                    shown = self._reply_interview(session, reply)
                # Committed: only now may what this transaction wrote be remembered.
                for interview_id, rows in after:
                    self._rows.put(interview_id, rows)
                for interview_id, at in pushed:
                    self._pushed[interview_id] = at
                    if len(self._pushed) > _CHATS_MAX:
                        del self._pushed[next(iter(self._pushed))]
                if notes:
                    self._notes_written = time.monotonic()
                for user_id, note, written in notes:
                    if note.message_id == written:  # no newer note meanwhile
                        note.message_id = None  # in the database now (or stale)
                        if self._unwritten.get(user_id) is note:
                            del self._unwritten[user_id]
                if shown is not None:
                    self._shown(*shown)
                return reply
            except _Relayed:
                return Reply(relayed=True)
            except StaleInterviewError:
                # Another process saved a step of this interview first; our reading
                # was old. The transaction rolled back (update mark included): redo.
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def _lead(self, session: AsyncSession, p: Prospect, *, read_first: bool = True) -> Lead:
        session.info["qualibot_user"] = p.user_id  # whose reply: see _reply_interview
        lead, _ = await repo.get_or_create_lead(
            session,
            p.user_id,
            now=self.clock(),
            read_first=read_first,
            username=p.username,
            first_name=p.first_name,
            last_name=p.last_name,
            language=texts.pick(p.language_code) if p.language_code else None,
        )
        return lead

    async def _lead_and_row(
        self, session: AsyncSession, p: Prospect
    ) -> tuple[Lead, Interview | None]:
        """The prospect's lead (created on first sight) and active interview row: one
        query for a known prospect, which is nearly every update."""
        session.info["qualibot_user"] = p.user_id
        found = await repo.get_lead_and_active_interview(session, p.user_id)
        if found is not None:
            return found
        return await self._lead(session, p, read_first=False), None  # new: no interview

    async def _lead_and_row_relayed(
        self, session: AsyncSession, p: Prospect
    ) -> tuple[Lead, Interview | None]:
        """`_lead_and_row`, raising _Relayed (rolls back, update mark included) when
        sales has the lead: the relay records the update with its own mark."""
        session.info["qualibot_user"] = p.user_id
        found = await repo.get_lead_active_interview_relayed(session, p.user_id)
        if found is None:
            return await self._lead(session, p, read_first=False), None  # new: no relay
        lead, row, relayed = found
        if relayed and not lead.forgotten:
            raise _Relayed
        return lead, row

    def _lang(self, lead: Lead | None, p: Prospect) -> str:
        return texts.pick((lead.language if lead else None) or p.language_code)

    async def _ctx(self, session: AsyncSession, lead: Lead, record: InterviewRecord) -> _Ctx:
        iv = record.interview
        compiled = await self.registry.for_interview(
            iv.flow_id, iv.digest, iv.flow_version_id, session
        )
        state = state_from_record(record, lead)
        session.info["qualibot_interview"] = iv  # the reply's, most likely: _reply_interview
        return _Ctx(lead, iv, compiled, state, stored_of(record, state))

    async def _ctx_of(self, session: AsyncSession, lead: Lead, iv: Interview) -> _Ctx:
        """A loaded interview row's context; its rows come from the cache when current."""
        rows = self._rows.get(iv)
        if rows is None:
            return await self._ctx(session, lead, await repo.load_record(session, iv))
        compiled = await self.registry.for_interview(
            iv.flow_id, iv.digest, iv.flow_version_id, session
        )
        session.info["qualibot_interview"] = iv
        return _Ctx(lead, iv, compiled, state_from_stored(iv, rows, lead), rows)

    async def _active(
        self, session: AsyncSession, lead: Lead, row: Interview | _Unread | None = UNREAD
    ) -> _Ctx | None:
        """The active interview; `row`: its row if the caller read it (None: there is none)."""
        iv = await repo.get_active_interview_row(session, lead.id or 0) if row is UNREAD else row
        if iv is None:
            return None
        try:
            return await self._ctx_of(session, lead, iv)
        except UnknownFlowError:
            # Its flow version is gone (a built-in file removed without a stored copy):
            # end it rather than leave the prospect stuck on an interview nobody can run.
            await repo.cancel_interview(session, iv.id or 0, now=self.clock())
            return None

    @staticmethod
    def _after_commit(session: AsyncSession, key: str, item: object) -> None:
        """Remember `item` for `_run` to act on once the transaction has committed."""
        session.info.setdefault(key, []).append(item)

    def _reminder_fresh(self, iv: Interview, compiled: CompiledFlow, now: datetime) -> bool:
        """Was the idle reminder pushed back moments ago (by this process)? Then this
        answer need not push it again: when it fires, the timer worker sees the later
        updated_at and sets it to reminder_hours after that (bot/services/followup.py,
        _remind), so nobody is reminded early; pushing at most every _PUSH_EVERY only
        spares a statement per answer. Not for short reminders (under 4 x that)."""
        at = self._pushed.get(iv.id or 0)
        if at is None or not timedelta(0) <= now - at < _PUSH_EVERY:
            return False
        hours = followup.followup_of(compiled.flow).reminder_hours
        return timedelta(hours=hours) >= 4 * _PUSH_EVERY

    # ---------------------------------------------------------------- message notes
    def _flooding(self, user_id: int, ctx: _Ctx, text: str, sent_at: float, today: date) -> bool:
        """An unreadable message sent right after the one that was re-asked: ignore it
        (no reply, no miss). Anything the engine can read still counts as an answer."""
        if ctx.state.misses != 1:
            return False
        last = self._reasked.get(user_id)
        if last is None or last[:2] != (ctx.interview.id, ctx.state.state):
            return False
        if sent_at - last[2] >= _FLOOD_WINDOW:
            return False
        # Read it as a first try: a re-ask (and no intent) means it says nothing.
        probe = ctx.compiled.answer(replace(ctx.state, misses=0), text, today=today)
        return probe.outcome == "reask" and not probe.intents

    def _shown(self, user_id: int, iv: Interview) -> None:
        """A reply about `iv` (at its current rev) goes to the prospect now."""
        if iv.id is None:
            return
        chat = self._chats.get(user_id)
        if chat is not None and chat.interview_id == iv.id and chat.rev == iv.rev:
            self._chats.move_to_end(user_id)
            return
        # A new rev: the step consumed the old note, or wrote it along with its row.
        self._unwritten.pop(user_id, None)
        self._chats[user_id] = _Chat(iv.id, iv.rev)
        self._chats.move_to_end(user_id)
        if len(self._chats) > _CHATS_MAX:
            gone, _ = self._chats.popitem(last=False)
            self._unwritten.pop(gone, None)

    @staticmethod
    def _reply_interview(session: AsyncSession, reply: Reply) -> tuple[int, Interview] | None:
        """(user id, interview row) of the reply, as this transaction leaves the row."""
        user_id = session.info.get("qualibot_user")
        iv = session.info.get("qualibot_interview")
        if user_id is None or not isinstance(iv, Interview) or iv.id != reply.interview_id:
            return None
        return user_id, iv

    def _noted(self, ctx: _Ctx) -> _Chat | None:
        chat = self._chats.get(ctx.lead.telegram_id)
        if chat is None or chat.message_id is None or chat.interview_id != ctx.interview.id:
            return None
        return chat

    async def _write_notes(self, session: AsyncSession) -> list[tuple[int, _Chat, int]]:
        """Write the notes not yet in the database, in this transaction (see note_message).

        At most every _NOTES_EVERY seconds: under load most notes are used by their
        chat's next step before that (and need no write), the rest go together."""
        if not self._unwritten or time.monotonic() - self._notes_written < _NOTES_EVERY:
            return []
        me = session.info.get("qualibot_user")  # this step's own note: used or stale now
        pending = [
            (u, c, c.message_id)
            for u, c in self._unwritten.items()
            if c.message_id is not None and u != me
        ]
        if pending:
            notes = [(c.interview_id, c.rev, m) for _, c, m in pending]
            await repo.note_message_ids(session, notes)
        return pending

    async def _last_interview(self, session: AsyncSession, lead: Lead) -> Interview | None:
        rows = await repo.list_interviews(session, lead_id=lead.id)
        return rows[-1] if rows else None

    async def _latest(
        self, session: AsyncSession, lead: Lead, row: Interview | _Unread | None = UNREAD
    ) -> _Ctx | None:
        """The interview in progress, else the last one whatever its status."""
        ctx = await self._active(session, lead, row)
        if ctx is not None:
            return ctx
        last = await self._last_interview(session, lead)
        if last is None or last.id is None:
            return None
        record = await repo.get_interview(session, last.id)
        return None if record is None else await self._ctx(session, lead, record)

    async def _version(self, session: AsyncSession, interview: Interview) -> int | None:
        version_id = interview.flow_version_id
        if version_id is None:
            return None
        number = self._versions.get(version_id)  # a version's number never changes
        if number is None:
            row = await repo.get_flow_version(session, version_id)
            if row is None:
                return None
            number = self._versions[version_id] = row.version
        return number

    # ================================================================ steps
    async def _begin(
        self, session: AsyncSession, lead: Lead, target: StartTarget, lang: str | None
    ) -> Reply:
        handle = await self.registry.record(
            session, await self.registry.active(target.flow_id, session)
        )
        compiled = handle.compiled
        now = self.clock()
        step = compiled.start(lang or lead.language, known=known_facts(lead))
        interview = await repo.start_interview(
            session,
            lead.id or 0,
            flow_id=target.flow_id,
            digest=compiled.digest,
            lang=step.state.lang,
            state=step.state.state,
            flow_version_id=handle.version_id,
            source=target.source,
            now=now,
        )
        if target.source and not lead.source:
            await repo.update_lead(session, lead.id or 0, source=target.source, now=now)
        state = step.state
        messages: list[OutMessage] = []
        welcome = compiled.flow.texts.get("welcome")
        if welcome:
            messages.append(
                OutMessage(compiled.render(welcome, state), "info", remove_keyboard=True)
            )
        session.info["qualibot_interview"] = interview
        empty = StoredRows(interview.rev, (), (), 0, ())
        self._after_commit(session, _AFTER_COMMIT, (interview.id, empty))
        if state.finished:  # a flow whose every question was already answered by the profile
            first = replace(state, state=compiled.program.first)
            ctx = _Ctx(lead, interview, compiled, first, empty)
            from flows.state import Step as _Step

            reply = await self._apply(session, ctx, _Step(state, "done"))
            reply.messages[:0] = messages
            return reply
        messages.append(self._question(compiled, state))
        await followup.after_step(
            session,
            interview=interview,
            compiled=compiled,
            status="active",
            tier=None,
            ended_now=False,
            now=now,
        )
        self._after_commit(session, _PUSHED, (interview.id, now))
        return Reply(messages, interview_id=interview.id, lead_id=lead.id, lang=state.lang)

    async def _apply(
        self,
        session: AsyncSession,
        ctx: _Ctx,
        step: Step,
        *,
        message_id: int | None = None,
        status: str | None = None,
    ) -> Reply:
        """Save one engine step and say what follows. The heart of the service."""
        iv = ctx.interview
        if step.outcome == "stale":
            return self._stale(ctx)
        compiled, before, state = ctx.compiled, ctx.state, step.state
        now = self.clock()
        result = compiled.result(state)
        # save_step refreshes the same ORM object in place: keep what it was.
        old_status, old_tier, old_stage = iv.status, iv.tier, iv.stage
        new_status = status or status_of(state, old_status)
        sales_owned = is_sales_owned(iv) or await self._sales_decided(session, iv)
        progress = progress_of(
            state, result, status=new_status, keep_stage=old_stage, sales_owned=sales_owned
        )
        # The question message this step edits: the button's, else the noted or stored one.
        noted = self._noted(ctx)
        answered = len(state.answers) > len(before.answers) or step.outcome == "back"
        edit_target = message_id or (noted.message_id if noted else None) or iv.last_message_id
        last_message_id: int | None = KEEP_MESSAGE_ID
        if answered:
            last_message_id = None  # that question is answered: never edit its message again
        elif noted is not None:
            last_message_id = noted.message_id  # still the question on screen
        saved = await repo.save_step(
            session,
            iv.id or 0,
            progress,
            answers=state.answers,
            signals=state.signals,
            expected_rev=iv.rev,
            stored=ctx.stored,
            last_message_id=last_message_id,
            now=now,
        )
        self._after_commit(session, _AFTER_COMMIT, (iv.id, saved.stored))
        if progress.stage != old_stage and not sales_owned:
            await repo.append_stage_change(
                session,
                iv.id or 0,
                old_stage,
                progress.stage,
                by_name="bot",
                reason=f"tier {progress.tier}",
                now=now,
            )
        await self._save_contacts(session, ctx.lead, result.contact)
        became_hot = progress.tier == "hot" and old_tier != "hot"
        queued = False
        # A card (handoff) is made only when the stored tier turns hot, and a tier once
        # set is never cleared (finished/out and fast-tracked are final): with no tier
        # yet and not hot now, there is no card to make or edit, and nothing to read.
        if old_tier is not None or became_hot:
            queued = await self.handoff.after_step(
                session,
                lead=ctx.lead,
                interview=saved.interview,
                compiled=compiled,
                state=state,
                result=result,
                became_hot=became_hot,
                version=await self._version(session, iv) if self.config.sales_chat_id else None,
            )
        ended_now = state.finished and not before.finished
        if not (new_status == "active" and self._reminder_fresh(iv, compiled, now)):
            await followup.after_step(
                session,
                interview=saved.interview,
                compiled=compiled,
                status=new_status,
                tier=progress.tier,
                ended_now=ended_now,
                now=now,
            )
            if new_status == "active":
                self._after_commit(session, _PUSHED, (iv.id, now))
        reply = Reply(
            interview_id=iv.id,
            lead_id=ctx.lead.id,
            lead_became_hot=became_hot,
            card_queued=queued,
            finished=ended_now or (new_status != "active" and old_status == "active"),
            lang=state.lang,
        )
        reply.messages.extend(OutMessage(text, "say") for text in step.say)
        if answered:
            reply.edit_previous = self._edit_previous(ctx, state, edit_target, step.outcome)
        if step.outcome == "reask":
            reply.messages.append(self._question(compiled, state, reask=step.reask))
        elif ended_now and status is None:
            reply.messages.extend(self._closing(compiled, state, result))
            reply.result = result
        elif step.outcome == "event":
            pass  # the caller says what fits the event
        elif not state.finished:
            reply.messages.append(self._question(compiled, state))
        if ended_now:
            reply.result = result
        return reply

    async def _back(self, session: AsyncSession, ctx: _Ctx, message_id: int | None) -> Reply:
        step = ctx.compiled.back(ctx.state)
        if step.outcome == "stale":
            return Reply(
                [OutMessage(t(ctx.state.lang, "nothing_to_go_back_to"), "stale")],
                stale=True,
                notice=t(ctx.state.lang, "nothing_to_go_back_to"),
                interview_id=ctx.interview.id,
            )
        return await self._apply(session, ctx, step, message_id=message_id)

    async def _event(self, session: AsyncSession, ctx: _Ctx, name: str) -> Reply:
        step = ctx.compiled.event(ctx.state, name)
        if step.outcome == "stale":
            return self._stale(ctx)
        reply = await self._apply(session, ctx, step)
        key = {"talk_to_person": "talk_to_person", "materials_opened": "materials_thanks"}
        ack = OutMessage(t(ctx.state.lang, key.get(name, "noted")), "info")
        reply.messages.insert(0, ack)
        reply.notice = ack.text
        settings = ctx.compiled.flow.followup
        if name == "materials_opened" and settings is not None and settings.nurture_url:
            reply.messages.insert(1, OutMessage(settings.nurture_url, "info"))
        return reply

    async def _continue(
        self, session: AsyncSession, lead: Lead, p: Prospect, ctx: _Ctx | None
    ) -> Reply:
        """The reminder's Continue: score `reminder_answered` (if the flow lists it)
        and ask the current question again."""
        if ctx is None:
            return self._nothing(p, lead)
        step = ctx.compiled.event(ctx.state, "reminder_answered")
        if step.outcome != "stale":
            await self._apply(session, ctx, step)
            record = await repo.get_interview(session, ctx.interview.id or 0)
            if record is not None:
                ctx = await self._ctx(session, lead, record)
        if ctx.state.finished:
            return self._nothing(p, lead)
        return Reply(
            [self._question(ctx.compiled, ctx.state)],
            interview_id=ctx.interview.id,
            lead_id=lead.id,
            lang=ctx.state.lang,
        )

    async def _idle(self, session: AsyncSession, lead: Lead, p: Prospect) -> Reply:
        """A message with no interview in progress."""
        lang = self._lang(lead, p)
        if lead.opted_out:
            return Reply([OutMessage(t(lang, "opted_out"))], lead_id=lead.id)
        last = await self._last_interview(session, lead)
        if last is None:
            # Someone who wrote before pressing Start: begin with the default flow.
            target = await self.registry.resolve(None, session)
            return await self._begin(session, lead, target, lead.language or p.language_code)
        if last.status == "cancelled":
            return Reply([OutMessage(t(last.lang, "no_interview"))], lead_id=lead.id)
        return Reply([OutMessage(t(last.lang, "already_finished"))], lead_id=lead.id)

    async def _sales_decided(self, session: AsyncSession, iv: Interview) -> bool:
        """Has a salesperson acted on this interview's card (taken, qualified, ...)?"""
        if iv.id is None or not (iv.fast_tracked or iv.tier == "hot"):
            return False  # only hot leads have cards
        handoffs = await repo.list_handoffs(session, interview_id=iv.id)
        return any(h.status != "open" for h in handoffs)

    async def _save_contacts(
        self, session: AsyncSession, lead: Lead, contact: dict[str, str]
    ) -> None:
        changes = {
            field: contact[field]
            for field in ("phone", "email", "company")
            if contact.get(field) and getattr(lead, field) != contact[field]
        }
        if changes and lead.id is not None:
            await repo.update_lead(session, lead.id, now=self.clock(), **changes)

    async def _drop_queued(self, session: AsyncSession, lead: Lead) -> None:
        """Cancel messages still queued for the prospect (not the cards for sales)."""
        await session.exec(
            update(Outbox)
            .where(
                col(Outbox.lead_id) == lead.id,
                col(Outbox.chat_id) == lead.telegram_id,
                col(Outbox.status) == "pending",
            )
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )

    async def _edit_cards_forgotten(self, session: AsyncSession, lead_id: int) -> None:
        """After /forget, replace the lead's sent cards with a note without personal data."""
        lead = await repo.get_lead(session, lead_id)
        if lead is None:
            return
        for iv in await repo.list_interviews(session, lead_id=lead_id):
            for handoff in await repo.list_handoffs(session, interview_id=iv.id):
                if handoff.message_id is None or iv.id is None:
                    continue
                record = await repo.get_interview(session, iv.id)
                if record is None:
                    continue
                ctx = await self._ctx(session, lead, record)
                view = self.handoff.view(
                    lead=lead,
                    interview=iv,
                    compiled=ctx.compiled,
                    state=ctx.state,
                    result=ctx.compiled.result(ctx.state),
                    handoff=handoff,
                )
                # No lead_id: the note holds no personal data, and forget_lead
                # empties the payloads of rows that have one.
                await outbox.enqueue(
                    session,
                    "card_edit",
                    handoff.chat_id,
                    {"handoff_id": handoff.id, "html": view.html, "buttons": []},
                    dedup_key=f"card_forgotten:{handoff.id}",
                    now=self.clock(),
                )

    # ================================================================ replies
    def _nothing(self, p: Prospect, lead: Lead | None = None) -> Reply:
        return Reply([OutMessage(t(self._lang(lead, p), "no_interview"))])

    def _stale(self, ctx: _Ctx | None) -> Reply:
        lang = ctx.state.lang if ctx else None
        return Reply(
            notice=t(lang, "stale_notice"),
            stale=True,
            interview_id=ctx.interview.id if ctx else None,
        )

    def _resumed(self, ctx: _Ctx) -> Reply:
        return Reply(
            [self._question(ctx.compiled, ctx.state)],
            interview_id=ctx.interview.id,
            lead_id=ctx.lead.id,
            lang=ctx.state.lang,
        )

    def _token_question(self, ctx: _Ctx, token: Token) -> QuestionProg | None:
        """The question a button belongs to, if it is the current one of this version."""
        if not ctx.interview.digest.startswith(token.digest) or len(token.digest) < DIGEST_CHARS:
            return None
        program = ctx.compiled.program
        qid = _resolve(token.target, program.order)
        if qid is None or qid != ctx.state.state:
            return None
        return program.questions.get(qid)

    def _question(
        self,
        compiled: CompiledFlow,
        state: InterviewState,
        *,
        reask: str | None = None,
        mask: int = 0,
    ) -> OutMessage:
        view = compiled.question(state)
        assert view is not None, "no question in an ended interview"
        lang = state.lang
        qp = compiled.program.questions[view.id]
        progress = t(lang, "progress", index=view.index, total=view.total)
        text = reask if reask else f"{progress} · {view.text}"
        return OutMessage(
            text,
            "reask" if reask else "question",
            buttons=self._buttons(compiled, state, qp, mask),
            request_contact=view.kind == "phone",
            question_id=view.id,
            progress=(view.index, view.total),
        )

    def _buttons(
        self, compiled: CompiledFlow, state: InterviewState, qp: QuestionProg, mask: int = 0
    ) -> Keyboard:
        digest, lang = compiled.digest, state.lang
        rows: list[tuple[Button, ...]] = []
        labels = dict(qp.labels.get(lang, ()))
        for i, option_id in enumerate(qp.option_ids):
            label = labels.get(option_id, option_id)
            if qp.kind == "multi":
                picked = bool(mask >> i & 1)
                token = fit("t", digest, qp.id, qp.index, f"{mask ^ (1 << i):x}")
                rows.append((Button(("✓ " if picked else "") + label, token),))
            else:
                token = fit("a", digest, qp.id, qp.index, option_id, i)
                rows.append((Button(label, token),))
        if qp.kind == "multi" and mask:
            rows.append(
                (Button(t(lang, "button_done"), fit("m", digest, qp.id, qp.index, f"{mask:x}")),)
            )
        nav: list[Button] = []
        if state.answers:
            nav.append(Button(t(lang, "button_back"), fit("b", digest, qp.id, qp.index)))
        if qp.skippable:
            nav.append(Button(t(lang, "button_skip"), fit("s", digest, qp.id, qp.index)))
        if nav:
            rows.append(tuple(nav))
        return tuple(rows)

    def _toggled(self, ctx: _Ctx, mask: int, message_id: int | None) -> Reply:
        """A multiple-choice toggle: only the keyboard changes; nothing is saved yet."""
        message = self._question(ctx.compiled, ctx.state, mask=mask)
        return Reply(
            edit_previous=EditPrevious(message.text, message_id, message.buttons),
            interview_id=ctx.interview.id,
        )

    def _edit_previous(
        self, ctx: _Ctx, state: InterviewState, message_id: int | None, outcome: str
    ) -> EditPrevious | None:
        """The answered question's message, showing the choice and without buttons."""
        if outcome == "back":
            return None
        answer = state.answers[-1]
        qp = ctx.compiled.program.questions.get(answer.question_id)
        if qp is None:
            return None
        lang = state.lang
        question = ctx.compiled.render(qp.text, state)
        if answer.unknown and not answer.raw:
            chosen = t(lang, "skipped")
        elif qp.label_of and answer.option_ids and not answer.unknown:
            # A choice shows the option(s) understood, however it was typed.
            labels = [qp.label_of[o].get(lang, o) for o in answer.option_ids if o in qp.label_of]
            chosen = t(lang, "chosen", choice=", ".join(labels))
        else:
            shown = answer.raw or answer.value or ""
            if len(shown) > _CHOSEN_MAX:
                shown = shown[: _CHOSEN_MAX - 1] + "…"
            chosen = t(lang, "chosen", choice=shown)
        return EditPrevious(f"{question}\n{chosen}", message_id)

    def _closing(self, compiled: CompiledFlow, state: InterviewState, result) -> list[OutMessage]:
        buttons: Keyboard = ()
        if result.tier in ("warm", "cold") and "talk_to_person" in compiled.program.events:
            token = Token("e", compiled.digest[:DIGEST_CHARS], "talk_to_person").encode()
            buttons = ((Button(t(state.lang, "button_talk"), token),),)
        out = [OutMessage(result.closing, "closing", buttons=buttons, remove_keyboard=not buttons)]
        if result.offer:
            out.append(OutMessage(result.offer, "offer"))
        return out


def _resolve(ref: str, ids: tuple[str, ...]) -> str | None:
    """A token's question/option reference: an id, or `#index` into `ids`."""
    if ref.startswith("#"):
        digits = ref[1:]
        if digits.isdigit() and int(digits) < len(ids):
            return ids[int(digits)]
        return None
    return ref if ref in ids else None


def _mask(value: str, count: int) -> int | None:
    try:
        mask = int(value, 16)
    except ValueError:
        return None
    return mask if 0 <= mask < (1 << count) else None
