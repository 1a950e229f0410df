"""Run with a Python that has nn_dataflow 2.1 (tests/nn_dataflow_env.py makes one): prints,
as JSON, each requested network's layers in order with their ops at batch 1 and their
producers, so the tests can compare the bundled models with nn_dataflow's own definitions.

    python nn_dataflow_dump.py NET [NET ...]        nn_dataflow.nns networks
    python nn_dataflow_dump.py lstm:HIDDEN ...      two add_lstm_cell cells
"""

import json
import sys

from nn_dataflow.core import InputLayer, Network
from nn_dataflow.nns import add_lstm_cell, import_network


def lstm(hidden: int) -> Network:
    """Two cells of nn_dataflow's add_lstm_cell (models/lstm_*.yaml)."""
    net = Network(f"lstm{hidden}")
    net.set_input_layer(InputLayer(hidden, 1))
    _, h = add_lstm_cell(net, "cell1", hidden, net.INPUT_LAYER_KEY)
    add_lstm_cell(net, "cell2", hidden, h)
    return net


def dump(net: Network) -> dict:
    layers = [{"name": name, "ops": net[name].total_ops(1),
               "prevs": ["data" if p in (None, net.INPUT_LAYER_KEY) else p for p in net.prevs(name)]}
              for name in net]
    return {"layers": layers, "external": sorted(net.ext_layers())}


out = {}
for arg in sys.argv[1:]:
    out[arg] = dump(lstm(int(arg.split(":")[1])) if arg.startswith("lstm:") else import_network(arg))
json.dump(out, sys.stdout)
