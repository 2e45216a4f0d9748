"""The operator actions over HTTP (POST /api/reprocess, /api/forget, /api/replay-poison): parameters in,
``(status, JSON body)`` out, in the same style as the query API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from pipeline.api.params import BadRequest, BatchId, Flag, NotFound, Params, Text, Uuid, one_of, parse
from pipeline.api.values import Result, endpoint
from pipeline.audit import MAX_ACTOR, UNNAMED_ACTOR
from pipeline.forget import forget
from pipeline.records import JobStatus
from pipeline.replay import replay_poison, replayable
from pipeline.reprocess import reprocess
from pipeline.runtime import Runtime

# Who asks, as recorded in the audit trail (a machine client with a function key may name no one).
Actor = Annotated[Text, Field(max_length=MAX_ACTOR)]


class ReprocessParams(Params):
    batch: BatchId | None = None
    status: Annotated[str, one_of(*JobStatus)] | None = None
    all: Flag = False
    force: Flag = False
    actor: Actor = UNNAMED_ACTOR

    @model_validator(mode="after")
    def _selects_something(self) -> ReprocessParams:
        if self.batch is None and self.status is None and not self.all:
            raise ValueError("say which images: batch, status, or all=true")
        return self


class ForgetParams(Params):
    image_id: Uuid | None = None
    batch: BatchId | None = None
    actor: Actor = UNNAMED_ACTOR

    @model_validator(mode="after")
    def _exactly_one(self) -> ForgetParams:
        if (self.image_id is None) == (self.batch is None):
            raise ValueError("give exactly one of image_id or batch")
        return self


class ReplayParams(Params):
    step: Text | None = None
    actor: Actor = UNNAMED_ACTOR


@endpoint
def reprocess_request(runtime: Runtime, params: dict[str, Any]) -> Result:
    """``{"batch": ...}``, ``{"status": ...}`` (both may combine) or ``{"all": true}``; ``force``."""
    query = parse(ReprocessParams, params)
    summary = reprocess(runtime, batch=query.batch, status=query.status, force=query.force, actor=query.actor)
    if query.batch is not None and summary.queued + summary.up_to_date == 0:
        raise NotFound(
            f"no images in batch {query.batch}" + (f" with status {query.status}" if query.status else "")
        )
    return 202, summary.as_dict()


@endpoint
def forget_request(runtime: Runtime, params: dict[str, Any]) -> Result:
    """``{"image_id": ...}`` or ``{"batch": ...}``."""
    query = parse(ForgetParams, params)
    summary = forget(runtime, image_id=query.image_id, batch=query.batch, actor=query.actor)
    if summary.images == 0:
        raise NotFound("no such image" if query.image_id is not None else "no images in that batch")
    return 200, summary.as_dict()


@endpoint
def replay_request(runtime: Runtime, params: dict[str, Any]) -> Result:
    """``{}`` for every step or ``{"step": "faces"}``."""
    query = parse(ReplayParams, params)
    if query.step is not None and query.step not in replayable(runtime):
        raise BadRequest(f"unknown step {query.step!r}; replayable: {', '.join(replayable(runtime))}")
    return 202, {"replayed": replay_poison(runtime, query.step, actor=query.actor)}
