"""The service layer: what the Telegram handlers and the console both call.

Imports no aiogram (a test pins it). Import the submodules you need:

    from bot.services.interview import InterviewService
    from bot.services.handoff import HandoffService
    from bot.services.flow_registry import FlowRegistry
    from bot.services.types import Prospect, Reply, OutMessage, Button

Nothing is imported here, so `import bot.services` stays cheap.
"""
