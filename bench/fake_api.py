"""The benchmark's fake Telegram, in its own process: tests/fakebot's server plus the
prospects who talk to the bot, driven by bench/run.py over stdin/stdout.

    python bench/fake_api.py [--uvloop]

The first stdout line is the port. Then one JSON command per stdin line, one JSON
answer per stdout line:

    {"cmd": "setup", "token", "sales_chat_id", "webhook_concurrency", "limits"}
    {"cmd": "first_call", "method", "timeout"}    -> {"time"} (CLOCK_MONOTONIC) | {"error"}
    {"cmd": "play", "n", "first_id", "answers", "stall", "timeout"}  -> the figures
    {"cmd": "idle", "quiet", "timeout"}           -> {"ok"}
    {"cmd": "stats"} / {"cmd": "quit"}

The prospects live here, next to the server, so they see each bot call the moment it
arrives (`on_call` hook) and answer at once, with no polling between processes. Times
are the server's `time.monotonic()`, which on Linux is the same clock in every
process, so run.py can compare them with its own (start-up time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import orjson  # noqa: E402
import scenario  # noqa: E402

from tests.fakebot.factory import TgUser  # noqa: E402
from tests.fakebot.faults import RateLimits  # noqa: E402
from tests.fakebot.server import FakeTelegramServer  # noqa: E402

REPLY_METHODS = frozenset({"sendMessage"})
CHAT_METHODS = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup"})


@dataclass
class UpdateRec:
    kind: str  # start | button | text
    pushed: float
    first: float | None = None  # first bot call about this chat after the push
    reply: float | None = None  # first message the bot sent to the chat after the push


@dataclass
class Prospect:
    index: int
    user: TgUser
    step: int = 0  # questions answered
    pending: UpdateRec | None = None
    updates: list[UpdateRec] = field(default_factory=list)
    done: bool = False
    parked: bool = False  # answered what it had to (memory mode) and went quiet
    asked: list[str] = field(default_factory=list)
    last_seen: float = 0.0


class Play:
    """N prospects at once, each doing the whole interview (or `answers` of it)."""

    def __init__(
        self,
        server: FakeTelegramServer,
        token: str,
        n: int,
        first_id: int,
        answers: int | None,
    ) -> None:
        self.server = server
        self.token = token
        self.answers = answers
        self.loop = asyncio.get_running_loop()
        self.prospects: dict[int, Prospect] = {}
        for i in range(n):
            user = TgUser(id=first_id + i, first_name="Bob", language_code="en")
            server.add_user(user, token=token)
            self.prospects[user.id] = Prospect(i, user)
        self.changed = asyncio.Event()
        self.failed: list[dict[str, Any]] = []
        self.unmatched: dict[str, int] = {}
        self.methods: dict[str, int] = {}
        self.first_call_seq = len(server.calls) + 1
        self.active = True

    # ---------------------------------------------------------------- driving

    def start(self) -> None:
        for p in self.prospects.values():
            self._push(p, "start", self.server.factory.command(p.user.to_dict(), "start"))

    def _push(self, p: Prospect, kind: str, update: dict[str, Any]) -> None:
        rec = UpdateRec(kind, time.monotonic())
        p.pending = rec
        p.updates.append(rec)
        self.server.push_update(update, token=self.token)

    def _answer(self, p: Prospect, question: str, message: dict[str, Any]) -> None:
        if p.done or p.parked:
            return
        if self.answers is not None and p.step >= self.answers:
            p.parked = True
            p.pending = None
            self.changed.set()
            return
        answer = scenario.answer_for(question, p.index, p.step)
        p.step += 1
        p.asked.append(question)
        user = p.user.to_dict()
        if answer.option is not None:
            data = _button_data(message, answer.option)
            if data is not None:
                stored = self.server.get_message(p.user.id, message["message_id"], token=self.token)
                if stored is not None:
                    msg_json = self.server.message_json(stored)
                    self._push(p, "button", self.server.factory.callback(user, msg_json, data))
                    return
        self._push(p, "text", self.server.factory.text(user, answer.text))

    # ------------------------------------------------------------------ hook

    def on_call(self, call: Any) -> None:
        if not self.active or call.token != self.token or call.method == "getUpdates":
            return
        self.methods[call.method] = self.methods.get(call.method, 0) + 1
        if call.status != 200:
            if len(self.failed) < 20 or call.status is None:
                self.failed.append(
                    {"method": call.method, "status": call.status, "description": call.description}
                )
            else:
                self.failed.append({"method": call.method, "status": call.status})
        chat_id = _chat_of(self.server, call)
        p = self.prospects.get(chat_id) if chat_id is not None else None
        if p is None:
            return
        p.last_seen = call.time
        rec = p.pending
        if rec is not None and rec.first is None:
            rec.first = call.time
        if call.method not in REPLY_METHODS or call.status != 200:
            return
        if rec is not None and rec.reply is None:
            rec.reply = call.time
        result = call.result if isinstance(call.result, dict) else {}
        text = result.get("text") or ""
        question = scenario.match_question(text)
        if question is not None:
            self.loop.call_soon(self._answer, p, question, result)
        elif scenario.is_closing(text):
            p.done = True
            p.pending = None
            self.changed.set()
        else:
            key = text[:60]
            self.unmatched[key] = self.unmatched.get(key, 0) + 1
        self.changed.set()

    # ------------------------------------------------------------------ run

    async def run(self, stall: float, timeout: float) -> dict[str, Any]:
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        self.start()
        deadline = t0 + timeout
        last_progress = t0
        progress_mark = -1
        while True:
            finished = sum(1 for p in self.prospects.values() if p.done or p.parked)
            if finished == len(self.prospects):
                break
            replies = sum(1 for p in self.prospects.values() for u in p.updates if u.reply)
            now = time.monotonic()
            if replies != progress_mark:
                progress_mark = replies
                last_progress = now
            if now - last_progress > stall or now > deadline:
                break
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.5)
        t_end = time.monotonic()
        self.active = False
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        return self.figures(t0, t_end, cpu0, cpu1)

    def figures(self, t0: float, t_end: float, cpu0: Any, cpu1: Any) -> dict[str, Any]:
        updates = [u for p in self.prospects.values() for u in p.updates]
        replied = [u for u in updates if u.reply is not None]
        latencies = sorted(u.reply - u.pushed for u in replied)  # type: ignore[operator]
        firsts = sorted(u.first - u.pushed for u in updates if u.first is not None)
        last_reply = max((u.reply for u in replied), default=t_end)  # type: ignore[type-var]
        span = max(1e-9, last_reply - t0)
        done = sum(1 for p in self.prospects.values() if p.done)
        parked = sum(1 for p in self.prospects.values() if p.parked)
        incomplete = [p for p in self.prospects.values() if not (p.done or p.parked)]
        return {
            "n": len(self.prospects),
            "t0": t0,
            "t_end": t_end,
            "span": span,
            "updates": len(updates),
            "handled": len(replied),
            "no_reply": len(updates) - len(replied),
            "updates_per_s": len(replied) / span,
            "latency": _quantiles(latencies),
            "first_response": _quantiles(firsts),
            "by_kind": {
                kind: _quantiles(
                    sorted(u.reply - u.pushed for u in replied if u.kind == kind)  # type: ignore[operator]
                )
                for kind in ("start", "button", "text")
            },
            "completed": done,
            "parked": parked,
            "lost": len(incomplete),
            "lost_sample": [
                {"id": p.user.id, "step": p.step, "asked": p.asked[-3:]} for p in incomplete[:5]
            ],
            "questions_asked": _mode([len(p.asked) for p in self.prospects.values() if p.done]),
            "failed_calls": len(self.failed),
            "failed_sample": self.failed[:10],
            "methods": self.methods,
            "unmatched": dict(sorted(self.unmatched.items(), key=lambda kv: -kv[1])[:8]),
            "problems": [str(p) for p in self.server.problems[:10]],
            "problem_count": len(self.server.problems),
            "harness_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        }


def _button_data(message: dict[str, Any], option: str) -> str | None:
    markup = message.get("reply_markup") or {}
    for row in markup.get("inline_keyboard") or ():
        for button in row:
            data = button.get("callback_data")
            if isinstance(data, str) and data.endswith(":" + option):
                return data
    return None


def _chat_of(server: FakeTelegramServer, call: Any) -> int | None:
    params = call.params
    chat = params.get("chat_id")
    if chat is not None:
        with contextlib.suppress(TypeError, ValueError):
            return int(chat)
        return None
    query_id = params.get("callback_query_id")
    if query_id is not None:
        record = server.callbacks.get(str(query_id))
        if record is not None:
            return record.chat_id
    return None


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None, "mean": None}

    def q(frac: float) -> float:
        return values[min(len(values) - 1, int(frac * len(values)))]

    return {"p50": q(0.50), "p99": q(0.99), "max": values[-1], "mean": sum(values) / len(values)}


def _mode(values: list[int]) -> int | None:
    if not values:
        return None
    return max(set(values), key=values.count)


# ---------------------------------------------------------------------- commands


class Harness:
    def __init__(self) -> None:
        self.server = FakeTelegramServer()
        self.token = self.server.default_token
        self.play: Play | None = None
        self.server.on_call(self._on_call)

    def _on_call(self, call: Any) -> None:
        if self.play is not None:
            self.play.on_call(call)

    async def handle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        name = cmd.get("cmd")
        if name == "setup":
            token = cmd.get("token") or self.token
            self.token = token
            self.server.add_bot(token)
            self.server.webhook_concurrency = int(cmd.get("webhook_concurrency", 40))
            limits = cmd.get("limits") or {}
            if limits.get("telegram_scale"):
                self.server.set_rate_limits(RateLimits.telegram(float(limits["telegram_scale"])))
            elif limits:
                self.server.set_rate_limits(
                    RateLimits(
                        per_chat=tuple(limits["per_chat"]) if limits.get("per_chat") else None,
                        per_group=tuple(limits["per_group"]) if limits.get("per_group") else None,
                        per_bot=tuple(limits["per_bot"]) if limits.get("per_bot") else None,
                    )
                )
            chat_id = cmd.get("sales_chat_id")
            if chat_id is not None:
                tg = self.server.factory.group(int(chat_id), "Sales", supergroup=True)
                self.server.add_group(tg, token=token)
            self.server.strict = False
            return {"ok": True, "url": self.server.url}
        if name == "first_call":
            method = cmd.get("method", "getUpdates")
            timeout = float(cmd.get("timeout", 120))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for call in self.server.calls:
                    if call.token == self.token and call.method == method:
                        return {"time": call.time}
                await asyncio.sleep(0.005)
            return {"error": f"no {method} within {timeout} s"}
        if name == "play":
            self.server.problems.clear()
            self.play = Play(
                self.server,
                self.token,
                int(cmd["n"]),
                int(cmd.get("first_id", 1_000_000)),
                cmd.get("answers"),
            )
            try:
                return await self.play.run(
                    float(cmd.get("stall", 20.0)), float(cmd.get("timeout", 600.0))
                )
            finally:
                self.play = None
                gc.collect()
        if name == "idle":
            try:
                await self.server.wait_idle(
                    quiet=float(cmd.get("quiet", 0.3)), timeout=float(cmd.get("timeout", 60))
                )
            except AssertionError as exc:
                return {"ok": False, "error": str(exc)[:500]}
            return {"ok": True}
        if name == "stats":
            return {**self.server.stats(), "pid": os.getpid()}
        if name == "calls":
            method = cmd.get("method")
            return {
                "calls": [
                    {"method": c.method, "time": c.time, "status": c.status, "chat_id": c.chat_id}
                    for c in self.server.calls
                    if (method is None or c.method == method) and c.token == self.token
                ]
            }
        return {"error": f"unknown command {name!r}"}


async def serve() -> None:
    harness = Harness()
    await harness.server.start()
    print(harness.server.port, flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            if not line.strip():
                continue
            cmd = orjson.loads(line)
            if cmd.get("cmd") == "quit":
                break
            try:
                answer = await harness.handle(cmd)
            except Exception as exc:  # report, keep serving
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(orjson.dumps(answer).decode() + "\n")
            sys.stdout.flush()
    finally:
        await harness.server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(serve())
    else:
        asyncio.run(serve())


if __name__ == "__main__":
    main()
