"""Card rendering: HTML escaped everywhere, Telegram's tags only, under 4,096 characters."""

from __future__ import annotations

from html.parser import HTMLParser

from bot.services.cards import (
    TELEGRAM_LIMIT,
    AnswerLine,
    CardData,
    ParamLine,
    render_card_html,
    render_card_text,
)
from bot.services.interview import InterviewService
from storage.database import Database
from tests.answers import FOUNDER
from tests.services.conftest import prospect
from tests.services.helpers import queued

EVIL = '<b>&{{ 7*7 }}{% if 1 %}"x"{% endif %}</b>'
ALLOWED = {"b", "i", "a", "code", "pre", "u", "s", "blockquote"}


class _Tags(HTMLParser):
    """Collects tags and text; fails on anything Telegram would refuse."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED, tag
        if tag == "a":
            assert [k for k, _ in attrs] == ["href"]
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> str:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    assert parser.stack == []
    return "".join(parser.text)


def data(**over: object) -> CardData:
    base: dict[str, object] = dict(
        lead_id=1, telegram_id=1001, name=EVIL, username="anna_s",
        contacts=("+442079460958", EVIL), source=EVIL, flow_id="bant", framework="BANT",
        version=2, total=95, max_total=100, percent=95.0, tier="hot", stage_label="had contact",
        fast_tracked=False, intents=(), finished=True,
        params=(
            ParamLine("budget", "Budget", 25, 25, False, False,
                      (AnswerLine(EVIL, 25, EVIL),)),
            ParamLine("authority", "Authority", 0, 25, True, False, ()),
        ),
        fit_score=5, fit_reasons=(EVIL,), engagement_score=0, engagement_reasons=(),
        unknowns=("Authority",), next_actions=(("Authority", EVIL),),
        transcript=((EVIL, EVIL),), taken_by=EVIL,
    )  # fmt: skip
    base.update(over)
    return CardData(**base)  # type: ignore[arg-type]


def test_every_value_is_escaped_and_shown_as_text() -> None:
    html = render_card_html(data())
    assert "<b>&{{" not in html and "{%" in parse(html)
    text = parse(html)
    # shown to the reader exactly as typed, template syntax untouched
    assert text.count(EVIL) >= 5
    assert '<a href="tg://user?id=1001">' in html


def test_long_cards_fit_the_limit_transcript_first() -> None:
    long_answer = "x" * 900
    transcript = tuple((f"question {i}?", long_answer) for i in range(60))
    params = tuple(
        ParamLine(f"p{i}", f"Param {i}", 1, 10, False, True,
                  tuple(AnswerLine(long_answer, 1, "why " * 50) for _ in range(3)))
        for i in range(12)
    )  # fmt: skip
    html = render_card_html(data(transcript=transcript, params=params))
    assert len(html) <= TELEGRAM_LIMIT
    parse(html)
    assert "Param 11" in html  # parameters survive; the transcript went first
    # a modest card keeps a transcript
    small = render_card_html(data(transcript=(("Q?", "A"),)))
    assert "Conversation" in small


def test_absurd_cards_are_cut_at_a_line() -> None:
    params = tuple(ParamLine(f"p{i}", "P" * 60, 1, 10, False, False, ()) for i in range(300))
    html = render_card_html(data(params=params))
    assert len(html) <= TELEGRAM_LIMIT
    parse(html)


def test_plain_text_card() -> None:
    text = render_card_text(data(name="Anna Smith"))
    assert "Anna Smith" in text and "95/100" in text and "<b>" not in text.replace(EVIL, "")


async def test_card_from_a_real_interview_with_a_hostile_name(
    service: InterviewService, database: Database
) -> None:
    p = prospect(first_name=EVIL)
    await service.start(p)
    for text in FOUNDER[:-1]:
        await service.text(p, text)
    await service.text(p, "anna@acme.com")
    [card] = await queued(database, "card")
    html = card.payload["html"]
    assert len(html) <= TELEGRAM_LIMIT
    assert EVIL in parse(html)
    assert "Budget</b> 25/25" in html and "had contact" in html
