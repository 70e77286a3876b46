"""Text and markup checks the way the Bot API does them.

``parse_html`` follows tdlib's ``parse_html`` (td/telegram/MessageEntity.cpp): the same
tags, the same entity decoding (``&lt; &gt; &amp; &quot;`` and numeric references; any
other ``&name;`` stays literal), the same error texts with UTF-8 byte offsets. Entity
offsets and lengths are in UTF-16 code units, as Telegram counts them. Message length is
checked in Unicode code points (Telegram accepts 4,096 astral characters).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ApiError, bad_request

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_INLINE_BUTTONS = 100
MAX_INLINE_ROW = 8
MAX_REPLY_BUTTONS = 300
MAX_REPLY_ROW = 12
MAX_CALLBACK_ANSWER = 200

_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}
_SPACE = frozenset(b" \t\r\n\v\f")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_NAME_TOKEN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


class ParseError(Exception):
    """An entity parse error; the API answers "Bad Request: can't parse entities: ..."."""


def utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _decode_entity(b: bytes, pos: int) -> tuple[int, int]:
    """Decode an HTML entity at ``b[pos] == '&'``: (code point or 0, position after it)."""
    n = len(b)
    end = pos + 1
    res = 0
    if end < n and b[end] == 0x23:  # '#'
        end += 1
        if end < n and b[end] == 0x78:  # 'x'
            end += 1
            while end < n and b[end] in _HEX:
                res = res * 16 + int(chr(b[end]), 16)
                end += 1
        else:
            while end < n and 0x30 <= b[end] <= 0x39:
                res = res * 10 + b[end] - 0x30
                end += 1
        if res == 0 or res >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while end < n and (0x41 <= b[end] <= 0x5A or 0x61 <= b[end] <= 0x7A):
            end += 1
        res = _NAMED.get(b[pos + 1 : end], 0)
        if not res:
            return 0, pos
    if end < n and b[end] == 0x3B:  # ';'
        end += 1
    return res, end


def _check_link(url: str) -> str | None:
    """A rough ``LinkManager::get_checked_link``: normalised URL, or None when invalid."""
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", url)
    if match:
        scheme = match.group(1).lower()
        if scheme in ("http", "https", "ftp", "tonsite"):
            rest = url[len(scheme) + 1 :]
            if not rest.startswith("//") or len(rest) <= 2:
                return None
            return url
        if scheme in ("tg", "ton", "mailto"):
            return url
        return None
    host = url.split("/", 1)[0]
    if "." not in host or host.startswith(".") or host.endswith("."):
        return None
    return "http://" + (url if "/" in url else url + "/")


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML: (plain text, entities). Raises ``ParseError``."""
    b = text.encode("utf-8", "surrogatepass")
    n = len(b)
    out = bytearray()
    off = 0
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, str, int, int]] = []
    surrogates = False
    i = 0

    def at(k: int) -> int:
        return b[k] if k < n else 0

    def space(k: int) -> bool:
        return k >= n or b[k] in _SPACE

    while i < n:
        c = b[i]
        if c == 0x26:  # '&'
            code, j = _decode_entity(b, i)
            if code:
                if 0xD800 <= code <= 0xDFFF:
                    surrogates = True
                out += chr(code).encode("utf-8", "surrogatepass")
                off += 2 if code > 0xFFFF else 1
                i = j
                continue
            out.append(c)
            off += 1
            i += 1
            continue
        if c != 0x3C:  # '<'
            j = i + 1
            while j < n and b[j] != 0x3C and b[j] != 0x26:
                j += 1
            chunk = b[i:j]
            out += chunk
            off += utf16_len(chunk.decode("utf-8", "surrogatepass"))
            i = j
            continue

        begin = i
        i += 1
        if at(i) != 0x2F:  # not '/': a start tag
            while not space(i) and at(i) != 0x3E:
                i += 1
            if i >= n:
                raise ParseError(f"Unclosed start tag at byte offset {begin}")
            tag = b[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _TAGS:
                raise ParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != 0x3E:
                while i < n and b[i] in _SPACE:
                    i += 1
                if at(i) == 0x3E:
                    break
                attribute_begin = i
                if tag == "blockquote":
                    k = i
                    while not space(k) and at(k) not in (0x3D, 0x3E):
                        k += 1
                    m = k
                    while m < n and b[m] in _SPACE:
                        m += 1
                    if b[i:k].lower() == b"expandable" and at(m) != 0x3D:
                        argument = "expandable"
                        i = k
                        continue
                while not space(i) and at(i) != 0x3D:
                    i += 1
                attribute = b[attribute_begin:i].lower()
                if not attribute:
                    raise ParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while i < n and b[i] in _SPACE:
                    i += 1
                if at(i) != 0x3D:
                    raise ParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {begin}'
                    )
                i += 1
                while i < n and b[i] in _SPACE:
                    i += 1
                if i >= n:
                    raise ParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if b[i] not in (0x22, 0x27):
                    token_begin = i
                    while i < n and b[i] in _NAME_TOKEN:
                        i += 1
                    value = b[token_begin:i].decode("utf-8", "replace").lower()
                    if not space(i) and at(i) != 0x3E:
                        raise ParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:
                    quote = b[i]
                    i += 1
                    raw = bytearray()
                    while i < n and b[i] != quote:
                        if b[i] == 0x26:
                            code, j = _decode_entity(b, i)
                            if code:
                                raw += chr(code).encode("utf-8", "surrogatepass")
                                i = j
                                continue
                        raw.append(b[i])
                        i += 1
                    if at(i) == quote and i < n:
                        i += 1
                    value = raw.decode("utf-8", "replace")
                if i >= n:
                    raise ParseError(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and attribute == b"href":
                    argument = value
                elif tag == "code" and attribute == b"class" and value.startswith("language-"):
                    argument = value[9:]
                elif tag == "span" and attribute == b"class" and value.startswith("tg-"):
                    argument = value[3:]
                elif tag == "tg-emoji" and attribute == b"emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            stack.append((tag, argument, off, len(out)))
            i += 1
            continue

        # an end tag
        if not stack:
            raise ParseError(f"Unexpected end tag at byte offset {begin}")
        while not space(i) and at(i) != 0x3E:
            i += 1
        end_tag = b[begin + 2 : i].decode("utf-8", "replace").lower()
        while i < n and b[i] in _SPACE:
            i += 1
        if at(i) != 0x3E:
            raise ParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, start, start_pos = stack[-1]
        if end_tag and end_tag != tag:
            raise ParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", '
                f'found "</{end_tag}>"'
            )
        if off > start:
            length = off - start
            entity: dict[str, Any] | None = None
            if tag in _SIMPLE:
                entity = {"type": _SIMPLE[tag], "offset": start, "length": length}
            elif tag == "tg-emoji":
                if not argument.isdigit() or int(argument) == 0:
                    raise ParseError("Invalid custom emoji identifier specified")
                entity = {
                    "type": "custom_emoji",
                    "offset": start,
                    "length": length,
                    "custom_emoji_id": argument,
                }
            elif tag == "a":
                url = argument or out[start_pos:].decode("utf-8", "replace")
                user = re.fullmatch(r"tg://user\?id=(\d+)", url)
                if user:
                    entity = {
                        "type": "text_mention",
                        "offset": start,
                        "length": length,
                        "user": {"id": int(user.group(1)), "is_bot": False, "first_name": ""},
                    }
                else:
                    checked = _check_link(url)
                    if checked:
                        entity = {"type": "text_link", "offset": start, "length": length}
                        entity["url"] = checked
            elif tag == "pre":
                last = entities[-1] if entities else None
                if (
                    last
                    and last["type"] == "code"
                    and last["offset"] == start
                    and last["length"] == length
                    and last.get("language")
                ):
                    last["type"] = "pre"
                else:
                    entity = {"type": "pre", "offset": start, "length": length}
            elif tag == "code":
                last = entities[-1] if entities else None
                if (
                    last
                    and last["type"] == "pre"
                    and last["offset"] == start
                    and last["length"] == length
                    and argument
                ):
                    last["language"] = argument
                else:
                    entity = {"type": "code", "offset": start, "length": length}
                    if argument:
                        entity["language"] = argument
            elif tag == "blockquote":
                kind = "expandable_blockquote" if argument == "expandable" else "blockquote"
                entity = {"type": kind, "offset": start, "length": length}
            if entity is not None:
                entities.append(entity)
        stack.pop()
        i += 1

    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    try:
        result = out.decode("utf-8")
    except UnicodeDecodeError:
        result = None
    if surrogates or result is None:
        try:
            result = (
                out.decode("utf-8", "surrogatepass")
                .encode("utf-16-le", "surrogatepass")
                .decode("utf-16-le")
            )
        except UnicodeError:
            raise ParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            ) from None
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return result, entities


