"""50 hot leads at once, under a 429 storm, 5xx answers and a restart: every card
reaches the sales chat, in the order the leads turned hot, none twice, and the
sends keep to Telegram's limits (20 a minute into the group).

Time is the fake clock (tests/telegram/conftest.py): the fake server's rate
limits and call stamps, the pacer, the retry waits and the outbox worker's
schedule all read it, so minutes of pacing take well under a second.
"""

from __future__ import annotations

from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from sqlmodel import col, select

from storage.tables import Handoff, Outbox
from tests.fakebot import RateLimits
from tests.telegram.conftest import FakeTime, TgEnv, eventually
from tests.telegram.test_sales import DEMO, is_card

LEADS = 50


class SendLog(BaseRequestMiddleware):
    """Innermost request middleware: when (fake time) each request really left."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.sends: list[tuple[float, str, Any]] = []

    async def __call__(self, make_request: Any, bot: Any, method: Any) -> Any:
        self.sends.append(
            (self.time.monotonic(), type(method).__name__, getattr(method, "chat_id", None))
        )
        return await make_request(bot, method)


def max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best = 0
    start = 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_fifty_hot_leads_under_429s_arrive_complete_in_order_once_and_paced(
    tg: TgEnv,
) -> None:
    fake = tg.fake
    fake.clock = tg.time.monotonic  # the server's rate limits and stamps on our fake clock
    fake.set_rate_limits(RateLimits.telegram())
    # A storm on the sales chat: a quarter of the sends refused for 7 s, and a few 502s.
    fake.retry_after(7, method="sendMessage", chat_id=tg.sales.id, times=None, probability=0.25)
    fake.server_error(502, method="sendMessage", chat_id=tg.sales.id, times=3)

    first = await tg.start()
    log, log2 = SendLog(tg.time), SendLog(tg.time)
    first.app.bot.session.middleware(log)
    users = [tg.user(f"Lead{i:02d}") for i in range(LEADS)]
    for user in users:
        user.start()
    for user in users:
        await user.next_message(lambda m: (m.text or "").startswith("1/"), timeout=15)
    for user in users:
        user.send(DEMO)

    # Restart half-way through the cards: queued rows survive in the database.
    await fake.wait_until(lambda: len([m for m in tg.sales.messages() if is_card(m)]) >= 15, 15)
    assert await first.stop() == 0
    second = await tg.start()
    second.app.bot.session.middleware(log2)

    await fake.wait_until(lambda: len([m for m in tg.sales.messages() if is_card(m)]) >= LEADS, 20)
    await fake.wait_idle(timeout=10)
    cards = [m for m in tg.sales.messages() if is_card(m)]
    assert len(cards) == LEADS  # complete, and none twice
    names = sorted(
        next(u.tg.first_name for u in users if u.tg.first_name in (c.text or "")) for c in cards
    )
    assert names == sorted(u.tg.first_name for u in users)

    async def all_attached() -> list[tuple[int, int]] | None:
        async with tg.database.session() as s:
            rows = (
                await s.exec(
                    select(Outbox).where(col(Outbox.kind) == "card").order_by(col(Outbox.id))
                )
            ).all()
            handoffs = {h.id: h for h in (await s.exec(select(Handoff))).all()}
        pairs = [(r.id or 0, handoffs[r.payload["handoff_id"]].message_id) for r in rows]
        if (
            len(pairs) == LEADS
            and all(r.status == "sent" for r in rows)
            and all(m for _, m in pairs)
        ):
            return pairs  # type: ignore[return-value]
        return None

    pairs = await eventually(all_attached)
    message_ids = [m for _, m in pairs]
    assert message_ids == sorted(message_ids), "cards left in the order the leads turned hot"

    # Paced: never more than 20 sends a minute into the group, nor 30 a second in all.
    group = [
        t
        for t, name, chat in log.sends
        if chat == tg.sales.id and name.startswith(("Send", "Edit"))
    ]
    assert max_in_window(group, 60.0) <= 20
    every = [t for t, name, _ in log.sends if name.startswith(("Send", "Edit"))]
    assert max_in_window(every, 1.0) <= 30
    to_group = [c for c in fake.calls_to("sendMessage") if c.chat_id == tg.sales.id]
    storm = [c for c in to_group if c.status == 429 and c.fault]
    by_limits = [c for c in to_group if c.status == 429 and not c.fault]
    assert storm, "the storm happened"
    # The pacer, not Telegram's 429s, keeps the group's limit: the fake's own limiter
    # refuses at most the first card after the restart (a new process, a new pacer).
    assert len(by_limits) <= 1
    assert (
        tg.time.monotonic() > 60 * (LEADS - 20) / 20
    )  # the group's pace took minutes of fake time
