"""Several images in one Face detect request: small working copies side by side in a grid image.

The original Imaginem article's idea, to save Face API calls. Each image is its own queue message, so the
images of one request come from concurrent ``faces`` invocations of one process: :class:`DetectBatcher`
collects them for a short window (or until the grid is full), one request serves them all, and each gets
back its own faces in its own pixels.

What keeps the faces of every image what single-image detection finds:

* No image is scaled. Azure detects faces from 36 px in images up to 1920 x 1080 px and needs
  proportionally larger faces in larger images, so the grid stays within 1920 x 1080 and only images that
  fit there together at full size are combined; any other goes alone, at once.
* Cells are separated by a neutral margin wider than the smallest detectable face, so no face can be made
  of two images; a face that still reaches into another cell is dropped, one that only reaches into the
  margin is clipped to its image, as single detection clips at the image's edge.
* A request answers at most 100 faces: a grid that returns that many may have lost some, so its images are
  detected again one by one. A grid the service rejects is also retried one by one, so each image fails
  (or not) for its own reason.

Detection ids come from the grid request and work for find-similar like any other. Adding a face to the
face list still sends the image's own working copy with the face's rectangle in it.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image

from pipeline.errors import InputRejected
from pipeline.vision.base import DetectedFace, Rectangle, VisionImage

CANVAS = (1920, 1080)
MARGIN = 48  # > 36 px, the smallest face detection_03 finds
MARGIN_FILL = (128, 128, 128)
MAX_FACES_PER_REQUEST = 100
MAX_REQUEST_BYTES = 6 * 1024 * 1024
MIN_REQUEST_BYTES = 1024
# How long the first image of a grid waits for others: short next to a step's run time, long enough for
# the concurrent invocations of one host to arrive.
WINDOW_SECONDS = 0.3
GRID_JPEG_QUALITY = 95
SMALLEST_FACE = 36


@dataclass(frozen=True)
class Cell:
    """Where one image sits in the grid, in grid pixels."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x < self.right and self.top <= y < self.bottom

    def overlaps(self, r: Rectangle) -> bool:
        return (
            r.left < self.right
            and self.left < r.left + r.width
            and r.top < self.bottom
            and self.top < r.top + r.height
        )


def can_share(size: tuple[int, int], canvas: tuple[int, int] = CANVAS, margin: int = MARGIN) -> bool:
    """Whether an image of this size leaves room in a grid for at least one more image."""
    width, height = size
    room = margin + SMALLEST_FACE
    return (
        width <= canvas[0]
        and height <= canvas[1]
        and (width + room <= canvas[0] or height + room <= canvas[1])
    )


def pack(
    sizes: Sequence[tuple[int, int]], canvas: tuple[int, int] = CANVAS, margin: int = MARGIN
) -> list[Cell | None]:
    """Shelf packing in the given order, rows left to right, ``margin`` apart; None where an image does not fit."""
    cells: list[Cell | None] = []
    x = y = shelf = 0
    for width, height in sizes:
        if x > 0 and x + width > canvas[0]:
            x, y, shelf = 0, y + shelf + margin, 0
        if width > canvas[0] or y + height > canvas[1]:
            cells.append(None)
            continue
        cells.append(Cell(x, y, width, height))
        x += width + margin
        shelf = max(shelf, height)
    return cells


def split(faces: Sequence[DetectedFace], cells: Sequence[Cell]) -> list[list[DetectedFace]]:
    """The grid's faces per cell, in the cell's own pixels, largest first; faces across cells are dropped."""
    per_cell: list[list[DetectedFace]] = [[] for _ in cells]
    for face in faces:
        r = face.rectangle
        centre = (r.left + r.width / 2, r.top + r.height / 2)
        home = next((i for i, cell in enumerate(cells) if cell.contains(*centre)), None)
        if home is None or any(cell.overlaps(r) for i, cell in enumerate(cells) if i != home):
            continue  # in the margin, or made of two images
        cell = cells[home]
        left, top = max(r.left, cell.left), max(r.top, cell.top)
        right, bottom = min(r.left + r.width, cell.right), min(r.top + r.height, cell.bottom)
        moved = face.model_copy(
            update={
                "rectangle": Rectangle(
                    left=left - cell.left, top=top - cell.top, width=right - left, height=bottom - top
                ),
                "landmarks": [(px - cell.left, py - cell.top) for px, py in face.landmarks],
            }
        )
        per_cell[home].append(moved)
    for found in per_cell:
        found.sort(key=lambda f: f.rectangle.width * f.rectangle.height, reverse=True)
    return per_cell


