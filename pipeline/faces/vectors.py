"""Embeddings held in memory for the open-model index: every stored face is compared with every search.

A million float32 embeddings are 512 MB, and one pass over them costs about 50 ms on a 2-core machine — past
the 20 ms a search may take. :class:`FaceVectors` therefore keeps each embedding as 8-bit codes (a scale per
vector, so none is clipped) with the exact norm of what the codes leave out, and scans those codes with one
integer matrix product per block (onnxruntime's MatMulInteger: NumPy has no fast int8 product). From the
codes and the residual norms it bounds every distance from below, so the faces it returns are a superset of
the faces within the distance: **nothing is missed**. The index then measures the exact distance of those few
candidates from their stored float32 embeddings (see :class:`~pipeline.faces.local_index.LocalFaceIndex`),
so what it reports is what a float32 brute-force search reports.

For a stored vector x = s·c + e (codes c, scale s, residual e) and a query q = t·d + f (its own codes d):
q·x = s·t·(d·c) + f·(s·c) + q·e ≤ s·t·(d·c) + |f|·|s·c| + |q|·|e|, so
|q - x|² ≥ |x|² + |q|² - 2·(that bound). Each stored value is rounded to the safe side.

Storage grows in fixed-size blocks, so adding faces never re-copies what is stored; face and image ids are
kept as 16 raw bytes each. About 180 bytes per 128-d face, a third of its float32 vector.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)

BLOCK_ROWS = 65_536
FIRST_BLOCK_ROWS = 1_024
# The bound is computed in float32: sums of 128 terms err by ~1e-5 of the squares involved. This slack (times
# 1 + |q|²) keeps it below every true squared distance with a wide margin, at the cost of a few more exact
# checks.
ROUNDING_SLACK = 1e-4
# A removed face's squared norm: its bound is infinite, so no search returns it.
REMOVED = np.float32(np.inf)


def _key(face_or_image_id: str) -> bytes:
    """The 16 bytes of a canonical (hyphenated) id; uuid.UUID() is ten times slower for a million rows."""
    raw = bytes.fromhex(face_or_image_id.replace("-", ""))
    if len(raw) != 16:
        raise ValueError(f"not an id: {face_or_image_id!r}")
    return raw


def _keys(ids: Sequence[str]) -> bytes:
    """The 16-byte keys of canonical ids, one after the other (decoded at once: a million in ~0.2 s)."""
    joined = "".join(ids)
    if len(joined) != 36 * len(ids):
        return b"".join(map(_key, ids))
    raw = bytes.fromhex(joined.replace("-", ""))
    if len(raw) != 16 * len(ids):
        raise ValueError("not canonical ids")
    return raw


def _int8_product_session(dimensions: int):  # -> onnxruntime.InferenceSession
    """One MatMulInteger node: (rows, dimensions) int8 by (dimensions, 1) int8 gives (rows, 1) int32."""
    from onnx import TensorProto, helper

    from pipeline.vision.local.onnx_sessions import cpu_session

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["codes", "query"], ["products"])],
        "int8_products",
        [
            helper.make_tensor_value_info("codes", TensorProto.INT8, [None, dimensions]),
            helper.make_tensor_value_info("query", TensorProto.INT8, [dimensions, 1]),
        ],
        [helper.make_tensor_value_info("products", TensorProto.INT32, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime release we accept
    # One search at a time per process (the index's lock), so the scan may take every core.
    return cpu_session(model.SerializeToString(), threads=os.cpu_count() or 1)


def _products_are_exact(session, dimensions: int) -> bool:
    """Whether this CPU's int8 kernel gives exact products (some kernels saturate 16-bit partial sums): if
    not, the slower float32 product keeps every search complete."""
    rng = np.random.default_rng(0)
    signs = np.resize(np.array([1, -1], dtype=np.int8), dimensions)
    extremes = np.stack([np.full(dimensions, 127, np.int8), np.full(dimensions, -127, np.int8)])
    codes = np.concatenate(
        [extremes, extremes * signs, rng.integers(-127, 128, (252, dimensions), dtype=np.int8)]
    )
    for column in (
        127 * signs[:, None],
        np.full((dimensions, 1), 127, np.int8),
        -127 * signs[:, None],
    ):
        exact = codes.astype(np.int64) @ column[:, 0].astype(np.int64)
        products = session.run(None, {"codes": codes, "query": np.ascontiguousarray(column)})[0][:, 0]
        if not np.array_equal(products, exact):
            log.warning("this CPU's int8 matrix product is not exact: face searches use float32 (slower)")
            return False
    return True


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Codes, scales, squared norms, code norms and residual norms of rows (float32; ROUNDING_SLACK covers
    their rounding)."""
    exact = np.asarray(vectors, dtype=np.float32)
    peak = np.abs(exact).max(axis=1)
    scales = np.where(peak > 0, peak / np.float32(127), np.float32(1)).astype(np.float32)
    codes = np.clip(np.rint(exact / scales[:, None]), -127, 127).astype(np.int8)
    approximations = codes * scales[:, None]
    squared = np.einsum("ij,ij->i", exact, exact)
    code_norms = np.sqrt(np.einsum("ij,ij->i", approximations, approximations))
    residual = exact - approximations
    return codes, scales, squared, code_norms, np.sqrt(np.einsum("ij,ij->i", residual, residual))


