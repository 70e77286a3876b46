"""The Telegram side: the only package that imports aiogram.

    app.py            build_app / create_bot / create_dispatcher (factories, no singletons)
    routers/          prospect (private chats), sales (card buttons), admin and relay
                      (issue 5), a fallback that answers any other button
    middlewares.py    update level: in-flight count, per-chat lock, error isolation,
                      recent-update dedup (the durable dedup is the services')
    retry.py          session level: 429 / 5xx / network retries, harmless errors,
                      group migration, 403 -> lead blocked
    pacing.py         session level: 30/s overall, ~1/s per chat, 20/min per group
    outbox_worker.py  sends what the services queued (cards, card edits, messages)
    timer_worker.py   fires follow-up timers (issue 5)
    rendering.py      plain text -> escaped HTML within limits; Button rows -> markups
    replies.py        a service Reply -> Telegram calls; callbacks answered in time
    hooks.py          faults -> services / storage (blocked leads, migrated chat id)
    logsafe.py        the token never reaches a log line

bot/runner.py runs it all (`python -m bot`).
"""
