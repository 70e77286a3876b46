"""Read a flow file: safe YAML with line numbers, then the pydantic schema.

The YAML is read from libyaml's event stream (the C parser when present), and
the data is built here, so that:

- nothing but plain data comes out (maps, lists, text, numbers, true/false,
  null); tags such as `!!python/object` are refused, not constructed;
- an alias (`*name`) is refused at once, so no "billion laughs" expansion;
- nesting deeper than MAX_DEPTH is refused at once, files over MAX_BYTES
  before parsing;
- a key given twice is refused (plain YAML silently keeps the last one);
- `yes`, `no`, `on`, `off` stay text (YAML 1.2 rules): an option may be called `no`;
- every key and list item remembers its line, so that pydantic's error
  locations and our own checks can say `file:line: reason`.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from flows.schema import FlowDef, FlowError, all_keys, semantic_problems

MAX_BYTES = 1_000_000
MAX_DEPTH = 40

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(
    r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z|[-+]?[0-9]+[eE][-+]?[0-9]+\Z"
)
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_STD = "tag:yaml.org,2002:"
_KNOWN_KEYS: set[str] | None = None


def _plain(value: str) -> Any:
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    return value


def _scalar(ev: ScalarEvent, file: str) -> Any:
    tag = ev.tag
    if tag not in (None, "!"):
        if tag == _STD + "str":
            return ev.value
        if tag in (_STD + "int", _STD + "float", _STD + "bool", _STD + "null"):
            value = _plain(ev.value)
            want = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}[
                tag[len(_STD) :]
            ]
            if isinstance(value, want) and not (tag.endswith("int") and isinstance(value, bool)):
                return value
            raise FlowError(
                file, ev.start_mark.line + 1, f"'{ev.value}' is not a valid {tag[len(_STD) :]}"
            )
        raise FlowError(
            file,
            ev.start_mark.line + 1,
            f"tags such as {tag} are not allowed in flow files; write plain values",
        )
    if ev.implicit[0] and not ev.style:
        return _plain(ev.value)
    return ev.value


def parse_yaml(text: str, file: str = "<text>") -> tuple[Any, dict[tuple[Any, ...], int]]:
    """YAML text -> (plain data, {path: line}). Raises FlowError."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise FlowError(
            file, 1, f"the file is larger than {MAX_BYTES // 1_000_000} MB; a flow is far smaller"
        )
    lines: dict[tuple[Any, ...], int] = {(): 1}
    root: Any = None
    have_root = False
    docs = 0
    # a frame: [container, path, pending key or None]
    stack: list[list[Any]] = []

    def place(value: Any, ev: Any) -> tuple[Any, ...] | None:
        """Put a value into the open container. Returns its path, None for a key."""
        nonlocal root, have_root
        line = ev.start_mark.line + 1
        if not stack:
            root, have_root = value, True
            lines[()] = line
            return ()
        frame = stack[-1]
        container, path, key = frame
        if isinstance(container, dict):
            if key is None:
                if not isinstance(ev, ScalarEvent):
                    raise FlowError(file, line, "a key must be a plain word, not a list or a map")
                k = ev.value
                if k in container:
                    raise FlowError(file, line, f"key '{k}' appears twice here; keep one")
                frame[2] = k
                container[k] = None
                lines[(*path, k)] = line
                return None
            container[key] = value
            frame[2] = None
            return (*path, key)
        idx = len(container)
        container.append(value)
        lines[(*path, idx)] = line
        return (*path, idx)

    try:
        for ev in yaml.parse(text, Loader=_Loader):
            if isinstance(ev, ScalarEvent):
                if stack and isinstance(stack[-1][0], dict) and stack[-1][2] is None:
                    place(None, ev)  # a key: stored raw, as text
                else:
                    place(_scalar(ev, file), ev)
            elif isinstance(ev, MappingStartEvent | SequenceStartEvent):
                tag = ev.tag
                if tag not in (None, "!", _STD + "map", _STD + "seq"):
                    raise FlowError(
                        file,
                        ev.start_mark.line + 1,
                        f"tags such as {tag} are not allowed in flow files; write plain values",
                    )
                container: Any = {} if isinstance(ev, MappingStartEvent) else []
                path = place(container, ev)
                if path is None:
                    raise FlowError(file, ev.start_mark.line + 1, "a key must be a plain word")
                stack.append([container, path, None])
                if len(stack) > MAX_DEPTH:
                    raise FlowError(
                        file, ev.start_mark.line + 1, f"nested deeper than {MAX_DEPTH} levels"
                    )
            elif isinstance(ev, MappingEndEvent | SequenceEndEvent):
                stack.pop()
            elif isinstance(ev, AliasEvent):
                raise FlowError(
                    file,
                    ev.start_mark.line + 1,
                    f"aliases (*{ev.anchor}) are not allowed in flow files; "
                    "write the part out again",
                )
            elif isinstance(ev, DocumentStartEvent):
                docs += 1
                if docs > 1:
                    raise FlowError(
                        file, ev.start_mark.line + 1, "one flow per file: remove the second '---'"
                    )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "unreadable YAML"
        raise FlowError(
            file,
            line,
            f"the YAML is malformed here: {problem} (check indentation, colons and quotes)",
        ) from None
    except yaml.YAMLError as exc:
        raise FlowError(file, 1, f"the YAML is malformed: {exc}") from None
    if not have_root or root is None:
        raise FlowError(file, 1, "the file is empty")
    return root, lines


