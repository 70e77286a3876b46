"""The timer worker: claims due follow-up timers, asks FollowUpService what to
say, and leaves the sending to the outbox worker (woken when something was queued).

Timers are claimed with a lease (storage.timers), so several bot processes can
run this worker at once and a timer still fires once; a process killed
mid-timer leaves it claimed until the lease runs out, then another fires it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.services.followup import Fired, FollowUpService

if TYPE_CHECKING:
    from bot.telegram.app import TelegramApp

log = logging.getLogger(__name__)


class TimerWorker:
    def __init__(
        self,
        followup: FollowUpService,
        *,
        wake_outbox: Callable[[], None] = lambda: None,
        idle_poll: float = 5.0,
        batch: int = 50,
        worker_id: str | None = None,
    ) -> None:
        self.followup = followup
        self.wake_outbox = wake_outbox
        self.idle_poll = idle_poll  # real seconds between looks (the clock may be a fake one)
        self.batch = batch
        self.worker_id = worker_id or f"timers-{uuid.uuid4().hex[:8]}"
        self._stopping = asyncio.Event()
        self.fired: list[Fired] = []

    def stop(self) -> None:
        self._stopping.set()

    async def run_once(self) -> list[Fired]:
        fired = await self.followup.run_due(worker_id=self.worker_id, limit=self.batch)
        for item in fired:
            log.info("Timer %s (%s): %s", item.timer_id, item.kind, item.outcome)
        self.fired.extend(fired)
        if any(item.queued for item in fired):
            self.wake_outbox()
        return fired

    async def run(self) -> None:
        log.info("Timer worker %s started", self.worker_id)
        while not self._stopping.is_set():
            try:
                fired = await self.run_once()
            except Exception:
                log.exception("Timer worker: firing failed; trying again shortly")
                fired = []
            if fired:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.idle_poll)
        log.info("Timer worker %s stopped", self.worker_id)


def create_timer_worker(app: TelegramApp) -> TimerWorker:
    """A timer worker for a built app: its services, clock, and outbox worker."""
    handoff = app.handoff
    followup = FollowUpService(app.db, handoff.registry, config=handoff.config, clock=handoff.clock)
    return TimerWorker(
        followup, wake_outbox=app.worker.wake, idle_poll=min(5.0, app.worker.config.idle_poll)
    )
