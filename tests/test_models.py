"""Bundled models (models/*.yaml): MAC totals against published figures, batch scaling,
producer/consumer wiring, and layer-by-layer shapes against independent reference data.

"MACs" here are the innermost operations of the MAC-carrying layers (conv, fc, gemm), which
is what torchvision's figures and the issue's AlexNet/VGG figures count.  nn_dataflow's
network summaries count the pool and eltwise ops too; those checks say so.

The reference files are copies of ../shared/reference/layers/ kept in tests/data/reference/
(the copy beside the repository is preferred when present).  The exact totals below are
hard-coded as well.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import re
from pathlib import Path

import pytest
from nn_dataflow_env import nn_dataflow_networks

from cpmap.core.workload import Workload
from cpmap.spec import load_workload, read_yaml, workload_from_obj

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
REFERENCE = next(p for p in (ROOT.parent / "shared" / "reference" / "layers",
                              ROOT / "tests" / "data" / "reference") if p.is_dir())
MAC_KINDS = ("conv", "fc", "gemm")

# model -> exact MACs (conv/fc/gemm) at batch 1, and where the figure comes from
PUBLISHED = {
    "alexnet": (724_406_816, "nn_dataflow 2.1 alex_net per-layer ops (issue: 724.4 M)"),
    "vgg16": (15_470_264_320, "nn_dataflow 2.1 vgg_net per-layer ops (issue: 15.47 G)"),
    "googlenet": (1_582_671_872, "nn_dataflow 2.1 googlenet conv/fc ops"),
    "resnet50": (3_857_973_248, "nn_dataflow 2.1 resnet50 conv/fc ops"),
    "resnet152": (11_282_415_616, "nn_dataflow 2.1 resnet152 conv/fc ops"),
    "resnet101": (7_801_405_440, "torchvision, layers_resnet101.csv (7.80 G)"),
    "mobilenet_v2": (300_774_272, "torchvision, layers_mobilenet_v2.csv (300.8 M)"),
    "vit_b_16": (17_563_828_224, "torchvision, layers_vit_b_16.csv (17.56 G)"),
    "mlp_m": (1_411_500, "nn_dataflow 2.1 mlp_m (summary 1.412e6)"),
    "mlp_l": (3_181_000, "nn_dataflow 2.1 mlp_l (summary 3.181e6)"),
    # "DNN Dataflow Choice Is Overrated" Table VI: embedding 500 / 1000; per time step
    # 2 cells x 4 gates x H x (H + H)
    "lstm_m": (2 * 4 * 500 * 1000, "Table VI LSTM-M, embedding 500, one step"),
    "lstm_l": (2 * 4 * 1000 * 2000, "Table VI LSTM-L, embedding 1000, one step"),
    # Table VI RHN, embedding 1500; Zilly et al.'s depth 10: micro-step 1 has 2 gates on
    # [s, x] (2 x 1500 x 3000), micro-steps 2..10 two gates on s (9 x 2 x 1500 x 1500)
    "rhn": (2 * 1500 * 3000 + 9 * 2 * 1500 * 1500, "Table VI RHN, embedding 1500, depth 10"),
    "mobilenet_v1": (None, "Howard et al. 2017 Table 1 (Table 2: 569 million mult-adds)"),
}
LSTM_HIDDEN = {"lstm_m": 500, "lstm_l": 1000}


def mobilenet_v1_macs() -> int:
    """MobileNet V1's MACs counted by hand from Howard et al.'s Table 1: the 3x3/2 conv,
    13 depthwise (H^2 x C x 9) and pointwise (H^2 x C_in x C_out) pairs, the classifier."""
    total, cin, h = 112 * 112 * 32 * 3 * 3 * 3, 32, 112
    for cout, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [
            (1024, 2), (1024, 1)]:
        h //= stride
        total += h * h * cin * 9 + h * h * cin * cout
        cin = cout
    return total + 1024 * 1000


PUBLISHED["mobilenet_v1"] = (mobilenet_v1_macs(), PUBLISHED["mobilenet_v1"][1])
# nn_dataflow 2.1 network name (nn_dataflow_networks_summary.txt) for models defined after it
NN_DATAFLOW = {"alexnet": "alex_net", "vgg16": "vgg_net", "googlenet": "googlenet", "resnet50": "resnet50",
               "resnet152": "resnet152", "mlp_m": "mlp_m", "mlp_l": "mlp_l"}
CSV = {"mobilenet_v2": "layers_mobilenet_v2.csv", "resnet101": "layers_resnet101.csv",
       "vit_b_16": "layers_vit_b_16.csv"}
# fc layers that read one token of a token sequence (ViT's head reads the class token)
TOKEN_READERS = {("vit_b_16", "head")}

_cache: dict[tuple[str, int], Workload] = {}


def load(name: str, batch: int = 1) -> Workload:
    if (name, batch) not in _cache:
        path = MODELS / f"{name}.yaml"
        if batch == 1:
            _cache[name, batch] = load_workload(str(path))
        else:
            obj = read_yaml(str(path))
            obj["workload"]["batch"] = batch
            _cache[name, batch] = workload_from_obj(obj, str(path))
    return _cache[name, batch]


def mac_total(wl: Workload) -> int:
    return sum(lay.problem.macs for lay in wl.layers if lay.problem.kind in MAC_KINDS)


def reference(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference data not found: {path}")
    return path


# --------------------------------------------------------------------------- totals and batch


def test_every_model_is_covered():
    on_disk = {p.stem for p in MODELS.glob("*.yaml")}
    assert on_disk == set(PUBLISHED)
    readme = (MODELS / "README.md").read_text()
    assert all(f"`{name}.yaml`" in readme for name in PUBLISHED)


@pytest.mark.parametrize("name", PUBLISHED)
def test_macs_match_published_figure(name):
    wl = load(name)
    figure, source = PUBLISHED[name]
    assert wl.name == name
    assert mac_total(wl) == figure, source


@pytest.mark.parametrize("name", PUBLISHED)
def test_batch_scales_every_layer(name):
    one, many = load(name), load(name, 16)
    assert [lay.name for lay in one.layers] == [lay.name for lay in many.layers]
    for a, b in zip(one.layers, many.layers):
        assert b.problem.macs == 16 * a.problem.macs, a.name
    assert mac_total(many) == 16 * PUBLISHED[name][0]
    assert many.macs == 16 * one.macs


# --------------------------------------------------------------------------- wiring


def out_shape(wl: Workload, src: str) -> tuple[int, int, int] | None:
    """(channels, rows, cols) a layer produces; None for external inputs and batched gemms."""
    if src in wl.inputs:
        return None
    p = wl.layer(src).problem
    s = p.size
    if p.kind == "conv":
        return s["K"] * s["G"], s["P"], s["Q"]
    if p.kind in ("pool", "eltwise"):
        return s["C"], s["P"], s["Q"]
    if p.kind == "fc":
        return s["K"], 1, 1
    return (s["N"], s["M"], 1) if s["B"] == 1 else None  # gemm: N features of M tokens


def window_fits(h: int, p: int, r: int, stride: int) -> bool:
    """p outputs of an r-wide, stride-s window over h inputs: 'same' padding (ceil) or none."""
    return p == math.ceil(h / stride) or p == (h - r) // stride + 1


@pytest.mark.parametrize("name", PUBLISHED)
def test_inputs_match_producer_shapes(name):
    wl = load(name)
    consumed = {src for lay in wl.layers for src in lay.inputs}
    assert [lay.name for lay in wl.layers if lay.name not in consumed] == [wl.layers[-1].name]
    assert set(wl.inputs) <= consumed
    for lay in wl.layers:
        p, s = lay.problem, lay.problem.size
        shapes = [out_shape(wl, src) for src in lay.inputs]
        if p.kind == "eltwise":
            assert len(lay.inputs) == s["E"], lay.name  # one input per summed operand
        if any(sh is None for sh in shapes):
            continue  # an external input (or a per-head gemm output): no shape to compare
        where = f"{lay.name} <- {lay.inputs}: {shapes}"
        if p.kind in ("conv", "pool"):
            channels = s["C"] * s.get("G", 1)
            assert sum(sh[0] for sh in shapes) == channels, where  # several inputs: concatenated
            assert len({sh[1:] for sh in shapes}) == 1, where
            _, h, w = shapes[0]
            params = dict(p.params)
            assert window_fits(h, s["P"], s["R"], params["stride_y"]), where
            assert window_fits(w, s["Q"], s["S"], params["stride_x"]), where
        elif p.kind == "eltwise":
            assert all(sh == (s["C"], s["P"], s["Q"]) for sh in shapes), where
        elif p.kind == "fc":
            if (name, lay.name) in TOKEN_READERS:
                assert [sh[0] for sh in shapes] == [s["C"]], where
            else:
                assert sum(math.prod(sh) for sh in shapes) == s["C"], where
        elif s["B"] == 1:  # token-wise gemm: K features of each of M tokens
            assert shapes[0][:2] == (s["K"], s["M"]) and shapes[0][2] == 1, where


# --------------------------------------------------------------------------- torchvision CSVs


def csv_rows(name: str) -> list[dict[str, str]]:
    with open(reference(CSV[name]), newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("name", CSV)
def test_csv_total_is_the_published_figure(name):
    assert sum(int(row["macs"]) for row in csv_rows(name)) == PUBLISHED[name][0]


@pytest.mark.parametrize("name", CSV)
def test_layers_match_csv_row_by_row(name):
    """Every MAC-carrying layer, in order, against the torchvision reference row."""
    wl = load(name)
    rows = csv_rows(name)
    layers = [lay for lay in wl.layers if lay.problem.kind in MAC_KINDS]
    assert len(layers) == len(rows)
    for lay, row in zip(layers, rows):
        p, s, where = lay.problem, lay.problem.size, f"{lay.name} vs {row['name']}"
        num = {k: int(v) for k, v in row.items() if k not in ("name", "type") and v != ""}
        assert p.macs == num["macs"], where
        if row["type"] in ("CONV", "DSCONV"):
            params = dict(p.params)
            assert p.kind == "conv", where
            got = (s["K"] * s["G"], s["C"] * s["G"], s["R"], s["S"], params["stride_y"], params["stride_x"],
                   s["P"], s["Q"], s["G"])
            want = (num["K"], num["C"], num["R"], num["S"], num["stride"], num["stride"],
                    num["Yout"], num["Xout"], num["groups"])
            assert got == want, where
            assert (row["type"] == "DSCONV") == (s["G"] == num["C"] > 1), where
            # the producer's output is the reference's unpadded input
            producer = [out_shape(wl, src) for src in lay.inputs if src not in wl.inputs]
            assert all(sh[1:] == (num["Yin"], num["Xin"]) for sh in producer), where
            assert (num["Yout"] - 1) * num["stride"] + num["R"] <= num["Yin"] + 2 * num["pad"], where
        elif row["type"] == "GEMM" and num["M"] == 1:  # a classifier on one vector per image
            assert p.kind == "fc" and (s["N"], s["K"], s["C"]) == (1, num["N"], num["Kred"]), where
        else:
            batch = num.get("batch", 1) if row["type"] == "BGEMM" else 1
            assert p.kind == "gemm", where
            assert (s["B"], s["M"], s["N"], s["K"]) == (batch, num["M"], num["N"], num["Kred"]), where


# --------------------------------------------------------------------------- nn_dataflow reference


def nn_dataflow_summary() -> dict[str, tuple[int, float, str]]:
    """network -> (layer count, ops at batch 1 as printed, the printed figure)."""
    text = reference("nn_dataflow_networks_summary.txt").read_text()
    found = re.findall(r"^## (\w+) .*?, (\d+) layers .*MACs/ops \(b=1\) ([0-9.e+-]+)$", text, re.MULTILINE)
    return {net: (int(n), float(ops), ops) for net, n, ops in found}


def rounds_to(value: int, printed: str) -> bool:
    """``value`` written with the printed figure's significant digits gives that figure."""
    digits = len(printed.split("e")[0].replace(".", "").lstrip("0"))
    return f"{value:.{digits - 1}e}" == f"{float(printed):.{digits - 1}e}"


