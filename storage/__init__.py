"""Storage: database setup, tables, repositories, outbox and timers, migrations.

Imports neither aiogram nor flows. Import the submodules you need:

    from storage.database import Database, default_database_url
    from storage import repositories as repo      # leads, interviews, flow versions, ...
    from storage import outbox                      # enqueue/claim/mark + timers
    from storage.migrate import upgrade, upgrade_async

Nothing is imported here, so `import storage.database` stays cheap.
"""
