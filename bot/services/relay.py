"""Relay: once a salesperson takes a lead, people talk through the bot.

- A reply to the card in the sales chat goes to the prospect, signed with the
  salesperson's first name.
- The prospect's later messages go back to the sales chat as replies to the
  card (in its topic, if the chat has topics), instead of to the interview.
- The card's "Back to the bot" button (`h:<handoff>:bot`, handled by
  HandoffService.press through `hand_back`) ends the relay.

Nothing of another prospect's chat can leak: a sales message is mapped only by
the bot message it replies to, (chat id, message id) → handoff → interview →
lead, and a prospect's message only to the card of their own lead's interview.
The relay is on while the handoff is `taken` or `qualified`.

The bot messages that map to a lead are its thread (`handoff_message` rows):
every card sent for it (the SLA timer raises an untaken card as a new message;
the original still counts) and every prospect message relayed into the sales
chat. So a reply to any of them reaches the prospect.

Once per update: each relayed message is recorded (a `handoff_message` row with
its update id) in the same transaction as the update's processed mark, before
it is sent. A redelivered update (a restart, a webhook retry, another process)
finds the mark and sends nothing: at most once, like the rest of the bot's
replies. The Telegram side then reports the sent message's id (`sent`), which
makes it part of the thread.

No aiogram here: the service says what to send (`RelayOut`); the Telegram side
sends it (at once, as a reply to the card, which the outbox cannot do).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import col, select

from bot.services.clock import Clock, system_clock
from bot.services.config import ServiceConfig
from bot.services.texts import t
from bot.services.types import Actor
from storage import outbox
from storage import repositories as repo
from storage.database import Database
from storage.tables import Handoff, Interview, Lead

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

RELAY_STATUSES = repo.RELAY_STATUSES  # the hot read checks the same (storage)
MAX_RELAYED = 3500  # characters of one relayed message (Telegram allows 4,096)


@dataclass(frozen=True)
class RelayOut:
    """One message for the Telegram side to send (plain text, no parse mode)."""

    chat_id: int
    text: str
    reply_to_message_id: int | None = None
    thread_id: int | None = None
    record_id: int | None = None  # the handoff_message row; report the sent id to `sent`


@dataclass(frozen=True)
class RelayResult:
    """What a sales chat reply led to.

    status: "sent" (deliver `out`), "not_a_card" (a reply to something else:
    ignore it), "not_taken" (tell the salesperson with `notice`), "unreachable"
    (the prospect opted out, blocked the bot or was forgotten), "duplicate".
    """

    status: str
    out: RelayOut | None = None
    notice: str | None = None
    handoff_id: int | None = None


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_RELAYED else text[: MAX_RELAYED - 1] + "…"


def first_name(name: str) -> str:
    return (name or "").strip().split(" ")[0] or name


async def hand_back(
    session: AsyncSession, handoff: Handoff, actor: Actor, *, now: datetime
) -> bool:
    """The card's "Back to the bot": end the relay and tell the prospect. In the
    caller's transaction; False when the relay was not on."""
    assert handoff.id is not None
    if handoff.status not in RELAY_STATUSES:
        return False
    if not await repo.set_handoff_status(
        session, handoff.id, "returned", expected=handoff.status, now=now
    ):
        return False
    record = await repo.get_interview(session, handoff.interview_id)
    if record is None:
        return True
    lead = await repo.get_lead(session, record.interview.lead_id)
    if lead is None or lead.opted_out or lead.blocked or lead.forgotten:
        return True
    await outbox.enqueue(
        session,
        "message",
        lead.telegram_id,
        {"text": t(record.interview.lang, "relay_back_to_bot", name=first_name(actor.name))},
        dedup_key=f"bot:{handoff.id}:{now.timestamp():.0f}",
        lead_id=lead.id,
        now=now,
    )
    await repo.add_audit(
        session,
        actor.name,
        "handoff.bot",
        who_id=actor.user_id,
        subject=f"handoff:{handoff.id}",
        from_value=handoff.status,
        to_value="returned",
        now=now,
    )
    return True