# --------------------------------------------------------------------------- pydantic errors


def _where(data: Any, loc: tuple[Any, ...]) -> str:
    """Readable location: question 'budget' > option 'ready' > points."""
    parts: list[str] = []
    node = data
    names = {
        "questions": "question",
        "options": "option",
        "parameters": "parameter",
        "rules": "rule",
        "ranges": "range",
        "bands": "band",
        "intents": "intent",
        "events": "event",
        "examples": "example",
        "caps": "cap",
        "next": "next",
    }
    prev: Any = None
    for item in loc:
        if isinstance(item, int):
            ident = None
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
                if isinstance(node, dict):
                    ident = node.get("id") or node.get("name")
            else:
                node = None
            label = names.get(prev, str(prev))
            parts[-1:] = [f"{label} '{ident}'" if isinstance(ident, str) else f"{label} {item + 1}"]
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
        prev = item
    return " > ".join(parts)


def _suggest(key: str) -> str:
    global _KNOWN_KEYS
    if _KNOWN_KEYS is None:
        _KNOWN_KEYS = all_keys()
    close = difflib.get_close_matches(key, sorted(_KNOWN_KEYS), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _reason(err: dict[str, Any], data: Any) -> str:
    loc = tuple(
        x
        for x in err["loc"]
        if not (isinstance(x, str) and ("[" in x or x.startswith("function-")))
    )
    kind = err["type"]
    ctx = err.get("ctx") or {}
    field = str(loc[-1]) if loc else "flow"
    where = _where(data, loc[:-1]) if len(loc) > 1 else ""
    prefix = f"{where}: " if where else ""
    if kind == "extra_forbidden":
        return f"{prefix}unknown key '{field}'{_suggest(field)}"
    if kind == "missing":
        return f"{prefix}'{field}' is missing"
    if kind == "literal_error":
        return f"{prefix}{field} must be one of {ctx.get('expected', '')}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{prefix}{field} must be a whole number"
    if kind.startswith("float"):
        return f"{prefix}{field} must be a number"
    if kind.startswith("bool"):
        return f"{prefix}{field} must be true or false"
    if kind == "string_type":
        if err.get("input") is None:
            if " " in field or not field.isascii():
                return (
                    f"{prefix}'{field}' was read as a key: a comma inside {{en: ..., ru: ...}} "
                    "splits the text; put text that has commas in quotes"
                )
            return f"{prefix}{field} has no text"
        return f"{prefix}{field} must be text"
    if kind in ("list_type", "tuple_type"):
        return f"{prefix}{field} must be a list (lines starting with '- ')"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{prefix}{field} must be a map of 'key: value' lines"
    if kind == "string_pattern_mismatch":
        if field in ("languages",) or (loc and loc[0] == "languages"):
            return f"{prefix}a language is a short code such as en or ru"
        if field in ("region", "phone_region"):
            return f"{prefix}{field} is a two-letter country code such as RU or US"
        return (
            f"{prefix}{field} must be a short id: lowercase latin letters, digits and _, "
            "starting with a letter, at most 32 (like budget_range)"
        )
    if kind == "too_short":
        return f"{prefix}{field} must not be empty"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next(iter(ctx.values()), "")
        word = {
            "greater_than": "above",
            "greater_than_equal": "at least",
            "less_than": "below",
            "less_than_equal": "at most",
        }[kind]
        return f"{prefix}{field} must be {word} {bound}"
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return f"{prefix}{field} must be a date like 2025-03-01"
    if kind == "value_error":
        msg = str(err.get("msg", ""))
        return prefix + (msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg)
    return f"{prefix}{field}: {err.get('msg', kind)}"


def _line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), 1)