def compose(images: Sequence[VisionImage], cells: Sequence[Cell]) -> VisionImage:
    """One JPEG with each image at its cell on a neutral background."""
    size = (max(c.right for c in cells), max(c.bottom for c in cells))
    canvas = Image.new("RGB", size, MARGIN_FILL)
    for image, cell in zip(images, cells, strict=True):
        canvas.paste(image.pixels, (cell.left, cell.top))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=GRID_JPEG_QUALITY)
    return VisionImage(buffer.getvalue(), decoded=canvas)


@dataclass
class _Batch:
    images: list[VisionImage] = field(default_factory=list)
    full: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    results: dict[int, list[DetectedFace] | BaseException] = field(default_factory=dict)


class DetectBatcher:
    """Collects concurrent detections of one process into grid requests; see the module docstring.

    ``detect`` sends one image (a working copy or a grid) and returns its faces in that image's pixels.
    """

    def __init__(
        self,
        detect: Callable[[VisionImage], list[DetectedFace]],
        capacity: int,
        window: float = WINDOW_SECONDS,
        canvas: tuple[int, int] = CANVAS,
        margin: int = MARGIN,
    ) -> None:
        self._detect = detect
        self.capacity = capacity
        self.window = window
        self.canvas = canvas
        self.margin = margin
        self._lock = threading.Lock()
        self._open: _Batch | None = None

    def detect(self, image: VisionImage) -> list[DetectedFace]:
        try:
            size = image.pixels.size
        except Exception:
            size = None  # undecodable here: the service gives the reason, for this image alone
        if self.capacity < 2 or size is None or not can_share(size, self.canvas, self.margin):
            return self._detect(image)
        with self._lock:
            batch, leader = self._open, False
            if batch is None:
                batch, leader = _Batch(), True
                self._open = batch
            index = len(batch.images)
            batch.images.append(image)
            if len(batch.images) >= self.capacity:
                self._open = None
                batch.full.set()
        if leader:
            batch.full.wait(self.window)
            with self._lock:
                if self._open is batch:
                    self._open = None
            try:
                self._serve(batch)
            finally:
                batch.done.set()
        else:
            batch.done.wait()
        result = batch.results[index]
        if isinstance(result, BaseException):
            raise result
        return result

    def _serve(self, batch: _Batch) -> None:
        waiting = list(range(len(batch.images)))
        while waiting:
            cells = pack([batch.images[i].pixels.size for i in waiting], self.canvas, self.margin)
            group = [(i, cell) for i, cell in zip(waiting, cells, strict=True) if cell is not None]
            waiting = [i for i, cell in zip(waiting, cells, strict=True) if cell is None]
            if not group:  # cannot happen for images that passed can_share; never loop forever
                group, waiting = [(i, None) for i in waiting], []
            self._serve_group(batch, group)

    def _serve_group(self, batch: _Batch, group: list[tuple[int, Cell | None]]) -> None:
        members = [i for i, _ in group]
        cells = [cell for _, cell in group]
        if len(group) > 1 and all(cell is not None for cell in cells):
            grid = compose([batch.images[i] for i in members], cells)  # type: ignore[arg-type]
            if MIN_REQUEST_BYTES <= len(grid.data) <= MAX_REQUEST_BYTES:
                try:
                    faces = self._detect(grid)
                except InputRejected:
                    faces = None  # the service refused the grid: each image alone gets its own answer
                except Exception as error:
                    for i in members:
                        batch.results[i] = error
                    return
                if faces is not None and len(faces) < MAX_FACES_PER_REQUEST:
                    for i, found in zip(members, split(faces, cells), strict=True):  # type: ignore[arg-type]
                        batch.results[i] = found
                    return
        for i in members:
            try:
                batch.results[i] = self._detect(batch.images[i])
            except Exception as error:
                batch.results[i] = error
