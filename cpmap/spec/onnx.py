"""ONNX models -> cpmap workloads (``cpmap import model.onnx``; docs/interop.md).

The graph is read with the ``onnx`` package (an optional extra: ``pip install -e
'.[onnx]'``), its shapes come from ONNX shape inference, and every MAC-carrying node
becomes one layer of a workload object (the dict a workload YAML file holds), which
:func:`cpmap.spec.workload.workload_from_obj` then checks like any file:

* Conv -> ``conv`` (groups, strides, dilations; the padded input is implied by the
  output size), Gemm and MatMul with a constant second operand -> ``fc`` (2-D) or a
  token-wise ``gemm`` (``batch_dim: M``), MatMul of two activations -> batched ``gemm``
  (attention's QK^T and AV: the second activation is ``W``), Max/Average/LpPool and the
  global pools -> ``pool``, Add and Sum of activations -> ``eltwise``.
* Ops without MACs that reshape, normalize or activate are skipped and counted in the
  summary; their consumers read their producers (Concat's consumers read every
  concatenated producer, as the bundled models write it).
* An op that carries MACs but has no cpmap layer kind, or an op this importer does not
  know, is an error naming the node: nothing is dropped silently.

Sizes are written per sample with the workload's ``batch`` (dim 0 of the first graph
input, or ``--batch``), so a layer whose dim 0 is that batch omits ``N``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import CpmapError

MAC_FREE = frozenset(["Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Mish", "Softplus", "Softsign", "Tanh", "Softmax", "LogSoftmax", "Gelu", "Erf", "Mul", "Div", "Sub", "Pow", "Sqrt", "Reciprocal", "Neg", "Exp", "Log", "Abs", "Floor", "Ceil", "Round", "Sign", "Min", "Max", "Mean", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice", "Gather", "GatherElements", "Shape", "Size", "Constant", "ConstantOfShape", "Cast", "CastLike", "Identity", "Dropout", "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization", "LpNormalization", "LRN", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "Pad", "Resize", "Upsample", "Expand", "Tile", "Where", "Equal", "Less", "Greater", "Not", "And", "Or", "Range", "ArgMax", "ArgMin", "DepthToSpace", "SpaceToDepth"])
"""ONNX ops with no multiply-accumulates: skipped (activations, normalization that can be
folded into the neighbouring layer, reshapes, element-wise arithmetic)."""

MAC_OPS_WITHOUT_KIND = frozenset(["ConvTranspose", "ConvInteger", "QLinearConv", "MatMulInteger", "QLinearMatMul", "Einsum", "LSTM", "GRU", "RNN", "Attention", "MultiHeadAttention", "DeformConv"])
"""ONNX ops that carry MACs but have no cpmap layer kind: an error, never dropped."""

HANDLED = ("Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool",
           "GlobalMaxPool", "Add", "Sum")


def _onnx():
    try:
        import onnx
        import onnx.numpy_helper
        import onnx.shape_inference
    except ImportError:
        raise CpmapError("reading ONNX models needs the onnx package: "
                         "pip install -e '.[onnx]' (or pip install onnx)") from None
    return onnx


@dataclass
class ImportSummary:
    """What the importer did: layers written per kind, ops skipped (op -> count)."""

    layers: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        made = ", ".join(f"{n} {k}" for k, n in self.layers.items()) or "none"
        skip = ", ".join(f"{op} x{n}" for op, n in sorted(self.skipped.items())) or "none"
        return f"layers: {made}; skipped (no MACs): {skip}"


def load_onnx_workload_obj(path: str, batch: int | None = None) -> tuple[dict, ImportSummary]:
    """The workload object (as a workload YAML file holds it) of an ONNX model, and a
    summary.  ``batch`` replaces the model's batch (dim 0 of its first input)."""
    onnx = _onnx()
    from google.protobuf.message import DecodeError  # protobuf comes with onnx

    file = str(path)
    try:
        model = onnx.load(file)
    except OSError as e:
        raise CpmapError(f"{file}: cannot read file: {e.strerror or e}") from None
    except (DecodeError, ValueError, RuntimeError) as e:  # not an ONNX (protobuf) file
        raise CpmapError(f"{file}: expected an ONNX model file, cannot parse it ({type(e).__name__})") from None
    return Importer(model, file, onnx).run(batch)


