"""The admin chat: private messages from ADMIN_IDS only.

For anyone else the filter fails and the update falls through to the prospect
router, which treats a command like any unknown one and a document like any
unreadable content: non-admins learn nothing of admin features, and a document
from a prospect is never taken as a flow.

- A flow YAML document: validated and its examples run; refused with file,
  line and reason (the live flow unchanged), or stored as the next version
  with a preview (the flow's states as a picture when Graphviz is installed,
  else the Mermaid text as a document; parameters, thresholds, the examples'
  results, the diff against live) and an Activate button.
- /flows (Download, Rollback buttons), /threshold, /weight, /default, /link,
  /links, /stats [flow] [days] (text and a funnel chart), /export (CSV).
- The sales card template: a document named *.j2 (e.g. card.html.j2), or any
  document with the caption /card, is checked (bot/services/card_template.py)
  and refused with line and reason, or stored with a preview (a sample lead's
  card rendered with it) and an Activate button. /card sends the live template
  to edit; /card reset (built-in again), /card N (a stored version), /card vars.

`create_admin_router` also includes the relay router (bot/telegram/routers/
relay.py), which must come before the prospect router too.
"""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.services.texts import t
from bot.services.types import Actor, Button
from bot.telegram.deps import Deps
from bot.telegram.rendering import clip, inline_keyboard

log = logging.getLogger(__name__)

ADMIN_COMMANDS = ("admin",)
PREFIX = "adm:"
MAX_FLOW_BYTES = 512 * 1024
# A card template is recognised by its name (card.html.j2 is what /card sends) or
# by the caption /card, so a marketing person can also send card.txt or card.html.
TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".html", ".htm")


def _lang(user: Any) -> str | None:
    return getattr(user, "language_code", None)


def _actor(message_or_query: Message | CallbackQuery) -> Actor:
    user = message_or_query.from_user
    assert user is not None
    return Actor(user_id=user.id, name=user.full_name, username=user.username, is_admin=True)


def _num(text: str) -> float | None:
    try:
        return float(text.replace(",", ".").rstrip("%"))
    except ValueError:
        return None


def create_admin_router(deps: Deps) -> Router:
    from bot.telegram.routers.relay import create_relay_router

    root = Router(name="admin+relay")
    root.include_router(_create_admin(deps))
    relay = create_relay_router(deps)
    if relay is not None:
        root.include_router(relay)
    return root


