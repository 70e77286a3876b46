"""`python -m bot chat`: piped end to end in a subprocess, as a newcomer runs it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.console.conftest import FOUNDER_LINES, ROOT, Run


def test_piped_worked_example_prints_the_hot_card(run: Run, tmp_path: Path) -> None:
    proc = run("chat", "--flow", "bant", stdin="\n".join(FOUNDER_LINES) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "1/13 · Have you looked at our prices" in out
    assert "  1) Yes, the price works for us" in out
    assert "> I'm the founder, the final decision is mine." in out  # answers echoed
    assert "Thank you, Anna! A manager will get in touch with you today." in out
    card = out.split("─" * 40)[1]
    assert "Score: 95/100 (95.0%) · hot · Stage: MQL" in card
    assert "Budget: 25/25" in card and "Need: 20/25" in card
    assert "+442079460958 · anna@acme.com · Acme" in card
    assert proc.stderr == ""
    # persisted: one console lead, one finished interview
    with sqlite3.connect(tmp_path / "console.db") as con:
        assert con.execute("select count(*) from lead").fetchone() == (1,)
        assert con.execute("select status, framework_score from interview").fetchall() == [
            ("finished", 95)
        ]
    # a second run starts over and still has one lead
    again = run("chat", "--flow", "bant", stdin="skip\n")
    assert again.returncode == 0
    with sqlite3.connect(tmp_path / "console.db") as con:
        assert con.execute("select count(*) from lead").fetchone() == (1,)
        assert con.execute("select count(*) from interview").fetchone() == (2,)


def test_eof_mid_interview_ends_politely(run: Run) -> None:
    proc = run("chat", "--flow", "bant", "--name", "Anna", stdin="1\n")
    assert proc.returncode == 0
    assert "Hi, Anna!" in proc.stdout
    assert proc.stdout.rstrip().endswith("the next run starts a new interview.")
    assert "Traceback" not in proc.stderr


def test_back_skip_and_numbers_in_russian(run: Run) -> None:
    lines = ["2", "назад", "1", "пропустить", "выход"]
    proc = run("chat", "--flow", "bant", "--lang", "ru", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("1/13 · Вы уже смотрели наши цены?") == 2  # asked again after "назад"
    assert "Какая у вас роль в выборе такого решения?" in out
    assert "Кто ещё участвует в решении?" in out  # role skipped → who else decides
    assert "Остановились." in out


def test_memory_keeps_nothing_on_disk(run: Run, tmp_path: Path) -> None:
    proc = run("chat", "--memory", stdin="")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "console.db").exists() and not (tmp_path / "data").exists()


def test_default_database_is_a_file_in_data(run: Run, tmp_path: Path) -> None:
    proc = run("chat", stdin="", extra_env={"DATABASE_URL": ""})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "qualibot.db").is_file()


def test_unknown_flow_is_one_line(run: Run) -> None:
    proc = run("chat", "--flow", "nope", stdin="")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("qualibot: no flow 'nope'; known flows: ")
    assert "bant" in proc.stderr


def test_console_never_imports_aiogram(tmp_path: Path, env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from bot.__main__ import main\n"
        "rc = main(['chat', '--flow', 'bant'])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'aiogram']\n"
        "sys.exit(3 if bad else rc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input="\n".join(FOUNDER_LINES) + "\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "95/100" in proc.stdout
    assert ROOT.is_dir()
