""" "Skip" and "don't know": answers that are no answer.

A text is a skip when, besides filler words, it is only a skip phrase. It is a
"don't know" when it starts with a don't-know phrase and what follows is no
answer either: "no idea yet which modules we'd want" is one, but "не знаю,
наверное через месяц" and "not sure, about 50" carry an answer, so the
engine's parsers get to read them.
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz import fuzz

from flows.answers.text import normalize

_SKIP_RAW = frozenset({"-", "—", "–", "--", "---", "...", "…", ".", "/skip", "/next", "/pass"})
_SKIP = frozenset(
    {
        "skip", "next", "pass", "skip it", "skip this", "skip question", "next question",
        "skip this question", "lets skip", "move on", "go on", "rather not say",
        "prefer not to say", "id rather not say", "no comment", "no comments",
        "пропустить", "пропусти", "пропуск", "пропускаю", "пропустим", "дальше", "далее",
        "следующий", "следующий вопрос", "давай дальше", "идем дальше", "пас",
        "не хочу отвечать", "не буду отвечать", "без комментариев", "проехали",
    }
)  # fmt: skip
_DONT_KNOW = frozenset(
    {
        "dont know", "do not know", "i dont know", "i do not know", "we dont know",
        "idk", "dunno", "not sure", "im not sure", "no idea", "i have no idea", "no clue",
        "hard to say", "cant say", "cannot say", "difficult to say", "unknown", "unsure",
        "not known", "n a", "na", "no answer", "unclear", "not clear", "who knows",
        "не знаю", "незнаю", "не знаем", "не в курсе", "без понятия", "понятия не имею",
        "хз", "фиг знает", "кто знает", "сложно сказать", "трудно сказать",
        "затрудняюсь ответить", "затрудняюсь", "не могу сказать", "не уверен",
        "не уверена", "не уверены", "неизвестно", "непонятно", "неясно", "пока неясно",
        "пока непонятно", "не понимаю", "не понимаем", "нз",
    }
)  # fmt: skip
_FILLERS = frozenset(
    {
        "please", "pls", "plz", "just", "honestly", "really", "actually", "yet", "exactly",
        "sorry", "hmm", "um", "uh", "well", "ok", "okay", "so", "the", "this", "one",
        "for", "now", "at", "moment", "right", "yes", "no", "oh", "ah",
        "ну", "пока", "еще", "честно", "говоря", "точно", "пожалуйста", "пжл", "пж",
        "извините", "простите", "сорри", "эм", "хм", "так", "вот", "сейчас", "на", "данный",
        "момент", "да", "нет", "уж", "даже", "вообще", "если", "то", "а", "и", "я", "мы",
        "it", "i", "we", "лучше",
    }
)  # fmt: skip
# after a don't-know phrase these mean an answer follows: "не знаю, наверное месяц"
_HEDGES = frozenset(
    {
        "maybe", "probably", "perhaps", "about", "around", "approximately", "roughly",
        "think", "guess", "but", "though", "likely", "possibly", "say",
        "наверное", "может", "возможно", "около", "примерно", "думаю", "но", "вероятно",
        "где", "скорее", "типа", "пожалуй", "наверно", "мб",
    }
)  # fmt: skip
_QUESTION_WORDS = frozenset(
    {
        "which", "what", "how", "when", "who", "where", "whether", "if", "why",
        "какие", "какой", "какая", "какое", "каких", "как", "когда", "кто", "где",
        "сколько", "ли", "чем", "зачем", "почему", "куда",
    }
)  # fmt: skip
_MAX_PHRASE = 5


def _strip(words: list[str]) -> list[str]:
    return [w for w in words if w not in _FILLERS]


def _leading(words: list[str], phrases: frozenset[str]) -> int:
    """How many leading words form a phrase of the set (longest), or 0."""
    for n in range(min(_MAX_PHRASE, len(words)), 0, -1):
        if " ".join(words[:n]) in phrases:
            return n
    return 0


def _fuzzy_is(text: str, phrases: frozenset[str]) -> bool:
    # "пропустиь", "dont knwo": one slip in a phrase of 5+ letters
    if len(text) < 5 or len(text) > 30:
        return False
    return any(len(p) >= 5 and fuzz.ratio(text, p) >= 88 for p in phrases)


@lru_cache(maxsize=1024)
def is_skip(text: str) -> bool:
    """The prospect asks to skip the question ("skip", "дальше", "-")."""
    if not text:
        return False
    if text.strip() in _SKIP_RAW:
        return True
    words = normalize(text).split()
    if not words or len(words) > 8:
        return False
    core = _strip(words)
    if not core:
        return False
    joined = " ".join(core)
    if joined in _SKIP or " ".join(words) in _SKIP:
        return True
    return _fuzzy_is(joined, _SKIP)


@lru_cache(maxsize=1024)
def is_dont_know(text: str) -> bool:
    """The prospect does not know ("не знаю", "idk", "not sure", "n/a")."""
    if not text:
        return False
    words = normalize(text).split()
    if not words or len(words) > 40:
        return False
    if any(ch.isdigit() for w in words for ch in w):
        return False  # "not sure, 50 maybe": there is an answer to read
    whole = " ".join(words)
    if whole in _DONT_KNOW:
        return True
    # leading fillers may come first: "honestly no idea", "ну не знаю"
    i = 0
    while i < len(words) and words[i] in _FILLERS and _leading(words[i:], _DONT_KNOW) == 0:
        i += 1
    n = _leading(words[i:], _DONT_KNOW)
    if n == 0:
        return _fuzzy_is(" ".join(_strip(words)), _DONT_KNOW)
    rest = _strip(words[i + n :])
    if any(w in _HEDGES for w in rest):
        return False
    # "no idea which modules", "не знаю, что выбрать": still no answer;
    # "not sure we need a crm" is one
    return not rest or rest[0] in _QUESTION_WORDS or len(rest) <= 2