@pytest.mark.parametrize("name", NN_DATAFLOW)
def test_nn_dataflow_summary_ops(name):
    """nn_dataflow's summary counts every layer's ops (pool compares and eltwise adds too).
    GoogLeNet here also has the inception pool branches nn_dataflow leaves out; AlexNet merges
    nn_dataflow's two-GPU _a/_b halves (see the YAML headers)."""
    count, _, printed = nn_dataflow_summary()[NN_DATAFLOW[name]]
    wl = load(name)
    layers = [lay for lay in wl.layers if not re.fullmatch(r"inception_\w+_pool", lay.name)]
    assert rounds_to(sum(lay.problem.macs for lay in layers), printed)
    if name != "alexnet":
        assert len(layers) == count
    else:
        assert len(layers) == count - 8  # conv1/2/4/5 and pool1/2/3 halves merged, 19 -> 11


_ND_LINE = re.compile(r"^  (\w+): (\w+)\((.*)\) prevs=\((.*)\) ops=(\d+)$")


def nn_dataflow_layers() -> dict[str, dict[str, tuple]]:
    """network -> layer -> (class, fields, prevs, ops) from nn_dataflow_alexnet_vgg16.txt."""
    nets: dict[str, dict[str, tuple]] = {}
    current = None
    for line in reference("nn_dataflow_alexnet_vgg16.txt").read_text().splitlines():
        if line.startswith("## "):
            current = nets.setdefault(line.split()[1], {})
        elif (m := _ND_LINE.match(line)) and current is not None:
            name, cls, fields, prevs, ops = m.groups()
            kv = dict(re.findall(r"(\w+)=([\dx]+)", fields))
            prev_names = tuple(re.findall(r"'(\w+)'", prevs)) or ("data",)
            current[name] = (cls, kv, prev_names, int(ops))
    return nets


