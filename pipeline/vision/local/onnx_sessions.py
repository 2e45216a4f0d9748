"""ONNX Runtime sessions for the open models: full graph optimisation, one intra-op thread, no spinning.

The host runs several worker threads (``PYTHON_THREADPOOL_THREAD_COUNT``, at least one per core), each busy
with one image's step, so the models already run side by side on every core: parallelism comes from the
images, and one intra-op thread per session keeps the compute threads to one per worker thread however many
invocations run (a thread per core per session would put 6 compute threads on 2 cores at 3 workers). ONNX
Runtime's default, idle threads spinning while they wait for work, reached 50 % of the pure inference
throughput here; without spinning, one thread or one per core cost the same CPU per image within this
machine's noise (host + Azurite 795-840 ms with one, 825 ms with one per core: BENCHMARKS.md section 5b).
One thread per session costs latency only when a single image is processed on an otherwise idle machine.

OpenCV's models (YOLO, YuNet, SFace) keep OpenCV's own pool: it runs one parallel region at a time and
runs a second thread's region serially in that thread, so it never oversubscribes the cores.
"""

from __future__ import annotations

from pathlib import Path

INTRA_OP_THREADS = 1


def cpu_session(model: bytes | str | Path, threads: int = INTRA_OP_THREADS):
    """A session on the CPU; ``threads`` other than one only for work that runs one at a time per process
    and is worth both cores (the face index's scan of every stored face, under the index's lock)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads
    source = str(model) if isinstance(model, Path) else model
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
