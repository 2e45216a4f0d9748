"""The job message that travels between steps: the one contract every step, in any language, shares.

The committed JSON Schema (``schemas/job-message.v1.json``) is generated from these models by
``make schema`` and a test keeps the two identical.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import InvalidMessage

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)

# The only containers a message may point at. The storage account is never part of a message: the
# pipeline always reads through its own account's client, so a message cannot make it fetch from
# anywhere else.
IMAGES_CONTAINER = "images"
WORKING_CONTAINER = "working"
FACES_CONTAINER = "faces"
CLAIMS_CONTAINER = "claims"
# The desk's thumbnails of working copies (made once, on first view), erased with the image like the rest.
THUMBNAILS_CONTAINER = "thumbnails"
PipelineContainer = Literal["images", "working", "faces", "claims", "thumbnails"]

StepName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,39}$", description="Lower-case step name")]


class BlobRef(BaseModel):
    """A blob in one of the pipeline's own containers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    container: PipelineContainer
    name: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Blob name in the container; no '.' or '..' path segments ('/' or '\\' separated)",
    )

    @field_validator("name")
    @classmethod
    def _stays_in_its_container(cls, name: str) -> str:
        # HTTP clients resolve dot segments before signing or sending ("images/../working/x" becomes
        # "working/x"), and the service treats "\\" as "/": such a name would read another container.
        if any(segment in (".", "..") for segment in name.replace("\\", "/").split("/")):
            raise ValueError(
                "blob name must not contain '.' or '..' path segments (they leave the container)"
            )
        return name

    def __str__(self) -> str:
        return f"{self.container}/{self.name}"


class StepResult(BaseModel):
    """What one step produced: inline, or moved to a claim-check blob when the message grew too large."""

    model_config = ConfigDict(extra="forbid")

    step: StepName
    attempt: int = Field(ge=1, description="Queue dequeue count of the successful attempt")
    finished_at: datetime
    output: dict[str, Any] | None = None
    output_ref: BlobRef | None = Field(default=None, description="Claim check holding the output JSON")

    @model_validator(mode="after")
    def _exactly_one_location(self) -> StepResult:
        if (self.output is None) == (self.output_ref is None):
            raise ValueError("a step result holds exactly one of output or output_ref")
        if self.output_ref is not None and self.output_ref.container != CLAIMS_CONTAINER:
            raise ValueError(f"output_ref must be in the {CLAIMS_CONTAINER!r} container")
        return self


class JobMessage(BaseModel):
    """One image's job, addressed to ``pipeline[position]``."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    job_id: UUID
    image_id: UUID = Field(description="Stable id of the image: the same blob name always has the same id")
    batch_id: str = Field(min_length=1, max_length=256)
    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="W3C trace id shared by every step")
    image: BlobRef = Field(description="The uploaded original, never modified")
    pipeline: list[StepName] = Field(
        min_length=1, description="Step list snapshot taken when the job started"
    )
    position: int = Field(ge=0, description="Index in pipeline of the step this message is addressed to")
    results: dict[StepName, StepResult] = Field(default_factory=dict)
    created_at: datetime

    @model_validator(mode="after")
    def _consistent(self) -> JobMessage:
        if len(set(self.pipeline)) != len(self.pipeline):
            raise ValueError("pipeline lists a step twice")
        if self.position >= len(self.pipeline):
            raise ValueError(
                f"position {self.position} is past the end of a {len(self.pipeline)}-step pipeline"
            )
        if self.image.container != IMAGES_CONTAINER:
            raise ValueError(f"image must be in the {IMAGES_CONTAINER!r} container")
        done = set(self.pipeline[: self.position])
        unexpected = sorted(set(self.results) - done)
        if unexpected:
            raise ValueError(f"results for steps not yet run: {', '.join(unexpected)}")
        for name, result in self.results.items():
            if result.step != name:
                raise ValueError(f"result stored under {name!r} claims to be from {result.step!r}")
        return self

    @property
    def current_step(self) -> str:
        return self.pipeline[self.position]

    @property
    def next_step(self) -> str | None:
        following = self.position + 1
        return self.pipeline[following] if following < len(self.pipeline) else None

    def advanced(self, result: StepResult) -> JobMessage:
        """The message for the next step: this step's result appended, position moved on."""
        if result.step != self.current_step:
            raise ValueError(f"result of {result.step!r} cannot complete step {self.current_step!r}")
        if self.next_step is None:
            raise ValueError(f"{self.current_step!r} is the last step; there is nothing to advance to")
        return self.model_copy(
            update={"results": {**self.results, result.step: result}, "position": self.position + 1}
        )

    def encode(self) -> str:
        return self.model_dump_json(exclude_none=True)


def as_utc(value: Any) -> datetime | None:
    """A time as SQL returns it (a datetime, or ISO-8601 text on SQLite) as an aware UTC datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def decode_message(body: bytes | str) -> JobMessage:
    """Parse a queue message body, refusing anything that is not a job this pipeline understands."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(
                f"message body is not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from exc
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(
            f"message body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except ValueError as exc:  # e.g. an integer literal longer than Python's digit limit
        raise InvalidMessage(f"message body is not usable JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidMessage("message body is not usable JSON: it is nested too deeply") from exc
    if not isinstance(document, dict):
        raise InvalidMessage(f"message body must be a JSON object, got {type(document).__name__}")
    version = document.get("schema_version")
    if version is None:
        raise InvalidMessage("message has no schema_version; it is not a pipeline job")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise InvalidMessage(
            f"unsupported schema_version {version!r}; this pipeline reads versions "
            f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}"
        )
    try:
        return JobMessage.model_validate(document)
    except ValidationError as exc:
        raise InvalidMessage(f"message does not match the job contract: {validation_problems(exc)}") from exc


def validation_problems(exc: ValidationError, limit: int = 5) -> str:
    """The first few problems of a validation error, each as ``field.path: message``."""
    return "; ".join(
        f"{'.'.join(map(str, error['loc'])) or 'message'}: {error['msg']}" for error in exc.errors()[:limit]
    )


def job_message_schema() -> dict[str, Any]:
    schema = JobMessage.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:imaginem:job-message:v{SCHEMA_VERSION}"
    return schema


SCHEMA_PATH = "schemas/job-message.v1.json"


if __name__ == "__main__":
    # make schema: regenerate the committed JSON Schema from the models.
    from pathlib import Path

    target = Path(__file__).resolve().parent.parent / SCHEMA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(job_message_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {target}")
