"""The open face models: each finds faces and embeds them; ``FACE_MODELS`` names the ones to choose from."""

from pipeline.vision.local.faces.base import FaceModel, LocatedFace
from pipeline.vision.local.faces.dlib_hog import Dlib
from pipeline.vision.local.faces.yunet_sface import YuNetSFace

FACE_MODELS: dict[str, type[FaceModel]] = {"yunet-sface": YuNetSFace, "dlib": Dlib}
DEFAULT_FACE_MODEL = "yunet-sface"

__all__ = ["DEFAULT_FACE_MODEL", "FACE_MODELS", "Dlib", "FaceModel", "LocatedFace", "YuNetSFace"]
