"""The Computer Vision and Face routes over one set of open models, face lists and background workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devhost.azure_vision.face_routes import FaceRoutes
from devhost.azure_vision.facelists import FaceListStore
from devhost.azure_vision.models import ModelAnswers
from devhost.azure_vision.routing import Route, find_route
from devhost.azure_vision.vision_routes import ComputerVisionRoutes
from pipeline.vision.base import VisionProvider


class AzureVisionApi:
    """What the server answers; the server in front of it checks credentials and injects faults."""

    def __init__(self, data_dir: Path, vision: VisionProvider | None = None) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.answers = ModelAnswers(vision)
        self.lists = FaceListStore(data_dir / "largefacelists.sqlite3")
        # Read operations and list trainings run here, after their 202 has been sent.
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="azure-vision-server")
        self.computer_vision = ComputerVisionRoutes(self.answers, self._workers)
        self.face = FaceRoutes(self.answers, self.lists, self._workers)
        self.routes: list[Route] = [*self.computer_vision.routes, *self.face.routes]

    @property
    def vision(self) -> VisionProvider:
        return self.answers.vision

    def close(self) -> None:
        self._workers.shutdown(wait=True, cancel_futures=True)
        self.lists.close()

    def route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        return find_route(self.routes, method, path)
