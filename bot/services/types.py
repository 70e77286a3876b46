"""Plain data the services take and give back: no aiogram, no database rows.

Texts are plain text, never HTML: the Telegram side escapes them. The one
exception is `CardView.html`, the sales card, rendered by jinja2 with
autoescape on and sent with parse_mode=HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from flows.scoring import Result

MessageKind = Literal["question", "reask", "closing", "info", "stale", "say", "offer"]


@dataclass(frozen=True)
class Prospect:
    """Who wrote: a Telegram user in a private chat (or the console's pretend user)."""

    user_id: int
    chat_id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None  # from the Telegram profile, e.g. "ru", "en-US"


@dataclass(frozen=True)
class Button:
    """An inline button. `token` is the callback data (at most 64 bytes); pass it back
    to the service unchanged. A button with `url` opens a link instead."""

    label: str
    token: str = ""
    url: str | None = None


Keyboard = tuple[tuple[Button, ...], ...]  # rows of buttons


@dataclass(frozen=True)
class OutMessage:
    """One message to send to the prospect, in order."""

    text: str
    kind: MessageKind = "info"
    buttons: Keyboard = ()
    # Show a one-button reply keyboard asking for the phone number (request_contact).
    request_contact: bool = False
    # Remove a reply keyboard shown earlier (after the phone question).
    remove_keyboard: bool = False
    question_id: str | None = None  # set for kind question/reask
    progress: tuple[int, int] | None = None  # (index, total) for "3/8"; already in `text`


@dataclass(frozen=True)
class EditPrevious:
    """Edit the message of the question just answered, to show the choice.

    `message_id` is the id the Telegram side reported with `note_message` for
    that question (None if unknown: then use the pressed button's message, or skip).
    """

    text: str
    message_id: int | None = None
    buttons: Keyboard = ()  # usually empty: the keyboard goes away


@dataclass
class Reply:
    """What the prospect should see after one call, plus facts for the caller."""

    messages: list[OutMessage] = field(default_factory=list)
    edit_previous: EditPrevious | None = None
    # Short text for answerCallbackQuery (the Telegram side answers every callback at once
    # anyway; this is what to show in it, e.g. "That question is already answered").
    notice: str | None = None
    duplicate: bool = False  # the update id was seen before; nothing was done
    stale: bool = False  # an old button or a question no longer current; nothing changed
    lead_became_hot: bool = False
    card_queued: bool = False  # a sales card (or a card edit) went into the outbox
    finished: bool = False  # the interview ended with this call
    interview_id: int | None = None
    lead_id: int | None = None
    result: Result | None = None  # the engine's result when the interview ended (console)
    lang: str | None = None  # the interview's language, when there is one
    # text(check_relay=True): sales has the lead; nothing done, relay the message
    relayed: bool = False


@dataclass(frozen=True)
class Actor:
    """A person pressing a card button or running an admin command.

    The Telegram side finds the facts (membership of the sales chat via
    getChatMember, ADMIN_IDS) and passes them in; the service decides.
    """

    user_id: int | None
    name: str
    username: str | None = None
    is_admin: bool = False
    is_sales_member: bool = False


@dataclass(frozen=True)
class CardView:
    """The sales card: HTML (parse_mode=HTML, under 4,096 characters) and its buttons."""

    html: str
    buttons: Keyboard = ()


@dataclass
class CardActionReply:
    """The result of a card button press."""

    notice: str  # for answerCallbackQuery
    alert: bool = False  # show_alert=True (refusals)
    card: CardView | None = None  # edit the card message in place with this
    # Extra buttons to show under the card instead, e.g. the "not a fit" reasons.
    ask_reason: Keyboard | None = None
    changed: bool = False
    duplicate: bool = False
    stage: str | None = None


def keyboard_to_json(keyboard: Keyboard) -> list[list[dict[str, str]]]:
    """Buttons for an outbox payload: rows of {"label", "token"} or {"label", "url"}."""
    rows: list[list[dict[str, str]]] = []
    for row in keyboard:
        out: list[dict[str, str]] = []
        for b in row:
            out.append(
                {"label": b.label, "url": b.url} if b.url else {"label": b.label, "token": b.token}
            )
        rows.append(out)
    return rows


def keyboard_from_json(rows: list[list[dict[str, str]]] | None) -> Keyboard:
    return tuple(
        tuple(Button(b["label"], b.get("token", ""), b.get("url")) for b in row)
        for row in rows or ()
    )
