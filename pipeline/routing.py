"""The step list, validated, and the fixed queue name of each step.

Queue names are part of the public interface (templates create them, operators watch them):
``step-<name>`` for a step's work and ``step-<name>-poison`` for messages that exhausted their retries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.errors import ConfigurationError
from pipeline.step import Step

QUEUE_PREFIX = "step-"
POISON_SUFFIX = "-poison"
# Where the Functions host puts uploads whose blob trigger failed on every retry (in the host's storage).
INGEST_POISON_QUEUE = "webjobs-blobtrigger-poison"


def queue_name(step: str) -> str:
    return f"{QUEUE_PREFIX}{step}"


def poison_queue_name(queue: str) -> str:
    return f"{queue}{POISON_SUFFIX}"


def validate_pipeline(steps: Sequence[str], registry: Mapping[str, Step]) -> tuple[str, ...]:
    """Check a step list against the registered steps; the error names the offending step."""
    if not steps:
        raise ConfigurationError("PIPELINE_STEPS is empty: list the steps, e.g. normalize,faces,persist")
    seen: set[str] = set()
    for index, name in enumerate(steps):
        step = registry.get(name)
        if step is None:
            raise ConfigurationError(
                f"PIPELINE_STEPS names an unknown step {name!r}; registered steps: {', '.join(sorted(registry))}"
            )
        if name in seen:
            raise ConfigurationError(f"PIPELINE_STEPS lists step {name!r} twice")
        missing = [required.name for required in step.requires if required.name not in seen]
        if missing:
            raise ConfigurationError(
                f"PIPELINE_STEPS lists step {name!r} before {', '.join(map(repr, missing))}, which it requires"
            )
        if step.terminal and index != len(steps) - 1:
            raise ConfigurationError(f"PIPELINE_STEPS: {name!r} ends a pipeline and must be listed last")
        seen.add(name)
    last = registry[steps[-1]]
    if not last.terminal:
        terminals = ", ".join(sorted(name for name, step in registry.items() if step.terminal))
        raise ConfigurationError(
            f"PIPELINE_STEPS ends with {steps[-1]!r}, but must end with a step that stores results ({terminals})"
        )
    return tuple(steps)
