"""The audit trail: an append-only table written in the same transaction as what it records.

Every decision, label, merge, split, move-out, erasure, reprocess and poison replay is recorded with its
actor (a decision's actor is its reviewer), its time and its subject. The detail holds ids and choices
only, never free text (notes, labels): free text lives in the tables it belongs to, so that erasure reaches
it, while the audit row of an erasure names only the erased image id, the actor and the time.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pipeline.contract import utc_now

MAX_ACTOR = 256
# Who an action is recorded as when the caller named no one (a machine client with a function key).
UNNAMED_ACTOR = "unnamed operator"


class Action(StrEnum):
    REVIEW = "review"
    LABEL = "label"
    MERGE = "merge"
    SPLIT = "split"
    MOVE_OUT = "move-out"
    FORGET = "forget"
    REPROCESS = "reprocess"
    REPLAY_POISON = "replay-poison"
    DENIED = "denied"


def record(cursor: Any, actor: str, action: Action, image_id: str | None = None, **detail: Any) -> None:
    """Append one audit row in the caller's transaction."""
    cursor.execute(
        "INSERT INTO audit_log (at, actor, action, image_id, detail) VALUES (?, ?, ?, ?, ?)",
        utc_now(), actor[:MAX_ACTOR], action.value, image_id,
        json.dumps(detail, sort_keys=True, separators=(",", ":")) if detail else None,
    )  # fmt: skip
