"""Follow-up timers, so no lead is forgotten.

Three kinds, each a row in the `timer` table scheduled in the same transaction
as the step that calls for it, and fired at most once (storage's claim API plus
a unique dedup key on every outbox row a timer writes):

- `remind` (`remind:<interview>`): a prospect who stopped mid-interview gets one
  reminder with a Continue button, `reminder_hours` (default 24) after their
  last step. Every step pushes it back; once fired it is never rescheduled.
  At fire time nothing is sent unless the interview is still active, the lead
  has not opted out, blocked the bot or been forgotten, and no salesperson has
  taken the lead.
- `sla` (`sla:<handoff>`): a hot card nobody took within `sla_minutes` (default
  15; counted in working hours when the flow sets them) is raised again in the
  sales chat, once: the old card loses its buttons and the card is posted anew.
  Then `sla_admins` (`sla_admins:<handoff>`), one more period later: if still
  untaken, each admin is told in a private message.
- `nurture` (`nurture:<interview>`): a lead that finished warm gets the flow's
  nurture message after `nurture_hours`, once, with a button that scores the
  flow's `materials_opened` event.

Settings live in the flow file (`followup:`, see docs/FLOWS.md); a flow without
one gets the defaults, and without `followup.nurture` warm leads get nothing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from bot.services.base import Service
from bot.services.flow_registry import UnknownFlowError
from bot.services.records import state_from_record
from bot.services.texts import t
from bot.services.tokens import DIGEST_CHARS, Token
from bot.services.types import Button, keyboard_to_json
from storage import outbox
from storage import repositories as repo
from storage.tables import Handoff, Interview, Lead, Timer
from storage.timers import (
    cancel_timers,
    claim_due_timers,
    mark_timer_fired,
    retry_timer,
    schedule_timer,
)
from storage.timestamps import as_utc

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from flows.engine import CompiledFlow
    from flows.schema import FlowDef, FollowUp, WorkingHours

REMIND = "remind"
SLA = "sla"
SLA_ADMINS = "sla_admins"
NURTURE = "nurture"
KINDS = (REMIND, SLA, SLA_ADMINS, NURTURE)
NOT_SENT_YET_RETRY = timedelta(minutes=1)  # an SLA timer whose card is still queued


def followup_of(flow: FlowDef) -> FollowUp:
    from flows.schema import FollowUp

    return flow.followup or FollowUp()


# ------------------------------------------------------------------ working hours
def _offset(text: str) -> timezone:
    sign = -1 if text.startswith("-") else 1
    hours, minutes = text[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def _hm(text: str) -> time | None:
    if text == "24:00":
        return None  # midnight at the end of the day
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def add_working_minutes(start: datetime, minutes: float, hours: WorkingHours | None) -> datetime:
    """`start` plus `minutes`, counting only the working hours when they are given."""
    start = as_utc(start)
    if hours is None:
        return start + timedelta(minutes=minutes)
    tz = _offset(hours.utc_offset)
    left = timedelta(minutes=minutes)
    now = start.astimezone(tz)
    opens = _hm(hours.start) or time(0)
    closes = _hm(hours.end)
    for _ in range(800):  # two years of days at most: the schema keeps days non-empty
        day = now.date()
        day_open = datetime.combine(day, opens, tz)
        day_close = (
            datetime.combine(day + timedelta(days=1), time(0), tz)
            if closes is None
            else datetime.combine(day, closes, tz)
        )
        if day.isoweekday() in hours.days and now < day_close:
            begin = max(now, day_open)
            if begin + left <= day_close:
                return (begin + left).astimezone(UTC)
            left -= day_close - begin
        now = datetime.combine(day + timedelta(days=1), time(0), tz)
    return (start + timedelta(minutes=minutes)).astimezone(UTC)


# ------------------------------------------------------------------ scheduling
async def _schedule_once(
    session: AsyncSession, kind: str, interview_id: int, due_at: datetime, key: str, now: datetime
) -> None:
    """Schedule, or push back a timer that has not fired; a fired one stays fired.

    One upsert (runs on every answer): the conflict update applies only to a timer
    still pending, claimed or cancelled; a fired (or given up) one is never reset."""
    await schedule_timer(
        session,
        kind,
        interview_id,
        due_at,
        key,
        replace=True,
        replace_statuses=("pending", "claimed", "cancelled"),
        now=now,
    )


async def after_step(
    session: AsyncSession,
    *,
    interview: Interview,
    compiled: CompiledFlow,
    status: str,
    tier: str | None,
    ended_now: bool,
    now: datetime,
) -> None:
    """Timers that a saved interview step calls for (in the step's transaction)."""
    assert interview.id is not None
    settings = followup_of(compiled.flow)
    if status == "active":
        due = as_utc(now) + timedelta(hours=settings.reminder_hours)
        await _schedule_once(session, REMIND, interview.id, due, f"remind:{interview.id}", now)
        return
    await cancel_timers(session, interview.id, REMIND)
    if ended_now and tier == "warm" and settings.nurture:
        due = as_utc(now) + timedelta(hours=settings.nurture_hours)
        await schedule_timer(
            session, NURTURE, interview.id, due, f"nurture:{interview.id}", now=now
        )


async def after_card(
    session: AsyncSession, *, handoff: Handoff, compiled: CompiledFlow, now: datetime
) -> None:
    """A hot card was queued: raise it again if nobody takes it in time."""
    settings = followup_of(compiled.flow)
    due = add_working_minutes(now, settings.sla_minutes, settings.working_hours)
    await schedule_timer(session, SLA, handoff.interview_id, due, f"sla:{handoff.id}", now=now)


# ------------------------------------------------------------------ firing
@dataclass(frozen=True)
class Fired:
    timer_id: int
    kind: str
    outcome: str  # "sent" | "skipped: <why>" | "later" | "lost" (another worker has it)
    queued: int = 0  # outbox rows written


class _Lost(Exception):
    """Another worker re-claimed the timer meanwhile: roll back, it is theirs."""


class FollowUpService(Service):
    """Fires due timers: decides what to say and puts it in the outbox."""

    async def run_due(self, *, worker_id: str = "timers", limit: int = 50) -> list[Fired]:
        """Claim the due timers and fire each (one transaction per timer)."""
        timers = await claim_due_timers(self.db, self.clock(), limit, worker_id)
        return [await self.fire(timer, worker_id=worker_id) for timer in timers]

    async def next_due(self) -> datetime | None:
        async with self.db.session() as session:
            row = (
                await session.exec(
                    select(Timer.due_at)
                    .where(col(Timer.status) == "pending")
                    .order_by(col(Timer.due_at))
                    .limit(1)
                )
            ).first()
        return None if row is None else as_utc(row)

    async def fire(self, timer: Timer, *, worker_id: str | None = None) -> Fired:
        assert timer.id is not None
        try:
            async with self.db.transaction() as session:
                outcome, queued = await self._fire(session, timer)
                if outcome == "later":
                    return Fired(timer.id, timer.kind, outcome)
                if not await mark_timer_fired(
                    session, timer.id, now=self.clock(), worker_id=worker_id
                ):
                    raise _Lost
                return Fired(timer.id, timer.kind, outcome, queued)
        except _Lost:
            return Fired(timer.id, timer.kind, "lost")

    async def _fire(self, session: AsyncSession, timer: Timer) -> tuple[str, int]:
        if timer.interview_id is None or timer.kind not in KINDS:
            return "skipped: unknown timer", 0
        record = await repo.get_interview(session, timer.interview_id)
        if record is None:
            return "skipped: interview gone", 0
        iv = record.interview
        lead = await repo.get_lead(session, iv.lead_id)
        if lead is None:
            return "skipped: lead gone", 0
        try:
            compiled = await self.registry.for_interview(
                iv.flow_id, iv.digest, iv.flow_version_id, session
            )
        except UnknownFlowError:
            return "skipped: flow version gone", 0
        handoffs = await repo.list_handoffs(session, interview_id=iv.id)
        if timer.kind in (SLA, SLA_ADMINS):
            return await self._sla(session, timer, iv, lead, compiled, handoffs)
        if lead.opted_out or lead.blocked or lead.forgotten:
            return "skipped: the prospect is not to be written to", 0
        if any(h.taken_by is not None for h in handoffs):
            return "skipped: sales took the lead", 0
        if timer.kind == REMIND:
            return await self._remind(session, timer, iv, lead, compiled)
        return await self._nurture(session, iv, lead, compiled, record)

    async def _remind(
        self, session: AsyncSession, timer: Timer, iv: Interview, lead: Lead, compiled: Any
    ) -> tuple[str, int]:
        if iv.status != "active":
            return f"skipped: interview {iv.status}", 0
        settings = followup_of(compiled.flow)
        due = as_utc(iv.updated_at) + timedelta(hours=settings.reminder_hours)
        if due > as_utc(self.clock()):
            # The prospect answered after the timer was set (another process's step).
            assert timer.id is not None
            await retry_timer(session, timer.id, due)
            return "later", 0
        lang = iv.lang
        token = Token("c", compiled.digest[:DIGEST_CHARS], "go").encode()
        payload = {
            "text": t(lang, "reminder", first_name=lead.first_name or "").replace(" ,", ","),
            "buttons": keyboard_to_json(((Button(t(lang, "button_continue"), token),),)),
        }
        queued = await outbox.enqueue(
            session,
            "message",
            lead.telegram_id,
            payload,
            dedup_key=f"remind:{iv.id}",
            lead_id=lead.id,
            now=self.clock(),
        )
        return "sent", int(queued is not None)

    async def _nurture(
        self, session: AsyncSession, iv: Interview, lead: Lead, compiled: Any, record: Any
    ) -> tuple[str, int]:
        settings = followup_of(compiled.flow)
        if iv.tier != "warm" or settings.nurture is None:
            return f"skipped: the lead is {iv.tier}", 0
        state = state_from_record(record, lead)
        text = compiled.render(settings.nurture, state)
        token = Token("e", compiled.digest[:DIGEST_CHARS], "materials_opened").encode()
        payload = {
            "text": text,
            "buttons": keyboard_to_json(((Button(t(iv.lang, "button_read"), token),),)),
        }
        queued = await outbox.enqueue(
            session,
            "message",
            lead.telegram_id,
            payload,
            dedup_key=f"nurture:{iv.id}",
            lead_id=lead.id,
            now=self.clock(),
        )
        return "sent", int(queued is not None)

    async def _sla(
        self,
        session: AsyncSession,
        timer: Timer,
        iv: Interview,
        lead: Lead,
        compiled: Any,
        handoffs: list[Handoff],
    ) -> tuple[str, int]:
        if not handoffs:
            return "skipped: no card", 0
        handoff = handoffs[-1]
        assert handoff.id is not None and timer.id is not None
        if handoff.status != "open" or handoff.taken_by is not None:
            return f"skipped: card {handoff.status}", 0
        now = self.clock()
        settings = followup_of(compiled.flow)
        lang = self.config.sales_lang
        if timer.kind == SLA_ADMINS:
            minutes = 2 * settings.sla_minutes
            name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or f"#{lead.id}"
            text = t(lang, "sla_admins", lead=name, flow=iv.flow_id, minutes=minutes)
            queued = 0
            for admin in sorted(self.config.admin_ids):
                row = await outbox.enqueue(
                    session,
                    "message",
                    admin,
                    {"text": text},
                    dedup_key=f"sla_admins:{handoff.id}:{admin}",
                    now=now,
                )
                queued += int(row is not None)
            return "sent", queued
        if handoff.message_id is None:
            # The card itself is still in the outbox: raise it once it is out.
            await retry_timer(session, timer.id, now + NOT_SENT_YET_RETRY)
            return "later", 0
        from bot.services.handoff import HandoffService

        view = await HandoffService(
            self.db, self.registry, config=self.config, clock=self.clock
        )._load_view(session, handoff)
        if view is None:
            return "skipped: card gone", 0
        header = html.escape(t(lang, "sla_raised", minutes=settings.sla_minutes))
        # The old card loses its buttons, then the card is posted again below.
        await outbox.enqueue(
            session,
            "card_edit",
            handoff.chat_id,
            # Pinned to the old card's message: by the time this edit goes out the
            # re-raised card may be the lead's current one, and must keep its buttons.
            {
                "handoff_id": handoff.id,
                "html": view.html,
                "buttons": [],
                "message_id": handoff.message_id,
            },
            dedup_key=f"sla_edit:{handoff.id}",
            lead_id=lead.id,
            now=now,
        )
        await outbox.enqueue(
            session,
            "card",
            handoff.chat_id,
            {
                "handoff_id": handoff.id,
                "interview_id": iv.id,
                "html": f"<b>{header}</b>\n{view.html}",
                "buttons": keyboard_to_json(view.buttons),
                "topic_id": self.config.sales_topic_id,
            },
            dedup_key=f"sla:{handoff.id}",
            lead_id=lead.id,
            now=now,
        )
        if self.config.admin_ids:
            due = add_working_minutes(now, settings.sla_minutes, settings.working_hours)
            await schedule_timer(
                session, SLA_ADMINS, iv.id, due, f"sla_admins:{handoff.id}", now=now
            )
        return "sent", 2
