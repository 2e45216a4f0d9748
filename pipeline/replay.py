"""Replay poison messages once their cause is fixed: each goes back to its step's queue, retries reset.

A message lands in ``step-<name>-poison`` after exhausting its retries (the host moves it) or when the
helper set it aside as invalid. Replaying moves it back unchanged; a job that now succeeds ends
``complete`` (persist overwrites the ``failed`` status), and an invalid message is set aside again with
its reason.
"""

from __future__ import annotations

from pipeline.routing import poison_queue_name, queue_name
from pipeline.runtime import Runtime


def replay_poison(runtime: Runtime, step: str | None = None) -> dict[str, int]:
    """Move every poison message of one step (or of all steps) back to its queue; counts per step."""
    if step is not None and step not in runtime.registry:
        raise ValueError(f"unknown step {step!r}; registered steps: {', '.join(runtime.registry)}")
    steps = [step] if step is not None else list(runtime.registry)
    return {
        name: runtime.storage.move_messages(poison_queue_name(queue_name(name)), queue_name(name))
        for name in steps
    }


def replay_request(runtime: Runtime, params: dict[str, object]) -> tuple[int, dict]:
    """The HTTP form: ``{}`` for every step or ``{"step": "faces"}``."""
    unknown = sorted(set(params) - {"step", "code"})
    if unknown:
        return 400, {"error": f"unknown parameter(s): {', '.join(unknown)}; use step"}
    step = params.get("step")
    try:
        return 202, {"replayed": replay_poison(runtime, None if step is None else str(step))}
    except ValueError as exc:
        return 400, {"error": str(exc)}
