"""Errors the fake Bot API answers with, in Telegram's own words."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error response: ``{"ok": false, "error_code": ..., "description": ...}``.

    ``problem`` marks errors that mean the bot sent something Telegram would refuse
    (bad HTML, an unknown chat, a too long text...). The ``fake_api`` fixture fails the
    test on those unless the test said it expects them. Errors a test switched on
    (faults, blocked users, migrated groups, rate limits) are not problems.
    """

    def __init__(
        self,
        code: int,
        description: str,
        *,
        parameters: dict[str, Any] | None = None,
        problem: bool = True,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters
        self.problem = problem

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            data["parameters"] = self.parameters
        return data


def bad_request(reason: str, *, problem: bool = True) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}", problem=problem)


def forbidden(reason: str) -> ApiError:
    return ApiError(403, f"Forbidden: {reason}", problem=False)


def retry_after(seconds: int) -> ApiError:
    return ApiError(
        429,
        f"Too Many Requests: retry after {seconds}",
        parameters={"retry_after": seconds},
        problem=False,
    )


def migrated(new_chat_id: int) -> ApiError:
    return ApiError(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": new_chat_id},
        problem=False,
    )


NOT_FOUND = ApiError(404, "Not Found")
UNAUTHORIZED = ApiError(401, "Unauthorized", problem=False)

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
