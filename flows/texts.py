"""Flow texts as jinja2 templates, sandboxed, checked before use.

Texts are plain text (the bot escapes for HTML itself), so autoescape is off.
Templates run in jinja2's SandboxedEnvironment with no globals, and
`template_problems` refuses at check time any template that names a variable
outside the documented set, touches an attribute or key starting with `_`,
calls anything, or uses a filter outside a short list. A text without `{{`,
`{%` or `{#` is used as is and never compiled.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

if TYPE_CHECKING:
    from flows.schema import FlowDef

BASE_VARS = frozenset({"first_name", "answers", "title"})
CONTEXT_VARS: dict[str, frozenset[str]] = {
    "base": BASE_VARS,
    "reask": BASE_VARS | {"options", "question"},
    "closing": BASE_VARS | {"tier", "total", "max_total", "percent"},
    "next_action": BASE_VARS | {"points", "max"},
}
RESERVED_NAMES = frozenset().union(*CONTEXT_VARS.values())
ALLOWED_FILTERS = frozenset(
    {
        "default",
        "d",
        "upper",
        "lower",
        "title",
        "capitalize",
        "trim",
        "join",
        "length",
        "round",
        "int",
        "replace",
        "truncate",
        "first",
        "last",
    }
)
_MARKERS = ("{{", "{%", "{#")

_env = SandboxedEnvironment(autoescape=False, trim_blocks=True, lstrip_blocks=True)
_env.globals.clear()
_cache: dict[str, Any] = {}
_CACHE_MAX = 4096


def is_template(text: str) -> bool:
    return any(m in text for m in _MARKERS)


_TAGS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def _compiled(text: str) -> Any:
    tpl = _cache.get(text)
    if tpl is None:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        tpl = _cache[text] = _env.from_string(text)
    return tpl


_names: dict[str, tuple[str, ...]] = {}


def template_names(text: str) -> tuple[str, ...]:
    """The variables a template reads (sorted); () for a plain text. Cached."""
    names = _names.get(text)
    if names is None:
        names = ()
        if is_template(text):
            with contextlib.suppress(TemplateSyntaxError):  # rendered as plain text then
                names = tuple(sorted(meta.find_undeclared_variables(_env.parse(text))))
        if len(_names) >= _CACHE_MAX:
            _names.clear()
        _names[text] = names
    return names


# rendered texts by the values of the variables they read, when those are plain
# values: a closing or next action is rendered once per distinct name / score
_rendered: dict[tuple[Any, ...], str] = {}
_PLAIN = frozenset({str, int, float, bool, type(None)})
_UNSET = ("unset",)  # a variable left undefined (`default` and `if` see the difference)


def render(text: str, variables: Mapping[str, Any]) -> str:
    """Render a flow text; plain texts come back unchanged.

    Never raises: a template that fails at run time (checked flows should not) is
    shown with its {{ }} / {% %} parts left out rather than stopping the interview.
    Renders are pure, so they are memoised by the values the template reads
    (when those are strings, numbers or booleans).
    """
    if not is_template(text):
        return text
    key: list[Any] | None = [text]
    for name in template_names(text):
        value = variables.get(name, _UNSET)
        if value is not _UNSET and type(value) not in _PLAIN:
            key = None  # e.g. `answers`, a dict
            break
        key.append(type(value))  # 50 and 50.0 render apart
        key.append(value)
    if key is not None:
        hit = _rendered.get(tuple(key))
        if hit is not None:
            return hit
    try:
        out = _compiled(text).render(variables).strip()
    except Exception:  # a text must never break an interview
        return " ".join(_TAGS.sub("", text).split())
    if key is not None:
        if len(_rendered) >= _CACHE_MAX:
            _rendered.clear()
        _rendered[tuple(key)] = out
    return out


def trial_render(text: str, variables: Mapping[str, Any]) -> str | None:
    """None when the template renders with these variables, else the error."""
    try:
        _compiled(text).render(variables)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_template(text: str, allowed: frozenset[str]) -> str | None:
    """None when the template is fine, else the reason it is refused."""
    if not is_template(text):
        return None
    try:
        ast = _env.parse(text)
    except TemplateSyntaxError as exc:
        return f"template error: {exc.message}"
    for node in ast.find_all(
        (nodes.Call, nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends, nodes.Macro)
    ):
        what = "call anything" if isinstance(node, nodes.Call) else "import or include"
        return f"templates may not {what}; use only {{{{ variable }}}}, filters and {{% if %}}"
    for node in ast.find_all(nodes.Getattr):
        if node.attr.startswith("_"):
            return f"templates may not reach internals ('{node.attr}')"
    for node in ast.find_all(nodes.Getitem):
        if isinstance(node.arg, nodes.Const) and str(node.arg.value).startswith("_"):
            return f"templates may not reach internals ('{node.arg.value}')"
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            allowed_filters = ", ".join(sorted(ALLOWED_FILTERS))
            return f"filter '{node.name}' is not allowed (allowed: {allowed_filters})"
    unknown = meta.find_undeclared_variables(ast) - allowed
    if unknown:
        return (
            f"unknown variable '{sorted(unknown)[0]}' (you can use: {', '.join(sorted(allowed))})"
        )
    return None


def _lang_texts(flow: FlowDef) -> Iterator[tuple[tuple[Any, ...], dict[str, str], str]]:
    """Every text of a flow with its path and its context ("plain" = no templates)."""
    yield ("title",), flow.title, "plain"
    if flow.description:
        yield ("description",), flow.description, "base"
    for name, value in flow.strings.items():
        yield ("strings", name), value, "plain"
    for key, value in flow.texts.items():
        yield ("texts", key), value, "reask" if key.startswith("reask") else "base"
    for tier in ("hot", "warm", "cold", "disqualified"):
        yield ("closing", tier), getattr(flow.closing, tier), "closing"
    for i, p in enumerate(flow.parameters):
        yield ("parameters", i, "name"), p.name, "plain"
        yield ("parameters", i, "next_action"), p.next_action, "next_action"
    for i, q in enumerate(flow.questions):
        qp = ("questions", i)
        yield (*qp, "text"), q.text, "base"
        if q.reask:
            yield (*qp, "reask"), q.reask, "reask"
        for j, o in enumerate(q.options):
            yield (*qp, "options", j, "label"), o.label, "plain"
            if o.knockout:
                yield (*qp, "options", j, "knockout", "offer"), o.knockout.offer, "base"
        for key in ("ranges", "bands"):
            for j, b in enumerate(getattr(q, key)):
                if b.label:
                    yield (*qp, key, j, "label"), b.label, "plain"
                if b.knockout:
                    yield (*qp, key, j, "knockout", "offer"), b.knockout.offer, "base"
        for j, r in enumerate(q.rules):
            if r.knockout:
                yield (*qp, "rules", j, "knockout", "offer"), r.knockout.offer, "base"
    for i, it in enumerate(flow.intents):
        if it.say:
            yield ("intents", i, "say"), it.say, "base"
    for i, c in enumerate(flow.caps):
        if c.reason:
            yield ("caps", i, "reason"), c.reason, "plain"


def _samples(flow: FlowDef, lang: str, context: str) -> list[dict[str, Any]]:
    """Variables a text may meet: at the start (nothing known) and with everything known."""
    strings = {name: value.get(lang, "") for name, value in flow.strings.items()}
    title = flow.title.get(lang, "")
    extra = {
        "reask": {"options": "1) A, 2) B", "question": "Question?"},
        "closing": {"tier": "warm", "total": 1, "max_total": 2, "percent": 50.0},
        "next_action": {"points": 1, "max": 2},
    }.get(context, {})
    empty = {**strings, "answers": {}, "title": title, **extra}
    full = {
        **empty,
        "first_name": "Anna",
        "answers": {q.id: "1" for q in flow.questions},
    }
    return [empty, full]


def template_problems(flow: FlowDef) -> list[tuple[tuple[Any, ...], str]]:
    out: list[tuple[tuple[Any, ...], str]] = []
    strings = frozenset(flow.strings)
    for path, value, context in _lang_texts(flow):
        for lang, text in value.items():
            if context == "plain":
                if is_template(text):
                    out.append(
                        (
                            (*path, lang),
                            "this text is shown or matched as written; "
                            "it cannot use {{ }} or {% %}",
                        )
                    )
                continue
            reason = check_template(text, CONTEXT_VARS[context] | strings)
            if reason is None and is_template(text):
                for variables in _samples(flow, lang, context):
                    error = trial_render(text, variables)
                    if error:
                        reason = (
                            f"this text fails when shown ({error}); an answer not given yet "
                            "is empty: use {{ answers.x | default('...') }}"
                        )
                        break
            if reason:
                out.append(((*path, lang), reason))
    return out