_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """A compact MarkdownV2 parser: the same reserved characters and error texts as
    Telegram; entities bold/italic/underline/strikethrough/spoiler/code/pre/text_link."""
    out: list[str] = []
    off = 0
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, int]] = []  # (type, utf16 offset, index in text)
    i = 0
    n = len(text)

    def emit(chunk: str) -> None:
        nonlocal off
        out.append(chunk)
        off += utf16_len(chunk)

    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            emit(text[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = 3 if text.startswith("```", i) else 1
            j = i + fence
            body: list[str] = []
            found = False
            while j < n:
                if text[j] == "\\" and j + 1 < n and text[j + 1] in "`\\":
                    body.append(text[j + 1])
                    j += 2
                    continue
                if text.startswith("`" * fence, j):
                    found = True
                    break
                body.append(text[j])
                j += 1
            if not found:
                kind = "Pre" if fence == 3 else "Code"
                raise ParseError(
                    f"Can't find end of {kind} entity at byte offset {_byte_offset(text, i)}"
                )
            content = "".join(body)
            language = ""
            if fence == 3 and "\n" in content:
                first, rest = content.split("\n", 1)
                if first and " " not in first:
                    language, content = first, rest
            if content:
                entity: dict[str, Any] = {
                    "type": "pre" if fence == 3 else "code",
                    "offset": off,
                    "length": utf16_len(content),
                }
                if language:
                    entity["language"] = language
                entities.append(entity)
                emit(content)
            i = j + fence
            continue
        token = None
        if text.startswith("__", i):
            token = ("underline", 2)
        elif ch == "_":
            token = ("italic", 1)
        elif ch == "*":
            token = ("bold", 1)
        elif ch == "~":
            token = ("strikethrough", 1)
        elif text.startswith("||", i):
            token = ("spoiler", 2)
        if token is not None:
            kind, width = token
            if stack and stack[-1][0] == kind:
                _, start, _ = stack.pop()
                if off > start:
                    entities.append({"type": kind, "offset": start, "length": off - start})
            elif any(item[0] == kind for item in stack):
                raise ParseError(
                    f"Can't find end of {_MD2_NAMES[kind]} entity at byte offset "
                    f"{_byte_offset(text, [s for s in stack if s[0] == kind][-1][2])}"
                )
            else:
                stack.append((kind, off, i))
            i += width
            continue
        if ch == "[":
            stack.append(("text_link", off, i))
            i += 1
            continue
        if ch == "]" and stack and stack[-1][0] == "text_link":
            _, start, _ = stack.pop()
            if i + 1 >= n or text[i + 1] != "(":
                raise ParseError(
                    f"Can't find end of a URL at byte offset {_byte_offset(text, i + 1)}"
                )
            j = i + 2
            url: list[str] = []
            while j < n and text[j] != ")":
                if text[j] == "\\" and j + 1 < n:
                    url.append(text[j + 1])
                    j += 2
                    continue
                url.append(text[j])
                j += 1
            if j >= n:
                raise ParseError(
                    f"Can't find end of a URL at byte offset {_byte_offset(text, i + 2)}"
                )
            checked = _check_link("".join(url))
            if checked and off > start:
                entities.append(
                    {"type": "text_link", "offset": start, "length": off - start, "url": checked}
                )
            i = j + 1
            continue
        if ch == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1
            continue
        if ch in _MD2_RESERVED:
            raise ParseError(
                f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
            )
        emit(ch)
        i += 1
    if stack:
        kind, _, index = stack[-1]
        raise ParseError(
            f"Can't find end of {_MD2_NAMES[kind]} entity at byte offset "
            f"{_byte_offset(text, index)}"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url)."""
    out: list[str] = []
    off = 0
    entities: list[dict[str, Any]] = []
    i = 0
    n = len(text)
    marks = {"*": "bold", "_": "italic"}
    while i < n:
        ch = text[i]
        if ch in marks or ch == "`" or ch == "[":
            if ch == "`" and text.startswith("```", i):
                end = text.find("```", i + 3)
                width, kind = 3, "pre"
            elif ch == "[":
                end = text.find("]", i + 1)
                width, kind = 1, "text_link"
            else:
                end = text.find(ch, i + 1)
                width, kind = 1, marks.get(ch, "code")
            if end < 0:
                raise ParseError(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
                )
            content = text[i + width : end]
            after = end + width
            entity: dict[str, Any] = {"type": kind, "offset": off, "length": utf16_len(content)}
            if kind == "text_link":
                if not text.startswith("(", after):
                    raise ParseError(
                        "Can't find end of the entity starting at byte offset "
                        f"{_byte_offset(text, i)}"
                    )
                close = text.find(")", after)
                if close < 0:
                    raise ParseError(
                        "Can't find end of the entity starting at byte offset "
                        f"{_byte_offset(text, i)}"
                    )
                checked = _check_link(text[after + 1 : close])
                after = close + 1
                if checked:
                    entity["url"] = checked
                else:
                    entity = {}
            if content and entity:
                entities.append(entity)
            out.append(content)
            off += utf16_len(content)
            i = after
            continue
        out.append(ch)
        off += utf16_len(ch)
        i += 1
    return "".join(out), entities


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading and trailing white space and move the entities along."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    fixed = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            fixed.append({**entity, "offset": start, "length": end - start})
    return stripped, fixed


def format_text(
    text: Any,
    parse_mode: str | None,
    entities: Any = None,
    *,
    limit: int = MAX_TEXT,
    field: str = "text",
) -> tuple[str, list[dict[str, Any]]]:
    """Parse and check a message text or caption; raise ``ApiError`` the way Telegram does."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        text = str(text)
    mode = (parse_mode or "").strip()
    try:
        if not mode:
            plain = text
            parsed = list(entities) if isinstance(entities, list) else []
        elif mode.lower() == "html":
            plain, parsed = parse_html(text)
        elif mode.lower() == "markdownv2":
            plain, parsed = parse_markdown_v2(text)
        elif mode.lower() == "markdown":
            plain, parsed = parse_markdown(text)
        else:
            raise bad_request("unsupported parse_mode")
    except ParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None
    plain, parsed = _trim(plain, parsed)
    if field == "text":
        if not plain:
            raise bad_request("message text is empty")
        if len(plain) > limit:
            raise bad_request("message is too long")
    elif len(plain) > limit:
        raise bad_request("message caption is too long")
    return plain, parsed


def _check_button_url(url: Any) -> None:
    if not isinstance(url, str) or _check_link(url) is None:
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


_INLINE_ACTIONS = (
    "callback_data",
    "url",
    "login_url",
    "web_app",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def check_reply_markup(markup: Any) -> None:
    """Check an inline or reply keyboard the way Telegram does."""
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        total = 0
        for row in rows:
            if len(row) > MAX_INLINE_ROW:
                raise bad_request("reply markup is too long")
            total += len(row)
            for button in row:
                if not isinstance(button, dict):
                    raise bad_request("can't parse inline keyboard button: Object expected")
                if not isinstance(button.get("text"), str):
                    raise bad_request(
                        'can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                actions = [key for key in _INLINE_ACTIONS if key in button]
                if not actions:
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not data:
                        raise bad_request("BUTTON_DATA_INVALID")
                    if len(data.encode("utf-8")) > MAX_CALLBACK_DATA:
                        raise bad_request("BUTTON_DATA_INVALID")
                if "url" in button:
                    _check_button_url(button["url"])
        if total > MAX_INLINE_BUTTONS:
            raise bad_request("reply markup is too long")
        return
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
            )
        total = 0
        for row in rows:
            if len(row) > MAX_REPLY_ROW:
                raise bad_request("reply markup is too long")
            total += len(row)
            for button in row:
                text = button if isinstance(button, str) else (button or {}).get("text")
                if not isinstance(text, str):
                    raise bad_request(
                        'can\'t parse keyboard button: Field "text" must be of type String'
                    )
        if total > MAX_REPLY_BUTTONS:
            raise bad_request("reply markup is too long")
        return
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return
    raise bad_request("can't parse reply keyboard markup JSON object")


def inline_buttons(markup: Any) -> list[list[dict[str, Any]]]:
    if isinstance(markup, dict) and isinstance(markup.get("inline_keyboard"), list):
        return markup["inline_keyboard"]
    return []


def strip_for_compare(markup: Any) -> Any:
    """Telegram forgets an empty inline keyboard: compare markups after that."""
    if isinstance(markup, dict) and markup.get("inline_keyboard") == []:
        return None
    if isinstance(markup, dict) and "inline_keyboard" not in markup:
        return None  # reply keyboards are not part of a sent message's markup
    return markup


__all__ = [
    "MAX_TEXT",
    "ApiError",
    "ParseError",
    "check_reply_markup",
    "format_text",
    "inline_buttons",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "utf16_len",
]