class RelayService:
    def __init__(
        self, db: Database, *, config: ServiceConfig | None = None, clock: Clock = system_clock
    ) -> None:
        self.db = db
        self.config = config or ServiceConfig()
        self.clock = clock

    async def from_sales(
        self,
        chat_id: int,
        reply_to_message_id: int,
        sender: Actor,
        text: str,
        *,
        update_id: int | None = None,
        message_id: int | None = None,
    ) -> RelayResult:
        """A message (`message_id`) in the sales chat replying to `reply_to_message_id`:
        a card of the lead (the current one or an earlier one) or a relayed message."""
        lang = self.config.sales_lang
        now = self.clock()
        async with self.db.transaction() as session:
            handoff = await repo.get_handoff_by_message(session, chat_id, reply_to_message_id)
            if handoff is None or handoff.id is None:
                return RelayResult("not_a_card")
            if update_id is not None and not await repo.mark_update_processed(
                session, update_id, now=now
            ):
                return RelayResult("duplicate", handoff_id=handoff.id)
            if handoff.status not in RELAY_STATUSES:
                return RelayResult(
                    "not_taken", notice=t(lang, "relay_take_first"), handoff_id=handoff.id
                )
            lead = await self._lead_of(session, handoff)
            if lead is None or lead.opted_out or lead.blocked or lead.forgotten:
                return RelayResult(
                    "unreachable", notice=t(lang, "relay_unreachable"), handoff_id=handoff.id
                )
            # Recorded with the mark: this update is relayed once, whatever happens next.
            record = await repo.add_handoff_message(
                session,
                handoff.id,
                chat_id,
                "from_sales",
                message_id=message_id,
                update_id=update_id,
                now=now,
            )
            if record is None and message_id is not None:
                return RelayResult("duplicate", handoff_id=handoff.id)
            signed = t(lang, "relay_signed", text=_clip(text), name=first_name(sender.name))
            return RelayResult("sent", RelayOut(lead.telegram_id, signed), handoff_id=handoff.id)

    async def from_prospect(
        self, user_id: int, text: str, *, update_id: int | None = None
    ) -> RelayOut | None:
        """A prospect's message while sales has the lead; None when the relay is off or
        the update was relayed already. Send the result, then report it with `sent`."""
        now = self.clock()
        async with self.db.transaction() as session:
            found = await self._relayed(session, user_id)
            if found is None:
                return None
            lead, handoff = found
            assert handoff.id is not None and handoff.message_id is not None
            if update_id is not None and not await repo.mark_update_processed(
                session, update_id, now=now
            ):
                return None
            record = await repo.add_handoff_message(
                session, handoff.id, handoff.chat_id, "from_prospect", update_id=update_id, now=now
            )
        name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or f"#{lead.id}"
        lang = self.config.sales_lang
        return RelayOut(
            handoff.chat_id,
            t(lang, "relay_from_prospect", name=name, text=_clip(text)),
            reply_to_message_id=handoff.message_id,
            thread_id=self.config.sales_topic_id,
            record_id=record,
        )

    async def sent(self, out: RelayOut, chat_id: int, message_id: int) -> None:
        """The relayed message is in the sales chat as `message_id`: a reply to it now
        reaches the prospect too (it joins the lead's thread)."""
        if out.record_id is None:
            return
        async with self.db.transaction() as session:
            await repo.set_handoff_message_sent(session, out.record_id, chat_id, message_id)

    async def active(self, user_id: int) -> bool:
        """Is this prospect talking to a salesperson through the bot now?"""
        async with self.db.session() as session:
            return await self._relayed(session, user_id) is not None

    async def _relayed(self, session: AsyncSession, user_id: int) -> tuple[Lead, Handoff] | None:
        stmt = (
            select(Lead, Handoff)
            .join(Interview, col(Interview.lead_id) == col(Lead.id))
            .join(Handoff, col(Handoff.interview_id) == col(Interview.id))
            .where(
                col(Lead.telegram_id) == user_id,
                col(Handoff.status).in_(RELAY_STATUSES),
                col(Handoff.message_id).is_not(None),
                col(Lead.forgotten).is_(False),
            )
            .order_by(col(Handoff.id).desc())
            .limit(1)
        )
        row = (await session.exec(stmt)).first()
        return None if row is None else (row[0], row[1])

    async def _lead_of(self, session: AsyncSession, handoff: Handoff) -> Lead | None:
        record = await repo.get_interview(session, handoff.interview_id)
        if record is None:
            return None
        return await repo.get_lead(session, record.interview.lead_id)
