"""Drive a fake Bot API running in another process (``python -m tests.fakebot``).

    async with spawn_fake_server() as remote:          # starts the subprocess
        bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(remote.url)))
        alice = remote.factory.user(first_name="Alice")
        await remote.add_user(alice)
        await remote.push_update(remote.factory.command(alice, "start"))
        msg = await remote.wait_for_message(alice.id)
        print(msg["text"])

Messages and calls come back as the control API's JSON dicts (see control.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from .factory import TgUser, UpdateFactory
from .server import DEFAULT_TOKEN

ROOT = Path(__file__).resolve().parents[2]


class RemoteError(AssertionError):
    pass


class RemoteFakeServer:
    def __init__(self, url: str, *, token: str = DEFAULT_TOKEN) -> None:
        self.url = url.rstrip("/")
        self.token = token
        bot_id = int(token.split(":", 1)[0])
        self.factory = UpdateFactory(
            {
                "id": bot_id,
                "is_bot": True,
                "first_name": "Test Bot",
                "username": f"test{bot_id}_bot",
            }
        )
        self._session: aiohttp.ClientSession | None = None
        self._cursors: dict[int, int] = {}

    async def __aenter__(self) -> RemoteFakeServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, verb: str, path: str, data: Any = None, **query: Any) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        params = {k: str(v) for k, v in query.items() if v is not None}
        body = orjson.dumps(data) if data is not None else None
        async with self._session.request(
            verb,
            f"{self.url}/_control/{path}",
            data=body,
            params=params,
            headers={"Content-Type": "application/json"},
        ) as response:
            payload = orjson.loads(await response.read() or b"{}")
            if response.status == 408:
                raise RemoteError(payload.get("error", "timeout"))
            if response.status >= 400:
                raise RemoteError(f"{path}: {response.status} {payload}")
            return payload

    async def health(self) -> bool:
        return bool((await self._request("GET", "health"))["ok"])

    async def push_update(
        self, update: dict[str, Any], *, token: str | None = None, copies: int = 1
    ) -> int:
        result = await self._request(
            "POST", "push", {"update": update, "token": token, "copies": copies}
        )
        return result["update_ids"][0]

    async def push_updates(
        self, updates: list[dict[str, Any]], *, token: str | None = None
    ) -> list[int]:
        result = await self._request("POST", "push", {"updates": updates, "token": token})
        return result["update_ids"]

    async def push_raw(self, data: dict[str, Any], *, token: str | None = None) -> int:
        result = await self._request("POST", "push", {"update": data, "token": token, "raw": True})
        return result["update_ids"][0]

    async def add_user(self, user: TgUser, *, token: str | None = None) -> None:
        await self._request("POST", "user", {**user.to_dict(), "token": token})

    async def add_group(self, **fields: Any) -> dict[str, Any]:
        return (await self._request("POST", "group", fields))["chat"]

    async def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        await self._request(
            "POST", "member", {"chat_id": chat_id, "user_id": user_id, "status": status}
        )

    async def add_file(
        self, content: bytes, file_name: str | None = "file.pdf", **fields: Any
    ) -> dict[str, Any]:
        data = {"content_b64": base64.b64encode(content).decode(), "file_name": file_name, **fields}
        return await self._request("POST", "file", data)

    async def calls(self, method: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        return (await self._request("GET", "calls", method=method, since=since))["calls"]

    async def messages(self, chat_id: int, *, include_user: bool = False) -> list[dict[str, Any]]:
        result = await self._request(
            "GET", "messages", chat_id=chat_id, include_user="1" if include_user else None
        )
        return result["messages"]

    async def wait_for_message(self, chat_id: int, timeout: float = 5.0) -> dict[str, Any]:
        """The next bot message in the chat (a per-chat cursor kept on this side)."""
        since = self._cursors.get(chat_id, 0)
        result = await self._request(
            "POST", "wait_message", {"chat_id": chat_id, "timeout": timeout, "since": since}
        )
        message = result["message"]
        self._cursors[chat_id] = message["seq"]
        return message

    async def wait_for_call(
        self, method: str | None = None, timeout: float = 5.0, since: int = 0
    ) -> dict[str, Any]:
        result = await self._request(
            "POST", "wait_call", {"method": method, "timeout": timeout, "since": since}
        )
        return result["call"]

    async def wait_idle(self, quiet: float = 0.05, timeout: float = 5.0) -> None:
        await self._request("POST", "wait_idle", {"quiet": quiet, "timeout": timeout})

    async def add_fault(self, **fault: Any) -> dict[str, Any]:
        return (await self._request("POST", "fault", fault))["fault"]

    async def clear_faults(self) -> None:
        await self._request("DELETE", "fault")

    async def set_rate_limits(self, **limits: Any) -> None:
        await self._request("POST", "rate_limits", limits)

    async def block(self, chat_id: int, *, blocked: bool = True, notify: bool = False) -> None:
        await self._request(
            "POST", "block", {"chat_id": chat_id, "blocked": blocked, "notify": notify}
        )

    async def migrate_group(self, chat_id: int, new_chat_id: int | None = None) -> int:
        result = await self._request(
            "POST", "migrate", {"chat_id": chat_id, "new_chat_id": new_chat_id}
        )
        return result["new_chat_id"]

    async def problems(self) -> list[str]:
        return (await self._request("GET", "problems"))["problems"]

    async def expect_problem(self, *patterns: str) -> None:
        await self._request("POST", "expect", {"patterns": list(patterns)})

    async def stats(self) -> dict[str, Any]:
        return await self._request("GET", "stats")

    async def reset(self) -> None:
        await self._request("POST", "reset")


@contextlib.asynccontextmanager
async def spawn_fake_server(
    *args: str, token: str = DEFAULT_TOKEN, startup_timeout: float = 20.0
) -> AsyncIterator[RemoteFakeServer]:
    """Start ``python -m tests.fakebot --port 0 --print-port`` and connect to it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakebot", "--port", "0", "--print-port",
        "--token", token, *args,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
        env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), startup_timeout)
        if not line.strip():
            raise RemoteError("the fake Bot API process did not print its port")
        remote = RemoteFakeServer(f"http://127.0.0.1:{int(line)}", token=token)
        try:
            yield remote
        finally:
            await remote.close()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
