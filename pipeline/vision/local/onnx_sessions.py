"""ONNX Runtime sessions for the open models: full graph optimisation, and no spinning between runs.

The host runs several worker threads (``PYTHON_THREADPOOL_THREAD_COUNT``), each busy with one image's
step, so models run at the same time on the same cores. ONNX Runtime's default has each session's idle
threads spin while they wait for work, taking the cores the other models need: on this 2-core machine the
pipeline reached 50 % of its pure inference throughput with spinning and 75 % without (BENCHMARKS.md,
section 7). One intra-op thread per session was tried too and was slower still (each model then uses a
single core even when it runs alone).
"""

from __future__ import annotations

from pathlib import Path


def cpu_session(model: bytes | str | Path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = str(model) if isinstance(model, Path) else model
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
