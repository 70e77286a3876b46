"""The fake's text parsing, checked without a server (tdlib's own test vectors)."""

from __future__ import annotations

import pytest

from tests.fakebot import ApiError, format_text, parse_html, parse_markdown_v2
from tests.fakebot.validation import ParseError, check_reply_markup

# (input, error) pairs from tdlib's test/message_entities.cpp
TDLIB_HTML_ERRORS = [
    ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
    ("🏟 🏟&lt;<abac>", 'Unsupported start tag "abac" at byte offset 13'),
    ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    (
        "🏟 🏟&lt;<i    aba>",
        'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 13',
    ),
    ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
    ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
    ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
    ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
    (
        "🏟 🏟&lt;<i>a</em   >",
        'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"',
    ),
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("a<br>b", 'Unsupported start tag "br" at byte offset 1'),
    ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
    ("x < y", 'Unsupported start tag "" at byte offset 2'),
    ("&#xDFDF;", "Text contains invalid Unicode characters after decoding HTML entities, "
     "check for unmatched surrogate code units"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "error"), TDLIB_HTML_ERRORS)
def test_html_errors_match_tdlib(text: str, error: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_html(text)
    assert str(info.value) == error


@pytest.mark.parametrize(
    ("text", "plain", "entities"),
    [
        ("", "", []),
        ("&lt;&gt;&amp;&quot;&laquo;&raquo;&#12345678;", '<>&"&laquo;&raquo;&#12345678;', []),
        ("➡️ ➡️<i>➡️ ➡️</i>", "➡️ ➡️➡️ ➡️", [("italic", 5, 5)]),
        ("➡️ ➡️<strong>➡️ ➡️</strong>", "➡️ ➡️➡️ ➡️", [("bold", 5, 5)]),
        ("🏟 🏟<i>🏟 &lt🏟</i>", "🏟 🏟🏟 <🏟", [("italic", 5, 6)]),
        (
            "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>",
            "🏟 🏟🏟 ><🏟",
            [("italic", 5, 7), ("bold", 9, 3)],
        ),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.   >a</i>", "🏟 🏟<a", [("italic", 6, 1)]),
        ("🏟 🏟&lt;<i>🏟 🏟&lt;</>", "🏟 🏟<🏟 🏟<", [("italic", 6, 6)]),
        ("<u>u</u><ins>i</ins><s>s</s><del>d</del>", "uisd", [
            ("underline", 0, 1), ("underline", 1, 1), ("strikethrough", 2, 1),
            ("strikethrough", 3, 1)]),
        ("<tg-spoiler>a</tg-spoiler><span class=\"tg-spoiler\">b</span>", "ab",
         [("spoiler", 0, 1), ("spoiler", 1, 1)]),
        ("<blockquote>q</blockquote><blockquote expandable>e</blockquote>", "qe",
         [("blockquote", 0, 1), ("expandable_blockquote", 1, 1)]),
        ("<b></b>x", "x", []),
    ],
)  # fmt: skip
def test_html_parses_like_tdlib(
    text: str, plain: str, entities: list[tuple[str, int, int]]
) -> None:
    result, found = parse_html(text)
    assert result == plain
    assert [(e["type"], e["offset"], e["length"]) for e in found] == entities


def test_html_links_code_and_custom_emoji() -> None:
    text, entities = parse_html(
        '<a href="https://example.com/?a=1&amp;b=2">site</a> <a href="tg://user?id=42">me</a> '
        '<pre><code class="language-python">x = 1</code></pre> '
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> <a href="not a url">bad</a>'
    )
    assert text == "site me x = 1 👍 bad"
    by_type = {e["type"]: e for e in entities}
    assert by_type["text_link"]["url"] == "https://example.com/?a=1&b=2"
    assert by_type["text_mention"]["user"]["id"] == 42
    assert by_type["pre"]["language"] == "python"
    assert by_type["custom_emoji"]["custom_emoji_id"] == "5368324170671202286"
    assert len(entities) == 4  # the invalid link gives no entity, like Telegram
    with pytest.raises(ParseError, match="Invalid custom emoji identifier"):
        parse_html("<tg-emoji>x</tg-emoji>")


def test_text_limits_after_parsing() -> None:
    assert format_text("<b>" + "a" * 4096 + "</b>", "HTML")[0] == "a" * 4096
    assert format_text("😀" * 4096, None)[0] == "😀" * 4096  # code points, not UTF-16
    assert format_text("  padded\n", None)[0] == "padded"
    for text, mode, error in [
        ("", None, "Bad Request: message text is empty"),
        ("   \n ", None, "Bad Request: message text is empty"),
        ("<b> </b>", "HTML", "Bad Request: message text is empty"),
        ("a" * 4097, None, "Bad Request: message is too long"),
        ("x", "html5", "Bad Request: unsupported parse_mode"),
        ("<x>", "HTML",
         "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0"),
    ]:  # fmt: skip
        with pytest.raises(ApiError) as info:
            format_text(text, mode)
        assert info.value.description == error
    assert format_text("a" * 1024, None, limit=1024, field="caption")[0]
    with pytest.raises(ApiError, match="message caption is too long"):
        format_text("a" * 1025, None, limit=1024, field="caption")


def test_markdown_v2() -> None:
    text, entities = parse_markdown_v2(r"*bold* _it_ __u__ ~s~ ||sp|| `c` [l](https://x.org) 1\.5")
    assert text == "bold it u s sp c l 1.5"
    assert [e["type"] for e in entities] == [
        "bold", "italic", "underline", "strikethrough", "spoiler", "code", "text_link",
    ]  # fmt: skip
    with pytest.raises(ParseError) as info:
        parse_markdown_v2("Price 1.5")
    assert (
        str(info.value) == "Character '.' is reserved and must be escaped with the preceding '\\'"
    )
    with pytest.raises(ParseError, match="Can't find end of Bold entity at byte offset 0"):
        parse_markdown_v2("*open")


def test_markup_checks() -> None:
    def inline(rows: list[list[dict[str, str]]]) -> dict[str, object]:
        return {"inline_keyboard": rows}

    check_reply_markup(inline([[{"text": "ok", "callback_data": "é" * 32}]]))  # 64 bytes
    check_reply_markup(inline([[{"text": str(i), "callback_data": str(i)} for i in range(8)]] * 12))
    check_reply_markup({"keyboard": [[{"text": "Share", "request_contact": True}]]})
    check_reply_markup({"remove_keyboard": True})
    for markup, error in [
        (inline([[{"text": "x", "callback_data": "é" * 33}]]), "BUTTON_DATA_INVALID"),
        (inline([[{"text": "x", "callback_data": ""}]]), "BUTTON_DATA_INVALID"),
        (inline([[{"text": "x"}]]), "Text buttons are unallowed"),
        (inline([[{"text": "x", "url": "no url"}]]), "inline keyboard button URL"),
        (inline([[{"text": "x", "callback_data": "x"}] * 9]), "reply markup is too long"),
        (inline([[{"text": "x", "callback_data": "x"}] * 6] * 17), "reply markup is too long"),
        ({"something": 1}, "can't parse reply keyboard markup"),
    ]:
        with pytest.raises(ApiError, match=error):
            check_reply_markup(markup)
