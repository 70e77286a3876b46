"""The few words the Telegram side says on its own (everything else comes from the
services' UI strings in bot/texts/*.yaml): an apology after an internal error,
the nudge after a sticker or a photo, the admin stub.

Plain text; `say(key, language_code)` picks the language from a Telegram
language code ("ru", "en-US"), falling back to English.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "apology": {
        "en": "Sorry, something went wrong on our side. Please try again in a moment.",
        "ru": "Извините, у нас что-то пошло не так. Попробуйте ещё раз чуть позже.",
    },
    "busy": {
        "en": "Sorry, we are a little busy right now. Please send that again in a minute.",
        "ru": "Извините, сейчас мы немного перегружены. Отправьте это ещё раз через минуту.",
    },
    "nudge": {
        "en": "I can only read text and button presses here. Here is where we were:",
        "ru": "Я понимаю только текст и нажатия кнопок. Вот на чём мы остановились:",
    },
    "nudge_idle": {
        "en": "I can only read text and button presses here. Send /start to begin.",
        "ru": "Я понимаю только текст и нажатия кнопок. Отправьте /start, чтобы начать.",
    },
    "admin_stub": {
        "en": "Admin commands arrive in the next version. You are recognised as an admin.",
        "ru": "Команды администратора появятся в следующей версии. Вы администратор.",
    },
    "sales_unknown_button": {
        "en": "This button is no longer valid.",
        "ru": "Эта кнопка больше не действует.",
    },
}


def lang_of(language_code: str | None) -> str:
    if not language_code:
        return "en"
    return language_code.split("-")[0].lower()


def say(key: str, language_code: str | None = None) -> str:
    texts = TEXTS[key]
    return texts.get(lang_of(language_code), texts["en"])
