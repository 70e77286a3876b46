"""The result card: HTML for the sales chat, plain text for the console.

`CardData` is plain values gathered from the lead, the interview and the
engine's result, so rendering needs no database and tests can build one by
hand. The HTML template runs with autoescape on: a prospect named
`<b>&{{ }}` is shown as those characters, never as markup or a template.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.services.config import ServiceConfig
from bot.services.texts import FALLBACK, _load

if TYPE_CHECKING:
    from jinja2 import Environment, Template

    from bot.services.card_template import CustomCard
    from flows.engine import CompiledFlow
    from flows.scoring import Result
    from flows.state import InterviewState
    from storage.tables import Handoff, Interview, Lead

log = logging.getLogger(__name__)
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TELEGRAM_LIMIT = 4096
# Tried in order until the card fits: (chars per answer, transcript lines, answers shown).
_BUDGETS: tuple[tuple[int, int, bool], ...] = (
    (120, 30, True),
    (120, 10, True),
    (80, 5, True),
    (60, 0, True),
    (30, 0, True),
    (30, 0, False),
)


@dataclass(frozen=True)
class AnswerLine:
    text: str  # what the prospect said (or the option's label)
    points: int
    reason: str | None = None


@dataclass(frozen=True)
class ParamLine:
    id: str
    name: str
    points: int
    max: int
    unknown: bool
    weak: bool
    answers: tuple[AnswerLine, ...] = ()


@dataclass(frozen=True)
class CardData:
    lead_id: int
    telegram_id: int
    name: str
    username: str | None
    contacts: tuple[str, ...]  # phone, email, company as given
    source: str | None
    flow_id: str
    framework: str
    version: int | None
    total: int
    max_total: int
    percent: float
    tier: str
    stage_label: str
    fast_tracked: bool
    intents: tuple[str, ...]
    finished: bool
    params: tuple[ParamLine, ...]
    fit_score: int
    fit_reasons: tuple[str, ...]
    engagement_score: int
    engagement_reasons: tuple[str, ...]
    unknowns: tuple[str, ...]  # parameter names
    next_actions: tuple[tuple[str, str], ...]  # (parameter name, action)
    knockout: str | None = None
    transcript: tuple[tuple[str, str], ...] = ()  # (question, answer)
    taken_by: str | None = None
    forgotten: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _short(value: object, limit: int) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"


def _signed(value: int) -> str:
    return f"{value:+d}"


@cache
def _env() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        # HTML templates escape every value; text templates are for terminals.
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        keep_trailing_newline=False,
    )
    env.filters["short"] = _short
    env.filters["signed"] = _signed
    return env


def labels(lang: str | None) -> dict[str, str]:
    """UI strings for the card in `lang`, English for any missing."""
    merged = dict(_load(FALLBACK))
    if lang:
        merged.update(_load(lang))
    return merged


def _squeeze(text: str) -> str:
    # Templates leave blank runs where optional blocks were skipped.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out)


def render_budgets(
    template: Template, data: CardData, lang: str = FALLBACK, limit: int = TELEGRAM_LIMIT
) -> str | None:
    """Render with ever smaller budgets until the card fits; None if it never does."""
    for raw, transcript, details in _BUDGETS:
        text = _squeeze(
            template.render(d=data, L=labels(lang), raw=raw, transcript=transcript, details=details)
        )
        if len(text) <= limit:
            return text
    return None


def render_card_html(
    data: CardData,
    lang: str = FALLBACK,
    limit: int = TELEGRAM_LIMIT,
    *,
    custom: CustomCard | None = None,
) -> str:
    """The card as Telegram HTML, under `limit` characters: the transcript is cut first,
    then answers are shortened, then dropped. With `custom` (an admin's template, see
    card_template.py) that one is used, and the built-in whenever it fails."""
    if data.forgotten:
        return _forgotten(data, lang)
    if custom is not None:
        from bot.services.card_template import html_problem

        try:
            html = render_budgets(custom.template, data, lang, limit)
            found = html_problem(html) if html is not None else (f"over {limit} characters", "")
            problem = found[0] if found is not None else None
        except Exception as exc:  # a template must never cost a card
            html, problem = None, f"{type(exc).__name__}: {exc}"
        if html is not None and problem is None:
            return html
        log.warning(
            "Card template v%s failed for lead %s (%s); the built-in card is used",
            custom.version,
            data.lead_id,
            problem,
        )
    template = _env().get_template("card.html.j2")
    text = ""
    for raw, transcript, details in _BUDGETS:
        text = _squeeze(
            template.render(d=data, L=labels(lang), raw=raw, transcript=transcript, details=details)
        )
        if len(text) <= limit:
            return text
    # Only absurd flows (hundreds of parameters) get here: keep the head, which
    # has the name, contacts and score, and cut at a line break so no tag is split.
    head = text[: limit - 2]
    cut = head.rfind("\n")
    return _close_tags(head[: cut if cut > 0 else len(head)]) + "\n…"


def _close_tags(html: str) -> str:
    # The template opens tags only within one line, so cutting at a line break
    # leaves nothing open; this guards future template edits.
    for tag in ("b", "i", "a"):
        opened = html.count(f"<{tag}>") + html.count(f"<{tag} ")
        closed = html.count(f"</{tag}>")
        html += f"</{tag}>" * max(0, opened - closed)
    return html


def _forgotten(data: CardData, lang: str) -> str:
    from markupsafe import escape

    text = labels(lang)["card_forgotten"].format(
        lead_id=data.lead_id,
        flow=data.flow_id,
        total=data.total,
        max_total=data.max_total,
        tier=data.tier,
    )
    return str(escape(text))


def render_card_text(data: CardData, lang: str = FALLBACK) -> str:
    """The same card as plain text (the console's ending)."""
    template = _env().get_template("card.txt.j2")
    return _squeeze(template.render(d=data, L=labels(lang), raw=200, transcript=0, details=True))


def _said(raw: str | None, reason: str | None) -> str | None:
    """What the prospect said; an option picked by its number shows the option instead."""
    if raw and reason and raw.strip().rstrip(".").isdigit():
        return reason
    return raw


def _display_name(lead: Lead) -> str:
    parts = [lead.first_name or "", lead.last_name or ""]
    name = " ".join(p for p in parts if p).strip()
    return name or (f"@{lead.username}" if lead.username else f"#{lead.telegram_id}")


def build_card_data(
    *,
    lead: Lead,
    interview: Interview,
    compiled: CompiledFlow,
    state: InterviewState,
    result: Result,
    config: ServiceConfig,
    version: int | None = None,
    handoff: Handoff | None = None,
    lang: str = FALLBACK,
) -> CardData:
    """Gather the card's values. `lang` is the sales chat's language (names of parameters)."""
    flow = compiled.flow
    names = {p.id: p.name.get(lang) or p.name.get(state.lang) or p.id for p in flow.parameters}
    params = tuple(
        ParamLine(
            id=p.id,
            name=names.get(p.id, p.name),
            points=p.points,
            max=p.max,
            unknown=p.unknown,
            weak=p.weak,
            answers=tuple(
                AnswerLine(
                    text=_said(a.raw, a.reason) or ("—" if a.unknown else a.value or ""),
                    points=a.points,
                    reason=a.reason,
                )
                for a in p.answers
            ),
        )
        for p in result.parameters
    )
    contact = dict(result.contact)
    contacts: list[str] = []
    phone = lead.phone or contact.get("phone")
    email = lead.email or contact.get("email")
    company = lead.company or contact.get("company")
    for value in (phone, email, company):
        if value:
            contacts.append(value)
    name = _display_name(lead)
    said = contact.get("name")
    if said and said not in name:
        # The name typed in the interview: alone when the profile has none.
        name = said if name.startswith("#") else f"{name} ({said})"
    transcript = tuple(_transcript(compiled, state))
    intents = tuple(dict.fromkeys(s.name for s in state.signals if s.kind == "intent"))
    stage = interview.stage or result.stage
    return CardData(
        lead_id=lead.id or 0,
        telegram_id=lead.telegram_id,
        name=name,
        username=lead.username,
        contacts=tuple(contacts),
        source=interview.source,
        flow_id=interview.flow_id,
        framework=flow.framework,
        version=version,
        total=result.total,
        max_total=result.max_total,
        percent=result.percent,
        tier=result.tier,
        stage_label=config.stage_label(stage),
        fast_tracked=result.fast_tracked,
        intents=intents,
        finished=result.finished,
        params=params,
        fit_score=result.fit_score,
        fit_reasons=tuple(f"{why} {pts:+d}" for why, pts in result.fit_reasons),
        engagement_score=result.engagement_score,
        engagement_reasons=tuple(f"{why} {pts:+d}" for why, pts in result.engagement_reasons),
        unknowns=tuple(names.get(pid, pid) for pid in result.unknowns),
        next_actions=tuple((names.get(pid, pid), text) for pid, text in result.next_actions),
        knockout=result.knockout,
        transcript=transcript,
        taken_by=handoff.taken_by_name if handoff is not None else None,
        forgotten=lead.forgotten,
    )


def _transcript(compiled: CompiledFlow, state: InterviewState) -> Sequence[tuple[str, str]]:
    questions = compiled.program.questions
    out: list[tuple[str, str]] = []
    for a in state.answers:
        qp = questions.get(a.question_id)
        if qp is None:
            continue
        text = qp.text.get(state.lang) or next(iter(qp.text.values()))
        if "{" in text:
            text = compiled.render(qp.text, state)
        out.append((text, _said(a.raw, a.reason) or "—"))
    return out