def test_vgg16_matches_nn_dataflow_layer_by_layer():
    ref = nn_dataflow_layers()["vgg_net"]
    wl = load("vgg16")
    assert list(ref) == list(wl.layer_names)
    for lay in wl.layers:
        cls, kv, prevs, ops = ref[lay.name]
        s, where = lay.problem.size, lay.name
        assert lay.problem.macs == ops and lay.inputs == prevs, where
        fil = int(kv.get("fil", kv.get("reg", "1x1")).split("x")[0])
        ofm = int(kv["ofm"].split("x")[0])
        if cls == "ConvLayer":
            assert (s["C"], s["K"], s["P"], s["Q"], s["R"], s["S"]) == (
                int(kv["nifm"]), int(kv["nofm"]), ofm, ofm, fil, fil), where
        elif cls == "PoolingLayer":
            stride = int(kv["strd"].split("x")[0])
            assert (s["C"], s["P"], s["R"], dict(lay.problem.params)["stride_y"]) == (
                int(kv["nofm"]), ofm, fil, stride), where
        else:
            assert cls == "FCLayer" and (s["C"], s["K"]) == (int(kv["nifm"]) * fil * fil, int(kv["nofm"])), where


def test_alexnet_matches_nn_dataflow_halves():
    """Each AlexNet layer does the work of nn_dataflow's _a and _b halves (or its one layer)."""
    ref = nn_dataflow_layers()["alex_net"]
    wl = load("alexnet")
    merged: dict[str, int] = {}
    for name, (_, _, _, ops) in ref.items():
        base = re.sub(r"_[ab]$", "", name)
        merged[base] = merged.get(base, 0) + ops
    assert list(merged) == list(wl.layer_names)
    assert {lay.name: lay.problem.macs for lay in wl.layers} == merged
    for lay in wl.layers:  # channels: the halves' nofm add up to K (conv) or C (pool)
        halves = [kv for name, (_, kv, _, _) in ref.items() if re.sub(r"_[ab]$", "", name) == lay.name]
        s = lay.problem.size
        out = s["K"] * s.get("G", 1) if lay.problem.kind != "pool" else s["C"]
        assert sum(int(kv["nofm"]) for kv in halves) == out, lay.name


