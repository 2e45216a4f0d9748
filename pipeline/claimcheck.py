"""Claim check: keep queue messages under the Storage queue limit by moving large results to blobs.

A Storage queue message holds at most 64 KiB, and the Functions host base64-encodes messages, so a
message's JSON may use at most 3/4 of that. When a message would not fit, the largest inline outputs
move to the ``claims`` container and the result keeps only a reference; :meth:`ClaimCheck.output`
loads them back, so steps never see the difference.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

from pipeline.artifacts import claim_ref
from pipeline.contract import BlobRef, JobMessage
from pipeline.errors import InputRejected, MessageTooLarge

QUEUE_MESSAGE_LIMIT = 64 * 1024


def encoded_size(text: str) -> int:
    """Size of ``text`` on the queue after the host's base64 encoding."""
    return 4 * math.ceil(len(text.encode("utf-8")) / 3)


class BlobStore(Protocol):
    def read(self, ref: BlobRef) -> bytes: ...

    def write(self, ref: BlobRef, data: bytes, content_type: str) -> None: ...


class ClaimCheck:
    def __init__(self, store: BlobStore, limit: int = QUEUE_MESSAGE_LIMIT) -> None:
        self._store = store
        self._limit = limit

    def encode(self, message: JobMessage) -> str:
        """The message's queue text, with outputs moved to claim checks (largest first) until it fits."""
        text = message.encode()
        if encoded_size(text) <= self._limit:
            return text
        inline = sorted(
            (name for name, result in message.results.items() if result.output is not None),
            key=lambda name: len(json.dumps(message.results[name].output)),
            reverse=True,
        )
        for name in inline:
            result = message.results[name]
            ref = claim_ref(message, name)
            self._store.write(ref, json.dumps(result.output).encode("utf-8"), "application/json")
            checked = result.model_copy(update={"output": None, "output_ref": ref})
            message = message.model_copy(update={"results": {**message.results, name: checked}})
            text = message.encode()
            if encoded_size(text) <= self._limit:
                return text
        raise MessageTooLarge(
            f"job message is {encoded_size(text)} bytes after base64 even with every result in a claim check; "
            f"the queue limit is {self._limit}"
        )

    def output(self, message: JobMessage, step: str) -> dict[str, Any]:
        result = message.results.get(step)
        if result is None:
            raise KeyError(f"job {message.job_id} has no result from step {step!r}")
        if result.output is not None:
            return result.output
        assert result.output_ref is not None  # guaranteed by the StepResult validator
        try:
            return json.loads(self._store.read(result.output_ref))
        except ValueError as exc:
            raise InputRejected(
                f"claim check {result.output_ref} of step {step!r} is not JSON: {exc}"
            ) from exc
