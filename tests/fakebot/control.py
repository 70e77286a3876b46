"""The control HTTP API under ``/_control/`` so another process can drive the server.

Every endpoint takes and returns JSON. ``RemoteFakeServer`` (remote.py) wraps them.

    POST /_control/push        {"update": {...}} or {"updates": [...]}, "token", "copies",
                               "raw": bool                       -> {"update_ids": [...]}
    POST /_control/redeliver   {"update_id", "token"}
    GET  /_control/calls       ?method=&since=<seq>              -> {"calls": [...]}
    GET  /_control/messages    ?chat_id=&token=&include_user=1   -> {"messages": [...]}
    POST /_control/wait_message {"chat_id", "timeout", "since", "token"} -> {"message"} | 408
    POST /_control/wait_call   {"method", "timeout", "since"}    -> {"call"} | 408
    POST /_control/wait_idle   {"quiet", "timeout"}              -> {"ok": true} | 408
    POST /_control/fault       Fault fields                      -> {"fault": {...}}
    DELETE /_control/fault     (all)                             GET /_control/faults
    POST /_control/rate_limits {"per_chat": [n, s], "per_group", "per_bot", "retry_after"}
                               or {"telegram_scale": 0.01}
    POST /_control/block       {"chat_id", "token", "blocked": true, "notify": false}
    POST /_control/migrate     {"chat_id", "new_chat_id"}        -> {"new_chat_id"}
    POST /_control/group       {"chat_id", "title", "forum", "members", "bot_status", "topics"}
    POST /_control/member      {"chat_id", "user_id", "status"}
    POST /_control/user        {"id", "first_name", ..., "token"} (the bot knows the chat)
    POST /_control/file        {"content_b64", "file_name", "mime_type", "kind"} -> file
    POST /_control/bot         {"token", "username", "first_name"}
    GET  /_control/problems    GET /_control/stats    POST /_control/reset    GET /_control/health
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from .factory import TgUser
from .faults import Fault, RateLimits

if TYPE_CHECKING:
    from .server import FakeTelegramServer


def add_control_routes(app: web.Application, server: FakeTelegramServer) -> None:
    from .server import WaitTimeout, dumps

    def reply(data: Any, status: int = 200) -> web.Response:
        return web.Response(status=status, body=dumps(data), content_type="application/json")

    async def body(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        data = orjson.loads(raw) if raw else {}
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        return data

    async def push(request: web.Request) -> web.Response:
        data = await body(request)
        updates = data.get("updates") or [data.get("update")]
        token = data.get("token")
        copies = int(data.get("copies", 1))
        ids = []
        for update in updates:
            if not isinstance(update, dict):
                return reply({"error": "update must be an object"}, 400)
            if data.get("raw"):
                ids.append(server.push_raw(update, token=token, copies=copies))
            else:
                ids.append(server.push_update(update, token=token, copies=copies))
        return reply({"update_ids": ids})

    async def redeliver(request: web.Request) -> web.Response:
        data = await body(request)
        return reply({"update_id": server.redeliver(data["update_id"], token=data.get("token"))})

    async def calls(request: web.Request) -> web.Response:
        method = (request.query.get("method") or "").lower()
        since = int(request.query.get("since", 0))
        found = [
            c.to_json() for c in server.calls[since:] if not method or c.method.lower() == method
        ]
        return reply({"calls": found})

    async def messages(request: web.Request) -> web.Response:
        chat_id = int(request.query["chat_id"])
        found = server.messages(
            chat_id,
            token=request.query.get("token") or None,
            include_user=request.query.get("include_user") in ("1", "true"),
            include_deleted=request.query.get("include_deleted") in ("1", "true"),
        )
        return reply({"messages": [m.to_json() for m in found]})

    async def wait_message(request: web.Request) -> web.Response:
        data = await body(request)
        try:
            msg = await server.wait_for_message(
                int(data["chat_id"]),
                timeout=float(data.get("timeout", 5.0)),
                token=data.get("token"),
                since=data.get("since"),
            )
        except WaitTimeout as exc:
            return reply({"error": str(exc)}, 408)
        return reply({"message": msg.to_json()})

    async def wait_call(request: web.Request) -> web.Response:
        data = await body(request)
        try:
            call = await server.wait_for_call(
                data.get("method"),
                timeout=float(data.get("timeout", 5.0)),
                since=data.get("since"),
            )
        except WaitTimeout as exc:
            return reply({"error": str(exc)}, 408)
        return reply({"call": call.to_json()})

    async def wait_idle(request: web.Request) -> web.Response:
        data = await body(request)
        try:
            await server.wait_idle(
                quiet=float(data.get("quiet", 0.05)), timeout=float(data.get("timeout", 5.0))
            )
        except WaitTimeout as exc:
            return reply({"error": str(exc)}, 408)
        return reply({"ok": True})

    async def add_fault(request: web.Request) -> web.Response:
        data = await body(request)
        allowed = set(Fault.__dataclass_fields__) - {"hits", "id"}
        fault = server.add_fault(Fault(**{k: v for k, v in data.items() if k in allowed}))
        return reply({"fault": fault.to_dict()})

    async def clear_faults(request: web.Request) -> web.Response:
        server.clear_faults()
        return reply({"ok": True})

    async def list_faults(request: web.Request) -> web.Response:
        return reply({"faults": [f.to_dict() for f in server.faults.items]})

    async def rate_limits(request: web.Request) -> web.Response:
        data = await body(request)
        if "telegram_scale" in data:
            limits = RateLimits.telegram(float(data["telegram_scale"]), data.get("retry_after"))
        else:
            limits = RateLimits(
                per_chat=tuple(data["per_chat"]) if data.get("per_chat") else None,
                per_group=tuple(data["per_group"]) if data.get("per_group") else None,
                per_bot=tuple(data["per_bot"]) if data.get("per_bot") else None,
                retry_after=data.get("retry_after"),
            )
        server.set_rate_limits(limits)
        return reply({"ok": True})

    async def block(request: web.Request) -> web.Response:
        data = await body(request)
        if data.get("blocked", True):
            server.block(
                int(data["chat_id"]), token=data.get("token"), notify=bool(data.get("notify"))
            )
        else:
            server.unblock(
                int(data["chat_id"]), token=data.get("token"), notify=bool(data.get("notify"))
            )
        return reply({"ok": True})

    async def migrate(request: web.Request) -> web.Response:
        data = await body(request)
        new_id = server.migrate_group(int(data["chat_id"]), data.get("new_chat_id"))
        return reply({"new_chat_id": new_id})

    async def group(request: web.Request) -> web.Response:
        data = await body(request)
        tg = server.factory.group(
            data.get("chat_id"),
            data.get("title", "Sales"),
            supergroup=data.get("supergroup", True),
            forum=bool(data.get("forum")),
            username=data.get("username"),
        )
        record = server.add_group(
            tg,
            members={int(k): v for k, v in (data.get("members") or {}).items()},
            bot_status=data.get("bot_status", "administrator"),
            topics={int(k): v for k, v in (data.get("topics") or {}).items()},
            token=data.get("token"),
        )
        return reply({"chat": record.to_dict()})

    async def member(request: web.Request) -> web.Response:
        data = await body(request)
        server.set_member(int(data["chat_id"]), int(data["user_id"]), data["status"])
        return reply({"ok": True})

    async def user(request: web.Request) -> web.Response:
        data = await body(request)
        fields = {
            k: data[k]
            for k in ("first_name", "last_name", "username", "language_code")
            if k in data
        }
        tg = TgUser(id=int(data["id"]), **fields)
        server.add_user(tg, token=data.get("token"), known=data.get("known", True))
        return reply({"user": tg.to_dict()})

    async def add_file(request: web.Request) -> web.Response:
        data = await body(request)
        record = server.add_file(
            base64.b64decode(data.get("content_b64", "")),
            data.get("file_name"),
            mime_type=data.get("mime_type"),
            kind=data.get("kind", "document"),
        )
        return reply(
            {
                "file_id": record.file_id,
                "file_unique_id": record.file_unique_id,
                "file_size": record.size,
                "file_path": record.file_path,
                "mime_type": record.mime_type,
            }
        )

    async def add_bot(request: web.Request) -> web.Response:
        data = await body(request)
        bot = server.add_bot(
            data["token"], username=data.get("username"), first_name=data.get("first_name")
        )
        return reply({"bot": bot.user_dict()})

    async def problems(request: web.Request) -> web.Response:
        return reply(
            {
                "problems": [str(p) for p in server.problems],
                "expected": [str(p) for p in server.expected_problems],
            }
        )

    async def expect(request: web.Request) -> web.Response:
        data = await body(request)
        server.expect_problem(*data.get("patterns", []))
        return reply({"ok": True})

    async def stats(request: web.Request) -> web.Response:
        return reply(server.stats())

    async def reset(request: web.Request) -> web.Response:
        server.reset_calls()
        server.problems.clear()
        server.clear_faults()
        return reply({"ok": True})

    async def health(request: web.Request) -> web.Response:
        return reply({"ok": True, "url": server.url})

    routes = [
        ("POST", "push", push),
        ("POST", "redeliver", redeliver),
        ("GET", "calls", calls),
        ("GET", "messages", messages),
        ("POST", "wait_message", wait_message),
        ("POST", "wait_call", wait_call),
        ("POST", "wait_idle", wait_idle),
        ("POST", "fault", add_fault),
        ("DELETE", "fault", clear_faults),
        ("GET", "faults", list_faults),
        ("POST", "rate_limits", rate_limits),
        ("POST", "block", block),
        ("POST", "migrate", migrate),
        ("POST", "group", group),
        ("POST", "member", member),
        ("POST", "user", user),
        ("POST", "file", add_file),
        ("POST", "bot", add_bot),
        ("GET", "problems", problems),
        ("POST", "expect", expect),
        ("GET", "stats", stats),
        ("POST", "reset", reset),
        ("GET", "health", health),
    ]
    for method, name, handler in routes:
        app.router.add_route(method, f"/_control/{name}", handler)


__all__ = ["add_control_routes"]