class FaceVectors:
    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._product = _int8_product_session(dimensions)
        self._exact_int8 = _products_are_exact(self._product, dimensions)
        # Per block, BLOCK_ROWS rows each (the last partly filled): codes and the bound's terms...
        self._codes: list[np.ndarray] = []
        self._scales: list[np.ndarray] = []
        self._squared: list[np.ndarray] = []  # REMOVED for free and removed rows
        self._code_norms: list[np.ndarray] = []
        self._residuals: list[np.ndarray] = []
        # ...and raw 16-byte ids ("S16" would drop trailing zero bytes).
        self._faces: list[np.ndarray] = []
        self._images: list[np.ndarray] = []
        # Per block, what bounds its rows' terms (the least squared norm, the largest code and residual norms),
        # for a first cut on the products alone.
        self._least_squared: list[float] = []
        self._largest_code_norm: list[float] = []
        self._largest_residual: list[float] = []
        self._slot: dict[bytes, int] = {}  # face id -> row number across blocks
        self._rows = 0  # rows used, removed ones included

    def __len__(self) -> int:
        return len(self._slot)

    def memory_bytes(self) -> int:
        """Memory held: the arrays, and the id-to-row dictionary with its keys (16-byte bytes) and rows."""
        arrays = sum(a.nbytes for group in self._groups() for a in group)
        key, row = sys.getsizeof(b"\0" * 16), sys.getsizeof(1 << 20)
        return arrays + sys.getsizeof(self._slot) + len(self._slot) * (key + row)

    def _grow(self) -> None:
        """Room for more rows: the first block doubles up to BLOCK_ROWS (a small index stays small), then
        full blocks are added and nothing is copied again."""
        if self._codes and len(self._scales[-1]) < BLOCK_ROWS:
            rows = min(2 * len(self._scales[-1]), BLOCK_ROWS)
            for group in self._groups():
                old = group.pop()
                group.append(
                    np.full((rows, *old.shape[1:]), REMOVED if group is self._squared else 0, old.dtype)
                )
                group[-1][: len(old)] = old
            return
        rows = FIRST_BLOCK_ROWS if not self._codes else BLOCK_ROWS
        self._codes.append(np.zeros((rows, self.dimensions), dtype=np.int8))
        for group in (self._scales, self._code_norms, self._residuals):
            group.append(np.zeros(rows, dtype=np.float32))
        self._squared.append(np.full(rows, REMOVED, dtype=np.float32))
        self._faces.append(np.zeros(rows, dtype="V16"))
        self._images.append(np.zeros(rows, dtype="V16"))
        self._least_squared.append(np.inf)
        self._largest_code_norm.append(0.0)
        self._largest_residual.append(0.0)

    def _groups(self) -> tuple[list[np.ndarray], ...]:
        return (
            self._codes,
            self._scales,
            self._squared,
            self._code_norms,
            self._residuals,
            self._faces,
            self._images,
        )

    def add(self, face_id: str, image_id: str, vector: np.ndarray) -> None:
        self.add_many([face_id], [image_id], np.asarray(vector, dtype=np.float32)[None, :])

    def add_many(self, face_ids: Sequence[str], image_ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add faces (rows of ``vectors``); a face already held is replaced by its new vector."""
        face_keys, image_keys = _keys(face_ids), _keys(image_ids)
        faces = np.frombuffer(face_keys, dtype="V16")
        images = np.frombuffer(image_keys, dtype="V16")
        keys = [face_keys[i : i + 16] for i in range(0, len(face_keys), 16)]
        for key in (key for key in keys if key in self._slot):
            self._drop(key)
        codes, scales, squared, code_norms, residuals = quantize(vectors)
        start = 0
        while start < len(faces):
            block, row = divmod(self._rows, BLOCK_ROWS)
            if block == len(self._codes) or row == len(self._scales[block]):
                self._grow()
            take = min(len(self._scales[block]) - row, len(faces) - start)
            rows, part = slice(row, row + take), slice(start, start + take)
            self._codes[block][rows] = codes[part]
            self._scales[block][rows] = scales[part]
            self._squared[block][rows] = squared[part]
            self._code_norms[block][rows] = code_norms[part]
            self._residuals[block][rows] = residuals[part]
            self._faces[block][rows] = faces[part]
            self._images[block][rows] = images[part]
            self._least_squared[block] = min(self._least_squared[block], float(squared[part].min()))
            self._largest_code_norm[block] = max(
                self._largest_code_norm[block], float(code_norms[part].max())
            )
            self._largest_residual[block] = max(self._largest_residual[block], float(residuals[part].max()))
            self._slot.update(zip(keys[part], range(self._rows, self._rows + take), strict=True))
            self._rows += take
            start += take

    def remove(self, face_id: str) -> None:
        self._drop(_key(face_id))

    def _drop(self, key: bytes) -> None:
        slot = self._slot.pop(key, None)
        if slot is not None:
            block, row = divmod(slot, BLOCK_ROWS)
            self._squared[block][row] = REMOVED

    def candidates(self, vector: np.ndarray, distance: float, other_than_image: str) -> list[str]:
        """Every stored face of another image that may be at most ``distance`` away (all that are, and a few
        just beyond): the caller measures their exact distances."""
        query = np.asarray(vector, dtype=np.float64)
        [codes], [scale], _, _, [residual] = quantize(query[None, :])
        query_norm = float(np.linalg.norm(query))
        limit = distance**2 - query_norm**2 + ROUNDING_SLACK * (1 + query_norm**2)
        by_product, by_code_norm, by_residual = (2.0 * float(scale), 2.0 * float(residual), 2.0 * query_norm)
        image = np.void(_key(other_than_image))
        query_codes = np.ascontiguousarray(codes[:, None])
        found = []
        for block in range(len(self._codes)):
            used = min(BLOCK_ROWS, self._rows - block * BLOCK_ROWS)
            scaled = self._products(self._codes[block][:used], query_codes)
            scaled *= self._scales[block][:used]
            # A row passes the bound only if its scaled product reaches what the block's extremes allow.
            floor = self._least_squared[block] - limit
            floor -= (
                by_code_norm * self._largest_code_norm[block] + by_residual * self._largest_residual[block]
            )
            rows = np.flatnonzero(scaled >= np.float32(floor / by_product))
            bound = self._squared[block][rows] - np.float32(by_product) * scaled[rows]
            bound -= np.float32(by_code_norm) * self._code_norms[block][rows]
            bound -= np.float32(by_residual) * self._residuals[block][rows]
            for row in rows[bound <= np.float32(limit)]:
                if self._images[block][row] != image:
                    found.append(str(uuid.UUID(bytes=bytes(self._faces[block][row]))))
        return found

    def _products(self, codes: np.ndarray, query_codes: np.ndarray) -> np.ndarray:
        """Integer products of rows of codes with the query's codes, as float32 (exact: each is at most
        127² x dimensions, below 2**24)."""
        if self._exact_int8:
            return self._product.run(None, {"codes": codes, "query": query_codes})[0][:, 0].astype(np.float32)
        return codes.astype(np.float32) @ query_codes[:, 0].astype(np.float32)