class Importer:
    """One pass over a shape-inferred graph in topological order."""

    def __init__(self, model, file: str, onnx):
        self.file, self.onnx = file, onnx
        self.model = self._with_fixed_batch(model)
        try:
            self.model = onnx.shape_inference.infer_shapes(self.model, strict_mode=True)
        except (onnx.shape_inference.InferenceError, ValueError, RuntimeError) as e:
            raise CpmapError(f"{file}: ONNX shape inference failed: {' '.join(str(e).split())[:300]}") from None
        g = self.model.graph
        self.constants = {t.name: tuple(t.dims) for t in g.initializer}
        self.shapes: dict[str, tuple[int, ...]] = dict(self.constants)
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            dims = vi.type.tensor_type.shape.dim
            if vi.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
                self.shapes[vi.name] = tuple(d.dim_value for d in dims)
        self.external = [i.name for i in g.input if i.name not in self.constants]
        if not self.external:
            raise CpmapError(f"{file}: the graph has no input that is not an initializer")
        first = self.shapes.get(self.external[0])
        self.model_batch = first[0] if first else 1
        self.producers: dict[str, tuple[str, ...]] = {x: (x,) for x in self.external}
        self.layers: list[dict] = []
        self.names: set[str] = set(self.external)
        self.summary = ImportSummary()

    @staticmethod
    def _with_fixed_batch(model):
        """A copy whose symbolic input dims are 1 (shape inference needs numbers)."""
        m = type(model)()
        m.CopyFrom(model)
        for vi in m.graph.input:
            for d in vi.type.tensor_type.shape.dim:
                if not d.HasField("dim_value"):
                    d.dim_value = 1
        return m

    def run(self, batch: int | None) -> tuple[dict, ImportSummary]:
        for i, node in enumerate(self.model.graph.node):
            self._node(i, node)
        if not self.layers:
            raise CpmapError(f"{self.file}: the graph has no node with MACs (Conv, Gemm, MatMul, pools, Add)")
        name = self.model.graph.name or "onnx-model"
        body = {"name": name, "batch": batch or self.model_batch, "inputs": list(self.external),
                "layers": self.layers}
        return {"workload": body}, self.summary

    # ----------------------------------------------------------------- nodes

    def _node(self, i: int, node) -> None:
        op, where = node.op_type, self._where(i, node)
        if node.domain not in ("", "ai.onnx"):
            raise CpmapError(f"{where}: op {node.domain}.{op} is not a standard ONNX op; cpmap cannot "
                             "tell whether it carries MACs")
        if op == "Constant":  # a constant operand, like an initializer
            for out in node.output:
                self.constants[out] = self.shapes.get(out, ())
        if op in MAC_FREE:
            self.summary.skipped[op] = self.summary.skipped.get(op, 0) + 1
            srcs = self._sources(node.input)
            for out in node.output:
                self.producers[out] = srcs
            return
        if op in MAC_OPS_WITHOUT_KIND:
            raise CpmapError(f"{where}: {op} carries MACs but cpmap has no layer kind for it "
                             f"(supported: {', '.join(HANDLED)})")
        if op not in HANDLED:
            raise CpmapError(f"{where}: unsupported op {op} (MAC layers: {', '.join(HANDLED)}; skipped "
                             "as MAC-free: activations, normalization, reshapes, element-wise arithmetic)")
        try:
            layer = getattr(self, f"_op_{op.lower()}")(node, where)
        except (KeyError, IndexError, TypeError, ValueError) as e:  # a node missing inputs or attributes
            raise CpmapError(f"{where}: malformed {op} node ({type(e).__name__}: {e})") from None
        if layer is None:  # e.g. a bias Add: no layer
            self.summary.skipped[op] = self.summary.skipped.get(op, 0) + 1
            self.producers[node.output[0]] = self._sources(node.input)
            return
        self._add(i, node, layer)

    def _where(self, i: int, node) -> str:
        return f"{self.file}: node {node.name or i} ({node.op_type})"

    def _sources(self, inputs) -> tuple[str, ...]:
        out: list[str] = []
        for x in inputs:
            for src in self.producers.get(x, ()):
                if src not in out:
                    out.append(src)
        return tuple(out)

    def _add(self, i: int, node, layer: dict) -> None:
        base = node.name or f"{node.op_type.lower()}_{i}"
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        srcs = self._sources(x for x in node.input if x not in self.constants)
        default = (self.layers[-1]["name"],) if self.layers else tuple(self.external)
        entry = {"name": name, **layer}
        if srcs != default:
            entry["inputs"] = list(srcs)
        self.layers.append(entry)
        self.producers[node.output[0]] = (name,)
        self.summary.layers[layer["type"]] = self.summary.layers.get(layer["type"], 0) + 1

    def _shape(self, tensor: str, where: str) -> tuple[int, ...]:
        if tensor not in self.shapes:
            raise CpmapError(f"{where}: shape inference gave no static shape for tensor {tensor!r}")
        return self.shapes[tensor]

    def _attrs(self, node) -> dict[str, Any]:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def _batch_field(self, n: int) -> dict:
        """``N`` only when dim 0 is not the workload batch (which fills it otherwise)."""
        return {} if n == self.model_batch else {"N": n}

    # ------------------------------------------------------------------ conv

    def _op_conv(self, node, where: str) -> dict:
        x, w, y = (self._shape(t, where) for t in (node.input[0], node.input[1], node.output[0]))
        if len(x) not in (3, 4):
            raise CpmapError(f"{where}: expected a 1-D or 2-D convolution (input rank 3 or 4), got rank {len(x)}")
        a = self._attrs(node)
        k = len(x) - 2
        strides, dilations = list(a.get("strides", [1] * k)), list(a.get("dilations", [1] * k))
        kernel = list(w[2:])
        if k == 1:  # a 1-D conv is a 2-D one with one column
            strides, dilations, kernel, y = strides + [1], dilations + [1], kernel + [1], y + (1,)
        layer = {"type": "conv", **self._batch_field(x[0]), "K": y[1], "C": x[1], "P": y[2], "Q": y[3]}
        if kernel != [1, 1]:
            layer |= {"R": kernel[0], "S": kernel[1]}
        layer |= _pair("stride", strides) | _pair("dilation", dilations)
        if a.get("group", 1) > 1:
            layer["groups"] = a["group"]
        return layer

    # ------------------------------------------------------------------ matmuls

    def _op_gemm(self, node, where: str) -> dict:
        a_shape, b_shape = self._shape(node.input[0], where), self._shape(node.input[1], where)
        at = self._attrs(node)
        m, k = a_shape[::-1] if at.get("transA", 0) else a_shape
        k2, n = b_shape[::-1] if at.get("transB", 0) else b_shape
        if k != k2:
            raise CpmapError(f"{where}: inner dims differ ({k} and {k2})")
        if node.input[1] in self.constants:
            return {"type": "fc", **self._batch_field(m), "K": n, "C": k}
        return self._gemm_layer((), m, n, k, where)

    def _op_matmul(self, node, where: str) -> dict:
        a_shape, b_shape = self._shape(node.input[0], where), self._shape(node.input[1], where)
        if len(a_shape) == 1:
            a_shape = (1, *a_shape)
        if len(b_shape) == 1:
            b_shape = (*b_shape, 1)
        *lead_a, m, k = a_shape
        *lead_b, k2, n = b_shape
        if k != k2:
            raise CpmapError(f"{where}: inner dims differ ({k} and {k2})")
        if node.input[1] in self.constants and not lead_b:
            if not lead_a:
                return {"type": "fc", **self._batch_field(m), "K": n, "C": k}
            return self._token_gemm(lead_a, m, n, k)
        lead = _broadcast(lead_a, lead_b, where)
        return self._gemm_layer(lead, m, n, k, where)

    def _token_gemm(self, lead: list[int], m: int, n: int, k: int) -> dict:
        """x[..., M, K] @ W[K, N]: a projection of every token, rows = all leading dims."""
        if lead[0] == self.model_batch:
            return {"type": "gemm", "M": math.prod(lead[1:]) * m, "N": n, "K": k, "batch_dim": "M"}
        return {"type": "gemm", "M": math.prod(lead) * m, "N": n, "K": k}

    def _gemm_layer(self, lead, m: int, n: int, k: int, where: str) -> dict:
        layer = {"type": "gemm", "M": m, "N": n, "K": k}
        per_sample = bool(lead) and lead[0] == self.model_batch
        heads = math.prod(lead[1:]) if per_sample else math.prod(lead)
        if heads > 1:
            layer["B"] = heads
        if per_sample:
            layer["batch_dim"] = "B"  # the workload batch multiplies the independent matmuls
        return layer

    # ------------------------------------------------------------------ pools and sums

    def _pool(self, node, where: str, kernel=None, strides=None) -> dict:
        x, y = self._shape(node.input[0], where), self._shape(node.output[0], where)
        if len(x) != 4:
            raise CpmapError(f"{where}: expected a 2-D pool (input rank 4), got rank {len(x)}")
        a = self._attrs(node)
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise CpmapError(f"{where}: pooling with dilation is not a cpmap layer kind (dilations "
                             f"{list(a['dilations'])})")
        kernel = kernel or list(a["kernel_shape"])
        strides = strides or list(a.get("strides", [1, 1]))
        layer = {"type": "pool", **self._batch_field(x[0]), "C": x[1], "P": y[2], "Q": y[3],
                 "R": kernel[0], "S": kernel[1]}
        return layer | _pair("stride", strides)

    def _op_maxpool(self, node, where: str) -> dict:
        return self._pool(node, where)

    _op_averagepool = _op_lppool = _op_maxpool

    def _op_globalaveragepool(self, node, where: str) -> dict:
        x = self._shape(node.input[0], where)
        return self._pool(node, where, kernel=list(x[2:]), strides=[1, 1])

    _op_globalmaxpool = _op_globalaveragepool

    def _op_add(self, node, where: str) -> dict | None:
        y = self._shape(node.output[0], where)
        size = math.prod(y)
        operands = [x for x in node.input if x not in self.constants or math.prod(self.constants[x]) == size]
        if len(operands) < 2 or all(x in self.constants for x in operands):
            return None  # a bias (broadcast constant) add: no layer
        return {"type": "eltwise", **self._batch_field(y[0]), **_eltwise_shape(y[1:], where), "E": len(operands)}

    _op_sum = _op_add


