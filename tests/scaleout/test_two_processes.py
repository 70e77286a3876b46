"""Two bot processes in webhook mode, sharing PostgreSQL, behind a round-robin proxy.

The fake Bot API (in this process) delivers webhooks up to 4 at once to a small
aiohttp proxy (written here) that hands each request to the next of two real
`python -m bot` processes, so one prospect's updates land on both processes.
Checked, loopback only, in well under a minute:

- every update is handled once (duplicate deliveries included), every callback
  answered once, nothing refused by the fake Telegram;
- one prospect's updates are never handled at once by two processes: a prospect
  taps a button twice; while the process that took the first tap is still sending
  its reply (its edit is slowed down by the fake), the other tap must wait;
- one card per hot lead, however many intents and processes;
- the sales group's pacing (evenly spaced, 20 a minute: one every 3 s) holds across
  both processes: the fake refuses (429) a second group message within 2.5 s;
- reminder timers, made due at once, fire once each (one reminder per prospect).

Skipped without TEST_DATABASE_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from tests.fakebot.faults import RateLimits
from tests.fakebot.server import FakeTelegramServer

PG_ENV = "TEST_DATABASE_URL"
pytestmark = pytest.mark.skipif(
    not os.environ.get(PG_ENV),
    reason=f"scale-out needs PostgreSQL: set {PG_ENV}, "
    "e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test",
)

ROOT = Path(__file__).resolve().parents[2]
SALES_CHAT = -1009876543210
SECRET = "scaleout-secret"
STARTUP_TIMEOUT = 60.0  # two processes importing aiogram at once on 2 busy cores
GROUP_SPACING = 2.5  # the fake refuses a second group message within this many seconds
HOT = 3
QUIET = 3

# ---------------------------------------------------------------------- the proxy


@dataclass
class Forwarded:
    backend: int
    update_id: int | None
    chat_id: int | None
    kind: str
    start: float
    end: float = 0.0
    status: int = 0


@dataclass
class RoundRobinProxy:
    """POSTs go to the backends in turn; the answer goes back as it came."""

    backends: list[str]
    log: list[Forwarded] = field(default_factory=list)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    url: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()
        return self.url

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        index = next(self._turn) % len(self.backends)
        record = Forwarded(index, *_describe(body), start=time.monotonic())
        self.log.append(record)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("content-type", "x-telegram-bot-api-secret-token")
        }
        try:
            async with self._session.request(
                request.method,
                self.backends[index] + request.path_qs,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                payload = await response.read()
                record.status = response.status
                return web.Response(
                    status=response.status,
                    body=payload,
                    content_type=response.content_type,
                )
        except aiohttp.ClientError:
            record.status = 502
            return web.Response(status=502, text="backend unreachable")
        finally:
            record.end = time.monotonic()


def _describe(body: bytes) -> tuple[int | None, int | None, str]:
    import orjson

    try:
        update = orjson.loads(body)
    except ValueError:
        return None, None, "?"
    kind = next((k for k in update if k != "update_id"), "?")
    event = update.get(kind) or {}
    chat = (event.get("chat") or (event.get("message") or {}).get("chat") or {}).get("id")
    if chat is None:
        chat = (event.get("from") or {}).get("id")
    return update.get("update_id"), chat, kind


# ---------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


async def _sql(url: str, *statements: str) -> list[Any]:
    from sqlalchemy import text

    from storage.database import Database

    db = Database(url)
    out: list[Any] = []
    try:
        async with db.engine.begin() as conn:
            for statement in statements:
                result = await conn.execute(text(statement))
                out.append(result.all() if result.returns_rows else result.rowcount)
    finally:
        await db.dispose()
    return out


@pytest.fixture
async def schema_url() -> AsyncIterator[str]:
    base = os.environ[PG_ENV]
    # Named like tests/storage's schemas, so a killed run's leftovers get dropped there.
    schema = f"qbt_{int(time.time())}_{uuid.uuid4().hex[:12]}"
    await _sql(base, f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_schema(base, schema)
    finally:
        await _sql(base, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@dataclass
class Cluster:
    fake: FakeTelegramServer
    proxy: RoundRobinProxy
    db_url: str
    processes: list[asyncio.subprocess.Process]
    logs: list[Path]

    def tails(self, lines: int = 25) -> str:
        out = []
        for i, path in enumerate(self.logs):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- process {i} ---\n" + "\n".join(text))
        return "\n".join(out)


@pytest.fixture
async def cluster(schema_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    fake = FakeTelegramServer()
    fake.webhook_concurrency = 4
    fake.webhook_retry_delay = 0.2
    # Only the group is limited (private chats and the bot overall are not).
    fake.set_rate_limits(RateLimits(per_group=(1, GROUP_SPACING), retry_after=1))
    await fake.start()
    ports = [_free_port(), _free_port()]
    proxy = RoundRobinProxy([f"http://127.0.0.1:{p}" for p in ports])
    await proxy.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
    env.update(
        BOT_TOKEN=fake.default_token,
        SALES_CHAT_ID=str(SALES_CHAT),
        TELEGRAM_API_URL=fake.url,
        DATABASE_URL=schema_url,
        WEBHOOK_URL=proxy.url + "/webhook",
        WEBHOOK_SECRET=SECRET,
        LOG_LEVEL="INFO",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    processes: list[asyncio.subprocess.Process] = []
    logs: list[Path] = []
    try:
        for i, port in enumerate(ports):
            log = tmp_path / f"bot{i}.log"
            logs.append(log)
            with open(log, "wb") as out:
                process = await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "bot"),
                    env={**env, "WEBHOOK_LISTEN": f"127.0.0.1:{port}"},
                    cwd=tmp_path,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                )
                processes.append(process)
        cluster = Cluster(fake, proxy, schema_url, processes, logs)
        await _wait_ready(cluster, ports)
        yield cluster
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        await proxy.stop()
        await fake.stop()


async def _wait_ready(cluster: Cluster, ports: list[int]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with aiohttp.ClientSession() as session:
        for port in ports:
            while True:
                for i, process in enumerate(cluster.processes):
                    if process.returncode is not None:
                        pytest.fail(f"bot process {i} exited at start:\n{cluster.tails()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(
                        f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(1)
                    ) as response:
                        if response.status == 200 and (await response.json()).get("accepting"):
                            break
                if time.monotonic() > deadline:
                    pytest.fail(f"bots not ready in {STARTUP_TIMEOUT} s:\n{cluster.tails()}")
                await asyncio.sleep(0.1)
    # Both processes called setWebhook with the proxy's URL.
    while len(cluster.fake.calls_to("setWebhook")) < 2 or cluster.fake.bot().webhook is None:
        if time.monotonic() > deadline:
            pytest.fail(f"no webhook set:\n{cluster.tails()}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- the test


def _question(msg: Any) -> str | None:
    """The question id of a message with answer buttons (tokens a:<digest>:<question>:...)."""
    for data in msg.callback_data:
        if data and data.startswith("a:"):
            return data.split(":")[2]
    return None


async def test_two_processes_share_the_work_safely(cluster: Cluster) -> None:
    fake = cluster.fake
    failures: list[str] = []

    def check(ok: object, message: object) -> None:
        # Every guarantee is checked and every failure reported, not only the first.
        if not ok:
            failures.append(str(message))

    seller = fake.user("Sam", id=777001)
    fake.group("Sales", id=SALES_CHAT, members={seller.id: "member"})
    pushed: list[int] = []

    async def hot_intro(user: Any) -> None:
        pushed.append(user.start())
        await user.next_message(lambda m: _question(m) == "budget", timeout=20)
        # An intent fast-tracks the lead (card queued); delivered twice, applied once.
        update = fake.factory.text(user.tg, "Could you show me a demo? Call me please.")
        pushed.append(fake.push_update(update, copies=2))
        await fake.wait_confirmed(pushed[-1], timeout=20)

    async def hot_taps(user: Any) -> dict[str, Any]:
        budget = [m for m in fake.messages(user.id) if _question(m) == "budget"][-1]
        # Two taps on the same button, at once. The edit that shows the first tap's
        # choice is slowed down: the second tap must wait until that reply is out.
        fake.slow(1.0, method="editMessageText", chat_id=user.id, times=1)
        data = next(d for d in budget.callback_data if d and d.endswith(":ready"))
        taps = [
            fake.click(user.tg, budget, data=data, force=True),
            fake.click(user.tg, budget, data=data, force=True),
        ]
        pushed.extend(taps)
        role = await user.next_message(lambda m: _question(m) == "role", timeout=20)
        # A second intent: still one card.
        pushed.append(user.send("How much does it cost?"))
        await fake.wait_confirmed(pushed[-1], timeout=20)
        return {"user": user, "taps": taps, "role": role}

    async def quiet(user: Any) -> None:
        pushed.append(user.start())
        first = await user.next_message(lambda m: _question(m) == "budget", timeout=20)
        pushed.append(fake.click(user.tg, first, text="Yes, the price works for us"))
        await user.next_message(lambda m: _question(m) == "role", timeout=20)

    hots = [fake.user(f"Hot{i}", id=500100 + i) for i in range(HOT)]
    quiets = [fake.user(f"Quiet{i}", id=500200 + i) for i in range(QUIET)]
    # The quiet prospects and the hot ones' first steps together (the cards are queued
    # first); then the hot ones' double taps one after another, so each meets an idle
    # pair of processes and the proxy sends its two taps to different processes.
    await asyncio.gather(*(quiet(u) for u in quiets), *(hot_intro(u) for u in hots))
    await fake.wait_idle(quiet=0.2, timeout=20)
    results = [await hot_taps(u) for u in hots]
    await fake.wait_idle(quiet=0.5, timeout=20)

    # ------------------------------------------------------------ handled once
    processed = (await _sql(cluster.db_url, "SELECT update_id FROM processed_update"))[0]
    processed_ids = sorted(row[0] for row in processed)
    check(
        processed_ids == sorted(set(pushed)),
        (f"processed updates {processed_ids} != pushed {sorted(set(pushed))}"),
    )
    check(not fake.unanswered_callbacks(), fake.unanswered_callbacks())
    check(
        all(f.status == 200 for f in cluster.proxy.log),
        [(f.update_id, f.status) for f in cluster.proxy.log if f.status != 200],
    )
    used = {f.backend for f in cluster.proxy.log}
    check(used == {0, 1}, f"the proxy used only backends {used}")
    answers = (
        await _sql(
            cluster.db_url,
            "SELECT interview_id, question_id, count(*) FROM answer "
            "WHERE NOT superseded GROUP BY interview_id, question_id HAVING count(*) > 1",
        )
    )[0]
    check(not answers, f"questions answered twice in one interview: {answers}")

    # ------------------------------------------- one chat, one process at a time
    problems: list[str] = []
    splits = 0
    for item in results:
        user, taps = item["user"], item["taps"]
        where = {f.update_id: f.backend for f in cluster.proxy.log}
        split = where.get(taps[0]) != where.get(taps[1])
        splits += split
        role_sent = item["role"].seq
        answered = {
            c.params.get("callback_query_id"): c
            for c in fake.calls_to("answerCallbackQuery")
            if fake.callbacks.get(str(c.params.get("callback_query_id"))) is not None
            and fake.callbacks[str(c.params.get("callback_query_id"))].chat_id == user.id
        }
        role_id = item["role"].message_id
        role_call = next(
            c
            for c in fake.calls_to("sendMessage")
            if c.ok and c.chat_id == user.id and c.result.get("message_id") == role_id
        )
        stale = [c for c in answered.values() if c.params.get("text") and c.time < role_call.time]
        if split and stale:
            problems.append(
                f"chat {user.id}: taps {taps} went to processes "
                f"{where.get(taps[0])} and {where.get(taps[1])}; the second was answered "
                f"({stale[0].params.get('text')!r}) {role_call.time - stale[0].time:.2f} s "
                f"before the first one's reply (next question, seq {role_sent}) was sent"
            )
    check(splits, "no double tap was split across the two processes: nothing was tested")
    check(
        not problems,
        message=(
            "updates of one chat handled at once by two processes (the cross-process "
            "chat lock, storage/locks.py, did not hold):\n" + "\n".join(problems)
        ),
    )

    # ----------------------------------------------------- one card per hot lead
    # Paced at one every 3 s, the cards (queued first) are out within about HOT * 3 s.
    deadline = time.monotonic() + HOT * 3.0 + 10
    while time.monotonic() < deadline:
        cards = [m for m in fake.messages(SALES_CHAT) if m.from_bot]
        if len(cards) >= HOT:
            break
        await asyncio.sleep(0.2)
    outbox_cards = (
        await _sql(
            cluster.db_url,
            "SELECT status, count(*) FROM outbox WHERE kind IN ('card', 'card_edit') "
            "GROUP BY status",
        )
    )[0]
    await asyncio.sleep(1.0)  # a second card for the same lead would show up now
    group_sends = [c for c in fake.calls if c.method == "sendMessage" and c.chat_id == SALES_CHAT]
    cards = [m for m in fake.messages(SALES_CHAT) if m.from_bot]
    rows = (
        await _sql(
            cluster.db_url,
            "SELECT count(*), count(DISTINCT dedup_key) FROM outbox WHERE kind = 'card'",
        )
    )[0][0]
    check(
        len(cards) == HOT,
        message=(
            f"{len(cards)} cards in the sales group for {HOT} hot leads "
            f"(outbox card rows {rows}, card and card_edit rows by status {outbox_cards}):\n"
            f"{[c.text[:60] for c in cards]}"
        ),
    )
    for user in hots:
        mine = [c for c in cards if str(user.id) in (c.html or c.raw or "")]
        check(len(mine) <= 1, f"{len(mine)} cards for lead {user.id}")

    # ------------------------------------------ group pacing across both processes
    group_calls = [c for c in fake.calls if c.chat_id == SALES_CHAT and c.method != "getChat"]
    refused = [c for c in group_calls if c.status == 429]
    times = sorted(c.time for c in group_sends if c.ok)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
    check(
        not refused,
        message=(
            f"{len(refused)} group message(s) refused with 429: the processes did not share "
            f"the sales group's pacing, storage/rate_slots.py (gaps between accepted card "
            f"sends: {gaps} s)"
        ),
    )

    # ------------------------------------------------------- timers fired once
    due = (
        await _sql(
            cluster.db_url,
            "SELECT l.telegram_id FROM timer t JOIN interview i ON i.id = t.interview_id "
            "JOIN lead l ON l.id = i.lead_id WHERE t.kind = 'remind' AND t.status = 'pending'",
            # A reminder is due `reminder_hours` (24) after the last step: move both back.
            "UPDATE interview SET updated_at = updated_at - interval '25 hours' WHERE id IN "
            "(SELECT interview_id FROM timer WHERE kind = 'remind' AND status = 'pending')",
            "UPDATE timer SET due_at = now() - interval '1 second' "
            "WHERE kind = 'remind' AND status = 'pending'",
        )
    )[0]
    due_chats = {row[0] for row in due}
    check({u.id for u in quiets} <= due_chats, f"reminder timers only for {due_chats}")

    def reminders() -> dict[int, int]:
        return {
            u.id: sum(1 for m in fake.messages(u.id) if m.from_bot and "Continue" in m.button_texts)
            for u in hots + quiets
        }

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(reminders()[c] == 0 for c in due_chats):
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.5)  # a second firing would arrive now
    expected = {u.id: int(u.id in due_chats) for u in hots + quiets}
    check(reminders() == expected, f"reminders per prospect {reminders()} != {expected}")
    fired = (
        await _sql(
            cluster.db_url,
            "SELECT status, count(*) FROM timer WHERE kind = 'remind' GROUP BY status",
        )
    )[0]
    check([tuple(r) for r in fired] == [("fired", len(due_chats))], fired)

    problems_seen = fake.take_problems()
    check(not problems_seen, [str(p) for p in problems_seen])
    assert not failures, f"{len(failures)} scale-out guarantee(s) broken:\n\n" + "\n\n".join(
        failures
    )
