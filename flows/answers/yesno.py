"""Yes or no, typed: "yep", "of course", "конечно", "неа", "I don't", "yes, I decide".

The answer's opening words decide ("yes, but not now" is yes); a short answer
may say it later ("ну думаю да"). "Not sure", "no idea" and "yes and no" are
neither, so the engine can treat them as don't-know.
"""

from __future__ import annotations

from functools import lru_cache

from flows.answers.skip import is_dont_know
from flows.answers.text import normalize

_YES = frozenset(
    {
        "yes", "yeah", "yep", "yup", "ya", "yea", "yah", "y", "sure", "of course", "ofc",
        "certainly", "absolutely", "definitely", "correct", "right", "true", "ok", "okay",
        "affirmative", "indeed", "i do", "we do", "i am", "we are", "i have", "we have",
        "i will", "we will", "i can", "we can", "thats me", "its me", "think so", "i think so",
        "guess so", "i guess so", "no problem", "no worries", "без проблем", "why yes",
        "that is me", "exactly", "totally", "for sure", "yes please", "sure thing", "why not",
        "of course yes", "aye", "yass", "yess", "yesss",
        "да", "ага", "угу", "ну да", "конечно", "конечно да", "разумеется", "точно",
        "верно", "естественно", "безусловно", "так точно", "ок", "окей", "давай", "да да",
        "именно", "есть", "имеется", "да конечно", "само собой", "а то", "еще бы",
        "абсолютно", "несомненно", "угу да", "дада", "даа", "да-да", "yes yes", "это я",
        "я", "ага да",
        # a few other languages prospects slip into
        "si", "sí", "ja", "oui", "tak", "evet", "sim", "نعم", "כן",
    }
)  # fmt: skip
_NO = frozenset(
    {
        "no", "nope", "nah", "nay", "n", "not", "never", "no way", "not really", "not yet",
        "i dont", "i do not", "we dont", "we do not", "im not", "i am not", "we arent",
        "we are not", "i havent", "we havent", "i wont", "we wont", "i cant", "we cant",
        "none", "negative", "not at all", "of course not", "definitely not", "absolutely not",
        "certainly not", "no thanks", "no thank you", "not me", "nobody", "there isnt",
        "there is not", "it isnt", "its not", "nooo", "noo",
        "нет", "неа", "не", "нету", "никак", "ни за что", "конечно нет", "вовсе нет",
        "пока нет", "отнюдь", "нее", "неее", "да нет", "нет нет", "ни в коем случае",
        "не я", "никто", "не имеется", "нет конечно", "ну нет", "совсем нет", "точно нет",
        "dont think so", "i dont think so", "do not think so", "не думаю",
        "nie", "nein", "non", "ні", "hayir", "não", "nao", "لا", "לא",
    }
)  # fmt: skip
# neither: the engine treats these as don't-know
_NEITHER = frozenset(
    {
        "yes and no", "yes or no", "да и нет", "и да и нет", "да или нет", "maybe", "perhaps",
        "possibly", "может быть", "может", "возможно", "не совсем", "not quite", "kind of",
        "sort of", "partly", "частично", "отчасти", "50 50", "depends", "it depends",
        "зависит", "смотря",
    }
)  # fmt: skip
_FILLERS = frozenset(
    {"well", "um", "uh", "hmm", "oh", "ah", "so", "ну", "эм", "хм", "ээ", "а", "думаю",
     "i", "think", "guess", "наверное", "пожалуй", "пожалуйста", "please", "ok", "ок"}
)  # fmt: skip
_MAX_PHRASE = 4
_SHORT = 5  # words: a short answer may put its yes/no after a filler


def _lead(words: list[str]) -> bool | None:
    """Polarity of the longest known phrase at the start of words."""
    for n in range(min(_MAX_PHRASE, len(words)), 0, -1):
        head = " ".join(words[:n])
        if head in _NEITHER:
            return None
        if head in _NO:
            return False
        if head in _YES:
            # "sure not", "конечно не": a negation right after turns it round
            turned = n < len(words) and words[n] in ("not", "не", "нет")
            return not (turned and head not in ("да", "yes"))
    return None


@lru_cache(maxsize=1024)
def parse_yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when it is neither or unclear."""
    if not text:
        return None
    words = normalize(text).split()
    if not words:
        return None
    joined = " ".join(words)
    if joined in _NEITHER or is_dont_know(text):
        return None
    found = _lead(words)
    if found is not None:
        return found
    if " ".join(words[:3]) in _NEITHER or " ".join(words[:2]) in _NEITHER:
        return None
    # "well, I think yes", "ну да": skip fillers, then look again
    i = 0
    while i < len(words) and words[i] in _FILLERS:
        i += 1
    if 0 < i < len(words):
        found = _lead(words[i:])
        if found is not None:
            return found
    if len(words) <= _SHORT:
        polar = {w in _NO for w in words if w in _YES or w in _NO}
        if len(polar) == 1:
            return not polar.pop()
    return None
