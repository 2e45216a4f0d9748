"""ExactVectors keeps face and image ids whole and forgets removed faces."""

from __future__ import annotations

import numpy as np

from pipeline.faces.vectors import ExactVectors


def test_vectors_keep_ids_whose_bytes_end_in_zero():
    vectors = ExactVectors(4)
    face = "12345678-1234-5678-1234-567812345600"  # its last byte is 0
    vectors.add(face, "00000000-0000-4000-8000-000000000001", np.ones(4, dtype=np.float32))
    assert vectors.within(np.ones(4), 0.1, "00000000-0000-4000-8000-000000000002") == [(face, 0.0)]
    assert vectors.within(np.ones(4), 0.1, "00000000-0000-4000-8000-000000000001") == []
    vectors.remove(face)
    assert len(vectors) == 0 and vectors.within(np.ones(4), 0.1, "00000000-0000-4000-8000-000000000002") == []
