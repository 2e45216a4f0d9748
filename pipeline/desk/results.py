"""How the desk reads the API functions' ``(status, body)`` answers: a body, or a refusal in words."""

from __future__ import annotations

from pipeline.api.values import Body, Result


class Refused(Exception):
    """An API function refused (400, 404, 409): the page or route answers with its status and words."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def checked(result: Result) -> Body:
    status, body = result
    if status >= 400:
        raise Refused(status, str(body.get("error", "refused")))
    return body