@pytest.mark.parametrize("name", ["vgg16", "googlenet", "resnet50", "resnet152", "mlp_m", "mlp_l"])
def test_matches_installed_nn_dataflow(name):
    """Every nn_dataflow layer has a layer of the same name, ops and producers here (its
    definitions run in a venv of their own: tests/nn_dataflow_env.py).  GoogLeNet's
    pool_proj reads the inception pool branch that nn_dataflow leaves out."""
    net = nn_dataflow_networks(*(NN_DATAFLOW[n] for n in NN_DATAFLOW))[NN_DATAFLOW[name]]
    wl = load(name)
    for ref in net["layers"]:
        ours = wl.layer(ref["name"])
        assert ref["ops"] == ours.problem.macs, ref["name"]
        prevs = tuple(ref["prevs"])
        if ref["name"].endswith("_pool_proj"):
            prevs = (ref["name"].removesuffix("_proj"),)
        assert prevs == ours.inputs, ref["name"]


@pytest.mark.parametrize("name", LSTM_HIDDEN)
def test_lstm_cells_match_nn_dataflow_add_lstm_cell(name):
    """The cells are what nn_dataflow's add_lstm_cell builds (names, ops, producers)."""
    net = nn_dataflow_networks(*(f"lstm:{h}" for h in LSTM_HIDDEN.values()))[f"lstm:{LSTM_HIDDEN[name]}"]
    wl = load(name)
    assert [lay.name for lay in wl.layers] == [ref["name"] for ref in net["layers"]]
    assert set(wl.inputs) == {"data", *net["external"]}
    for ref in net["layers"]:
        ours = wl.layer(ref["name"])
        assert ref["ops"] == ours.problem.macs, ref["name"]
        assert tuple(ref["prevs"]) == ours.inputs, ref["name"]


