"""The Telegram side's pure parts, without a server: retry policy, pacing,
rendering, secret filtering. The end-to-end tests cover them again through
aiogram's real client; these pin the edge cases cheaply."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from bot.services.types import Button
from bot.telegram.logsafe import SecretFilter
from bot.telegram.pacing import Limits, Pacer
from bot.telegram.rendering import MAX_TEXT, clip, html_text, inline_keyboard, utf16_len
from bot.telegram.retry import RetryMiddleware, RetryPolicy, flood_wait_disabled
from bot.telegram.sales_chat import SalesChat


class FakeTime:
    """A monotonic clock whose sleep advances it instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Script:
    """make_request that raises the given errors in turn, then answers `result`."""

    def __init__(self, *errors: Exception, result: Any = "ok") -> None:
        self.errors = list(errors)
        self.calls: list[Any] = []
        self.result = result

    async def __call__(self, bot: Any, method: Any) -> Any:
        self.calls.append(method)
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def send(chat_id: int = 5) -> SendMessage:
    return SendMessage(chat_id=chat_id, text="hi")


class Hooks:
    def __init__(self) -> None:
        self.blocked: list[int] = []
        self.returned: list[int] = []
        self.migrated: list[tuple[int, int]] = []

    async def prospect_blocked(self, chat_id: int) -> None:
        self.blocked.append(chat_id)

    async def prospect_returned(self, chat_id: int) -> None:
        self.returned.append(chat_id)

    async def sales_chat_migrated(self, old_id: int, new_id: int) -> None:
        self.migrated.append((old_id, new_id))


def middleware(**kw: Any) -> tuple[RetryMiddleware, FakeTime, Hooks]:
    t = FakeTime()
    hooks = Hooks()
    policy = RetryPolicy(jitter=0.0)
    return RetryMiddleware(policy, sleep=t.sleep, hooks=hooks, **kw), t, hooks


async def test_retry_after_is_waited_out_exactly() -> None:
    mw, t, _ = middleware()
    m = send()
    script = Script(TelegramRetryAfter(m, "Too Many Requests", 7))
    assert await mw(script, None, m) == "ok"  # type: ignore[arg-type]
    assert t.slept == [7.0]
    assert len(script.calls) == 2


async def test_retry_after_raised_when_flood_wait_disabled_or_too_long() -> None:
    mw, t, _ = middleware()
    m = send()
    with flood_wait_disabled(), pytest.raises(TelegramRetryAfter):
        await mw(Script(TelegramRetryAfter(m, "x", 3)), None, m)  # type: ignore[arg-type]
    with pytest.raises(TelegramRetryAfter):
        await mw(Script(TelegramRetryAfter(m, "x", 100_000)), None, m)  # type: ignore[arg-type]
    assert t.slept == []


async def test_server_and_network_errors_back_off_exponentially_then_give_up() -> None:
    mw, t, _ = middleware()
    m = send()
    ok = Script(TelegramServerError(m, "Bad Gateway"), TelegramNetworkError(m, "reset"))
    assert await mw(ok, None, m) == "ok"  # type: ignore[arg-type]
    assert t.slept == [0.5, 1.0]
    failing = Script(*[TelegramServerError(m, "Internal") for _ in range(10)])
    with pytest.raises(TelegramServerError):
        await mw(failing, None, m)  # type: ignore[arg-type]
    assert len(failing.calls) == RetryPolicy().max_attempts
    with pytest.raises(TelegramEntityTooLarge):
        await mw(Script(TelegramEntityTooLarge(m, "too big")), None, m)  # type: ignore[arg-type]


