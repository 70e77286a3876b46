"""HandoffService: hot leads to the sales chat, and what sales do with them.

- A lead that turns hot (end of the interview, or an intent fast-track in the
  middle) gets one card in the outbox, in the same transaction as the step
  (dedup key `card:<interview>`). While a fast-tracked interview goes on, each
  step queues a card edit (`card_edit:<interview>:<rev>`).
- Card buttons move the stage: Take → SAL (the card shows who), Qualified →
  SQL, Not a fit (with a reason) → out, Nurture → back to MQL. Each change is
  a stage_change row with who and when. Only admins and members of the sales
  chat may press them: the Telegram side finds those facts, this decides.
- The prospect is told who will write to them (an outbox message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.services import followup
from bot.services.base import Service
from bot.services.card_template import CustomCard, active_card
from bot.services.cards import CardData, build_card_data, render_card_html
from bot.services.records import state_from_record
from bot.services.texts import t
from bot.services.tokens import TokenError, decode, handoff_token
from bot.services.types import (
    Actor,
    Button,
    CardActionReply,
    CardView,
    Keyboard,
    keyboard_to_json,
)
from storage import outbox
from storage import repositories as repo
from storage.tables import Handoff, Interview, Lead

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from flows.engine import CompiledFlow
    from flows.scoring import Result
    from flows.state import InterviewState

NOFIT_REASONS = ("budget", "need", "timing", "wrong", "competitor", "unreachable", "other")
# What each finished card status still allows.
_BUTTONS: dict[str, tuple[str, ...]] = {
    "open": ("take", "nofit", "nurture"),
    "taken": ("sql", "nofit", "nurture", "bot"),
    "qualified": ("nofit", "nurture", "bot"),
    "rejected": ("nurture",),
    "closed": ("take",),
    "returned": ("take",),  # handed back to the bot (bot/services/relay.py)
}


class HandoffService(Service):
    @property
    def lang(self) -> str:
        return self.config.sales_lang

    # ------------------------------------------------------------ rendering
    def buttons(self, handoff: Handoff) -> Keyboard:
        assert handoff.id is not None
        actions = _BUTTONS.get(handoff.status, ())
        row = tuple(
            Button(t(self.lang, f"button_{action}"), handoff_token(handoff.id, action))
            for action in actions
        )
        return (row,) if row else ()

    def reason_buttons(self, handoff_id: int) -> Keyboard:
        rows: list[tuple[Button, ...]] = []
        pair: list[Button] = []
        for reason in NOFIT_REASONS:
            pair.append(
                Button(t(self.lang, f"reason_{reason}"), handoff_token(handoff_id, "why", reason))
            )
            if len(pair) == 2:
                rows.append(tuple(pair))
                pair = []
        pair.append(Button(t(self.lang, "button_cancel"), handoff_token(handoff_id, "cancel")))
        rows.append(tuple(pair))
        return tuple(rows)

    def view(
        self,
        *,
        lead: Lead,
        interview: Interview,
        compiled: CompiledFlow,
        state: InterviewState,
        result: Result,
        handoff: Handoff,
        version: int | None = None,
        custom: CustomCard | None = None,
    ) -> CardView:
        data = self.data(
            lead=lead,
            interview=interview,
            compiled=compiled,
            state=state,
            result=result,
            handoff=handoff,
            version=version,
        )
        buttons = () if lead.forgotten else self.buttons(handoff)
        return CardView(render_card_html(data, self.lang, custom=custom), buttons)

    def data(
        self,
        *,
        lead: Lead,
        interview: Interview,
        compiled: CompiledFlow,
        state: InterviewState,
        result: Result,
        handoff: Handoff | None,
        version: int | None = None,
    ) -> CardData:
        return build_card_data(
            lead=lead,
            interview=interview,
            compiled=compiled,
            state=state,
            result=result,
            config=self.config,
            version=version,
            handoff=handoff,
            lang=self.lang,
        )

    async def _load_view(self, session: AsyncSession, handoff: Handoff) -> CardView | None:
        record = await repo.get_interview(session, handoff.interview_id)
        if record is None:
            return None
        lead = await repo.get_lead(session, record.interview.lead_id)
        if lead is None:
            return None
        iv = record.interview
        compiled = await self.registry.for_interview(
            iv.flow_id, iv.digest, iv.flow_version_id, session
        )
        state = state_from_record(record, lead)
        version = None
        if iv.flow_version_id is not None:
            row = await repo.get_flow_version(session, iv.flow_version_id)
            version = row.version if row else None
        return self.view(
            lead=lead,
            interview=iv,
            compiled=compiled,
            state=state,
            result=compiled.result(state),
            handoff=handoff,
            version=version,
            custom=await active_card(session),
        )

    async def card(self, handoff_id: int) -> CardView | None:
        """The card as it is now (the sender may call this at send time for a fresh view)."""
        async with self.db.session() as session:
            handoff = await repo.get_handoff(session, handoff_id)
            if handoff is None:
                return None
            return await self._load_view(session, handoff)

    async def card_sent(
        self, handoff_id: int, message_id: int, *, chat_id: int | None = None
    ) -> None:
        """The sender reports the card's Telegram message (and a migrated chat's new id)."""
        async with self.db.transaction() as session:
            await repo.attach_handoff_message(
                session, handoff_id, message_id, chat_id=chat_id, now=self.clock()
            )

    async def card_target(self, handoff_id: int) -> tuple[int, int | None] | None:
        """(chat id, message id) of the card; message id None until it is sent."""
        async with self.db.session() as session:
            handoff = await repo.get_handoff(session, handoff_id)
            return None if handoff is None else (handoff.chat_id, handoff.message_id)

    # ------------------------------------------------------------ from an interview step
    async def after_step(
        self,
        session: AsyncSession,
        *,
        lead: Lead,
        interview: Interview,
        compiled: CompiledFlow,
        state: InterviewState,
        result: Result,
        became_hot: bool,
        version: int | None,
    ) -> bool:
        """Queue the card (first time hot) or a card edit (a card exists and the
        interview moved on). In the caller's transaction. True if anything was queued."""
        chat_id = self.config.sales_chat_id
        assert interview.id is not None
        existing = await repo.list_handoffs(session, interview_id=interview.id)
        if chat_id is None and not existing:
            return False
        now = self.clock()
        if not existing:
            if not became_hot or chat_id is None:
                return False
            handoff = await repo.create_handoff(session, interview.id, chat_id, now=now)
            view = self.view(
                lead=lead,
                interview=interview,
                compiled=compiled,
                state=state,
                result=result,
                handoff=handoff,
                version=version,
                custom=await active_card(session),
            )
            payload: dict[str, Any] = {
                "handoff_id": handoff.id,
                "interview_id": interview.id,
                "html": view.html,
                "buttons": keyboard_to_json(view.buttons),
                "topic_id": self.config.sales_topic_id,
            }
            queued = await outbox.enqueue(
                session,
                "card",
                chat_id,
                payload,
                dedup_key=f"card:{interview.id}",
                lead_id=lead.id,
                now=now,
            )
            await followup.after_card(session, handoff=handoff, compiled=compiled, now=now)
            return queued is not None
        handoff = existing[-1]
        view = self.view(
            lead=lead,
            interview=interview,
            compiled=compiled,
            state=state,
            result=result,
            handoff=handoff,
            version=version,
            custom=await active_card(session),
        )
        payload = {
            "handoff_id": handoff.id,
            "interview_id": interview.id,
            "html": view.html,
            "buttons": keyboard_to_json(view.buttons),
        }
        # The rev is bumped by every saved step, so each step has its own edit
        # (the answer count alone repeats after Back and a new answer).
        queued = await outbox.enqueue(
            session,
            "card_edit",
            handoff.chat_id,
            payload,
            dedup_key=f"card_edit:{interview.id}:{interview.rev}",
            lead_id=lead.id,
            now=now,
        )
        return queued is not None

    # ------------------------------------------------------------ card buttons
    @staticmethod
    def allowed(actor: Actor) -> bool:
        """Who may press card buttons: admins and members of the sales chat."""
        return actor.is_admin or actor.is_sales_member

    async def press(
        self, actor: Actor, token: str, *, update_id: int | None = None
    ) -> CardActionReply:
        """A card button. One transaction: stage, handoff, history, prospect notice."""
        lang = self.lang
        try:
            parsed = decode(token)
        except TokenError:
            return CardActionReply(t(lang, "notice_gone"), alert=True)
        if parsed.kind != "h" or parsed.handoff_id is None:
            return CardActionReply(t(lang, "notice_gone"), alert=True)
        if not self.allowed(actor):
            return CardActionReply(t(lang, "notice_not_allowed"), alert=True)
        handoff_id = parsed.handoff_id
        if parsed.action == "nofit":
            return CardActionReply(
                t(lang, "notice_pick_reason"), ask_reason=self.reason_buttons(handoff_id)
            )
        now = self.clock()
        async with self.db.transaction() as session:
            if update_id is not None and not await repo.mark_update_processed(
                session, update_id, now=now
            ):
                return CardActionReply(t(lang, "notice_nothing"), duplicate=True)
            handoff = await repo.get_handoff(session, handoff_id)
            if handoff is None:
                return CardActionReply(t(lang, "notice_gone"), alert=True)
            reply = await self._apply(session, actor, handoff, parsed.action, parsed.reason)
            fresh = await repo.get_handoff(session, handoff_id)
            assert fresh is not None
            reply.card = await self._load_view(session, fresh)
            return reply

    async def _apply(
        self, session: AsyncSession, actor: Actor, handoff: Handoff, action: str, reason: str
    ) -> CardActionReply:
        lang = self.lang
        assert handoff.id is not None
        now = self.clock()
        who = {"by_user": actor.user_id, "by_name": actor.name, "now": now}
        if action == "cancel":
            return CardActionReply(t(lang, "notice_nothing"))
        if action == "take":
            if handoff.status == "taken" and handoff.taken_by == actor.user_id:
                return CardActionReply(t(lang, "notice_yours_already"))
            if handoff.status in ("closed", "returned"):
                # Sales nurtured it (or handed it back to the bot), then changed their
                # mind: open it again to take it.
                await repo.set_handoff_status(
                    session, handoff.id, "open", expected=handoff.status, now=now
                )
            won = await repo.take_handoff(
                session, handoff.id, actor.user_id or 0, actor.name, now=now
            )
            if not won:
                current = await repo.get_handoff(session, handoff.id)
                name = (current.taken_by_name if current else None) or "?"
                return CardActionReply(t(lang, "notice_taken_by", name=name), alert=True)
            change = await repo.change_stage(session, handoff.interview_id, "SAL", **who)
            await self._tell_prospect(session, handoff.interview_id, actor)
            return CardActionReply(
                t(lang, "notice_taken"), changed=True, stage="SAL" if change else None
            )
        if action == "sql":
            if handoff.status == "open":
                await repo.take_handoff(
                    session, handoff.id, actor.user_id or 0, actor.name, now=now
                )
                await self._tell_prospect(session, handoff.interview_id, actor)
            await repo.set_handoff_status(session, handoff.id, "qualified", now=now)
            await repo.change_stage(session, handoff.interview_id, "SQL", **who)
            return CardActionReply(t(lang, "notice_sql"), changed=True, stage="SQL")
        if action == "why":
            code = reason if reason in NOFIT_REASONS else "other"
            await repo.set_handoff_status(session, handoff.id, "rejected", now=now)
            await repo.change_stage(session, handoff.interview_id, "out", reason=code, **who)
            return CardActionReply(t(lang, "notice_nofit"), changed=True, stage="out")
        if action == "bot":
            from bot.services.relay import hand_back

            if not await hand_back(session, handoff, actor, now=now):
                return CardActionReply(t(lang, "notice_nothing"))
            return CardActionReply(t(lang, "notice_back_to_bot"), changed=True)
        if action == "nurture":
            await repo.set_handoff_status(session, handoff.id, "closed", now=now)
            await repo.change_stage(session, handoff.interview_id, "MQL", reason="nurture", **who)
            return CardActionReply(t(lang, "notice_nurture"), changed=True, stage="MQL")
        return CardActionReply(t(lang, "notice_nothing"))

    async def _tell_prospect(self, session: AsyncSession, interview_id: int, actor: Actor) -> None:
        """Queue "<name> will write to you" to the prospect, once per interview."""
        record = await repo.get_interview(session, interview_id)
        if record is None:
            return
        lead = await repo.get_lead(session, record.interview.lead_id)
        if lead is None or lead.opted_out or lead.forgotten or lead.blocked:
            return
        text = t(record.interview.lang, "taken", name=actor.name)
        await outbox.enqueue(
            session,
            "message",
            lead.telegram_id,
            {"text": text},
            dedup_key=f"taken:{interview_id}",
            lead_id=lead.id,
            now=self.clock(),
        )
