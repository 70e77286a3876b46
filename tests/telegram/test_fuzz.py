"""Arbitrary update sequences through the real bot (polling, aiogram's client, the
fake Bot API): the bot never fails a handler, never sends what Telegram would
refuse, never loses a recorded answer, and leaves every interview valid.

One bot per test; hypothesis' examples run one after another against it, so
later examples also meet the state earlier ones left (as a live bot would).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import col, select

from storage.tables import Answer, Interview
from tests.answers import FOUNDER
from tests.fakebot import FakeUser
from tests.telegram.conftest import RunningBot, TgEnv

TEXTS = [
    *FOUNDER[:4],
    "?",
    "🙂🙂🙂",
    "<b>bold</b> & </a> {{ x }}",
    "مرحبا، نحن شركة صغيرة",  # right-to-left
    "we\u200bchose\u200d you",  # zero-width characters
    "x" * 4096,
    "how much does it cost?",
    "skip",
    "2",
]
COMMANDS = ["start", "restart", "cancel", "help", "language", "privacy"]

actions = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(TEXTS)),
    st.tuples(st.just("command"), st.sampled_from(COMMANDS)),
    st.tuples(st.just("press"), st.integers(0, 7)),
    st.tuples(st.just("stale"), st.sampled_from(["a:00000000:budget:ready", "junk", "l:xx"])),
    st.tuples(st.just("sticker"), st.just("")),
    st.tuples(st.just("edit"), st.just("edited text")),
    st.tuples(st.just("again"), st.just("")),
)


def act(tg: TgEnv, user: FakeUser, action: tuple[str, Any], pushed: list[int]) -> None:
    kind, arg = action
    if kind == "text":
        pushed.append(user.send(arg))
    elif kind == "command":
        pushed.append(user.command(arg))
    elif kind == "press":
        keyboards = [m for m in user.messages if m.from_bot and m.has_inline_keyboard]
        if keyboards:
            data = keyboards[-1].callback_data
            if data:
                pushed.append(user.click(data=data[arg % len(data)], message=keyboards[-1]))
    elif kind == "stale":
        said = [m for m in user.messages if m.from_bot]
        if said:
            pushed.append(user.click(data=arg, message=said[-1], force=True))
    elif kind == "sticker":
        pushed.append(user.send_sticker())
    elif kind == "edit":
        mine = [m for m in user.messages if not m.from_bot]
        if mine:
            pushed.append(user.edit(mine[-1].message_id, arg))
    elif kind == "again" and pushed:
        tg.fake.redeliver(pushed[-1])


async def check_invariants(tg: TgEnv, bot: RunningBot, seen: dict[str, int]) -> None:
    await tg.settle(timeout=10)
    assert bot.app.parts.errors.errors == 0, "a handler failed"
    assert not tg.fake.problems, [str(p) for p in tg.fake.problems]
    async with tg.database.session() as s:
        answers = (await s.exec(select(func.count()).select_from(Answer))).one()
        interviews = (await s.exec(select(Interview))).all()
        active = (
            await s.exec(select(Interview.lead_id).where(col(Interview.status) == "active"))
        ).all()
    # Answers are rows; Back only marks them superseded: the count never goes down.
    assert answers >= seen.get("answers", 0)
    seen["answers"] = answers
    assert len(active) == len(set(active)), "at most one active interview per lead"
    for iv in interviews:
        compiled = await bot.app.interview.registry.for_interview(
            iv.flow_id, iv.digest, iv.flow_version_id
        )
        valid = {*compiled.program.order, "done", "out"}
        assert iv.state in valid, (iv.id, iv.state)
        if iv.status == "active":
            assert iv.state not in ("done", "out")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.tuples(st.integers(0, 1), actions), min_size=1, max_size=8))
async def test_arbitrary_update_sequences_leave_every_interview_valid(
    tg: TgEnv, steps: list[tuple[int, tuple[str, Any]]]
) -> None:
    if not tg.running:  # the fixture lives across examples: one bot for all of them
        await tg.start()
        tg.extra = {  # type: ignore[attr-defined]
            "users": [tg.user("Ann", language_code="en"), tg.user("Борис", language_code="ru")],
            "seen": {},
            "pushed": [],
        }
    extra: dict[str, Any] = tg.extra  # type: ignore[attr-defined]
    for who, action in steps:
        act(tg, extra["users"][who], action, extra["pushed"])
    await check_invariants(tg, tg.running[0], extra["seen"])
