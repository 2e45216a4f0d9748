"""The review desk's local identity (DESK_USER, DESK_ROLES); in Azure people sign in instead."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from pipeline.access import Role, parse_roles
from pipeline.audit import MAX_ACTOR
from pipeline.errors import ConfigurationError
from pipeline.setting_names import DESK_ROLES, DESK_USER

# Set by App Service on every Azure instance: there, people sign in through App Service Authentication.
AZURE_INSTANCE = "WEBSITE_INSTANCE_ID"


class DeskSettings(BaseModel):
    """The desk's local identity: who decisions are recorded as, and their roles, when no one signs in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str | None = None
    roles: frozenset[Role] = frozenset()
    # In Azure: a route for people answers only requests App Service Authentication signed in.
    sign_in_required: bool = False


def desk_settings(env: Mapping[str, str]) -> DeskSettings:
    user = env.get(DESK_USER, "").strip()
    roles_text = env.get(DESK_ROLES, "").strip()
    in_azure = bool(env.get(AZURE_INSTANCE, "").strip())
    if not user and not roles_text:
        return DeskSettings(sign_in_required=in_azure)
    choices = ", ".join(role.value for role in Role)
    if in_azure:
        raise ConfigurationError(
            f"{DESK_USER} and {DESK_ROLES} must be empty in Azure: people sign in through App Service "
            "Authentication and their app roles come from it (a local identity would be given to anyone)"
        )
    try:
        roles = parse_roles(roles_text.split(","))
    except ValueError as exc:
        raise ConfigurationError(
            f"{DESK_ROLES}: unknown role {str(exc)!r}; use one or more of {choices}, comma-separated"
        ) from None
    if not user or not roles:
        missing = DESK_USER if not user else DESK_ROLES
        raise ConfigurationError(
            f"{missing} is not set, but the desk's local identity needs both {DESK_USER} (the name decisions "
            f"are recorded under) and {DESK_ROLES} (one or more of {choices}, comma-separated)"
        )
    if len(user) > MAX_ACTOR or any(ord(char) < 32 or ord(char) == 127 for char in user):
        raise ConfigurationError(
            f"{DESK_USER} must be at most {MAX_ACTOR} characters, without control characters"
        )
    return DeskSettings(user=user, roles=roles)
