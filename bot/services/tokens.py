"""Callback tokens: the compact text a button carries (Telegram allows 64 bytes).

Prospect buttons carry the flow version (the first DIGEST_CHARS of its digest)
and the question they belong to, so a press on an old message is recognised as
stale instead of answering the wrong question:

    a:<digest>:<question>:<option>   answer with one option
    t:<digest>:<question>:<mask>     multiple choice: toggle (mask = selected after the press)
    m:<digest>:<question>:<mask>     multiple choice: done with the selected options
    s:<digest>:<question>            skip this question
    b:<digest>:<question>            back: change the answer before this question
    e:<digest>:<event>               an engagement event the flow scores (materials, a person)
    c:<digest>:go                    Continue, under a reminder: the current question again
    l:<lang>                         switch language

Sales card buttons carry the handoff id: `h:<handoff id>:<action>[:<reason>]`.

Flow ids are `[a-z][a-z0-9_]{0,31}`, so ":" never occurs inside one. When ids make
a token too long, a question or option is written as `#<index>` instead
(its position in the flow), which the service maps back with the compiled flow.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BYTES = 64
DIGEST_CHARS = 8
SEP = ":"

PROSPECT_KINDS = frozenset("atmsbelc")
HANDOFF_ACTIONS = ("take", "sql", "nofit", "why", "nurture", "cancel", "bot")


class TokenError(ValueError):
    """Not a token we made (garbage, or from a much older bot)."""


@dataclass(frozen=True)
class Token:
    kind: str  # one letter, see the module docstring
    digest: str = ""  # digest prefix, for prospect buttons
    target: str = ""  # question id (or "#3"), event id, or language
    value: str = ""  # option id (or "#2"), mask in hex
    handoff_id: int | None = None
    action: str = ""  # handoff action
    reason: str = ""  # "not a fit" reason code

    def encode(self) -> str:
        if self.kind == "h":
            parts = ["h", str(self.handoff_id), self.action]
            if self.reason:
                parts.append(self.reason)
        elif self.kind == "l":
            parts = ["l", self.target]
        elif self.kind in ("s", "b", "e", "c"):
            parts = [self.kind, self.digest[:DIGEST_CHARS], self.target]
        else:
            parts = [self.kind, self.digest[:DIGEST_CHARS], self.target, self.value]
        text = SEP.join(parts)
        if len(text.encode()) > MAX_BYTES:
            raise TokenError(f"token over {MAX_BYTES} bytes: {text!r}")
        return text


def fit(
    kind: str, digest: str, question: str, qindex: int, value: str = "", vindex: int = -1
) -> str:
    """Encode a prospect token with ids, falling back to indices when too long."""
    token = Token(kind, digest, question, value)
    try:
        return token.encode()
    except TokenError:
        pass
    short_value = f"#{vindex}" if vindex >= 0 else value
    try:
        return Token(kind, digest, f"#{qindex}", value).encode()
    except TokenError:
        return Token(kind, digest, f"#{qindex}", short_value).encode()


def decode(data: str) -> Token:
    """Parse a token; TokenError when it is not one of ours."""
    if not data or len(data.encode()) > MAX_BYTES:
        raise TokenError("empty or too long")
    parts = data.split(SEP)
    kind = parts[0]
    if kind == "h":
        if len(parts) not in (3, 4) or not parts[1].isdigit() or parts[2] not in HANDOFF_ACTIONS:
            raise TokenError(data)
        return Token(
            "h",
            handoff_id=int(parts[1]),
            action=parts[2],
            reason=parts[3] if len(parts) == 4 else "",
        )
    if kind not in PROSPECT_KINDS:
        raise TokenError(data)
    if kind == "l":
        if len(parts) != 2 or not parts[1]:
            raise TokenError(data)
        return Token("l", target=parts[1])
    want = 3 if kind in ("s", "b", "e", "c") else 4
    if len(parts) != want or not all(parts[1:]):
        raise TokenError(data)
    return Token(kind, parts[1], parts[2], parts[3] if want == 4 else "")


def answer_token(digest: str, question: str, qindex: int, option: str, oindex: int) -> str:
    return fit("a", digest, question, qindex, option, oindex)


def handoff_token(handoff_id: int, action: str, reason: str = "") -> str:
    return Token("h", handoff_id=handoff_id, action=action, reason=reason).encode()
