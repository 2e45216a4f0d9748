"""Who is asking and what they may do: roles, the signed-in principal, the local identity, denials.

In Azure, App Service Authentication (Microsoft Entra ID) signs people in and passes the principal to the
app in the ``X-MS-CLIENT-PRINCIPAL`` header (base64 JSON whose ``claims`` carry the app roles, claim type
``roles``) and the name in ``X-MS-CLIENT-PRINCIPAL-NAME``; the platform removes those headers from what a
client sends, so only a signed-in request carries them. Locally there is no sign-in: the desk acts as the
configured ``DESK_USER`` with ``DESK_ROLES``.

The roles are cumulative: a ``viewer`` looks, a ``reviewer`` also decides (confirm, reject, label, merge,
move a face out), an ``admin`` also erases, reprocesses and replays. A request beyond the caller's role is
refused (403) and recorded in the audit trail as ``denied``, naming only the caller, their roles and what
they attempted.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pipeline import audit
from pipeline.audit import MAX_ACTOR, Action

if TYPE_CHECKING:
    from pipeline.db import Database

PRINCIPAL_HEADER = "x-ms-client-principal"
PRINCIPAL_NAME_HEADER = "x-ms-client-principal-name"
ROLE_CLAIM = "roles"
# Entra sends app roles as "roles"; a principal may declare another role claim type in role_typ.
_ROLE_CLAIMS = {ROLE_CLAIM, "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"}
_NAME_CLAIMS = ("name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
MAX_PRINCIPAL_BYTES = 16 * 1024


class Role(StrEnum):
    VIEWER = "viewer"
    REVIEWER = "reviewer"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW = "view"  # pages, photos, crops, the query API
    DECIDE = "decide"  # confirm or reject a match, label, merge, move a face out
    ADMINISTER = "administer"  # forget, reprocess, replay poison messages


GRANTS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.REVIEWER: frozenset({Permission.VIEW, Permission.DECIDE}),
    Role.ADMIN: frozenset(Permission),
}


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """The known roles among ``names`` (case-insensitive); an unknown one raises ValueError naming it."""
    roles = set()
    for name in names:
        cleaned = name.strip().lower()
        if cleaned:
            if cleaned not in Role.__members__.values():
                raise ValueError(cleaned)
            roles.add(Role(cleaned))
    return frozenset(roles)


@dataclass(frozen=True)
class Caller:
    """A person the app acts for: their name (recorded as reviewer and actor) and roles."""

    name: str
    roles: frozenset[Role]
    signed_in: bool  # True: App Service Authentication said so; False: the configured local identity

    def may(self, permission: Permission) -> bool:
        return any(permission in GRANTS[role] for role in self.roles)

    @property
    def role_names(self) -> list[str]:
        return sorted(role.value for role in self.roles)


class NotSignedIn(Exception):
    """No one to act for (401): no principal and no local identity, or a principal that cannot be read."""


class Forbidden(Exception):
    """The caller's roles do not allow what was asked (403); the message says what is missing."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def principal(headers: Mapping[str, str]) -> Caller | None:
    """The signed-in principal of a request, None when there is none; NotSignedIn when it cannot be read
    (a malformed principal never falls back to another identity)."""
    encoded = _header(headers, PRINCIPAL_HEADER)
    if encoded is None:
        return None
    try:
        if len(encoded) > MAX_PRINCIPAL_BYTES:
            raise ValueError("too long")
        document = json.loads(base64.b64decode(encoded, validate=True))
        claims = document.get("claims") or []
        role_claim = document.get("role_typ") or ROLE_CLAIM
        pairs = [(str(claim["typ"]), str(claim["val"])) for claim in claims]
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
        raise NotSignedIn("the sign-in principal (X-MS-CLIENT-PRINCIPAL) cannot be read") from None
    roles = {val.strip().lower() for typ, val in pairs if typ in _ROLE_CLAIMS or typ == role_claim}
    known = frozenset(Role(name) for name in roles if name in Role.__members__.values())
    name = _header(headers, PRINCIPAL_NAME_HEADER) or next(
        (val for wanted in _NAME_CLAIMS for typ, val in pairs if typ == wanted), ""
    )
    name = name.strip()[:MAX_ACTOR]
    if not name:
        raise NotSignedIn("the sign-in principal names no one (X-MS-CLIENT-PRINCIPAL-NAME)")
    return Caller(name=name, roles=known, signed_in=True)


def caller(headers: Mapping[str, str], local: Any) -> Caller:
    """Who a desk request acts for: the signed-in principal, else the local identity (``DeskSettings``)."""
    found = principal(headers)
    if found is not None:
        return found
    if local is None or not local.user:
        raise NotSignedIn("sign in to use the desk (no signed-in user, and DESK_USER is not set)")
    return Caller(name=local.user, roles=frozenset(local.roles), signed_in=False)


def require(database: Database, who: Caller, permission: Permission, attempted: str) -> None:
    """Forbidden (audited as denied) unless ``who`` may ``permission``; ``attempted`` names the route."""
    if who.may(permission):
        return
    with database.transaction() as cursor:
        audit.record(
            cursor, who.name, Action.DENIED, attempted=attempted, needs=permission.value, roles=who.role_names
        )
    needed = next(role.value for role in Role if permission in GRANTS[role])
    raise Forbidden(
        f"{attempted} needs the {needed} role; {who.name} has {', '.join(who.role_names) or 'none'}"
    )


def act_as(
    database: Database, who: Caller | None, params: dict[str, Any], field: str, attempted: str
) -> dict[str, Any]:
    """``params`` with ``field`` (reviewer, actor) set to the caller: a request acts only in its caller's name.

    Without a caller (a machine client with a function key) the params are left as sent. A ``field`` naming
    someone else is refused (Forbidden, audited as denied): no one decides in another person's name.
    """
    if who is None:
        return params
    sent = params.get(field)
    if sent is not None and sent != who.name:
        with database.transaction() as cursor:
            audit.record(
                cursor,
                who.name,
                Action.DENIED,
                attempted=attempted,
                needs=f"{field}=self",
                roles=who.role_names,
            )
        raise Forbidden(f"{field} must be the signed-in user ({who.name}) or left out")
    return {**params, field: who.name}
