"""ONNX import (cpmap/spec/onnx.py, `cpmap import`): every op kind, a residual block, an
attention block, errors, and ResNet-50 / MobileNet-V2 built as ONNX from the bundled
models' definitions giving the bundled layers.  Graphs are built with onnx.helper here;
expected sizes and MAC counts are worked out by hand in the comments."""

from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")

from onnx import helper
from onnx_models import gen_models, model, net_to_onnx, value, weight
from test_models import PUBLISHED, load, mac_total

from cpmap.cli import main
from cpmap.core.errors import CpmapError
from cpmap.core.problem import conv, eltwise, fc, gemm, pool
from cpmap.spec import load_solve_spec, load_workload
from cpmap.spec.onnx import load_onnx_workload_obj
from cpmap.spec.workload import workload_from_obj


def imported(tmp_path, m, batch=None, name="m.onnx"):
    path = tmp_path / name
    onnx.save(m, str(path))
    obj, summary = load_onnx_workload_obj(str(path), batch)
    return workload_from_obj(obj, str(path)), summary


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name=outs[0], **attrs)


# --------------------------------------------------------------------------- op kinds


def test_conv_groups_strides_dilations_pads(tmp_path):
    # x 1x8x15x15, W 12 x (8/2) x 3 x 3, group 2, stride 2, dilation 2, pad 1:
    # out = floor((15 + 2 - 2*(3-1) - 1) / 2) + 1 = 7 rows and columns
    m = model([node("Conv", ["x", "w"], ["y"], group=2, strides=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1])],
              [value("x", [1, 8, 15, 15])], [value("y", None)], [weight("w", 12, 4, 3, 3)])
    wl, _ = imported(tmp_path, m)
    assert [lay.problem for lay in wl.layers] == [
        conv("y", K=12, C=8, P=7, Q=7, R=3, S=3, stride=2, dilation=2, groups=2)]
    assert wl.inputs == ("x",) and wl.layers[0].inputs == ("x",)


def test_conv_1d_and_unequal_strides(tmp_path):
    m = model([node("Conv", ["x", "w"], ["y"], strides=[2]),
               node("Conv", ["x2", "w2"], ["z"], strides=[1, 2])],
              [value("x", [1, 4, 9]), value("x2", [1, 4, 6, 6])], [value("y", None), value("z", None)],
              [weight("w", 6, 4, 3), weight("w2", 6, 4, 1, 1)])
    wl, _ = imported(tmp_path, m)
    # 1-D: (9 - 3) / 2 + 1 = 4 outputs, one column; 1x1 with strides (1, 2): 6 x 3 outputs
    assert wl.layer("y").problem == conv("y", K=6, C=4, P=4, Q=1, R=3, S=1, stride=(2, 1))
    assert wl.layer("z").problem == conv("z", K=6, C=4, P=6, Q=3, stride=(1, 2))


def test_gemm_and_matmul_with_weights_are_fc_or_token_gemm(tmp_path):
    m = model([node("Gemm", ["x", "w"], ["y"], transB=1),
               node("MatMul", ["x", "w2"], ["z"]),
               node("MatMul", ["t", "w3"], ["u"])],
              [value("x", [2, 20]), value("t", [2, 7, 16])], [value(n, None) for n in "yzu"],
              [weight("w", 10, 20), weight("w2", 20, 5), weight("w3", 16, 24)])
    wl, _ = imported(tmp_path, m)
    assert wl.layer("y").problem == fc("y", N=2, K=10, C=20)
    assert wl.layer("z").problem == fc("z", N=2, K=5, C=20)
    # x[2, 7, 16] @ W[16, 24]: every one of the 2 x 7 tokens projected: M = 14 rows
    assert wl.layer("u").problem == gemm("u", M=14, N=24, K=16)
    assert wl.layer("u").problem.macs == 2 * 7 * 16 * 24


def test_batched_matmul_of_activations_is_a_batched_gemm(tmp_path):
    # QK^T of 3 heads: q[2, 3, 5, 4] @ k[2, 3, 4, 5] -> B = 2 x 3 matmuls of 5 x 4 by 4 x 5
    m = model([node("MatMul", ["q", "k"], ["s"])], [value("q", [2, 3, 5, 4]), value("k", [2, 3, 4, 5])],
              [value("s", None)])
    wl, _ = imported(tmp_path, m)
    assert wl.layer("s").problem == gemm("s", B=6, M=5, N=5, K=4)
    assert wl.layer("s").inputs == ("q", "k")