async def test_harmless_errors_answer_true() -> None:
    mw, _, _ = middleware()
    edit = EditMessageText(chat_id=5, message_id=1, text="x")
    err = TelegramBadRequest(edit, "Bad Request: message is not modified: specified new ...")
    assert await mw(Script(err), None, edit) is True  # type: ignore[arg-type]
    answer = AnswerCallbackQuery(callback_query_id="1")
    old = TelegramBadRequest(answer, "Bad Request: query is too old and response timeout expired")
    assert await mw(Script(old), None, answer) is True  # type: ignore[arg-type]
    other = TelegramBadRequest(send(), "Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest):
        await mw(Script(other), None, send())  # type: ignore[arg-type]


async def test_forbidden_marks_a_prospect_once_and_stops_sending() -> None:
    mw, _, hooks = middleware()
    m = send(42)
    script = Script(TelegramForbiddenError(m, "Forbidden: bot was blocked by the user"))
    with pytest.raises(TelegramForbiddenError):
        await mw(script, None, m)  # type: ignore[arg-type]
    with pytest.raises(TelegramForbiddenError):
        await mw(script, None, m)  # type: ignore[arg-type]
    assert hooks.blocked == [42]
    assert len(script.calls) == 1  # the second send never left the process
    await mw.mark_returned(42)
    assert await mw(script, None, m) == "ok"  # type: ignore[arg-type]
    assert hooks.returned == [42]


async def test_migration_of_the_sales_chat_is_followed() -> None:
    chat = SalesChat(-100, topic_id=None)
    mw, _, hooks = middleware(sales_chat=chat)
    m = SendMessage(chat_id=-100, text="card")
    script = Script(TelegramMigrateToChat(m, "group upgraded", -1009))
    assert await mw(script, None, m) == "ok"  # type: ignore[arg-type]
    assert [c.chat_id for c in script.calls] == [-100, -1009]
    assert chat.chat_id == -1009 and chat.is_sales(-100) and chat.resolve(-100) == -1009
    assert hooks.migrated == [(-100, -1009)]
    other = SendMessage(chat_id=-555, text="x")
    with pytest.raises(TelegramMigrateToChat):
        await mw(Script(TelegramMigrateToChat(other, "x", -556)), None, other)  # type: ignore[arg-type]


async def test_pacer_keeps_group_to_twenty_a_minute_and_chats_to_their_rate() -> None:
    t = FakeTime()
    pacer = Pacer(Limits(), clock=t, sleep=t.sleep)
    stamps = []
    for _ in range(45):
        await pacer.acquire(-100)
        stamps.append(t.now)
    for i, start in enumerate(stamps):
        in_minute = [s for s in stamps[i:] if s < start + 60]
        assert len(in_minute) <= 20
    # A private chat: at most 3 in any 3 seconds.
    t2 = FakeTime()
    pacer2 = Pacer(Limits(), clock=t2, sleep=t2.sleep)
    stamps = []
    for _ in range(9):
        await pacer2.acquire(7)
        stamps.append(t2.now - 1000.0)
    assert stamps == pytest.approx([0, 0, 0, 3, 3, 3, 6, 6, 6])


async def test_pacer_overall_limit_across_chats() -> None:
    t = FakeTime()
    pacer = Pacer(Limits(overall=(10, 1.0)), clock=t, sleep=t.sleep)
    for chat in range(1, 31):
        await pacer.acquire(chat)
    assert t.now - 1000.0 == pytest.approx(2.0)  # 10 at 0 s, 10 at 1 s, 10 at 2 s


async def test_pacer_without_private_limits_paces_only_groups() -> None:
    # SENDS_PER_SECOND=0: private chats go at once (429s regulate); a group keeps its pace.
    t = FakeTime()
    pacer = Pacer(Limits(overall=None, chat=None), clock=t, sleep=t.sleep)
    for _ in range(10):
        await pacer.acquire(7)
    assert t.now == pytest.approx(1000.0)
    for _ in range(3):
        await pacer.acquire(-100)
    assert t.now - 1000.0 == pytest.approx(6.0)  # one group message every 3 s


async def test_pacer_without_overall_limit_paces_only_each_chat() -> None:
    # SENDS_PER_SECOND=0: 30 chats at once all go now; one chat still keeps its rate.
    t = FakeTime()
    pacer = Pacer(Limits(overall=None), clock=t, sleep=t.sleep)
    for chat in range(1, 31):
        await pacer.acquire(chat)
    assert t.now == pytest.approx(1000.0)
    for _ in range(4):
        await pacer.acquire(1)
    assert t.now - 1000.0 == pytest.approx(3.0)


def test_text_is_escaped_and_clipped_in_utf16_units() -> None:
    assert html_text("<b>&</b> {{ x }}") == "&lt;b&gt;&amp;&lt;/b&gt; {{ x }}"
    long = "😀" * 3000  # 6000 UTF-16 units
    out = clip(long)
    assert utf16_len(out) <= MAX_TEXT and out.endswith("…")
    assert clip("short") == "short"


def test_keyboard_limits() -> None:
    row = tuple(Button(f"b{i}", f"t{i}") for i in range(20))
    kb = inline_keyboard([row])
    assert kb is not None
    assert [len(r) for r in kb.inline_keyboard] == [8, 8, 4]
    too_long = Button("x", "y" * 65)
    assert inline_keyboard([(too_long,)]) is None
    many = [tuple(Button("b", f"t{i}") for i in range(8)) for _ in range(20)]
    kb = inline_keyboard(many)
    assert kb is not None and sum(len(r) for r in kb.inline_keyboard) == 100
    url = inline_keyboard([(Button("site", url="https://example.com"),)])
    assert url is not None and url.inline_keyboard[0][0].url == "https://example.com"


def test_secret_filter_scrubs_messages_args_and_tracebacks() -> None:
    token = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ"
    f = SecretFilter([token, token.split(":")[1]])
    record = logging.LogRecord("x", logging.ERROR, "f", 1, "url %s", (f"/bot{token}/getMe",), None)
    f.filter(record)
    assert token not in record.getMessage() and "<redacted>" in record.getMessage()
    try:
        raise RuntimeError(f"boom https://api/bot{token}/x")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, "f", 1, "failed", (), sys.exc_info())
    f.filter(record)
    assert token not in logging.Formatter().format(record)


async def test_pacer_does_not_spin_when_rounding_leaves_a_hair_of_a_token() -> None:
    """Regression: 50 concurrent senders on a fake clock spun forever once float
    rounding left 0.99999... tokens and a wait too small to move the clock."""
    import asyncio

    t = FakeTime()
    t.now = 0.0
    pacer = Pacer(Limits(), clock=t, sleep=t.sleep)

    async def two(chat: int) -> None:
        await pacer.acquire(chat)
        await pacer.acquire(chat)

    await asyncio.wait_for(asyncio.gather(*(two(1000 + i) for i in range(50))), 2)
    assert t.now == pytest.approx(3.0)  # 100 sends, 30 in any second
