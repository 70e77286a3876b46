"""The interview the benchmark's prospects play: BANT's happy path, in English.

The question texts come from flows/builtin/bant.yaml (read with PyYAML, not through
`flows`, so this module stays light and bot-agnostic). A prospect recognises a
question by its text inside the bot's message (our bot prefixes "3/12 · "), answers
it with a button when the message has one whose callback data ends with
``:<option id>``, or types the answer.

Both bots must ask exactly these questions on this path: bench/bare_bot.py keeps
its own copy of the texts, and `check_bare_texts()` says if the two drifted apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BANT = ROOT / "flows" / "builtin" / "bant.yaml"

# BANT's happy path (flows/builtin/bant.yaml): a decider with a budget (so
# cost_of_problem and decision_team are skipped), rollout within a month (no
# timing_blocker), then fit and contacts: 12 questions, of which the name is not asked
# when Telegram gave one (both bots skip it), so 11 answers; with /start, 12 updates.
# (question id, option id for a button or None, typed text)
PATH: tuple[tuple[str, str | None, str], ...] = (
    ("budget", "ready", "Yes, the price works for us"),
    ("role", "decider", "I make the final decision"),
    ("need", None, "A CRM to organise our sales team"),
    ("must_haves", "clear", "Yes, we have a list"),
    ("timing", None, "in 2 weeks"),
    ("priority", "top", "Top priority"),
    ("industry", "software", "IT or software"),
    ("staff", None, "25"),
    ("name", None, "Bob"),
    ("company", None, "Acme Ltd"),
    ("phone", None, "+44 20 7946 0958"),
    ("email", None, "bob@example.com"),
)
QUESTIONS = tuple(q for q, _, _ in PATH)
UPDATES_PER_INTERVIEW = len(PATH)  # /start + 11 answers (the name is known)

# Closing messages of both bots start with one of these (hot / warm / cold /
# disqualified closings of bant.yaml, rendered).
CLOSING_PREFIXES = ("Thank you",)


@dataclass(frozen=True)
class Answer:
    question: str
    option: str | None  # press the button whose callback data ends with ":<option>"
    text: str  # or type this


@cache
def question_texts() -> dict[str, str]:
    """question id -> English text, from bant.yaml."""
    import yaml

    flow = yaml.safe_load(BANT.read_text(encoding="utf-8"))
    return {q["id"]: q["text"]["en"] for q in flow["questions"]}


def match_question(text: str) -> str | None:
    """The question id whose text is inside the message text, if any."""
    if not text:
        return None
    for qid, qtext in question_texts().items():
        if qtext in text:
            return qid
    return None


def is_closing(text: str) -> bool:
    return bool(text) and text.startswith(CLOSING_PREFIXES)


def answer_for(question: str, prospect: int, step: int) -> Answer:
    """What prospect number `prospect` answers to `question` (the `step`th asked).

    Button questions are tapped, except one in three (by prospect and step), where
    the prospect types the button's label: buttons and typed answers, mixed.
    """
    for qid, option, text in PATH:
        if qid == question:
            if qid == "email":
                text = f"bob{prospect}@example.com"
            if option is not None and (prospect + step) % 3 == 0:
                return Answer(qid, None, text)
            return Answer(qid, option, text)
    # A question off the happy path (e.g. the engine asked something else): type "skip".
    return Answer(question, None, "skip")


def check_bare_texts(bare_texts: dict[str, str]) -> list[str]:
    """Differences between the bare bot's question texts and bant.yaml's."""
    ours = question_texts()
    return [
        f"{qid}: bare {bare_texts.get(qid)!r} != bant.yaml {ours.get(qid)!r}"
        for qid in QUESTIONS
        if bare_texts.get(qid) != ours.get(qid)
    ]