def test_pools(tmp_path):
    m = model([node("MaxPool", ["x"], ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
               node("AveragePool", ["x"], ["b"], kernel_shape=[2, 2], strides=[2, 2]),
               node("GlobalAveragePool", ["x"], ["c"])],
              [value("x", [1, 6, 8, 8])], [value(n, None) for n in "abc"])
    wl, _ = imported(tmp_path, m)
    # (8 + 2 - 3) // 2 + 1 = 4; (8 - 2) // 2 + 1 = 4; global: one pixel over 8 x 8
    assert wl.layer("a").problem == pool("a", C=6, P=4, Q=4, R=3, S=3, stride=2)
    assert wl.layer("b").problem == pool("b", C=6, P=4, Q=4, R=2, S=2, stride=2)
    assert wl.layer("c").problem == pool("c", C=6, P=1, Q=1, R=8, S=8)


def test_add_of_activations_is_eltwise_and_bias_add_is_skipped(tmp_path):
    m = model([node("Relu", ["x"], ["r"]), node("Add", ["x", "r"], ["s"]),
               node("Add", ["s", "bias"], ["t"]), node("Sum", ["s", "t", "x"], ["u"])],
              [value("x", [1, 4, 3, 5])], [value("u", None)], [weight("bias", 4, 1, 1)])
    wl, summary = imported(tmp_path, m)
    assert [lay.problem for lay in wl.layers] == [eltwise("s", C=4, P=3, Q=5, E=2),
                                                 eltwise("u", C=4, P=3, Q=5, E=3)]
    assert wl.layer("s").inputs == ("x",)          # Relu(x) reads x: both operands come from x
    assert wl.layer("u").inputs == ("s", "x")      # t = s + bias passes s through
    assert summary.skipped == {"Relu": 1, "Add": 1}
    assert summary.layers == {"eltwise": 2}


# --------------------------------------------------------------------------- blocks


def test_residual_block(tmp_path):
    # conv3x3 - BN - ReLU - conv3x3 - BN, plus the identity shortcut, then ReLU
    bn = [weight(f"bn{i}_{s}", 8) for i in (1, 2) for s in ("s", "b", "m", "v")]
    nodes = [node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             node("BatchNormalization", ["c1", "bn1_s", "bn1_b", "bn1_m", "bn1_v"], ["b1"]),
             node("Relu", ["b1"], ["r1"]),
             node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             node("BatchNormalization", ["c2", "bn2_s", "bn2_b", "bn2_m", "bn2_v"], ["b2"]),
             node("Add", ["b2", "x"], ["sum"]), node("Relu", ["sum"], ["out"])]
    m = model(nodes, [value("x", ["N", 8, 6, 6])], [value("out", None)],
              [weight("w1", 8, 8, 3, 3), weight("w2", 8, 8, 3, 3)] + bn)
    wl, summary = imported(tmp_path, m, batch=4)
    assert wl.layer_names == ("c1", "c2", "sum")
    assert wl.layer("c2").inputs == ("c1",) and wl.layer("sum").inputs == ("c2", "x")
    # each conv: 4 images x 8 x 8 x 6 x 6 x 3 x 3 = 82,944 MACs; the sum 4 x 8 x 36 x 2
    assert [lay.problem.macs for lay in wl.layers] == [82_944, 82_944, 4 * 8 * 36 * 2]
    assert summary.skipped == {"BatchNormalization": 2, "Relu": 2}


def test_attention_block(tmp_path):
    # one head-split self-attention on x[b=1, s=6, d=8] with h=2 heads of 4:
    # Q, K, V projections (6 x 8 x 8 MACs each), QK^T per head (6 x 6 x 4) x 2,
    # AV per head (6 x 4 x 6) x 2, output projection 6 x 8 x 8.
    s, d, h = 6, 8, 2
    heads = [s, h, d // h]
    nodes = []
    for t in "qkv":
        nodes += [node("MatMul", ["x", f"w{t}"], [t]),
                  node("Reshape", [t, "shape_heads"], [f"{t}4"]),
                  node("Transpose", [f"{t}4"], [f"{t}h"], perm=[1, 0, 2])]
    nodes += [node("Transpose", ["kh"], ["kt"], perm=[0, 2, 1]),
              node("MatMul", ["qh", "kt"], ["scores"]), node("Softmax", ["scores"], ["p"], axis=-1),
              node("MatMul", ["p", "vh"], ["ctx"]), node("Transpose", ["ctx"], ["ctx_t"], perm=[1, 0, 2]),
              node("Reshape", ["ctx_t", "shape_tokens"], ["ctx2"]),
              node("MatMul", ["ctx2", "wo"], ["out"])]
    shape_heads = helper.make_tensor("shape_heads", onnx.TensorProto.INT64, [3], heads)
    shape_tokens = helper.make_tensor("shape_tokens", onnx.TensorProto.INT64, [2], [s, d])
    m = model(nodes, [value("x", [s, d])], [value("out", None)],
              [weight(f"w{t}", d, d) for t in "qkvo"] + [shape_heads, shape_tokens])
    wl, summary = imported(tmp_path, m)
    assert wl.layer("q").problem == fc("q", N=6, K=8, C=8)
    assert wl.layer("scores").problem == gemm("scores", B=2, M=6, N=6, K=4)
    assert wl.layer("ctx").problem == gemm("ctx", B=2, M=6, N=4, K=6)
    assert wl.layer("scores").inputs == ("q", "k") and wl.layer("ctx").inputs == ("scores", "v")
    assert wl.layer("out").inputs == ("ctx",)
    assert wl.macs == 4 * (s * d * d) + 2 * (h * s * s * (d // h))
    assert summary.skipped == {"Reshape": 4, "Transpose": 5, "Softmax": 1}


# --------------------------------------------------------------------------- errors


def test_an_op_with_macs_and_no_layer_kind_is_an_error_naming_the_node(tmp_path):
    m = model([node("ConvTranspose", ["x", "w"], ["up"])], [value("x", [1, 4, 5, 5])], [value("up", None)],
              [weight("w", 4, 2, 3, 3)])
    with pytest.raises(CpmapError, match=r"node up \(ConvTranspose\): ConvTranspose carries MACs"):
        imported(tmp_path, m)


def test_unknown_op_is_an_error_not_a_silent_drop(tmp_path):
    m = model([node("Relu", ["x"], ["r"]), node("Hardmax", ["r"], ["y"])], [value("x", [1, 4])],
              [value("y", None)])
    with pytest.raises(CpmapError, match=r"node y \(Hardmax\): unsupported op Hardmax"):
        imported(tmp_path, m)


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a model at all\xff" * 3)
    for argv, want in ((["import", str(bad)], "expected an ONNX model file"),
                       (["import", str(tmp_path / "missing.onnx")], "cannot read file"),
                       (["import", "model.txt"], "expected an ONNX model (a .onnx file)")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert want in err and err.count("\n") == 1, err


# --------------------------------------------------------------------------- bundled networks


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_bundled_networks_built_as_onnx_give_the_bundled_layers(tmp_path, name):
    gm = gen_models()
    net = next(n for n in gm.all_models() if n.name == name)
    wl, summary = imported(tmp_path, net_to_onnx(net))
    ref = load(name)
    assert wl.layer_names == ref.layer_names
    for got, want in zip(wl.layers, ref.layers):
        assert (got.problem, got.inputs) == (want.problem, want.inputs), got.name
    assert mac_total(wl) == PUBLISHED[name][0]
    assert summary.skipped["BatchNormalization"] == summary.layers["conv"]


def test_cli_import_writes_a_workload_and_a_solve_spec_can_name_the_onnx_file(tmp_path, capsys):
    gm = gen_models()
    net = next(n for n in gm.all_models() if n.name == "mobilenet_v2")
    path = tmp_path / "mnv2.onnx"
    onnx.save(net_to_onnx(net), str(path))
    out = tmp_path / "mnv2.yaml"
    assert main(["import", str(path), "-o", str(out), "--batch", "16"]) == 0
    text = capsys.readouterr().out
    assert "64 layers" in text and "skipped (no MACs): BatchNormalization x52" in text
    wl = load_workload(str(out))
    assert mac_total(wl) == 16 * PUBLISHED["mobilenet_v2"][0]
    assert [lay.problem for lay in wl.layers] == [lay.problem for lay in load("mobilenet_v2", 16).layers]
    spec = tmp_path / "solve.yaml"
    spec.write_text(f"solve: {{arch: {ROOT}/specs/eyeriss.yaml, workload: mnv2.onnx, batch: 2}}\n")
    plan = load_solve_spec(str(spec))
    assert mac_total(plan.workload) == 2 * PUBLISHED["mobilenet_v2"][0]
    assert load_workload(str(path)).layer_names == wl.layer_names
    capsys.readouterr()
    assert main(["check", str(path)]) == 0
    assert f"ok {path} (workload)" in capsys.readouterr().out


ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
