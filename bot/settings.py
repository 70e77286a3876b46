"""Settings from the environment and `.env`, validated per command.

Each command asks only for what it needs (`require`), so `chat` and `flows`
run without a token, and a missing or malformed value stops the command with
one line naming the variable.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_API_URL = "https://api.telegram.org"


class SettingsError(Exception):
    """One line for the person running the command; never contains secrets."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `BOT_TOKEN=` (set but empty) means "not set", not "malformed".
        env_ignore_empty=True,
    )

    bot_token: SecretStr | None = None
    database_url: str | None = None
    sales_chat_id: int | None = None
    sales_topic_id: int | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    telegram_api_url: str = DEFAULT_API_URL
    default_flow: str = "bant"
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0:8080"
    webhook_secret: SecretStr | None = None
    # CRM labels for stages, e.g. "MQL=had contact,SAL=hold,SQL=audit" (DOMAIN.md's example).
    stage_labels: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    log_level: str = "INFO"
    # Messages a second to all chats together (Telegram asks bots to stay near 30; each
    # private chat is also kept to 3 in 3 s). 0: private chats are not paced before
    # sending, Telegram's 429s (waited out and retried) regulate; groups stay paced.
    sends_per_second: int = Field(default=30, ge=0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return frozenset(int(p) for p in parts if p)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("stage_labels", mode="before")
    @classmethod
    def _split_labels(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = (p.split("=", 1) for p in value.split(",") if "=" in p)
            return {k.strip().upper(): v.strip() for k, v in pairs}
        return value

    @field_validator("webhook_listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port, e.g. 0.0.0.0:8080")
        return value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        bot_id, sep, secret = raw.partition(":")
        if not sep or not bot_id.isdigit() or not secret:
            # Never echo the value: it is a secret even when malformed.
            raise ValueError("expected the token BotFather gave, like 123456:ABC-DEF...")
        return SecretStr(raw)

    @property
    def listen_host(self) -> str:
        return self.webhook_listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.webhook_listen.rpartition(":")[2])

    def database(self) -> str:
        from storage.database import default_database_url

        return self.database_url or default_database_url()

    def stage_label(self, stage: str) -> str:
        return self.stage_labels.get(stage.upper(), stage)

    def require(self, *names: str) -> Settings:
        for name in names:
            if getattr(self, name) in (None, ""):
                raise SettingsError(f"{name.upper()} is not set: add it to the environment or .env")
        return self


def load_settings(*required: str) -> Settings:
    """Load settings, turning the first problem into one readable line."""
    try:
        settings = Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err.get("loc") else "settings"
        reason = err.get("msg", "invalid value").removeprefix("Value error, ")
        raise SettingsError(f"{name} is malformed: {reason}") from None
    return settings.require(*required)
