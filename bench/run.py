#!/usr/bin/env python
"""Load benchmark: our bot against a bare aiogram bot, on a fake Telegram, one command.

    python bench/run.py                 # N = 10 and 100, SQLite, polling; a profile
    python bench/run.py --full          # + N = 1,000, PostgreSQL, webhook mode, and
                                        #   scale-out: nginx before 1 and 2 processes
    python bench/run.py --memory        # 10,000 interviews in progress: RSS growth
    python bench/run.py --n 10 --no-profile --bare-only   # a quick harness check

Each measurement gets a fresh fake Bot API process (bench/fake_api.py: tests/fakebot
and the prospects, on 127.0.0.1), a fresh database, and one bot process started the
way it is deployed (`python -m bot`, or `python bench/bare_bot.py`, same variables).
N prospects start at once; each does a whole BANT interview (bench/scenario.py:
buttons and typed answers, mixed) and answers each question the moment it arrives.
Figures are reported, never asserted. Writes bench/RESULTS.md (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
TOKEN = "123456:TEST-fake-bot-token"
SALES_CHAT = -1001234567890
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
CLK_TCK = os.sysconf("SC_CLK_TCK")
UPDATES_PER_INTERVIEW = 12  # bench/scenario.py: /start + 11 answers (the name is known)

sys.path.insert(0, str(BENCH))


# ---------------------------------------------------------------------- processes


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_mem(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) in MiB."""
    out = {"rss": 0.0, "hwm": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                out["hwm"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def system_busy() -> float:
    """CPU seconds all processes have used (from /proc/stat), for the load check."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeApi:
    """bench/fake_api.py in its own process, driven over its stdin/stdout."""

    def __init__(self, workdir: Path) -> None:
        self.log = open(workdir / "fake_api.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [PY, str(BENCH / "fake_api.py"), "--uvloop"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=ROOT,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip():
            raise RuntimeError("the fake Bot API did not start: see fake_api.log")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cmd(self, name: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cmd": name, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake Bot API died during {name!r}")
        answer = json.loads(line)
        if "error" in answer and name != "first_call":
            raise RuntimeError(f"fake Bot API {name}: {answer['error']}")
        return answer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@dataclass
class Target:
    name: str  # "ours" | "bare"
    argv: list[str]
    durable: bool  # ours: check the database afterwards

    @staticmethod
    def ours() -> Target:
        return Target("ours", [PY, "-m", "bot"], True)

    @staticmethod
    def bare() -> Target:
        return Target("bare", [PY, str(BENCH / "bare_bot.py")], False)


class BotProcess:
    def __init__(self, target: Target, env: dict[str, str], workdir: Path, tag: str) -> None:
        self.target = target
        self.log_path = workdir / f"{tag}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
        full_env.update(env)
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen(
            target.argv, env=full_env, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# ---------------------------------------------------------------------- databases


class Databases:
    """Fresh SQLite files, or fresh PostgreSQL databases dropped at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.created: list[str] = []
        self.count = 0

    def fresh(self, kind: str) -> str:
        self.count += 1
        if kind == "sqlite":
            path = self.workdir / f"bench{self.count}.db"
            return f"sqlite+aiosqlite:///{path}"
        name = f"qualibot_bench_{os.getpid()}_{self.count}"
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    def drop_all(self) -> None:
        for name in self.created:
            with contextlib.suppress(Exception):
                _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


def _pg(*statements: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def durable_counts(url: str) -> dict[str, Any]:
    """What our bot committed: answers, interviews by status, cards, processed updates."""
    queries = {
        "answers": "SELECT count(*) FROM answer",
        "interviews_finished": "SELECT count(*) FROM interview WHERE status = 'finished'",
        "interviews": "SELECT count(*) FROM interview",
        "processed_updates": "SELECT count(*) FROM processed_update",
        "cards_queued": "SELECT count(*) FROM outbox WHERE kind = 'card'",
        "cards_sent": "SELECT count(*) FROM outbox WHERE kind = 'card' AND status = 'sent'",
    }
    out: dict[str, Any] = {}
    try:
        if url.startswith("sqlite"):
            import sqlite3

            path = url.split(":///", 1)[1]
            with contextlib.closing(sqlite3.connect(path)) as conn:
                for key, query in queries.items():
                    try:
                        out[key] = conn.execute(query).fetchone()[0]
                    except sqlite3.Error as exc:
                        out[key] = f"error: {exc}"
        else:
            import asyncpg

            async def run() -> None:
                conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
                try:
                    for key, query in queries.items():
                        try:
                            out[key] = await conn.fetchval(query)
                        except asyncpg.PostgresError as exc:
                            out[key] = f"error: {exc}"
                finally:
                    await conn.close()

            asyncio.run(run())
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


# ---------------------------------------------------------------------- one measurement


@dataclass
class Measure:
    target: str
    n: int
    db: str  # sqlite | postgresql | none
    mode: str  # polling | webhook
    processes: int = 1
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.n, self.db, self.mode, self.processes)


def bot_env(
    fake: FakeApi,
    db_url: str | None,
    webhook: dict[str, str] | None,
    limits: dict[str, Any] | None = None,
) -> dict[str, str]:
    env = {
        "BOT_TOKEN": TOKEN,
        "SALES_CHAT_ID": str(SALES_CHAT),
        "TELEGRAM_API_URL": fake.url,
        "PYTHONUNBUFFERED": "1",
        # The same limits as the fake's: without them there (like the bare bot, which
        # paces nothing) our overall 30/s budget is off; per-chat pacing stays.
        "SENDS_PER_SECOND": "30" if limits else "0",
    }
    if db_url:
        env["DATABASE_URL"] = db_url
    if webhook:
        env.update(webhook)
    return env


def wait_http(url: str, timeout: float) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return True
        time.sleep(0.05)
    return False


def measure(
    target: Target,
    n: int,
    *,
    workdir: Path,
    dbs: Databases,
    db_kind: str = "sqlite",
    mode: str = "polling",
    processes: int = 1,
    balancer: Nginx | None = None,
    answers: int | None = None,
    warmup: int = 0,
    profile: Path | None = None,
    stall: float = 15.0,
    settle: float = 1.0,
    limits: dict[str, Any] | None = None,
) -> Measure:
    """Start a fake API and the bot, play N prospects, return the figures."""
    result = Measure(target.name, n, db_kind if target.durable else "none", mode, processes)
    fake = FakeApi(workdir)
    bots: list[BotProcess] = []
    spy: subprocess.Popen[bytes] | None = None
    db_url = dbs.fresh(db_kind) if target.durable else None
    try:
        fake.cmd(
            "setup",
            token=TOKEN,
            sales_chat_id=SALES_CHAT,
            webhook_concurrency=40,
            limits=limits or {},
        )
        secret = "bench-secret-" + str(os.getpid())
        ports = [free_port() for _ in range(processes)]
        if balancer is not None:
            balancer.start(ports)
        for i in range(processes):
            webhook = None
            if mode == "webhook":
                public = balancer.url if balancer is not None else f"http://127.0.0.1:{ports[i]}"
                webhook = {
                    "WEBHOOK_URL": public + "/webhook",
                    "WEBHOOK_LISTEN": f"127.0.0.1:{ports[i]}",
                    "WEBHOOK_SECRET": secret,
                }
            tag = f"{target.name}-n{n}-{db_kind}-{mode}-{processes}p-{i}"
            bots.append(BotProcess(target, bot_env(fake, db_url, webhook, limits), workdir, tag))
        first = fake.cmd(
            "first_call", method="setWebhook" if mode == "webhook" else "getUpdates", timeout=120
        )
        if "error" in first:
            raise RuntimeError(f"{first['error']}; bot log:\n{bots[0].tail()}")
        startup = first["time"] - bots[0].spawned
        if mode == "webhook" and processes > 1:
            # Every process is up once its own setWebhook went through and it answers.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                calls = fake.cmd("calls", method="setWebhook")["calls"]
                if len(calls) >= processes:
                    break
                time.sleep(0.05)
        if target.name == "ours" and mode == "webhook":
            for port in ports:
                wait_http(f"http://127.0.0.1:{port}/healthz", 60)
        time.sleep(settle)  # let start-up work (outbox, timers, commands) settle
        for bot in bots:
            if not bot.alive():
                raise RuntimeError(f"{target.name} exited at start:\n{bot.tail()}")
        idle_mem = [proc_mem(b.pid) for b in bots]
        if warmup:
            fake.cmd("play", n=warmup, first_id=9_000_000, stall=stall, timeout=300)
            fake.cmd("idle", quiet=0.5, timeout=60)
            time.sleep(settle)
        warm_mem = [proc_mem(b.pid) for b in bots]
        if profile is not None:
            spy = subprocess.Popen(
                [str(Path(PY).parent / "py-spy"), "record", "--pid", str(bots[0].pid),
                 "--format", "raw", "--rate", "250", "--gil", "-o", str(profile)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
        cpu0 = [proc_cpu(b.pid) for b in bots]
        fake_cpu0 = proc_cpu(fake.pid)
        busy0, wall0 = system_busy(), time.monotonic()
        figures = fake.cmd(
            "play", n=n, first_id=1_000_000, answers=answers, stall=stall, timeout=3600
        )
        busy1, wall1 = system_busy(), time.monotonic()
        cpu1 = [proc_cpu(b.pid) for b in bots]
        fake_cpu1 = proc_cpu(fake.pid)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(30)
        if answers is not None:
            fake.cmd("idle", quiet=1.0, timeout=120)
            time.sleep(2.0)
        mem = [proc_mem(b.pid) for b in bots]
        bot_cpu = sum(c1 - c0 for c0, c1 in zip(cpu0, cpu1, strict=True))
        span = figures["span"]
        wall = wall1 - wall0
        ours_and_harness = bot_cpu + (fake_cpu1 - fake_cpu0)
        figures.update(
            startup_s=startup,
            bot_cpu_s=bot_cpu,
            cpu_per_1000=1000 * bot_cpu / max(1, figures["handled"]),
            cores_used=bot_cpu / max(1e-9, wall),
            per_process_cpu=[c1 - c0 for c0, c1 in zip(cpu0, cpu1, strict=True)],
            harness_cores=(fake_cpu1 - fake_cpu0) / max(1e-9, wall),
            other_load_cores=max(0.0, (busy1 - busy0) - ours_and_harness) / max(1e-9, wall),
            idle_rss_mb=sum(m["rss"] for m in idle_mem),
            warm_rss_mb=sum(m["rss"] for m in warm_mem),
            rss_mb=sum(m["rss"] for m in mem),
            peak_rss_mb=max(m["hwm"] for m in mem),
            peak_rss_each=[m["hwm"] for m in mem],
            wall_s=wall,
            span_s=span,
        )
        if balancer is not None:
            figures["nginx_cpu_s"] = balancer.cpu()
        for bot in bots:
            if not bot.alive():
                figures.setdefault("crashed", []).append(bot.tail())
        result.figures = figures
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        codes = [bot.stop() for bot in bots]
        if balancer is not None:
            balancer.stop()
        fake.close()
        if result.figures is not None:
            result.figures["exit_codes"] = codes
        if db_url is not None and not result.error:
            result.figures["durable"] = durable_counts(db_url)
    return result


# ---------------------------------------------------------------------- nginx


class Nginx:
    """nginx from Debian's packages, config in a temp dir, listening on loopback only."""

    def __init__(self, workdir: Path) -> None:
        self.binary = find_or_install_nginx()
        self.dir = workdir / "nginx"
        self.dir.mkdir(exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ports: list[int]) -> None:
        d = self.dir
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / sub).mkdir(exist_ok=True)
        servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in ports)
        (d / "nginx.conf").write_text(
            f"""worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  upstream bots {{
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://bots;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_read_timeout 60s;
    }}
  }}
}}
"""
        )
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(d / "nginx.conf"), "-p", str(d)],
            stdout=subprocess.DEVNULL,
            stderr=open(d / "stderr.log", "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not start: {(d / 'error.log').read_text(errors='replace')}")

    def cpu(self) -> float:
        if self.proc is None:
            return 0.0
        total = proc_cpu(self.proc.pid)
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                total += proc_cpu(int(child))
        return total

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def find_or_install_nginx() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    print("nginx is missing: installing it from Debian's packages", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "install", "-y", "--no-install-recommends"]
    for package in ("nginx-light", "nginx"):
        if subprocess.run([*apt, package], env=env, capture_output=True).returncode == 0:
            break
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        if subprocess.run([*apt, package], env=env, capture_output=True).returncode == 0:
            break
    # The package starts a system nginx on port 80; the benchmark needs only the binary.
    subprocess.run(["service", "nginx", "stop"], capture_output=True)
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("could not install nginx (apt-get install nginx-light)")


# ---------------------------------------------------------------------- profile


CATEGORIES = (
    ("bot/", "bot (ours)"),
    ("storage/", "storage (ours)"),
    ("flows/", "flows (ours)"),
    ("sqlalchemy/", "sqlalchemy"),
    ("sqlmodel/", "sqlalchemy"),
    ("aiosqlite/", "aiosqlite"),
    ("sqlite3/", "sqlite3"),
    ("asyncpg/", "asyncpg"),
    ("aiogram/", "aiogram"),
    ("pydantic", "pydantic"),
    ("aiohttp/", "aiohttp"),
    ("jinja2/", "jinja2"),
    ("transitions/", "transitions"),
    ("rapidfuzz/", "rapidfuzz"),
    ("phonenumbers/", "phonenumbers"),
    ("email_validator/", "email_validator"),
    ("yaml/", "yaml"),
    ("logging/", "logging"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "uvloop"),
    ("json/", "json"),
    ("greenlet", "greenlet"),
    ("threading.py", "threading"),
    ("concurrent/", "threading"),
    ("queue.py", "threading"),
)


CAUSES = (
    ("pydantic rebuilds aiogram's Response[...] class (weak generic cache)", "create_generic_"),
    ("aiogram parses the Bot API answer (check_response)", "check_response (aiogram"),
    ("InterviewService (database transaction and engine)", "InterviewService._run"),
    ("sending the reply (send_reply: aiogram, pacing, HTTP)", "send_reply (bot/"),
    ("note_message (a second transaction per question sent)", "note_message (bot/"),
    ("SQLAlchemy", "sqlalchemy/"),
    ("aiosqlite / sqlite3", "aiosqlite/"),
    ("asyncpg", "asyncpg/"),
    ("the flow engine (flows/)", "(flows/"),
    ("polling: getUpdates and update parsing", "_listen_updates"),
    ("outbox worker", "outbox_worker.py"),
    ("timer worker", "timer_worker.py"),
    ("logging", "logging/"),
)


def categorise(frame: str) -> str:
    location = frame.rsplit(" (", 1)[-1]
    for needle, name in CATEGORIES:
        if needle in location:
            return name
    return "other"


def summarise_profile(path: Path) -> dict[str, Any]:
    """Self and inclusive shares from py-spy's raw (collapsed) output."""
    self_cat: Counter[str] = Counter()
    incl_cat: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    incl_ours: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"error": f"no profile written to {path}"}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames and frames[0].startswith(("thread", "process")) else "?"
        frames = [f for f in frames if " (" in f]
        if not frames:
            continue
        threads[thread.split(" ")[0] + " " + (thread.split(" ")[1] if " " in thread else "")] += (
            count
        )
        total += count
        leaf = frames[-1]
        for name, needle in CAUSES:
            if any(needle in f for f in frames):
                causes[name] += count
        self_cat[categorise(leaf)] += count
        self_fn[leaf] += count
        for cat in {categorise(f) for f in frames}:
            incl_cat[cat] += count
        for fn in {f for f in frames if categorise(f).endswith("(ours)")}:
            incl_ours[fn] += count
    return {
        "samples": total,
        "causes": {name: count for name, count in causes.items()},
        "self_by_package": self_cat.most_common(),
        "inclusive_by_package": incl_cat.most_common(),
        "top_self": self_fn.most_common(20),
        "top_ours_inclusive": incl_ours.most_common(25),
        "threads": threads.most_common(6),
    }


