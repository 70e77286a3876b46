"""Text normalisation and tokenising shared by every parser.

`normalize` is the public form (one string); `analyze` keeps what matching needs
as well: the tokens, and which clause each token sits in (so a "no" in an
earlier clause does not negate a later phrase).
Both are cached: the engine asks several rules and intents about the same text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# removed without a trace: zero-width and bidi controls, soft hyphen, emoji glue
_INVISIBLE = frozenset(
    [
        *(0x00AD, 0x034F, 0x061C, 0x180E, 0xFEFF, 0x20E3),
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        *range(0xFE00, 0xFE10),  # variation selectors (emoji presentation)
        *range(0xE0000, 0xE0080),  # tag characters (flag sequences)
    ]
)
# dropped so "don't" stays one word, "dont"
_APOSTROPHES = frozenset("'’‘`´ʼ")
# end a clause: a negation does not reach over these
_CLAUSE = frozenset(".,;:!?()[]{}…—\n\r\t|،؛؟。，；！？")
CLAUSE_MARK = "\n"

_DIGIT_SEP = re.compile(r"(?<=\d)([.,])(?=\d)")
_KEEP_DOT, _KEEP_COMMA = "\x00", "\x01"  # placeholders that survive the table


class _Table(dict):
    """str.translate table filled on first sight of each character (C speed afterwards)."""

    def __missing__(self, code: int) -> str:
        out = _map_char(chr(code))
        if len(self) < 50_000:
            self[code] = out
        return out


def _map_char(ch: str) -> str:
    """What one (already NFKC'd and casefolded) character becomes."""
    code = ord(ch)
    if code in _INVISIBLE or ch in _APOSTROPHES:
        return ""
    if ch == "ё":
        return "е"
    if ch == _KEEP_DOT:
        return "."
    if ch == _KEEP_COMMA:
        return ","
    if ch in _CLAUSE:
        return CLAUSE_MARK
    cat = unicodedata.category(ch)
    if cat[0] == "L":
        return ch
    if cat == "Nd":
        return str(unicodedata.decimal(ch))  # Arabic-Indic and other digits -> 0-9
    if cat in ("Mn", "Mc"):
        _MARKS.add(ch)
        return ch  # vowel signs and accents: part of their word (see _drop_stray_marks)
    return " "


_MARKS: set[str] = set()  # combining marks met so far


def _drop_stray_marks(text: str) -> str:
    """A combining mark belongs to the letter before it; after a space or digit it is noise."""
    out = []
    prev_letter = False
    for ch in text:
        if ch in _MARKS:
            if prev_letter:
                out.append(ch)
            continue
        out.append(ch)
        prev_letter = ch.isalpha()
    return "".join(out)


_TABLE = _Table()


def clean(text: str) -> str:
    """NFKC, casefold, letters and digits kept, clause punctuation as CLAUSE_MARK.

    A `.` or `,` between two digits is kept ("1.5", "50,000"): option labels such
    as "1.5m+" must still equal what the prospect types.
    """
    if not text:
        return ""
    if text.isascii():
        text = text.casefold()
    else:
        # casefolding can undo NFKC ("ΐ"), so normalise on both sides of it
        text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    if _KEEP_DOT in text or _KEEP_COMMA in text:
        text = text.replace(_KEEP_DOT, " ").replace(_KEEP_COMMA, " ")  # typed control chars
    if "." in text or "," in text:
        text = _DIGIT_SEP.sub(lambda m: _KEEP_DOT if m[1] == "." else _KEEP_COMMA, text)
    text = text.translate(_TABLE)
    if _MARKS and not text.isascii() and not _MARKS.isdisjoint(text):
        text = _drop_stray_marks(text)
    return text


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Casefolded letters, digits and single spaces; see `clean`."""
    return " ".join(clean(text).split())


@dataclass(frozen=True, slots=True)
class TextInfo:
    """A typed text, tokenised for matching."""

    norm: str
    tokens: tuple[str, ...]
    clauses: tuple[int, ...]  # clause number of each token


@lru_cache(maxsize=1024)
def analyze(text: str) -> TextInfo:
    tokens: list[str] = []
    clauses: list[int] = []
    for clause_no, part in enumerate(clean(text).split(CLAUSE_MARK)):
        for tok in part.split():
            tokens.append(tok)
            clauses.append(clause_no)
    return TextInfo(" ".join(tokens), tuple(tokens), tuple(clauses))
