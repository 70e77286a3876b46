"""Custom sales card templates: checking an uploaded one, and using the live one.

An admin may replace bot/templates/card.html.j2 with their own Jinja2 template.
It runs in jinja2's SandboxedEnvironment with autoescape on, so a template can
read the card's values but not reach Python internals, and every value a
prospect typed is escaped. Before it is stored it must:

- parse (syntax errors come back with their line);
- use only the documented variables (`VARIABLES`), no `|safe`, no
  `{% autoescape false %}` (a prospect's text would become markup);
- render for sample leads (`sample_cards`) without errors (an unknown field
  such as `d.nmae` is an error: StrictUndefined), and
- give Telegram HTML that Telegram accepts: only its tags, balanced and
  nested, at most 4,096 characters, not empty.

At run time (`render_card_html` in cards.py) a card that fails with the custom
template anyway (a lead whose data the samples did not foresee) falls back to
the built-in template and is logged: a card is never lost to a template.

Every process renders cards, so the live template is read from the database:
`active_card(session)` checks the active row's (version, digest) per card and
compiles a digest once per process.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bot.services.cards import (
    TELEGRAM_LIMIT,
    AnswerLine,
    CardData,
    ParamLine,
    _short,
    _signed,
    labels,
    render_budgets,
)

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment
    from sqlmodel.ext.asyncio.session import AsyncSession

MAX_TEMPLATE_BYTES = 64 * 1024
TEMPLATE_NAME = "card.html.j2"  # the file name people get back with /card and `card show`

# What a template may use. `d` has the fields of bot.services.cards.CardData.
VARIABLES: dict[str, str] = {
    "d": "the lead's card (fields below)",
    "L": "labels in the sales chat's language, e.g. L.card_total, L.card_next",
    "raw": "characters per answer the card has room for (use with |short(raw))",
    "transcript": "conversation lines the card has room for (0: leave it out)",
    "details": "true when there is room for the answers under each parameter",
}
CARD_FIELDS: dict[str, str] = {
    "d.name": "the prospect's name",
    "d.username": "Telegram username, or empty",
    "d.telegram_id": "Telegram user id (for tg://user?id=...)",
    "d.lead_id": "lead number",
    "d.contacts": "list: phone, email, company as given",
    "d.source": "where the lead came from (the link's source), or empty",
    "d.flow_id, d.framework, d.version": "the flow, its framework and version",
    "d.total, d.max_total, d.percent": "the score",
    "d.tier": "hot, warm, cold or disqualified",
    "d.stage_label": "the stage in your CRM's words",
    "d.fast_tracked, d.intents": "fast-tracked by an intent, and which",
    "d.finished": "true when the interview ended",
    "d.params": "list of parameters: p.name, p.points, p.max, p.unknown, p.weak, "
    "p.answers (a.text, a.points, a.reason)",
    "d.fit_score, d.fit_reasons": "fit points and why (list of text)",
    "d.engagement_score, d.engagement_reasons": "engagement points and why",
    "d.unknowns": "list of parameter names to clarify on the call",
    "d.next_actions": "list of (parameter name, what to do)",
    "d.knockout": "knock-out reason, or empty",
    "d.transcript": "list of (question, answer)",
    "d.taken_by": "who took the lead, or empty",
}
FILTERS = ("short(n): cut to n characters with …", "signed: +5 / -3")
TELEGRAM_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)


class CardTemplateError(Exception):
    """A template refused: `line` (1-based, None for the whole file) and `reason`."""

    def __init__(self, reason: str, line: int | None = None, file: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.file = file

    def __str__(self) -> str:
        where = self.file or TEMPLATE_NAME
        return f"{where}:{self.line}: {self.reason}" if self.line else f"{where}: {self.reason}"


@dataclass(frozen=True)
class CheckedTemplate:
    source: str
    digest: str
    template: Template
    sample_html: str  # the first sample lead's card, for the preview


@dataclass(frozen=True)
class CustomCard:
    """The live custom template, as the renderer needs it."""

    version: int
    digest: str
    template: Template


def digest_of(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def environment() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # Same whitespace rules and filters as the built-in template, so it can be copied.
    env = SandboxedEnvironment(
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        keep_trailing_newline=False,
    )
    env.filters["short"] = _short
    env.filters["signed"] = _signed
    return env


# ------------------------------------------------------------------ samples
def sample_cards(lang: str = "en") -> tuple[CardData, ...]:
    """Leads every template is rendered for before it is accepted: a full hot card
    (the preview), a bare one (nothing known yet), and one whose every text is
    markup-like, to prove the template escapes what prospects type."""
    ru = lang == "ru"
    budget = "Бюджет" if ru else "Budget"
    authority = "Полномочия" if ru else "Authority"
    need = "Потребность" if ru else "Need"
    timing = "Сроки" if ru else "Timing"
    full = CardData(
        lead_id=42,
        telegram_id=123456789,
        name="Анна Петрова" if ru else "Anna Petrova",
        username="anna_p",
        contacts=("+442079460958", "anna@acme.io", "Acme"),
        source="ads",
        flow_id="bant",
        framework="BANT",
        version=3,
        total=85,
        max_total=100,
        percent=85.0,
        tier="hot",
        stage_label="MQL",
        fast_tracked=True,
        intents=("demo",),
        finished=True,
        params=(
            ParamLine(
                "budget",
                budget,
                25,
                25,
                False,
                False,
                (AnswerLine("We compared the market, the price is fine", 25, "Price works"),),
            ),
            ParamLine(
                "authority",
                authority,
                25,
                25,
                False,
                False,
                (AnswerLine("I'm the founder", 25, "Final decision"),),
            ),
            ParamLine(
                "need",
                need,
                10,
                25,
                False,
                True,
                (AnswerLine("A CRM for the sales team", 10, "matched: crm"),),
            ),
            ParamLine("timing", timing, 25, 25, True, False, ()),
        ),
        fit_score=7,
        fit_reasons=("industry: Trade +2", "staff: 12 +5"),
        engagement_score=5,
        engagement_reasons=("asked for a demo +5",),
        unknowns=(timing,),
        next_actions=((need, "Dig into the problem: what hurts most."),),
        knockout=None,
        transcript=(
            ("Is there money set aside for this?", "We compared the market, the price is fine"),
            ("What's your part in choosing?", "I'm the founder"),
        ),
        taken_by="Sam",
    )
    bare = CardData(
        lead_id=43,
        telegram_id=987654321,
        name="#987654321",
        username=None,
        contacts=(),
        source=None,
        flow_id="bant",
        framework="BANT",
        version=None,
        total=0,
        max_total=100,
        percent=0.0,
        tier="warm",
        stage_label="MQL",
        fast_tracked=False,
        intents=(),
        finished=False,
        params=(ParamLine("budget", budget, 0, 25, True, False, ()),),
        fit_score=0,
        fit_reasons=(),
        engagement_score=0,
        engagement_reasons=(),
        unknowns=(),
        next_actions=(),
        knockout="no_budget",
        transcript=(),
        taken_by=None,
    )
    evil = '<b>&"x"</b><div>{{ 7*7 }}'
    tricky = replace(
        full,
        name=evil,
        username="x",
        contacts=(evil,),
        source=evil,
        params=(ParamLine("budget", evil, 1, 2, False, False, (AnswerLine(evil, 1, evil),)),),
        fit_reasons=(evil,),
        engagement_reasons=(evil,),
        unknowns=(evil,),
        next_actions=((evil, evil),),
        transcript=((evil, evil),),
        taken_by=evil,
        knockout=evil,
    )
    return full, bare, tricky


# ------------------------------------------------------------------ Telegram HTML
_TAG = re.compile(r"<(/?)([^\s>/]*)([^>]*)>")


def html_problem(text: str) -> tuple[str, str] | None:
    """Why Telegram would refuse this HTML message, and the piece at fault; None if fine.

    Telegram's parser: only its tags (span only as class "tg-spoiler"), every tag
    closed in order, no stray `<`; the text without tags 1..4,096 characters.
    """
    stack: list[tuple[str, str]] = []
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            break
        match = _TAG.match(text, lt)
        if match is None:
            return "a “<” that starts no tag (write &lt; for the character)", text[lt : lt + 20]
        closing, name, attrs = match.group(1), match.group(2).lower(), match.group(3)
        piece = match.group(0)
        if closing:
            if not stack:
                return f"{piece} closes a tag that is not open", piece
            if name and name != stack[-1][0]:
                return f"{piece} comes before </{stack[-1][0]}> is closed", piece
            stack.pop()
        else:
            if name not in TELEGRAM_TAGS:
                allowed = ", ".join(sorted(TELEGRAM_TAGS - {"strong", "em", "ins", "strike"}))
                return f"Telegram has no tag <{name}> (it knows {allowed})", piece
            if name == "span" and "tg-spoiler" not in attrs:
                return '<span> must be <span class="tg-spoiler">', piece
            if name == "a" and "href" not in attrs.lower():
                return "<a> needs href=", piece
            stack.append((name, piece))
        pos = match.end()
    if stack:
        name, piece = stack[-1]
        return f"{piece} is never closed (</{name}>)", piece
    plain = html_lib.unescape(re.sub(r"<[^>]*>", "", text)).strip()
    if not plain:
        return "the card is empty", ""
    if len(plain) > TELEGRAM_LIMIT:
        return f"the card has {len(plain)} characters, Telegram allows {TELEGRAM_LIMIT}", ""
    return None


# ------------------------------------------------------------------ checking
def _line_of(source: str, piece: str) -> int | None:
    if not piece:
        return None
    needle = piece.lower()
    for number, line in enumerate(source.splitlines(), 1):
        if needle in line.lower():
            return number
    return None


def _error_line(exc: BaseException) -> int | None:
    """The template line an exception raised at render time comes from (jinja2 rewrites
    tracebacks so template frames carry the template's line; from_string names them
    "<template>")."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _nice(message: str) -> str:
    # jinja2 names Python types ("'bot.services.cards.CardData object' has no
    # attribute 'nmae'"); a marketing person knows them as d, L and p.
    for qualified, short in (
        ("'bot.services.cards.CardData object'", "d"),
        ("'bot.services.cards.ParamLine object'", "the parameter"),
        ("'bot.services.cards.AnswerLine object'", "the answer"),
        ("'dict object'", "L"),
    ):
        message = message.replace(qualified, short)
    return message


