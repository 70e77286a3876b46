"""What the services need from the settings, as a small plain object.

Services take this rather than `bot.settings.Settings`, so tests and the
console build one in a line and no service needs a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STAGES = ("MQL", "SAL", "SQL", "out")


@dataclass(frozen=True)
class ServiceConfig:
    default_flow: str = "bant"
    sales_chat_id: int | None = None  # None: cards are not queued (the console)
    sales_topic_id: int | None = None
    admin_ids: frozenset[int] = frozenset()
    # CRM labels per stage, e.g. {"MQL": "had contact", "SAL": "hold", "SQL": "audit"}
    stage_labels: dict[str, str] = field(default_factory=dict)
    sales_lang: str = "en"  # language of cards and card buttons in the sales chat

    def stage_label(self, stage: str | None) -> str:
        if stage is None:
            return "—"
        return self.stage_labels.get(stage.upper(), stage)

    @classmethod
    def from_settings(cls, settings: Any) -> ServiceConfig:
        """From `bot.settings.Settings` (duck-typed, so this module imports nothing)."""
        return cls(
            default_flow=settings.default_flow,
            sales_chat_id=settings.sales_chat_id,
            sales_topic_id=settings.sales_topic_id,
            admin_ids=frozenset(settings.admin_ids),
            stage_labels=dict(settings.stage_labels),
        )