# --------------------------------------------------------------------------- public


def _problems_to_error(file: str, problems: list[tuple[int, str]]) -> FlowError:
    problems.sort(key=lambda p: p[0])
    errs = [FlowError(file, line, reason) for line, reason in problems]
    first = errs[0]
    first.problems = errs
    return first


def load_text(text: str, file: str = "<text>") -> FlowDef:
    """Parse and validate a flow from YAML text. Raises FlowError (all problems in `.problems`)."""
    data, lines = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise FlowError(
            file, 1, "a flow file is a map of 'key: value' lines (id:, framework:, ...)"
        )
    try:
        flow = FlowDef.model_validate(data)
    except ValidationError as exc:
        problems = []
        seen = set()
        for err in exc.errors(include_url=False):
            loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and "[" in x))
            item = (_line(lines, loc), _reason(err, data))
            if item not in seen:
                seen.add(item)
                problems.append(item)
        raise _problems_to_error(file, problems) from None
    flow._file = file
    flow._lines = lines
    flow._source = text
    flow._digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    sem = semantic_problems(flow)
    if sem:
        raise _problems_to_error(file, [(_line(lines, path), reason) for path, reason in sem])
    return flow


def load_file(path: str | Path) -> FlowDef:
    p = Path(path)
    name = str(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise FlowError(name, 1, f"cannot read the file: {exc.strerror or exc}") from None
    if size > MAX_BYTES:
        raise FlowError(
            name, 1, f"the file is larger than {MAX_BYTES // 1_000_000} MB; a flow is far smaller"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FlowError(name, 1, "the file is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise FlowError(name, 1, f"cannot read the file: {exc.strerror or exc}") from None
    return load_text(text, name)


def load_flow(path_or_text: str | Path, *, file: str | None = None) -> FlowDef:
    """Load a flow from a Path, a path string, or YAML text (anything with a newline).

    Raises FlowError with `file:line: reason`; every problem is in `.problems`.
    """
    if isinstance(path_or_text, Path):
        return load_file(path_or_text)
    if "\n" in path_or_text:
        return load_text(path_or_text, file or "<text>")
    return load_file(path_or_text)


def builtin_flow_paths() -> dict[str, Path]:
    """Built-in flow id -> path of its YAML file (flows/builtin/*.yaml).

    The id is read from the file's `id:` line without loading the whole flow.
    """
    out: dict[str, Path] = {}
    folder = Path(__file__).parent / "builtin"
    for path in sorted(folder.glob("*.yaml")):
        fid = path.stem
        try:
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    m = re.match(r"^id:\s*['\"]?([a-z][a-z0-9_]*)['\"]?\s*(#.*)?$", line)
                    if m:
                        fid = m.group(1)
                        break
        except OSError:
            continue
        out[fid] = path
    return out
