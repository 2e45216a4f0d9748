"""What a step is: a name, what it requires, what it produces, and its own logic — nothing else.

A step never sees queues, SQL or SDK clients. The shared helper (``pipeline.helper``) hands it a
:class:`StepContext` through which it reads the image and earlier results and uses the pipeline's
services; everything the step returns is validated against its ``produces`` model.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, get_args, get_origin

from pydantic import BaseModel

if TYPE_CHECKING:
    from collections.abc import Callable

    from pipeline.artifacts import Artifacts
    from pipeline.contract import JobMessage
    from pipeline.faces.index import FaceIndex
    from pipeline.records import JobRecords
    from pipeline.vision.base import VisionImage, VisionProvider

OutputT = TypeVar("OutputT", bound=BaseModel)
ModelT = TypeVar("ModelT", bound=BaseModel)


class ImageSource(StrEnum):
    """Which image a step reads."""

    ORIGINAL = "original"  # the upload as-is; only the normalize step should need it
    WORKING = "working"  # the normalized working copy every vision step shares
    NONE = "none"


class Step(ABC, Generic[OutputT]):
    """Base of every step. Subclasses declare their contract as class attributes and implement ``run``.

    ``class Faces(Step[FacesOutput])`` is the whole output declaration: ``produces`` is read from the type
    argument. ``requires`` names the step classes whose results this one reads.
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[type[Step], ...]] = ()
    produces: ClassVar[type[BaseModel]]
    reads: ClassVar[ImageSource] = ImageSource.WORKING
    # A terminal step ends every pipeline: it must be listed last and forwards nothing.
    terminal: ClassVar[bool] = False
    # The attribute of the step's vision provider naming the model that made its output, which the output
    # records as ``model``: reprocessing runs the step again for outputs of another model.
    model_attribute: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Step:
                (output,) = get_args(base)
                if isinstance(output, type) and issubclass(output, BaseModel):
                    cls.produces = output

    @abstractmethod
    def run(self, context: StepContext) -> OutputT:
        """Do the step's work for one job and return its output."""

    def __repr__(self) -> str:
        return f"<step {self.name}>"


class StepContext:
    """Everything a step may use for one job. Built by the helper; lazily loads what the step asks for."""

    def __init__(
        self,
        message: JobMessage,
        log: logging.LoggerAdapter,
        *,
        image_loader: ImageLoader,
        result_loader: ResultLoader,
        artifacts: Artifacts,
        records: JobRecords,
        vision: Callable[[], VisionProvider],
        face_index: Callable[[], FaceIndex],
    ) -> None:
        self.message = message
        self.log = log
        self.artifacts = artifacts
        self.records = records
        self._image_loader = image_loader
        self._result_loader = result_loader
        self._vision_factory = vision
        self._face_index_factory = face_index

    def image_bytes(self) -> bytes:
        return self._image_loader.load_bytes(self.message)

    def image(self) -> VisionImage:
        """The image this step reads: its bytes, and its pixels decoded on first use."""
        return self._image_loader.load_image(self.message)

    def result(self, step: type[Step[ModelT]]) -> ModelT:
        """An earlier step's output as that step's model (claim checks resolved)."""
        return step.produces.model_validate(self._result_loader.output(self.message, step.name))

    def outputs(self) -> dict[str, dict]:
        """Every earlier step's raw output, in pipeline order (claim checks resolved)."""
        return {name: self._result_loader.output(self.message, name) for name in self.message.results}

    @cached_property
    def vision(self) -> VisionProvider:
        return self._vision_factory()

    @cached_property
    def face_index(self) -> FaceIndex:
        return self._face_index_factory()


class ImageLoader(Protocol):
    def load_bytes(self, message: JobMessage) -> bytes: ...

    def load_image(self, message: JobMessage) -> VisionImage: ...


class ResultLoader(Protocol):
    def output(self, message: JobMessage, step: str) -> dict: ...
