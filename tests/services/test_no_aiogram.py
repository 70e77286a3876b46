"""The service layer, the console and the command lines never import aiogram."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "bot.services",
    "bot.services.interview",
    "bot.services.handoff",
    "bot.services.admin",
    "bot.services.stats",
    "bot.services.cards",
    "bot.services.flow_registry",
    "bot.console",
    "bot.cli_flows",
    "bot.cli_reports",
    "bot.cli_common",
]


def test_services_do_not_import_aiogram() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'aiogram' or m.startswith('aiogram.'))\n"
        "print(len(bad)); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
