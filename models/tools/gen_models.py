"""Write the generated models/*.yaml (every bundled model but alexnet.yaml, which is hand-written).

    python3 models/tools/gen_models.py          # rewrite them in place
    python3 models/tools/gen_models.py --check  # exit 1 if a committed file differs

The shapes below are facts taken from the sources named in each model's header (and in
models/README.md): nn_dataflow 2.1's nns/*.py for VGG-16, GoogLeNet, ResNet-50/152 and
MLP-M/L, torchvision's definitions for ResNet-101, MobileNet-V2 and ViT-B/16, Zaremba et
the sizes of "DNN Dataflow Choice Is Overrated" Table VI for LSTM-M/L (cells as nn_dataflow's
add_lstm_cell) and RHN (Zilly et al. 2017), Howard et al.'s Table 1 for MobileNet (V1).  Output
sizes are derived here from input size, kernel, stride and padding; tests/test_models.py
checks the result against independent reference data, not against this script.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent


class Net:
    """Layers in topological order, with the (channels, rows, cols) each one produces."""

    def __init__(self, name: str, header: str, inputs: dict[str, tuple[int, int, int]]):
        self.name, self.header = name, header
        self.inputs = list(inputs)
        self.shape: dict[str, tuple[int, int, int]] = dict(inputs)
        self.layers: list[dict] = []
        self.pads: dict[str, int | None] = {}
        """Padding of each conv/pool (None: 'same' sizing); not in the YAML, which gives the
        output size, but tests/onnx_models.py builds the same network as ONNX from it."""

    @property
    def last(self) -> str:
        return self.layers[-1]["name"]

    def _add(self, layer: dict, srcs: list[str], out: tuple[int, int, int]) -> str:
        default = [self.last] if self.layers else self.inputs
        if srcs != default:
            layer["inputs"] = srcs
        self.layers.append(layer)
        self.shape[layer["name"]] = out
        return layer["name"]

    def _in(self, src: str | list[str]) -> tuple[list[str], int, int, int]:
        """Sources (concatenated along channels) and their total channels and size."""
        srcs = [src] if isinstance(src, str) else list(src)
        shapes = [self.shape[s] for s in srcs]
        if len({s[1:] for s in shapes}) != 1:
            raise ValueError(f"concatenated inputs {srcs} differ in size: {shapes}")
        return srcs, sum(s[0] for s in shapes), shapes[0][1], shapes[0][2]

    @staticmethod
    def _out(h: int, r: int, stride: int, pad: int | None) -> int:
        # pad None: 'same' sizing as nn_dataflow writes it (ceil(h / stride)); else PyTorch's floor rule
        return math.ceil(h / stride) if pad is None else (h + 2 * pad - r) // stride + 1

    def conv(self, name: str, src: str | list[str], K: int, R: int, stride: int = 1,
             pad: int | None = None, groups: int = 1) -> str:
        srcs, C, H, W = self._in(src)
        P, Q = self._out(H, R, stride, pad), self._out(W, R, stride, pad)
        layer = {"name": name, "type": "conv", "K": K, "C": C, "P": P, "Q": Q}
        if R > 1:
            layer |= {"R": R, "S": R}
        if stride > 1:
            layer["stride"] = stride
        if groups > 1:
            layer["groups"] = groups
        self.pads[name] = pad
        return self._add(layer, srcs, (K, P, Q))

    def pool(self, name: str, src: str | list[str], R: int, stride: int = 1, pad: int | None = None) -> str:
        srcs, C, H, W = self._in(src)
        P, Q = self._out(H, R, stride, pad), self._out(W, R, stride, pad)
        layer = {"name": name, "type": "pool", "C": C, "P": P, "Q": Q, "R": R, "S": R}
        if stride > 1:
            layer["stride"] = stride
        self.pads[name] = pad
        return self._add(layer, srcs, (C, P, Q))

    def global_pool(self, name: str, src: str) -> str:
        """Global average pool: R = S = the input size, one output pixel."""
        srcs, C, H, W = self._in(src)
        layer = {"name": name, "type": "pool", "C": C, "P": 1, "Q": 1, "R": H, "S": W}
        return self._add(layer, srcs, (C, 1, 1))

    def fc(self, name: str, src: str, K: int, C: int | None = None) -> str:
        srcs, c, h, w = self._in(src)
        return self._add({"name": name, "type": "fc", "K": K, "C": C or c * h * w}, srcs, (K, 1, 1))

    def add(self, name: str, srcs: list[str]) -> str:
        shapes = {self.shape[s] for s in srcs}
        if len(shapes) != 1:
            raise ValueError(f"{name}: summed inputs differ in shape: {srcs} {shapes}")
        C, P, Q = shapes.pop()
        layer = {"name": name, "type": "eltwise", "C": C, "P": P}
        if Q > 1:
            layer["Q"] = Q
        layer["E"] = len(srcs)
        return self._add(layer, srcs, (C, P, Q))

    def gemm(self, name: str, srcs: list[str], M: int, N: int, K: int, B: int = 1,
             batch_dim: str = "M") -> str:
        layer = {"name": name, "type": "gemm", "M": M, "N": N, "K": K}
        if B > 1:
            layer["B"] = B
        layer["batch_dim"] = batch_dim
        return self._add(layer, srcs, (N, M, 1))  # token-major output: N features x M tokens

    def yaml(self) -> str:
        lines = [f"# {line}".rstrip() for line in self.header.strip("\n").splitlines()]
        lines += ["# Generated by models/tools/gen_models.py: edit that script, not this file.",
                  "workload:", f"  name: {self.name}", "  batch: 1",
                  f"  inputs: [{', '.join(self.inputs)}]", "  layers:"]
        lines += [f"    - {{{', '.join(f'{k}: {_scalar(v)}' for k, v in lay.items())}}}" for lay in self.layers]
        return "\n".join(lines) + "\n"


def _scalar(v) -> str:
    if isinstance(v, list):
        return f"[{', '.join(_scalar(x) for x in v)}]"
    if isinstance(v, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", v):
        return f"'{v}'"
    return str(v)


IMAGE = {"data": (3, 224, 224)}


# --------------------------------------------------------------------------- nn_dataflow 2.1

def vgg16() -> Net:
    net = Net("vgg16", """
