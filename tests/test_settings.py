"""Settings: each command needs only its own, and a problem is one line naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
VARS = (
    "BOT_TOKEN",
    "SALES_CHAT_ID",
    "SALES_TOPIC_ID",
    "ADMIN_IDS",
    "WEBHOOK_LISTEN",
    "STAGE_LABELS",
    "DATABASE_URL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_lists_and_labels_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "1, 2;3")
    monkeypatch.setenv("STAGE_LABELS", "MQL=had contact,sal=hold,SQL=audit")
    s = load_settings()
    assert s.admin_ids == frozenset({1, 2, 3})
    assert s.stage_label("SAL") == "hold" and s.stage_label("MQL") == "had contact"
    assert (s.listen_host, s.listen_port) == ("0.0.0.0", 8080)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOT_TOKEN", "not-a-token"),
        ("SALES_CHAT_ID", "sales"),
        ("WEBHOOK_LISTEN", "8080"),
        ("ADMIN_IDS", "1,two"),
        ("SENDS_PER_SECOND", "-1"),
    ],
)
def test_malformed_value_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith(f"{name} is malformed") and "\n" not in message
    assert value not in message or name != "BOT_TOKEN"  # a token is never echoed


def test_missing_required_setting_names_it() -> None:
    with pytest.raises(SettingsError, match=r"^SALES_CHAT_ID is not set"):
        load_settings("sales_chat_id")


def test_empty_bot_token_is_not_set_so_chat_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bug: `BOT_TOKEN=` (empty) was "malformed" and stopped even `chat` and `flows`.
    monkeypatch.setenv("BOT_TOKEN", "")
    monkeypatch.setenv("SALES_CHAT_ID", "")
    s = load_settings()
    assert s.bot_token is None and s.sales_chat_id is None
    with pytest.raises(SettingsError, match=r"^BOT_TOKEN is not set"):
        s.require("bot_token")


def test_bot_without_token_stops_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BOT_TOKEN": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "qualibot: BOT_TOKEN is not set: add it to the environment or .env"
    )
