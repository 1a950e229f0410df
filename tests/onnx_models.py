"""ONNX graphs for the tests, built with onnx.helper (nothing downloaded).

:func:`net_to_onnx` builds a bundled network as an ONNX model from the *same definition*
as its YAML (``models/tools/gen_models.py``'s ``Net``: the layer list and each conv's and
pool's padding), the way a framework exports it: Conv (+ BatchNormalization + Relu),
MaxPool/GlobalAveragePool, Flatten + Gemm, Add (+ Relu), Concat for several producers.
Output sizes are left to ONNX shape inference, so the importer's layers can be compared
with the YAML's: sizes that disagree mean the YAML's size rule and ONNX's differ.
Initializers carry their dims only (no data): the importer needs shapes, and a full
ResNet-50 would otherwise hold 25 M floats.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import onnx
from onnx import TensorProto, helper

MODELS = Path(__file__).resolve().parent.parent / "models"


def gen_models():
    spec = importlib.util.spec_from_file_location("gen_models", MODELS / "tools" / "gen_models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def weight(name: str, *dims: int) -> TensorProto:
    t = TensorProto()
    t.name, t.data_type = name, TensorProto.FLOAT
    t.dims.extend(dims)
    return t


def value(name: str, dims) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None if dims is None else list(dims))


def model(nodes, inputs, outputs, inits=(), name="test") -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


class _Builder:
    def __init__(self, net):
        self.net, self.nodes, self.inits = net, [], []
        self.out = {x: x for x in net.inputs}  # layer name -> ONNX tensor its consumers read

    def src(self, lay: dict, default: list[str]) -> list[str]:
        return [self.out[s] for s in lay.get("inputs", default)]

    def joined(self, lay: dict, default: list[str]) -> str:
        srcs = self.src(lay, default)
        if len(srcs) == 1:
            return srcs[0]
        name = f"{lay['name']}_concat"
        self.nodes.append(helper.make_node("Concat", srcs, [name], axis=1, name=name))
        return name

    def pads(self, name: str) -> dict:
        pad = self.net.pads[name]
        return {"auto_pad": "SAME_UPPER"} if pad is None else {"pads": [pad] * 4}

    def activate(self, name: str, tensor: str, norm: bool) -> str:
        if norm:
            c = self.channels[name]
            for suffix in ("scale", "bias", "mean", "var"):
                self.inits.append(weight(f"{name}_bn_{suffix}", c))
            self.nodes.append(helper.make_node("BatchNormalization", [tensor] + [
                f"{name}_bn_{s}" for s in ("scale", "bias", "mean", "var")], [f"{name}_bn"], name=f"{name}_bn"))
            tensor = f"{name}_bn"
        self.nodes.append(helper.make_node("Relu", [tensor], [f"{name}_relu"], name=f"{name}_relu"))
        return f"{name}_relu"

    def layer(self, lay: dict, default: list[str]) -> None:
        name, kind = lay["name"], lay["type"]
        stride = lay.get("stride", 1)
        if kind == "conv":
            x = self.joined(lay, default)
            g, r = lay.get("groups", 1), lay.get("R", 1)
            self.inits.append(weight(f"{name}_w", lay["K"], lay["C"] // g, r, r))
            self.channels[name] = lay["K"]
            self.nodes.append(helper.make_node("Conv", [x, f"{name}_w"], [name], name=name, group=g,
                                               kernel_shape=[r, r], strides=[stride] * 2, **self.pads(name)))
            self.out[name] = self.activate(name, name, norm=True)
        elif kind == "pool" and self.net.pads.get(name, "global") == "global":
            self.nodes.append(helper.make_node("GlobalAveragePool", [self.joined(lay, default)], [name], name=name))
            self.out[name] = name
        elif kind == "pool":
            self.nodes.append(helper.make_node("MaxPool", [self.joined(lay, default)], [name], name=name,
                                               kernel_shape=[lay["R"]] * 2, strides=[stride] * 2,
                                               **self.pads(name)))
            self.out[name] = name
        elif kind == "fc":
            flat = f"{name}_flat"
            self.nodes.append(helper.make_node("Flatten", [self.joined(lay, default)], [flat], name=flat, axis=1))
            self.inits.append(weight(f"{name}_w", lay["K"], lay["C"]))
            self.nodes.append(helper.make_node("Gemm", [flat, f"{name}_w"], [name], name=name, transB=1))
            self.out[name] = name
        elif kind == "eltwise":
            self.nodes.append(helper.make_node("Add", self.src(lay, default), [name], name=name))
            self.out[name] = self.activate(name, name, norm=False)
        else:
            raise ValueError(f"no ONNX form for {kind} in this builder")

    def build(self) -> onnx.ModelProto:
        self.channels: dict[str, int] = {}
        previous = list(self.net.inputs)
        for lay in self.net.layers:
            self.layer(lay, previous)
            previous = [lay["name"]]
        c, h, w = self.net.shape[self.net.inputs[0]]
        inputs = [helper.make_tensor_value_info(self.net.inputs[0], TensorProto.FLOAT, ["N", c, h, w])]
        last = self.out[self.net.layers[-1]["name"]]
        outputs = [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)]
        return model(self.nodes, inputs, outputs, self.inits, name=self.net.name)


def net_to_onnx(net) -> onnx.ModelProto:
    """A gen_models ``Net`` (conv, pool, fc, eltwise layers) as an ONNX model with a
    symbolic batch dim ``N``."""
    return _Builder(net).build()