def _create_admin(deps: Deps) -> Router:
    router = Router(name="admin")
    is_admin = F.from_user.id.in_(deps.admin_ids)
    router.message.filter(F.chat.type == ChatType.PRIVATE, is_admin)
    router.callback_query.filter(F.data.startswith(PREFIX), is_admin)
    svc = deps.interview
    if not hasattr(svc, "db"):  # a test's fake interview port: no admin services
        return router

    from bot.services.admin import AdminError, AdminService
    from bot.services.stats import StatsService

    admin = AdminService(
        svc.db,
        svc.registry,  # type: ignore[attr-defined]
        config=svc.config,  # type: ignore[attr-defined]
        clock=svc.clock,  # type: ignore[attr-defined]
    )
    stats = StatsService(svc.db, svc.registry, clock=svc.clock)  # type: ignore[attr-defined]

    async def say(bot: Bot, chat_id: int, text: str, buttons: Any = ()) -> None:
        await bot.send_message(
            chat_id, clip(text), parse_mode=None, reply_markup=inline_keyboard(buttons)
        )

    async def refuse(bot: Bot, message: Message, reason: str) -> None:
        await say(bot, message.chat.id, t(_lang(message.from_user), "admin_refused", reason=reason))

    @router.message(Command(*ADMIN_COMMANDS))
    async def help_(message: Message, bot: Bot) -> None:
        await say(bot, message.chat.id, t(_lang(message.from_user), "admin_help"))

    @router.message(Command("help"))
    async def help_for_admins(message: Message, bot: Bot) -> None:
        # An admin's /help lists the admin commands too, then the prospect router
        # answers as for anyone (admins also try the interview themselves).
        await say(bot, message.chat.id, t(_lang(message.from_user), "admin_help"))
        raise SkipHandler

    # ------------------------------------------------------------------ flow files
    @router.message(F.document)
    async def document(message: Message, bot: Bot) -> None:
        lang = _lang(message.from_user)
        doc = message.document
        assert doc is not None
        name = doc.file_name or "flow.yaml"
        caption = (message.caption or "").strip().lower()
        if name.lower().endswith(TEMPLATE_SUFFIXES) or caption.startswith("/card"):
            await receive_card(bot, message, name)
            return
        if not name.lower().endswith((".yaml", ".yml")):
            await say(bot, message.chat.id, t(lang, "admin_not_a_flow"))
            return
        if (doc.file_size or 0) > MAX_FLOW_BYTES:
            await say(bot, message.chat.id, t(lang, "admin_too_big", kb=MAX_FLOW_BYTES // 1024))
            return
        buffer = io.BytesIO()
        await bot.download(doc, destination=buffer)
        try:
            text = buffer.getvalue().decode("utf-8")
        except UnicodeDecodeError:
            await say(bot, message.chat.id, t(lang, "admin_not_text", file=name))
            return
        await receive_flow(bot, message, text, name)

    async def receive_flow(bot: Bot, message: Message, text: str, name: str) -> None:
        from flows.schema import FlowError

        lang = _lang(message.from_user)
        try:
            result = await admin.import_flow(text, filename=name, actor=_actor(message))
        except FlowError as exc:
            lines = [
                t(
                    lang,
                    "admin_flow_refused",
                    file=exc.file or name,
                    line=exc.line,
                    reason=exc.reason,
                )
            ]
            more = len(getattr(exc, "problems", ()) or ()) - 1
            for problem in (exc.problems or [])[1:6]:
                lines.append(f"{problem.file}:{problem.line}: {problem.reason}")
            if more > 5:
                lines.append(t(lang, "admin_more_problems", count=more - 5))
            await say(bot, message.chat.id, "\n".join(lines))
            return
        except AdminError as exc:
            await refuse(bot, message, str(exc))
            return
        preview, version = result.preview, result.version
        flow = preview.flow
        key = "admin_preview_duplicate" if result.duplicate else "admin_preview"
        lines = [t(lang, key, flow=flow.id, framework=flow.framework, version=version.version)]
        lines.append("")
        lines.append(t(lang, "admin_parameters"))
        lines += [f"  {pname}: {pmin}..{pmax}" for pname, pmin, pmax in preview.parameters]
        hot, warm = preview.thresholds
        lines.append(t(lang, "admin_thresholds", hot=f"{hot:g}", warm=f"{warm:g}"))
        lines.append("")
        if preview.examples:
            lines.append(t(lang, "admin_examples"))
            lines += [f"  {line}" for line in preview.examples]
        else:
            lines.append(t(lang, "admin_no_examples"))
        lines.append("")
        lines.append(t(lang, "admin_diff"))
        lines += [f"  {line}" for line in preview.diff.lines()]
        buttons: tuple = ()
        if not version.active:
            token = f"{PREFIX}act:{flow.id}:{version.version}"
            buttons = ((Button(t(lang, "button_activate", version=version.version), token),),)
        await send_graph(bot, message.chat.id, flow, lang)
        await say(bot, message.chat.id, "\n".join(lines), buttons)

    async def send_graph(bot: Bot, chat_id: int, flow: Any, lang: str | None) -> None:
        """The flow's states: a PNG with Graphviz's dot, else the Mermaid text."""
        import flows

        if shutil.which("dot"):
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    out = flows.draw(flow, Path(tmp) / f"{flow.id}.png", lang=lang)
                    if Path(out.path).suffix == ".png":
                        data = Path(out.path).read_bytes()
                        await bot.send_photo(
                            chat_id, BufferedInputFile(data, f"{flow.id}.png"), parse_mode=None
                        )
                        return
            except Exception:
                log.exception("Drawing %s with Graphviz failed; sending Mermaid", flow.id)
        mermaid = flows.to_mermaid(flow, lang if lang in flow.languages else None)
        await bot.send_document(
            chat_id,
            BufferedInputFile(mermaid.encode(), f"{flow.id}.mmd"),
            caption=t(lang, "admin_graph_note"),
            parse_mode=None,
        )

    # ------------------------------------------------------------------ card templates
    async def receive_card(bot: Bot, message: Message, name: str) -> None:
        from bot.services.card_template import MAX_TEMPLATE_BYTES, CardTemplateError

        lang = _lang(message.from_user)
        doc = message.document
        assert doc is not None
        if (doc.file_size or 0) > MAX_TEMPLATE_BYTES:
            kb = MAX_TEMPLATE_BYTES // 1024
            await say(bot, message.chat.id, t(lang, "admin_card_too_big", kb=kb))
            return
        buffer = io.BytesIO()
        await bot.download(doc, destination=buffer)
        try:
            text = buffer.getvalue().decode("utf-8")
        except UnicodeDecodeError:
            await say(bot, message.chat.id, t(lang, "admin_card_not_text"))
            return
        try:
            result = await admin.import_card(text, filename=name, actor=_actor(message))
        except CardTemplateError as exc:
            key = "admin_card_refused" if exc.line else "admin_card_refused_file"
            await say(
                bot, message.chat.id, t(lang, key, file=name, line=exc.line, reason=exc.reason)
            )
            return
        except AdminError as exc:
            await refuse(bot, message, str(exc))
            return
        version = result.version
        if version.active:
            key = "admin_card_live_already"
        elif result.duplicate:
            key = "admin_card_duplicate"
        else:
            key = "admin_card_preview"
        await say(bot, message.chat.id, t(lang, key, file=name, version=version.version))
        buttons: tuple = ()
        if not version.active:
            token = f"{PREFIX}card:{version.version}"
            label = t(lang, "button_activate_card", version=version.version)
            buttons = ((Button(label, token),),)
        try:
            await bot.send_message(
                message.chat.id,
                result.sample_html,
                parse_mode="HTML",
                reply_markup=inline_keyboard(buttons),
            )
        except TelegramBadRequest as exc:
            # The checks mirror Telegram's; should Telegram still refuse, say so
            # rather than offer a template whose cards it would refuse too.
            await say(bot, message.chat.id, t(lang, "admin_card_telegram", reason=exc.message))

    @router.message(Command("card"))
    async def card(message: Message, bot: Bot, command: CommandObject) -> None:
        from bot.services.card_template import describe_variables

        lang = _lang(message.from_user)
        arg = (command.args or "").strip().lower()
        try:
            if arg == "reset":
                was = await admin.reset_card(actor=_actor(message))
                key = "admin_card_builtin_already" if was is None else "admin_card_reset"
                await say(bot, message.chat.id, t(lang, key))
                return
            if arg in ("vars", "variables", "help"):
                text = t(lang, "admin_card_vars") + "\n\n" + describe_variables()
                await say(bot, message.chat.id, text)
                return
            if arg.lstrip("v").isdigit():
                v = await admin.activate_card(int(arg.lstrip("v")), actor=_actor(message))
                await say(bot, message.chat.id, t(lang, "admin_card_activated", version=v.version))
                return
            if arg:
                usage = "/card | /card reset | /card N | /card vars"
                await say(bot, message.chat.id, t(lang, "admin_usage", usage=usage))
                return
        except AdminError as exc:
            await refuse(bot, message, str(exc))
            return
        name, source, live = await admin.card_source()
        versions = await admin.card_versions()
        stored = ", ".join(f"v{v.version}{'*' if v.active else ''}" for v in versions) or "—"
        if live is None:
            status = t(lang, "admin_card_status_builtin", versions=stored)
        else:
            when = live.created_at.strftime("%Y-%m-%d %H:%M")
            status = t(
                lang,
                "admin_card_status",
                version=live.version,
                who=live.created_by or "?",
                when=when,
                versions=stored,
            )
        await bot.send_document(
            message.chat.id,
            BufferedInputFile(source.encode("utf-8"), name),
            caption=clip(status, 1024),
            parse_mode=None,
        )

    # ------------------------------------------------------------------ buttons
    @router.callback_query()
    async def pressed(query: CallbackQuery, bot: Bot) -> None:
        lang = _lang(query.from_user)
        parts = (query.data or "").split(":")
        chat_id = query.from_user.id
        try:
            if parts[1] == "act" and len(parts) == 4:
                info = await admin.activate(parts[2], int(parts[3]), actor=_actor(query))
                text = t(lang, "admin_activated", flow=info.flow_id, version=info.version)
                await bot.answer_callback_query(query.id, text=clip(text, 190))
                await say(bot, chat_id, text)
            elif parts[1] == "card" and len(parts) == 3:
                v = await admin.activate_card(int(parts[2]), actor=_actor(query))
                text = t(lang, "admin_card_activated", version=v.version)
                await bot.answer_callback_query(query.id, text=clip(text, 190))
                await say(bot, chat_id, text)
            elif parts[1] == "rb" and len(parts) == 3:
                row = await admin.rollback(parts[2], actor=_actor(query))
                to = f"v{row.version}" if row else "built-in"
                text = t(lang, "admin_rolled_back", flow=parts[2], to=to)
                await bot.answer_callback_query(query.id, text=clip(text, 190))
                await say(bot, chat_id, text)
            elif parts[1] == "dl" and len(parts) in (3, 4):
                version = int(parts[3]) if len(parts) == 4 else None
                name, source = await admin.download(parts[2], version)
                await bot.answer_callback_query(query.id)
                await bot.send_document(
                    chat_id, BufferedInputFile(source.encode(), name), parse_mode=None
                )
            else:
                await bot.answer_callback_query(query.id)
        except (AdminError, ValueError) as exc:
            await bot.answer_callback_query(
                query.id, text=clip(t(lang, "admin_refused", reason=str(exc)), 190), show_alert=True
            )

    # ------------------------------------------------------------------ commands
    @router.message(Command("flows"))
    async def list_flows(message: Message, bot: Bot) -> None:
        lang = _lang(message.from_user)
        flows_ = await admin.list_flows()
        if not flows_:
            await say(bot, message.chat.id, t(lang, "admin_no_flows"))
            return
        for info in flows_:
            versions = (
                ", ".join(
                    f"v{v.version}{'*' if v.active else ''}" for v in info.versions if not v.builtin
                )
                or "—"
            )
            row = [
                Button(t(lang, "button_download", flow=info.flow_id), f"{PREFIX}dl:{info.flow_id}")
            ]
            if info.live != "built-in":
                row.append(
                    Button(
                        t(lang, "button_rollback", flow=info.flow_id), f"{PREFIX}rb:{info.flow_id}"
                    )
                )
            text = t(lang, "admin_flow_line", flow=info.flow_id, live=info.live, versions=versions)
            await say(bot, message.chat.id, text, (tuple(row),))

    async def flow_and_args(args: list[str], need: int) -> tuple[str, list[str]]:
        if len(args) > need:
            return args[0], args[1:]
        return await admin.registry.default_flow(), args

    @router.message(Command("threshold"))
    async def threshold(message: Message, bot: Bot, command: CommandObject) -> None:
        lang = _lang(message.from_user)
        args = (command.args or "").split()
        flow_id, rest = await flow_and_args(args, 2)
        value = _num(rest[1]) if len(rest) == 2 else None
        if value is None:
            usage = "/threshold [flow] hot|warm PERCENT"
            await say(bot, message.chat.id, t(lang, "admin_usage", usage=usage))
            return
        try:
            result = await admin.change_threshold(
                flow_id, rest[0].lower(), value, actor=_actor(message)
            )
        except AdminError as exc:
            await refuse(bot, message, str(exc))
            return
        await changed(bot, message, result, "; ".join(result.preview.diff.thresholds))

    @router.message(Command("weight"))
    async def weight(message: Message, bot: Bot, command: CommandObject) -> None:
        lang = _lang(message.from_user)
        args = (command.args or "").split()
        flow_id, rest = await flow_and_args(args, 2)
        value = _num(rest[1]) if len(rest) == 2 else None
        if value is None or value != int(value):
            usage = "/weight [flow] PARAMETER MAX | QUESTION.OPTION POINTS"
            await say(bot, message.chat.id, t(lang, "admin_usage", usage=usage))
            return
        try:
            result = await admin.change_weight(flow_id, rest[0], int(value), actor=_actor(message))
        except AdminError as exc:
            await refuse(bot, message, str(exc))
            return
        await changed(bot, message, result, "; ".join(result.preview.diff.weights))

    async def changed(bot: Bot, message: Message, result: Any, change: str) -> None:
        lang = _lang(message.from_user)
        flow_id, version = result.preview.flow.id, result.version.version
        if result.version.active:
            text = t(lang, "admin_changed", flow=flow_id, version=version, change=change)
            await say(bot, message.chat.id, text)
            return
        token = f"{PREFIX}act:{flow_id}:{version}"
        buttons = ((Button(t(lang, "button_activate", version=version), token),),)
        text = t(lang, "admin_changed_not_live", flow=flow_id, version=version)
        await say(bot, message.chat.id, text + "\n" + "\n".join(result.preview.examples), buttons)

    @router.message(Command("default"))
    async def default(message: Message, bot: Bot, command: CommandObject) -> None:
        lang = _lang(message.from_user)
        args = (command.args or "").split()
        if len(args) != 1:
            await say(bot, message.chat.id, t(lang, "admin_usage", usage="/default FLOW"))
            return
        try:
            await admin.set_default_flow(args[0], actor=_actor(message))
        except AdminError as exc:
            await refuse(bot, message, str(exc))
            return
        await say(bot, message.chat.id, t(lang, "admin_default_set", flow=args[0]))

    @router.message(Command("link"))
    async def link(message: Message, bot: Bot, command: CommandObject) -> None:
        lang = _lang(message.from_user)
        args = (command.args or "").split()
        if len(args) not in (2, 3):
            usage = "/link PAYLOAD FLOW [SOURCE]"
            await say(bot, message.chat.id, t(lang, "admin_usage", usage=usage))
            return
        source = args[2] if len(args) == 3 else None
        try:
            await admin.set_deep_link(args[0], args[1], source, actor=_actor(message))
        except AdminError as exc:
            await refuse(bot, message, str(exc))
            return
        text = t(lang, "admin_link_set", payload=args[0], flow=args[1], source=source or args[0])
        await say(bot, message.chat.id, text)

    @router.message(Command("links"))
    async def links(message: Message, bot: Bot) -> None:
        rows = await admin.list_deep_links()
        if not rows:
            await say(bot, message.chat.id, t(_lang(message.from_user), "admin_no_links"))
            return
        text = "\n".join(f"{p} → {f} ({s or p})" for p, f, s in rows)
        await say(bot, message.chat.id, text)

    @router.message(Command("stats"))
    async def stats_(message: Message, bot: Bot, command: CommandObject) -> None:
        from bot.services.charts import funnel_png
        from bot.services.stats import format_stats

        flow_id, days = None, 30
        for arg in (command.args or "").split():
            if arg.isdigit():
                days = max(1, min(int(arg), 3650))
            else:
                flow_id = arg
        rows = await stats.funnel(flow_id, days)
        await say(bot, message.chat.id, format_stats(rows, days))
        title = f"{flow_id or 'all flows'}, {days} days"
        png = funnel_png(rows, title)
        await bot.send_photo(message.chat.id, BufferedInputFile(png, "funnel.png"))

    @router.message(Command("export"))
    async def export(message: Message, bot: Bot) -> None:
        out = io.StringIO()
        count = await stats.export_csv(out)
        data = out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8
        await bot.send_document(
            message.chat.id,
            BufferedInputFile(data, "leads.csv"),
            caption=t(_lang(message.from_user), "admin_export_caption", count=count),
            parse_mode=None,
        )

    return router
