"""Small word lists the matchers share, already in `normalize`d form (no apostrophes)."""

from __future__ import annotations

# a negation within this many words before a phrase (same clause) negates it:
# "we don't have the budget approved" does not say "budget approved"
NEGATION_WINDOW = 3
NEGATIONS = frozenset(
    {
        "not",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "havent",
        "hasnt",
        "hadnt",
        "wont",
        "wouldnt",
        "cant",
        "cannot",
        "couldnt",
        "never",
        "neither",
        "nor",
        "не",
        "нет",
        "нету",
        "никогда",
        "ни",
    }
)
# weaker: only right before the phrase ("no budget", "без бюджета")
NEAR_NEGATIONS = frozenset({"no", "without", "без", "ноль", "zero"})
NEAR_WINDOW = 2
# right after the phrase: "бюджет не утвержден", "budget not approved"
TRAILING_NEGATIONS = frozenset({"not", "не", "нет", "нету"})
# negative pronouns: a negation right after one agrees with it and negates what
# follows, not the pronoun: "ничего не изменится" says "nothing", "ничего нет" too
NEGATIVE_PRONOUNS = frozenset(
    {"ничего", "ничто", "ничем", "ничему", "никак", "никто", "никого", "никому", "нигде",
     "никуда", "нисколько", "никакой", "никакого", "никакие", "никаких", "nothing", "none"}
)  # fmt: skip

ALL_NEGATIONS = NEGATIONS | NEAR_NEGATIONS

# words a phrase may leave out or the text may add without changing the meaning
ARTICLES = frozenset({"a", "an", "the"})
# at most this many words between two words of a phrase: "бюджет уже утвержден"
MAX_GAP = 2

# words that carry no choice on their own; a label need not contain them when
# the prospect types "we have approved budget" for the label "Budget approved"
STOPWORDS = frozenset(
    {
        *ARTICLES,
        "i",
        "im",
        "we",
        "were",
        "weve",
        "ive",
        "you",
        "it",
        "its",
        "is",
        "are",
        "am",
        "be",
        "was",
        "my",
        "our",
        "us",
        "me",
        "to",
        "of",
        "for",
        "in",
        "on",
        "at",
        "with",
        "and",
        "or",
        "do",
        "does",
        "this",
        "that",
        "already",
        "just",
        "so",
        "very",
        "please",
        "pls",
        "well",
        "um",
        "uh",
        "hmm",
        "actually",
        "really",
        "probably",
        "maybe",
        "think",
        "guess",
        "option",
        "ну",
        "я",
        "мы",
        "у",
        "меня",
        "нас",
        "в",
        "во",
        "на",
        "с",
        "со",
        "и",
        "или",
        "а",
        "это",
        "уже",
        "же",
        "бы",
        "ли",
        "по",
        "для",
        "к",
        "о",
        "об",
        "мне",
        "наш",
        "наша",
        "наше",
        "наши",
        "мой",
        "моя",
        "мое",
        "вот",
        "так",
        "пожалуйста",
        "наверное",
        "думаю",
        "вариант",
        "вообще",
        "тоже",
        "да",
        "yes",
    }
)

# split a multiple-choice answer into parts: "crm and email", "crm, почта"
CONJUNCTIONS = frozenset({"and", "or", "plus", "also", "и", "или", "а", "также", "еще", "плюс"})
