"""Typed-answer parsers: pure functions from what a prospect typed to a value.

No I/O, no aiogram, no storage. Every function takes any text (emoji,
zero-width characters, right-to-left scripts, 4,096 characters of noise) and
returns None rather than raising when it finds nothing. Matching indexes are
built once per distinct option or phrase tuple and cached, so the engine can
pass its compiled tables straight in.
"""

from flows.answers.choice import (
    OptionIndex,
    OptionMatch,
    build_option_index,
    match_option,
    match_option_indexed,
    match_options,
    match_options_indexed,
)
from flows.answers.contact import parse_email, parse_phone
from flows.answers.number import parse_number
from flows.answers.phrases import PhraseIndex, matches_any, matches_any_indexed, phrase_index
from flows.answers.skip import is_dont_know, is_skip
from flows.answers.text import normalize
from flows.answers.timeline import SOMEDAY_DAYS, parse_timeline
from flows.answers.yesno import parse_yes_no

__all__ = [
    "SOMEDAY_DAYS",
    "OptionIndex",
    "OptionMatch",
    "PhraseIndex",
    "build_option_index",
    "is_dont_know",
    "is_skip",
    "match_option",
    "match_option_indexed",
    "match_options",
    "match_options_indexed",
    "matches_any",
    "matches_any_indexed",
    "normalize",
    "parse_email",
    "parse_number",
    "parse_phone",
    "parse_timeline",
    "parse_yes_no",
    "phrase_index",
]
