"""Fixtures for the service tests: a migrated database (SQLite file, and PostgreSQL
when TEST_DATABASE_URL is set), a manual clock and ready services."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.services.clock import ManualClock
from bot.services.config import ServiceConfig
from bot.services.flow_registry import FlowRegistry
from bot.services.handoff import HandoffService
from bot.services.interview import InterviewService
from bot.services.types import Actor, Prospect
from storage.database import Database

# The storage fixtures (`backend`, `database`, `db_url`): one migrated database per
# test, on a SQLite file and, when TEST_DATABASE_URL is set, on PostgreSQL.
from tests.storage import conftest as _storage

backend = _storage.backend
database = _storage.database
db_url = _storage.db_url
_sqlite_template = _storage._sqlite_template
_pg_session_url = _storage._pg_session_url

SALES_CHAT = -1001234567890

Services = tuple[InterviewService, HandoffService]
MakeServices = Callable[[Database], Services]

# A small flow with a multiple-choice question and an engagement event.
MULTI = textwrap.dedent(
    """\
    id: multi
    framework: TEST
    languages: [en, ru]
    title: {en: Multi, ru: Мульти}
    parameters:
      - id: need
        name: {en: Need, ru: Потребность}
        max: 10
        next_action: {en: Ask., ru: Спросить.}
    questions:
      - id: tools
        parameter: need
        kind: multi
        text: {en: Which tools?, ru: Какие инструменты?}
        options:
          - id: crm
            label: {en: CRM, ru: CRM}
            points: 5
          - id: mail
            label: {en: Email, ru: Почта}
            points: 3
          - id: chat
            label: {en: Chat, ru: Чат}
            points: 2
      - id: size
        parameter: need
        kind: number
        text: {en: How many people?, ru: Сколько человек?}
        ranges:
          - {up_to: 10, points: 0}
          - {points: 5}
    events:
      - id: talk_to_person
        points: 10
        fast_track: true
        label: {en: asked for a person, ru: попросил человека}
    texts:
      reask: {en: "Pick: {{ options }}", ru: "Выберите: {{ options }}"}
    closing:
      hot: {en: Hot., ru: Горячий.}
      warm: {en: Warm., ru: Тёплый.}
      cold: {en: Cold., ru: Холодный.}
      disqualified: {en: Out., ru: Вне.}
    """
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2030, 5, 17, 9, 0, tzinfo=UTC))


@pytest.fixture
def config() -> ServiceConfig:
    return ServiceConfig(
        sales_chat_id=SALES_CHAT,
        stage_labels={"MQL": "had contact", "SAL": "hold", "SQL": "audit"},
    )


@pytest.fixture
def builtin_paths(tmp_path: Path) -> dict[str, Path]:
    from flows.loader import builtin_flow_paths

    paths = dict(builtin_flow_paths())
    multi = tmp_path / "multi.yaml"
    multi.write_text(MULTI, encoding="utf-8")
    paths["multi"] = multi
    return paths


@pytest.fixture
def make_services(
    config: ServiceConfig, clock: ManualClock, builtin_paths: dict[str, Path]
) -> MakeServices:
    """Fresh service objects on a database (a bot process restarting is a new set)."""

    def make(db: Database) -> Services:
        registry = FlowRegistry(db, config=config, clock=clock, builtin_paths=builtin_paths)
        handoff = HandoffService(db, registry, config=config, clock=clock)
        return InterviewService(db, registry, config=config, clock=clock, handoff=handoff), handoff

    return make


@pytest.fixture
def services(database: Database, make_services: MakeServices) -> Services:
    return make_services(database)


@pytest.fixture
def service(services: Services) -> InterviewService:
    return services[0]


@pytest.fixture
def handoff(services: Services) -> HandoffService:
    return services[1]


def prospect(user_id: int = 1001, first_name: str | None = "Anna", lang: str = "en") -> Prospect:
    return Prospect(user_id, user_id, first_name, "Smith", "anna_s", lang)


SALES = Actor(user_id=501, name="Boris", is_sales_member=True)
OTHER_SALES = Actor(user_id=502, name="Vera", is_sales_member=True)
STRANGER = Actor(user_id=777, name="Mallory")
ADMIN = Actor(user_id=1, name="Admin", is_admin=True)