# ---------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    import aiogram

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory": mem,
        "python": platform.python_version(),
        "aiogram": aiogram.__version__,
        "kernel": platform.release(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def row(m: Measure) -> str:
    f = m.figures
    if m.error or not f:
        return f"| {m.target} | {m.n} | {m.db} | {m.mode} | {m.processes} | failed: {m.error} |"
    lat = f["latency"]
    return (
        f"| {m.target} | {m.n} | {m.db} | {m.mode} | {m.processes} "
        f"| {f['updates_per_s']:.0f} | {ms(lat['p50'])} | {ms(lat['p99'])} | {ms(lat['max'])} "
        f"| {f['lost']} | {f['failed_calls']} | {f['peak_rss_mb']:.0f} "
        f"| {f['cpu_per_1000']:.2f} | {f['startup_s']:.2f} "
        f"| {f['cores_used']:.2f} | {f['harness_cores']:.2f} | {f['other_load_cores']:.2f} |"
    )


HEADER = (
    "| bot | N | db | mode | procs | updates/s | p50 ms | p99 ms | max ms | lost "
    "| failed calls | peak RSS MiB | CPU s / 1000 upd | start-up s | bot cores "
    "| harness cores | other load cores |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def headline(measures: list[Measure]) -> list[str]:
    lines = [
        "| N | db | mode | throughput ours/bare | p99 ours/bare | start-up ours/bare "
        "| CPU per update ours/bare | peak RSS ours/bare |",
        "|---|---|---|---|---|---|---|---|",
    ]
    bare = {(m.n, m.mode): m for m in measures if m.target == "bare" and m.figures}
    for m in measures:
        if m.target != "ours" or not m.figures or m.processes != 1:
            continue
        b = bare.get((m.n, m.mode))
        if b is None:
            continue
        f, g = m.figures, b.figures
        lines.append(
            f"| {m.n} | {m.db} | {m.mode} "
            f"| {ratio(f['updates_per_s'], g['updates_per_s'])} "
            f"| {ratio(f['latency']['p99'], g['latency']['p99'])} "
            f"| {ratio(f['startup_s'], g['startup_s'])} "
            f"| {ratio(f['cpu_per_1000'], g['cpu_per_1000'])} "
            f"| {ratio(f['peak_rss_mb'], g['peak_rss_mb'])} |"
        )
    return lines


def durable_lines(measures: list[Measure]) -> list[str]:
    lines = []
    for m in measures:
        d = m.figures.get("durable") if m.figures else None
        if not d:
            continue
        answered = UPDATES_PER_INTERVIEW - 1
        expected = m.figures.get("completed", 0) * answered + m.figures.get("parked", 0) * 2
        lines.append(
            f"- ours, N={m.n}, {m.db}, {m.mode}, {m.processes} process(es): "
            f"{d.get('answers')} answer rows (expected {expected}), "
            f"{d.get('interviews_finished')} finished interviews of {d.get('interviews')}, "
            f"{d.get('processed_updates')} processed updates, "
            f"cards queued {d.get('cards_queued')}, sent {d.get('cards_sent')}"
        )
    return lines


def notes_lines(measures: list[Measure]) -> list[str]:
    lines = []
    for m in measures:
        f = m.figures or {}
        bits = []
        if f.get("lost"):
            bits.append(f"lost sample {f.get('lost_sample')}")
        if f.get("failed_calls"):
            bits.append(f"failed calls {f.get('failed_sample')}")
        if f.get("problem_count"):
            bits.append(f"fake-server problems {f.get('problems')}")
        unmatched = {k: v for k, v in (f.get("unmatched") or {}).items() if not k.startswith("Hi")}
        if unmatched:
            bits.append(f"messages that were neither questions nor closings: {unmatched}")
        if f.get("crashed"):
            bits.append(f"crashed: {f.get('crashed')}")
        if m.error:
            bits.append(f"error: {m.error}")
        if bits:
            lines.append(f"- {m.target} N={m.n} {m.db} {m.mode} {m.processes}p: " + "; ".join(bits))
    return lines


def profile_lines(summary: dict[str, Any] | None) -> list[str]:
    if not summary:
        return ["(no profile in this run: --no-profile)"]
    if "error" in summary:
        return [f"(profile failed: {summary['error']})"]
    total = max(1, summary["samples"])
    out = [
        f"py-spy record --gil, 250 samples/s, attached to `python -m bot` during an N=100 "
        f"polling run on SQLite (a separate run: sampling slows the process). "
        f"{summary['samples']} samples of the thread holding the GIL (Python work; waits "
        "and C code running without the GIL are not counted).",
        "",
        "| where (inclusive, a sample can count in several) | % |",
        "|---|---|",
        *[
            f"| {name} | {100 * count / total:.1f} |"
            for name, count in sorted(summary.get("causes", {}).items(), key=lambda kv: -kv[1])
        ],
        "",
        "| package | self % | inclusive % |",
        "|---|---|---|",
    ]
    incl = dict(summary["inclusive_by_package"])
    for name, count in summary["self_by_package"]:
        out.append(
            f"| {name} | {100 * count / total:.1f} | {100 * incl.get(name, 0) / total:.1f} |"
        )
    out += ["", "Hottest leaf functions (self %):", ""]
    for fn, count in summary["top_self"][:15]:
        out.append(f"- {100 * count / total:.1f}% `{fn}`")
    out += ["", "Our functions by inclusive share (time spent in them and below):", ""]
    for fn, count in summary["top_ours_inclusive"][:20]:
        out.append(f"- {100 * count / total:.1f}% `{fn}`")
    return out


def store_and_write(path: Path, section: str, run: dict[str, Any]) -> dict[str, Any]:
    """Keep this run's section in bench/results.json (the other section, default/full
    or memory, stays as its last run left it) and write RESULTS.md from both."""
    store = path.with_name("results.json")
    data: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(store.read_text())
    data.setdefault("runs", {})[section] = run
    store.write_text(json.dumps(data, indent=1, default=str))
    path.write_text(render(data))
    return data


def _measures(items: list[dict[str, Any]]) -> list[Measure]:
    return [Measure(**item) for item in items]


def render(data: dict[str, Any]) -> str:
    runs = data.get("runs", {})
    main_run = runs.get("main")
    memory_run = runs.get("memory")
    lines = [
        "# Benchmark results",
        "",
        "Written by bench/run.py (see its docstring). Figures are measured, never asserted.",
        "",
    ]
    for label, run in (("Load benchmark", main_run), ("Memory", memory_run)):
        if not run:
            continue
        info = run["machine"]
        lines += [
            f"## {label}: how this run was made",
            "",
            f"- command: `{run['command']}`, {run['date']}, {run['elapsed']:.0f} s",
            f"- machine: nproc {info['nproc']}, CPU {info['cpu']}, memory {info['memory']}, "
            f"kernel {info['kernel']}; Python {info['python']}, aiogram {info['aiogram']}",
            f"- load average before: {' '.join(run['load_before'])}, after: "
            f"{' '.join(run['load_after'])}. {run['loaded_note']}",
            f"- fake Telegram limits: {run['limits']}",
            "",
        ]
    if main_run:
        measures = _measures(main_run["measures"])
        scaleout = _measures(main_run["scaleout"])
        if measures:
            lines += ["## Headline: ours against the bare aiogram bot", "", *headline(measures)]
            lines += [
                "",
                "Targets (issue 7): throughput >= 1.0x (0.8x floor) at N = 100 and 1,000, "
                "p99 at N = 100 <= 1.2x, start-up <= 1.3x.",
                "",
                "## All figures",
                "",
                HEADER,
                *[row(m) for m in measures],
            ]
        if scaleout:
            lines += [
                "",
                "## Scale-out: nginx before 1 and 2 processes (webhook, PostgreSQL)",
                "",
                HEADER,
                *[row(m) for m in scaleout],
            ]
            for m in scaleout:
                if m.figures:
                    lines.append(
                        f"- {m.processes} process(es): CPU per process "
                        f"{[round(c, 2) for c in m.figures['per_process_cpu']]} s, "
                        f"nginx {m.figures.get('nginx_cpu_s', 0):.2f} s, cores used by the "
                        f"bots {m.figures['cores_used']:.2f} of {main_run['machine']['nproc']}"
                    )
    if memory_run:
        memory = _measures(memory_run["measures"])
        lines += [
            "",
            f"## Memory: {memory[0].n if memory else '?'} interviews in progress",
            "",
            "| bot | idle RSS MiB | after warm-up MiB | with the interviews in progress MiB "
            "| growth over idle | growth over warm | updates |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in memory:
            f = m.figures
            if not f or m.error:
                lines.append(f"| {m.target} | failed: {m.error} |")
                continue
            lines.append(
                f"| {m.target} | {f['idle_rss_mb']:.1f} | {f['warm_rss_mb']:.1f} "
                f"| {f['rss_mb']:.1f} | {f['rss_mb'] - f['idle_rss_mb']:+.1f} "
                f"| {f['rss_mb'] - f['warm_rss_mb']:+.1f} | {f['handled']} |"
            )
        lines += [
            "",
            "Each prospect sent /start and answered two questions, then went quiet. Idle: "
            "right after start-up; warm: after 20 whole interviews (flows compiled, "
            "templates loaded). Target: < 30 MB over the idle bot for 10,000.",
        ]
    everything = []
    if main_run:
        everything += _measures(main_run["measures"]) + _measures(main_run["scaleout"])
    if memory_run:
        everything += _measures(memory_run["measures"])
    durable = durable_lines(everything)
    if durable:
        lines += ["", "## What our bot committed", "", *durable]
    notes = notes_lines(everything)
    if notes:
        lines += ["", "## Anomalies", "", *notes]
    lines += ["", "## Where the time goes", ""]
    lines += profile_lines(main_run.get("profile") if main_run else None)
    analysis = Path(__file__).with_name("ANALYSIS.md")
    if analysis.exists():  # the engineers' reading of these figures, kept by hand
        lines += ["", analysis.read_text().strip()]
    lines += ["", *METHOD]
    return "\n".join(lines) + "\n"


METHOD = [
    "## How it is measured",
    "",
    "- Same limits for both: by default the fake limits nothing and the bare bot paces "
    "nothing, so ours runs with SENDS_PER_SECOND=0 (private chats not paced before "
    "sending; the sales group still at 20 a minute). With its production defaults (30 a "
    "second in all, 3 per 3 s per chat) ours is capped near 30 updates/s, and each of "
    "these prospects, who answer the instant a question arrives, near 1 update/s. "
    "`--limits telegram` makes the fake enforce Telegram's limits with 429s on both (ours "
    "then keeps its defaults); aiogram alone does not retry a 429, so the bare bot loses "
    "messages there.",
    "- Fake Telegram: tests/fakebot's server in its own process (bench/fake_api.py, on "
    "uvloop); webhook deliveries up to 40 at once; the prospects live in that process and "
    "answer each question the moment the bot's sendMessage arrives (no think time), so each "
    "prospect has one update outstanding at a time.",
    f"- One interview: /start and 11 answers, {UPDATES_PER_INTERVIEW} updates (BANT's happy "
    "path, bench/scenario.py; the name is not asked: Telegram gave it); one button answer in "
    "three is typed instead. Both bots make the same calls per update: a button: "
    "answerCallbackQuery, editMessageText, sendMessage; a typed answer: editMessageText, "
    "sendMessage.",
    "- updates/s: updates that got a reply, over the time from the first /start to the last "
    "reply. Latency: from the moment the update is queued at the fake server to the bot's "
    "first sendMessage in that chat after it (one monotonic clock).",
    "- lost: prospects whose interview did not reach the closing message (no progress for "
    "the stall time ends a measurement). Failed calls: Bot API calls answered with an error.",
    "- Peak RSS: VmHWM of the bot process (the largest one in scale-out). CPU: user+system "
    "seconds of the bot process(es) during the play, per 1,000 updates handled. Bot cores: "
    "that CPU over the wall time. Harness cores: the fake Telegram's CPU likewise (near 1.0 "
    "would mean the harness, not the bot, is the limit). Other load: CPU used meanwhile by "
    "processes outside the benchmark (above ~0.2 the machine was shared: noisy figures).",
    "- Start-up: from spawning the process to its first getUpdates (polling) or setWebhook "
    "(webhook) reaching the fake server.",
    "- Ours: `python -m bot`, a fresh SQLite file or PostgreSQL database, LOG_LEVEL INFO as "
    "deployed. Bare: `python bench/bare_bot.py`, aiogram's defaults.",
    "",
    "## Commands",
    "",
    "```",
    "python bench/run.py            # default: N = 10, 100; SQLite; polling; profile",
    "python bench/run.py --full     # + N = 1000, PostgreSQL, webhook, nginx scale-out",
    "python bench/run.py --memory   # 10,000 interviews in progress",
    "python bench/run.py --limits telegram   # the fake enforces Telegram's rate limits",
    "```",
]


# ---------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--full", action="store_true", help="N=1000, PostgreSQL, webhook, scale-out")
    p.add_argument("--memory", action="store_true", help="only the memory measurement")
    p.add_argument("--memory-n", type=int, default=10_000)
    p.add_argument("--n", help="comma-separated N (default 10,100; --full adds 1000)")
    p.add_argument(
        "--limits",
        choices=("none", "telegram"),
        default="none",
        help="none: the fake answers everything; telegram: it enforces Telegram's limits "
        "(3 per 3 s per chat, 20 a minute per group, 30 a second per bot) with 429s",
    )
    p.add_argument("--stall", type=float, default=15.0, help="s without progress ends a play")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--bare-only", action="store_true", help="test the harness: bare vs bare")
    p.add_argument("--no-scaleout", action="store_true")
    p.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    p.add_argument(
        "--render",
        action="store_true",
        help="only rewrite RESULTS.md (or --out) from results.json and bench/ANALYSIS.md",
    )
    return p.parse_args(argv)


LIMITS = {"none": None, "telegram": {"telegram_scale": 1.0}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        store = args.out.with_name("results.json")
        args.out.write_text(render(json.loads(store.read_text())))
        print(f"wrote {args.out} from {store}")
        return 0
    started = time.monotonic()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    info = machine_info()
    workdir = Path(tempfile.mkdtemp(prefix="qualibot-bench-"))
    dbs = Databases(workdir)
    ours = Target.ours()
    if args.bare_only:
        ours = Target("ours", Target.bare().argv, False)  # the harness check: bare twice
    bare = Target.bare()
    measures: list[Measure] = []
    scaleout: list[Measure] = []
    profile: dict[str, Any] | None = None
    sizes = [int(x) for x in args.n.split(",")] if args.n else [10, 100]
    if args.full and not args.n:
        sizes.append(1000)
    common = {"workdir": workdir, "dbs": dbs, "limits": LIMITS[args.limits], "stall": args.stall}

    def report(m: Measure) -> None:
        print(row(m), flush=True)

    print(f"workdir {workdir}\n{HEADER}", flush=True)
    try:
        if args.memory:
            for target in (ours, bare):
                m = measure(target, args.memory_n, answers=2, warmup=20, **common)
                measures.append(m)
                report(m)
        else:
            configs = [("sqlite", "polling")]
            if args.full:
                configs += [("postgresql", "polling"), ("postgresql", "webhook")]
            for db_kind, mode in configs:
                for n in sizes:
                    for target in (ours, bare):
                        if target is bare and db_kind != configs[0][0] and mode == "polling":
                            continue  # the bare bot has no database: polling measured once
                        m = measure(target, n, db_kind=db_kind, mode=mode, **common)
                        measures.append(m)
                        report(m)
            if not args.no_profile and not args.bare_only:
                prof_path = workdir / "profile.txt"
                m = measure(ours, 100, profile=prof_path, **common)
                if m.error:
                    print(f"profile run failed: {m.error}", flush=True)
                profile = summarise_profile(prof_path)
            if args.full and not args.no_scaleout:
                nginx = Nginx(workdir)
                n = max(sizes)
                for processes in (1, 2):
                    m = measure(
                        ours, n, db_kind="postgresql", mode="webhook", processes=processes,
                        balancer=nginx, **common,
                    )  # fmt: skip
                    scaleout.append(m)
                    report(m)
    finally:
        dbs.drop_all()
        elapsed = time.monotonic() - started
        load_after = Path("/proc/loadavg").read_text().split()[:3]
        every = measures + scaleout
        others = [m.figures.get("other_load_cores", 0.0) for m in every if m.figures]
        worst = max(others, default=0.0)
        loaded_note = f"Other processes used up to {worst:.2f} cores during a measurement: " + (
            "the machine was LOADED, figures are noisy." if worst > 0.2 else "quiet enough."
        )
        run = {
            "command": "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "elapsed": elapsed,
            "machine": info,
            "load_before": load_before,
            "load_after": load_after,
            "loaded_note": loaded_note,
            "limits": args.limits,
            "measures": [m.__dict__ for m in measures],
            "scaleout": [m.__dict__ for m in scaleout],
            "profile": profile,
        }
        store_and_write(args.out, "memory" if args.memory else "main", run)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {args.out} in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