VGG-16 (Simonyan and Zisserman, ICLR 2015, configuration D) with the layer shapes of
nn_dataflow 2.1's nns/vgg_net.py (see shared/reference/layers/nn_dataflow_alexnet_vgg16.txt).
3x3 convolutions with padding 1, 2x2 stride-2 max pools; fc1 reads the 512 x 7 x 7 pooled
maps as an fc layer with C = 25088 (nn_dataflow: a 7 x 7 filter over a 7 x 7 map, same MACs).
15,470,264,320 MACs in conv/fc layers at batch 1 (nn_dataflow's per-layer ops; 15.47 G);
with the 5 pools' 6,121,472 compares, 1.548e10 ops as nn_dataflow's summary counts them.
""", IMAGE)
    n, src = 0, "data"
    for i, (width, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for _ in range(convs):
            n += 1
            src = net.conv(f"conv{n}", src, width, 3)
        src = net.pool(f"pool{i}", src, 2, 2)
    net.fc("fc1", src, 4096)
    net.fc("fc2", "fc1", 4096)
    net.fc("fc3", "fc2", 1000)
    return net


GOOGLENET_INCEPTIONS = [  # id, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj (nn_dataflow nns/googlenet.py)
    ("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64),
    ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128), ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
]


def googlenet() -> Net:
    net = Net("googlenet", """
GoogLeNet (Szegedy et al., CVPR 2015) with the layer shapes of nn_dataflow 2.1's
nns/googlenet.py, plus the 3x3 stride-1 max pool of each inception module's pool branch
(the network has it; nn_dataflow leaves it out and feeds pool_proj from the module input).
Pools 3x3 stride 2 with ceil-mode sizes (112 -> 56 -> 28 -> 14 -> 7), as in the original
Caffe model; pool5 is the 7 x 7 global average pool.  The four branch outputs of a module
are concatenated: the next layer lists all four as inputs (C is their sum); the concat is
not a layer.  LRN and the two auxiliary (training-only) classifiers are not modelled.
1,582,671,872 MACs in conv/fc layers at batch 1 (nn_dataflow 2.1's definitions).
""", IMAGE)
    net.conv("conv1", "data", 64, 7, 2)
    net.pool("pool1", "conv1", 3, 2)
    net.conv("conv2_3x3_reduce", "pool1", 64, 1)
    net.conv("conv2_3x3", "conv2_3x3_reduce", 192, 3)
    prev: str | list[str] = net.pool("pool2", "conv2_3x3", 3, 2)
    for incp, n1, n3r, n3, n5r, n5, npool in GOOGLENET_INCEPTIONS:
        if incp in ("4a", "5a"):
            prev = net.pool(f"pool{3 if incp == '4a' else 4}", prev, 3, 2)
        p = f"inception_{incp}_"
        net.conv(p + "1x1", prev, n1, 1)
        net.conv(p + "3x3_reduce", prev, n3r, 1)
        net.conv(p + "3x3", p + "3x3_reduce", n3, 3)
        net.conv(p + "5x5_reduce", prev, n5r, 1)
        net.conv(p + "5x5", p + "5x5_reduce", n5, 5)
        net.pool(p + "pool", prev, 3, 1)
        net.conv(p + "pool_proj", p + "pool", npool, 1)
        prev = [p + "1x1", p + "3x3", p + "5x5", p + "pool_proj"]
    net.global_pool("pool5", prev)
    net.fc("fc", "pool5", 1000)
    return net


def resnet_v1(name: str, blocks: tuple[int, int, int, int], figure: str) -> Net:
    net = Net(name, f"""
{figure}
Bottleneck blocks as in nn_dataflow 2.1 (and the original Caffe ResNet, "v1"): the first
block of stages conv3..conv5 downsamples with its first 1x1 conv (_a, stride 2) and with a
stride-2 1x1 projection shortcut (_br); torchvision's ResNets ("v1.5", models/resnet101.yaml)
put the stride on the 3x3 conv instead, which costs more MACs.  Each residual sum is an
eltwise layer with E = 2 (inputs: shortcut, _c).  conv1 7x7/2, pool1 3x3/2 max pool,
pool5 the 7 x 7 global average pool, fc 2048 -> 1000.  BatchNorm/ReLU are not modelled.
""", IMAGE)
    net.conv("conv1", "data", 64, 7, 2)
    res = net.pool("pool1", "conv1", 3, 2)
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512)), 2):
        for i in range(count):
            stride = 2 if i == 0 and stage > 2 else 1
            a = net.conv(f"conv{stage}_{i}_a", res, width, 1, stride)
            b = net.conv(f"conv{stage}_{i}_b", a, width, 3)
            c = net.conv(f"conv{stage}_{i}_c", b, 4 * width, 1)
            if i == 0:
                res = net.conv(f"conv{stage}_br", res, 4 * width, 1, stride)
            res = net.add(f"conv{stage}_{i}_res", [res, c])
    net.global_pool("pool5", res)
    net.fc("fc", "pool5", 1000)
    return net


def mlp(name: str, title: str, widths: list[int], figure: str) -> Net:
    net = Net(name, f"""
{title} (PRIME, Chi et al., ISCA 2016, as bundled in nn_dataflow 2.1's nns/{name}.py and used
in "DNN Dataflow Choice Is Overrated"): fully-connected layers {' - '.join(map(str, widths))}.
{figure}
""", {"data": (widths[0], 1, 1)})
    src = "data"
    for i, k in enumerate(widths[1:], 1):
        src = net.fc(f"fc{i}", src, k)
    return net


def lstm(name: str, title: str, hidden: int, figure: str) -> Net:
    """One time step of a two-layer LSTM, each cell as nn_dataflow 2.1's ``add_lstm_cell``
    builds it: four fc layers (candidate and i/f/o gates) on [h_{t-1}, x_t], then
    c_t = f*c_{t-1} + i*cand and h_t = o*c_t as two-operand eltwise layers."""
    net = Net(name, f"""
{title} of "DNN Dataflow Choice Is Overrated" (Yang et al., arXiv:1809.04070) Table VI:
embedding size {hidden}, batch 128 (specs/examples/suite-{name}.yaml), one of "Google's
sequence-to-sequence LSTMs" (Sutskever, Vinyals and Le, NIPS 2014: cells of the embedding
size). One time step of two stacked cells (hidden = embedding = {hidden}), each as nn_dataflow
2.1's add_lstm_cell builds it: four fc gates (cand, igate, fgate, ogate) on [h, x] and four
eltwise layers (tanh/sigmoid not modelled). The embedding lookup and the output softmax are
not modelled: the table gives no vocabulary (Sutskever et al.'s 80,000-word softmax would be
five times the cells' work). External inputs: data (x_t) and each cell's hinit/cinit.
{figure}
""", {"data": (hidden, 1, 1)} | {f"cell{i}_{s}init": (hidden, 1, 1) for i in (1, 2) for s in "hc"})
    x = "data"  # x_t: the embedding of the current word
    for i in (1, 2):
        cell = f"cell{i}"
        h_in, c_in = f"{cell}_hinit", f"{cell}_cinit"  # h_{t-1}, c_{t-1}, as add_lstm_cell names them
        for gate in ("cand", "igate", "fgate", "ogate"):
            net.fc(f"{cell}_{gate}", [h_in, x], hidden)
        cf = net.add(f"{cell}_cout_f", [c_in, f"{cell}_fgate"])
        ci = net.add(f"{cell}_cout_i", [f"{cell}_cand", f"{cell}_igate"])
        c = net.add(f"{cell}_cout", [ci, cf])
        x = net.add(f"{cell}_hout", [c, f"{cell}_ogate"])
    return net


RHN_DEPTH = 10


def rhn(hidden: int = 1500, depth: int = RHN_DEPTH) -> Net:
    """One time step of a Recurrent Highway Network layer (Zilly et al., ICML 2017, eq. 7-9
    with the coupled carry gate c = 1 - t they use): micro-step l computes
    h = tanh(R_H s + W_H x [l = 1]), t = sigmoid(R_T s + W_T x [l = 1]) and
    s_l = h * t + s_{l-1} * (1 - t)."""
    net = Net("rhn", f"""
RHN of "DNN Dataflow Choice Is Overrated" (Yang et al., arXiv:1809.04070) Table VI: embedding
size {hidden}, batch 128 (specs/examples/suite-rhn.yaml). The Recurrent Highway Network of Zilly,
Srivastava, Koutnik and Schmidhuber, "Recurrent Highway Networks" (ICML 2017), in the
configuration of their text8/enwik8 models: one layer of {hidden} units, recurrence depth
{depth}, coupled carry gate (c = 1 - t). One time step: micro-step 1 computes the transform
h and the gate t as fc layers on [s_{{t-1}}, x_t] (C = {2 * hidden}); micro-steps 2..{depth} on the
previous micro-step's state only (C = {hidden}); each ends with s = h*t + s*(1-t) as three
eltwise layers (ht = h*t, carry = s*(1-t), sum). tanh/sigmoid, the embedding lookup and the
softmax are not modelled. External inputs: data (x_t) and sinit (s_{{t-1}}).
{2 * hidden * 2 * hidden + (depth - 1) * 2 * hidden * hidden:,} MACs at batch 1: 2 x {hidden} x {2 * hidden} + {depth - 1} x 2 x {hidden} x {hidden}.
""", {"data": (hidden, 1, 1), "sinit": (hidden, 1, 1)})
    s = "sinit"
    for step in range(1, depth + 1):
        p = f"step{step}_"
        srcs = [s, "data"] if step == 1 else [s]
        h = net.fc(p + "h", srcs, hidden)
        t = net.fc(p + "t", srcs, hidden)
        ht = net.add(p + "ht", [h, t])
        carry = net.add(p + "carry", [s, t])
        s = net.add(p + "s", [ht, carry])
    return net


# --------------------------------------------------------------------------- torchvision

def resnet101() -> Net:
    net = Net("resnet101", """
ResNet-101 as torchvision defines it (torchvision.models.resnet101, "v1.5": the stride of a
downsampling bottleneck is on its 3x3 conv2), layer names as torchvision's modules; shapes
checked row by row against shared/reference/layers/layers_resnet101.csv.
7,801,405,440 MACs in conv/fc layers at batch 1 (torchvision; 7.80 G).
Each residual sum is an eltwise layer (layerX.Y.add, E = 2: shortcut, conv3); maxpool is
3x3/2 padding 1, avgpool the 7 x 7 global average pool.  BatchNorm/ReLU are not modelled.
""", IMAGE)
    net.conv("conv1", "data", 64, 7, 2, pad=3)
    x = net.pool("maxpool", "conv1", 3, 2, pad=1)
    for stage, (count, width) in enumerate(zip((3, 4, 23, 3), (64, 128, 256, 512)), 1):
        for i in range(count):
            p, stride = f"layer{stage}.{i}.", 2 if i == 0 and stage > 1 else 1
            net.conv(p + "conv1", x, width, 1, pad=0)
            net.conv(p + "conv2", p + "conv1", width, 3, stride, pad=1)
            c = net.conv(p + "conv3", p + "conv2", 4 * width, 1, pad=0)
            short = net.conv(p + "downsample.0", x, 4 * width, 1, stride, pad=0) if i == 0 else x
            x = net.add(p + "add", [short, c])
    net.global_pool("avgpool", x)
    net.fc("fc", "avgpool", 1000)
    return net


MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]  # expansion t, out channels c, repeats n, stride s


MOBILENET_V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [
    (1024, 2), (1024, 1)]  # (pointwise out channels, depthwise stride) per separable block


def mobilenet_v1() -> Net:
    net = Net("mobilenet_v1", """
MobileNet (V1; Howard et al., "MobileNets", arXiv:1704.04861, Table 1), width 1.0, 224 x 224:
the MobileNet of "DNN Dataflow Choice Is Overrated" Table VI (batch 16,
specs/examples/suite-mobilenet_v1.yaml), whose dataflow study uses its CONV14 (depthwise) and
CONV15 (pointwise). Layers are numbered as there: conv1 is the full 3x3/2 conv, then each
depthwise-separable block is a depthwise 3x3 conv (even numbers, groups = C = K) and a 1x1
pointwise conv (odd numbers), conv2 .. conv27; avgpool (7 x 7 global average) and fc
1024 -> 1000. The last depthwise conv has stride 1 (Table 1 prints s2, but its input and output
are both 7 x 7). BatchNorm/ReLU are not modelled.
568,740,352 MACs in conv/fc layers at batch 1 (the paper's Table 2: 569 million mult-adds).
""", IMAGE)
    x = net.conv("conv1", "data", 32, 3, 2, pad=1)
    n, cin = 1, 32
    for cout, stride in MOBILENET_V1:
        x = net.conv(f"conv{n + 1}", x, cin, 3, stride, pad=1, groups=cin)
        x = net.conv(f"conv{n + 2}", x, cout, 1, pad=0)
        n, cin = n + 2, cout
    net.global_pool("avgpool", x)
    net.fc("fc", "avgpool", 1000)
    return net


def mobilenet_v2() -> Net:
    net = Net("mobilenet_v2", """
MobileNet-V2 (Sandler et al., CVPR 2018) as torchvision defines it (width 1.0, 224 x 224),
layer names as torchvision's modules; shapes checked row by row against
shared/reference/layers/layers_mobilenet_v2.csv.
300,774,272 MACs in conv/fc layers at batch 1 (torchvision; 300.8 M).
Depthwise 3x3 convs are conv layers with groups = C = K.  An inverted-residual block with
stride 1 and equal in/out channels ends in an eltwise sum (features.N.add, E = 2: block
input, projection conv).  avgpool is the 7 x 7 global average pool before classifier.1.
BatchNorm/ReLU6 and dropout are not modelled.
""", IMAGE)
    x = net.conv("features.0.0", "data", 32, 3, 2, pad=1)
    idx, cin = 1, 32
    for t, c, n, s in MOBILENET_V2:
        for i in range(n):
            stride, p, hidden = s if i == 0 else 1, f"features.{idx}.conv.", cin * t
            if t == 1:
                net.conv(p + "0.0", x, hidden, 3, stride, pad=1, groups=hidden)
                out = net.conv(p + "1", p + "0.0", c, 1, pad=0)
            else:
                net.conv(p + "0.0", x, hidden, 1, pad=0)
                net.conv(p + "1.0", p + "0.0", hidden, 3, stride, pad=1, groups=hidden)
                out = net.conv(p + "2", p + "1.0", c, 1, pad=0)
            x = net.add(f"features.{idx}.add", [x, out]) if stride == 1 and cin == c else out
            idx, cin = idx + 1, c
    net.conv("features.18.0", x, 1280, 1, pad=0)
    net.global_pool("avgpool", "features.18.0")
    net.fc("classifier.1", "avgpool", 1000)
    return net


def vit_b_16() -> Net:
    net = Net("vit_b_16", """
ViT-B/16 (Dosovitskiy et al., ICLR 2021) as torchvision defines it (vit_b_16: 224 x 224,
patch 16, hidden 768, 12 layers, 12 heads, MLP 3072); shapes checked row by row against
shared/reference/layers/layers_vit_b_16.csv.
17,563,828,224 MACs in conv/gemm/fc layers at batch 1 (torchvision; 17.56 G).
Names (torchvision module in brackets): patch_embed (conv_proj, 16x16 stride 16, 196
patches); pos_add, the position-embedding sum over 197 tokens, whose first operand is the
patches with the learned class token (768 words) in front (neither the class token nor the
concat is modelled: pos_add reads patch_embed and the external pos_embedding); per encoder
block i (encoder.layers.encoder_layer_i): enc<i>.qkv (self_attention.in_proj, the fused QKV
projection 768 -> 2304), enc<i>.qk and enc<i>.av (QK^T and AV, batched gemms with B = 12
heads, 64 per head), enc<i>.out_proj, enc<i>.add1 (residual), enc<i>.mlp1 and enc<i>.mlp2
(mlp.0 768 -> 3072, mlp.3 3072 -> 768), enc<i>.add2 (residual); head (heads.head, reads the
class token only: an fc layer with N = batch).
Gemm sizes are per image: batch_dim M multiplies the 197 token rows of the projections by
the batch, batch_dim B the 12 heads of the attention gemms.  LayerNorm, softmax, GELU,
scaling and dropout are not modelled.
""", {"data": (3, 224, 224), "pos_embedding": (768, 197, 1)})
    tokens, dim, heads, mlp_dim = 197, 768, 12, 3072
    net.conv("patch_embed", "data", dim, 16, 16, pad=0)
    # the sum's first operand is [class token; patch_embed's 196 patches]: sized by hand
    net.layers.append({"name": "pos_add", "type": "eltwise", "C": dim, "P": tokens, "E": 2,
                       "inputs": ["patch_embed", "pos_embedding"]})
    net.shape["pos_add"] = (dim, tokens, 1)
    x = "pos_add"
    for i in range(12):
        p = f"enc{i}."
        net.gemm(p + "qkv", [x], tokens, 3 * dim, dim)
        net.gemm(p + "qk", [p + "qkv"], tokens, tokens, dim // heads, heads, "B")
        net.gemm(p + "av", [p + "qk", p + "qkv"], tokens, dim // heads, tokens, heads, "B")
        net.gemm(p + "out_proj", [p + "av"], tokens, dim, dim)
        y = net.add(p + "add1", [p + "out_proj", x])
        net.gemm(p + "mlp1", [y], tokens, mlp_dim, dim)
        net.gemm(p + "mlp2", [p + "mlp1"], tokens, dim, mlp_dim)
        x = net.add(p + "add2", [p + "mlp2", y])
    net.fc("head", x, 1000, C=dim)
    return net


def all_models() -> list[Net]:
    return [
        vgg16(), googlenet(),
        resnet_v1("resnet50", (3, 4, 6, 3), """ResNet-50 (He et al., CVPR 2016) with the layer shapes of nn_dataflow 2.1's nns/resnet50.py.
3,857,973,248 MACs in conv/fc layers at batch 1 (nn_dataflow 2.1's definitions); with the
pools' and residual sums' 12,945,408 ops, 3.871e9 as nn_dataflow's summary counts them."""),
        resnet_v1("resnet152", (3, 8, 36, 3), """ResNet-152 (He et al., CVPR 2016) with the layer shapes of nn_dataflow 2.1's nns/resnet152.py.
11,282,415,616 MACs in conv/fc layers at batch 1 (nn_dataflow 2.1's definitions); with the
pools' and residual sums' 28,198,912 ops, 1.131e10 as nn_dataflow's summary counts them."""),
        resnet101(), mobilenet_v2(), vit_b_16(),
        mlp("mlp_m", "MLP-M", [784, 1000, 500, 250, 10],
            "1,411,500 MACs at batch 1 (nn_dataflow's summary: 1.412e6)."),
        mlp("mlp_l", "MLP-L", [784, 1500, 1000, 500, 10],
            "3,181,000 MACs at batch 1 (nn_dataflow's summary: 3.181e6)."),
        lstm("lstm_m", "LSTM-M", 500, "4,000,000 MACs at batch 1: 2 cells x 4 gates x 500 x (500 + 500)."),
        lstm("lstm_l", "LSTM-L", 1000, "16,000,000 MACs at batch 1: 2 cells x 4 gates x 1000 x (1000 + 1000)."),
        rhn(), mobilenet_v1(),
    ]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for net in all_models():
        path, text = MODELS / f"{net.name}.yaml", net.yaml()
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(MODELS.parent)} ({len(net.layers)} layers)")
    if stale:
        print(f"out of date (run python3 models/tools/gen_models.py): {', '.join(stale)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