def _static_checks(source: str, filename: str, env: SandboxedEnvironment) -> Any:
    from jinja2 import TemplateSyntaxError, meta, nodes

    try:
        ast = env.parse(source, filename=filename)
    except TemplateSyntaxError as exc:
        raise CardTemplateError(exc.message or "syntax error", exc.lineno, filename) from None
    unknown = meta.find_undeclared_variables(ast) - VARIABLES.keys()
    if unknown:
        first = min(
            (n for n in ast.find_all(nodes.Name) if n.name in unknown),
            key=lambda n: n.lineno,
        )
        known = ", ".join(VARIABLES)
        raise CardTemplateError(
            f"unknown variable '{first.name}' (a template can use {known})",
            first.lineno,
            filename,
        )
    for node in ast.find_all(nodes.Filter):
        if node.name == "safe":
            raise CardTemplateError(
                "|safe would let a prospect's text into the card as markup; remove it",
                node.lineno,
                filename,
            )
    for node in ast.find_all(nodes.ScopedEvalContextModifier):
        raise CardTemplateError(
            "{% autoescape %} blocks are not allowed: values must stay escaped",
            node.lineno,
            filename,
        )
    return ast


def check_template(source: str, filename: str = TEMPLATE_NAME, lang: str = "en") -> CheckedTemplate:
    """Validate a card template; raises CardTemplateError (line, reason) if broken."""
    if len(source.encode("utf-8")) > MAX_TEMPLATE_BYTES:
        raise CardTemplateError(f"the file is over {MAX_TEMPLATE_BYTES // 1024} KB", None, filename)
    if not source.strip():
        raise CardTemplateError("the file is empty", None, filename)
    env = environment()
    _static_checks(source, filename, env)
    template = env.from_string(source)
    first_html = ""
    for index, data in enumerate(sample_cards(lang)):
        try:
            html = render_budgets(template, data, lang)
        except CardTemplateError:
            raise
        except Exception as exc:
            reason = _nice(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
            raise CardTemplateError(reason, _error_line(exc), filename) from None
        if html is None:
            raise CardTemplateError(
                f"the sample card is longer than Telegram's {TELEGRAM_LIMIT} characters, "
                "even with the answers cut (use |short and the transcript/details limits)",
                None,
                filename,
            )
        problem = html_problem(html)
        if problem is not None:
            reason, piece = problem
            if index == 2:
                reason = f"a prospect's text broke the card: {reason}"
            line = _line_of(source, piece)
            if line is None and piece:
                reason = f"{reason}, in the rendered card"
            raise CardTemplateError(reason, line, filename)
        if index == 0:
            first_html = html
    return CheckedTemplate(source, digest_of(source), template, first_html)


def compile_source(source: str) -> Template:
    return environment().from_string(source)


# ------------------------------------------------------------------ the live template
_COMPILED: OrderedDict[str, Template] = OrderedDict()
_KEEP = 8


async def active_card(session: AsyncSession) -> CustomCard | None:
    """The live custom template, or None for the built-in. One small query per call;
    the source is read and compiled only for a digest this process has not seen."""
    import logging

    from storage import repositories as repo

    key = await repo.active_card_template_key(session)
    if key is None:
        return None
    version, digest = key
    template = _COMPILED.get(digest)
    if template is None:
        row = await repo.get_card_template(session, version)
        if row is None:
            return None
        try:
            template = compile_source(row.source)
        except Exception:
            logging.getLogger(__name__).exception(
                "Card template v%s does not compile; the built-in card is used", version
            )
            return None
        _COMPILED[digest] = template
        while len(_COMPILED) > _KEEP:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(digest)
    return CustomCard(version, digest, template)


def describe_variables() -> str:
    """The documented variables, one a line (for /card vars and `card vars`)."""
    lines = [f"{name}: {what}" for name, what in VARIABLES.items()]
    lines += [f"  {name}: {what}" for name, what in CARD_FIELDS.items()]
    lines += ["filters: " + "; ".join(FILTERS)]
    lines += ["tags: " + ", ".join(sorted(TELEGRAM_TAGS))]
    return "\n".join(lines)


def builtin_source() -> str:
    from bot.services.cards import TEMPLATES_DIR

    return (TEMPLATES_DIR / "card.html.j2").read_text(encoding="utf-8")


__all__ = [
    "CARD_FIELDS",
    "VARIABLES",
    "CardTemplateError",
    "CheckedTemplate",
    "CustomCard",
    "active_card",
    "builtin_source",
    "check_template",
    "describe_variables",
    "html_problem",
    "labels",
    "sample_cards",
]