def _pair(field_name: str, values: list[int]) -> dict:
    """``stride: 2`` for equal values, ``stride: [y, x]`` otherwise, nothing for 1."""
    if all(v == 1 for v in values):
        return {}
    return {field_name: values[0] if values[0] == values[1] else [values[0], values[1]]}


def _broadcast(a: list[int], b: list[int], where: str) -> list[int]:
    """NumPy broadcasting of two leading-dim lists (MatMul's batch dims)."""
    n = max(len(a), len(b))
    a, b = [1] * (n - len(a)) + list(a), [1] * (n - len(b)) + list(b)
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        raise CpmapError(f"{where}: batch dims {a} and {b} do not broadcast")
    return [max(x, y) for x, y in zip(a, b)]


def _eltwise_shape(dims: tuple[int, ...], where: str) -> dict:
    """C, P, Q of an element-wise layer from the output's dims after the batch:
    [C, H, W] (images), [S, D] (tokens: C = D features, P = S tokens) or [D]."""
    if len(dims) == 3:
        c, p, q = dims
    elif len(dims) == 2:
        (p, c), q = dims, 1
    elif len(dims) == 1:
        (c,), p, q = dims, 1, 1
    else:
        raise CpmapError(f"{where}: expected an element-wise output of rank 2 to 4, got rank {len(dims) + 1}")
    return {"C": c} | ({"P": p} if p > 1 or q > 1 else {}) | ({"Q": q} if q > 1 else {})


def workload_yaml(obj: dict, source: str, summary: ImportSummary) -> str:
    """The workload object as a YAML file: a header naming the source, one flow-style
    line per layer (as the bundled models are written)."""
    import yaml

    body = obj["workload"]
    lines = [f"# Imported from {source} by `cpmap import` (docs/interop.md).",
             f"# {summary.text()}", "workload:"]
    for key in ("name", "batch", "inputs"):
        lines.append(f"  {key}: {_flow(yaml, body[key])}")
    lines.append("  layers:")
    lines += [f"    - {_flow(yaml, lay)}" for lay in body["layers"]]
    return "\n".join(lines) + "\n"


def _flow(yaml, v) -> str:
    return yaml.safe_dump(v, default_flow_style=True, sort_keys=False, width=1 << 20).strip().removesuffix("\n...")
