"""What every service holds: the database, the flow registry, config and a clock."""

from __future__ import annotations

from bot.services.clock import Clock, system_clock
from bot.services.config import ServiceConfig
from bot.services.flow_registry import FlowRegistry
from storage.database import Database


class Service:
    def __init__(
        self,
        db: Database,
        registry: FlowRegistry | None = None,
        *,
        config: ServiceConfig | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.db = db
        self.config = config or ServiceConfig()
        self.clock = clock
        self.registry = registry or FlowRegistry(db, config=self.config, clock=clock)
