"""The bot's own UI strings, one YAML file per language in bot/texts/.

A third language is a new file (`bot/texts/de.yaml`), not code: every key
missing from it falls back to English. Strings use `str.format` placeholders.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

TEXTS_DIR = Path(__file__).resolve().parent.parent / "texts"
FALLBACK = "en"


@cache
def _load(lang: str) -> dict[str, str]:
    path = TEXTS_DIR / f"{lang}.yaml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in data.items()}


@cache
def languages() -> tuple[str, ...]:
    """Languages with a UI strings file, English first."""
    found = sorted(p.stem for p in TEXTS_DIR.glob("*.yaml"))
    return tuple(sorted(found, key=lambda code: code != FALLBACK))


def pick(code: str | None) -> str:
    """Our language for a Telegram language code ("ru", "en-US", None)."""
    if code:
        base = code.lower().replace("-", "_").split("_")[0]
        if base in languages():
            return base
    return FALLBACK


def t(lang: str | None, key: str, **values: object) -> str:
    """The string `key` in `lang` (falling back to English), formatted with `values`."""
    text = _load(pick(lang)).get(key)
    if text is None:
        text = _load(FALLBACK)[key]
    return text.format(**values) if values else text
