"""EfficientNet-Lite0 as an ONNX graph, built with the ``onnx`` package from the shipped PyTorch weights.

The architecture is EfficientNet-Lite's (Google's ``efficientnet_lite_builder``, as ported by
``efficientnet-lite-pytorch``): a 3x3 stride-2 stem, sixteen inverted-residual blocks without
squeeze-excitation, a 1x1 head, global average pooling and a 1000-way linear layer, ReLU6 throughout and
TensorFlow's "SAME" padding (asymmetric on stride-2 convolutions). Batch normalisation is folded into the
convolutions. The input size is fixed at 224x224, so every padding is static.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_SIZE = 224
BATCH_NORM_EPSILON = 1e-3
# (repeats, kernel, stride, expand ratio, input filters, output filters) of each stage, from the builder's
# block strings 'r1_k3_s11_e1_i32_o16', ...; Lite models keep the stem and head unscaled.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
OPSET = 17


def same_pads(size: int, kernel: int, stride: int) -> list[int]:
    """TensorFlow 'SAME' padding as ONNX pads [top, left, bottom, right] for a square input."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return [total // 2, total // 2, total - total // 2, total - total // 2]


class _GraphBuilder:
    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.counter = 0

    def _name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def _constant(self, prefix: str, value: np.ndarray) -> str:
        name = self._name(prefix)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, stride: int, size: int, groups: int = 1) -> str:
        weight = self.weights[f"{conv}.weight"].astype(np.float64)
        scale = self.weights[f"{bn}.weight"] / np.sqrt(self.weights[f"{bn}.running_var"] + BATCH_NORM_EPSILON)
        folded_weight = weight * scale[:, None, None, None]
        folded_bias = self.weights[f"{bn}.bias"] - self.weights[f"{bn}.running_mean"] * scale
        kernel = weight.shape[-1]
        out = self._name("conv")
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, self._constant("w", folded_weight), self._constant("b", folded_bias)],
                [out],
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=same_pads(size, kernel, stride),
                group=groups,
            )
        )
        return out

    def relu6(self, x: str) -> str:
        out = self._name("relu6")
        self.nodes.append(
            helper.make_node(
                "Clip", [x, self._constant("lo", np.array(0.0)), self._constant("hi", np.array(6.0))], [out]
            )
        )
        return out

    def add(self, a: str, b: str) -> str:
        out = self._name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [out]))
        return out

    def block(self, x: str, index: int, expand: int, kernel: int, stride: int, size: int, skip: bool) -> str:
        prefix = f"_blocks.{index}"
        channels = self.weights[f"{prefix}._depthwise_conv.weight"].shape[0]
        if self.weights[f"{prefix}._depthwise_conv.weight"].shape[-1] != kernel:
            raise ValueError(f"block {index}: the weights do not match EfficientNet-Lite0")
        hidden = x
        if expand != 1:
            hidden = self.relu6(self.conv_bn(x, f"{prefix}._expand_conv", f"{prefix}._bn0", 1, size))
        hidden = self.relu6(
            self.conv_bn(hidden, f"{prefix}._depthwise_conv", f"{prefix}._bn1", stride, size, groups=channels)
        )
        out_size = -(-size // stride)
        hidden = self.conv_bn(hidden, f"{prefix}._project_conv", f"{prefix}._bn2", 1, out_size)
        return self.add(hidden, x) if skip else hidden


def build_lite0(weights: dict[str, np.ndarray]) -> bytes:
    """The serialised ONNX model: input ``image`` float32 [N,3,224,224] normalised, output ``logits`` [N,1000]."""
    graph = _GraphBuilder(weights)
    size = INPUT_SIZE
    x = graph.relu6(graph.conv_bn("image", "_conv_stem", "_bn0", 2, size))
    size = -(-size // 2)
    index = 0
    for repeats, kernel, stride, expand, filters_in, filters_out in LITE0_STAGES:
        for repeat in range(repeats):
            block_stride = stride if repeat == 0 else 1
            block_in = filters_in if repeat == 0 else filters_out
            skip = block_stride == 1 and block_in == filters_out
            x = graph.block(x, index, expand, kernel, block_stride, size, skip)
            size = -(-size // block_stride)
            index += 1
    if f"_blocks.{index}._depthwise_conv.weight" in weights:
        raise ValueError("the weights have more blocks than EfficientNet-Lite0")
    x = graph.relu6(graph.conv_bn(x, "_conv_head", "_bn1", 1, size))
    pooled, flat = graph._name("pool"), graph._name("flat")
    graph.nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled]))
    graph.nodes.append(helper.make_node("Flatten", [pooled], [flat], axis=1))
    graph.nodes.append(
        helper.make_node(
            "Gemm",
            [
                flat,
                graph._constant("fc_w", weights["_fc.weight"]),
                graph._constant("fc_b", weights["_fc.bias"]),
            ],
            ["logits"],
            transB=1,
        )
    )
    classes = weights["_fc.weight"].shape[0]
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "efficientnet_lite0",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="imaginem",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()