# --------------------------------------------------------------------------- generator


def test_generated_models_are_up_to_date():
    spec = importlib.util.spec_from_file_location("gen_models", MODELS / "tools" / "gen_models.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for net in gen.all_models():
        assert (MODELS / f"{net.name}.yaml").read_text() == net.yaml(), "run python3 models/tools/gen_models.py"


def test_mobilenet_v1_rounds_to_the_papers_figure():
    assert round(PUBLISHED["mobilenet_v1"][0] / 1e6) == 569  # Howard et al. Table 2
    wl = load("mobilenet_v1")
    dw = [lay for lay in wl.layers if lay.problem.kind == "conv" and lay.problem.size["G"] > 1]
    assert [lay.name for lay in dw] == [f"conv{n}" for n in range(2, 28, 2)]  # CONV14 is depthwise
    assert wl.layer("conv15").problem.size["R"] == 1 and wl.layer("conv14").problem.size["G"] == 512


def test_rhn_structure():
    """Zilly et al.'s coupled RHN cell, depth 10: per micro-step fc h and t, eltwise ht, carry, s;
    only micro-step 1 reads the input x_t."""
    wl = load("rhn")
    assert len(wl.layers) == 10 * 5
    readers = [lay.name for lay in wl.layers if "data" in lay.inputs]
    assert readers == ["step1_h", "step1_t"]
    for step in range(2, 11):
        assert wl.layer(f"step{step}_h").inputs == (f"step{step - 1}_s",)
        assert wl.layer(f"step{step}_carry").inputs == (f"step{step - 1}_s", f"step{step}_t")
    assert wl.layer("step1_h").problem.size == {"N": 1, "K": 1500, "C": 3000}


# --------------------------------------------------------------------------- Table VI suite

# model -> (batch, MACs of the selected layers per sample, counted by hand from the sizes)
SUITE = {
    "alexnet": (16, 724_406_816), "vgg16": (16, 15_470_264_320), "googlenet": (16, 1_582_671_872),
    "mobilenet_v1": (16, mobilenet_v1_macs()),
    "lstm_m": (128, 2 * 4 * 500 * 1000), "lstm_l": (128, 2 * 4 * 1000 * 2000),
    "rhn": (128, 2 * 1500 * 3000 + 9 * 2 * 1500 * 1500),
    "mlp_m": (128, 784 * 1000 + 1000 * 500 + 500 * 250),      # FC1-FC3 of Table VI
    "mlp_l": (128, 784 * 1500 + 1500 * 1000 + 1000 * 500),
}


@pytest.mark.parametrize("name", SUITE)
def test_table_vi_suite_specs(name):
    from cpmap.spec import load_solve_spec

    plan = load_solve_spec(str(ROOT / "specs" / "examples" / f"suite-{name}.yaml"))
    batch, per_sample = SUITE[name]
    assert plan.batch == batch and plan.arch.name == "interstellar"
    assert sum(lay.problem.macs for lay in plan.layers if lay.problem.kind in MAC_KINDS) == batch * per_sample
