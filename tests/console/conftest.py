"""The command lines, run as a newcomer would: in a fresh folder, no token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# DOMAIN.md's founder, one answer a line, as BANT asks (the console has no profile
# name unless --name is given, so it asks for the name).
FOUNDER_LINES = [
    "We compared the market and chose your product. The price we saw is fine with us.",
    "I'm the founder, the final decision is mine.",
    "A CRM to organise our sales team.",
    "Not sure yet which add-ons we need.",
    "Can you do the rollout in 2 weeks?",
    "1",
    "services",
    "25",
    "Anna",
    "Acme",
    "+44 20 7946 0958",
    "anna@acme.com",
]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    clean["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'console.db'}"
    clean["PYTHONPATH"] = str(ROOT)
    return clean


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path, env: dict[str, str]) -> Run:
    def go(
        *args: str, stdin: str = "", extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**env, **(extra_env or {})},
            timeout=120,
        )

    return go


@pytest.fixture
def in_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Path:
    """Run `bot.__main__.main` in-process, in a fresh folder with its own database."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("BOT_", "DATABASE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", env["DATABASE_URL"])
    return tmp_path
