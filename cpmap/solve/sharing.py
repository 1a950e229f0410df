"""Buffer sharing in the layer model (docs/solver.md, "Access forwarding and buffer
sharing"; docs/cost-model.md section 10, "Buffer sharing").

A mesh fanout ``j`` with ``sharing: true`` gives every input tensor ``t`` one literal
``share[j, t]``: the buffers of the nodes (level ``j - 1``) that need the same tile hold
one distributed copy.  Besides the count variants and hop tables of :mod:`.forward`, the
capacity of level ``j - 1`` holds ``ceil(tile / g)`` words of ``t`` per node, ``g`` the
mesh's spatial factors irrelevant to ``t``: ``g * held >= tile`` and ``g * held <=
tile + g - 1`` when sharing (one product), ``held = tile`` otherwise; exact.
"""

from __future__ import annotations

from .monomial import Term


def option_literals(b) -> tuple[dict, dict]:
    """({(mesh level, input): forwarding literal}, {(mesh level, input): sharing literal})
    for the meshes that allow them; a tensor is forwarded or shared, not both, and shared
    only if the nodes' level keeps it."""
    fwd, share = {}, {}
    for j in b.meshes:
        fan = b.levels[j].fanout
        for t in b.tensors:
            if t == "O":
                continue
            if fan.forwarding:
                fwd[j, t] = b.m.new_bool_var(b.kit.name(f"fwd{j}{t}"))
            if fan.sharing:
                s = share[j, t] = b.m.new_bool_var(b.kit.name(f"share{j}{t}"))
                keep = b.keep[j - 1, t]
                if keep is False:
                    b.m.add(s == 0)
                elif keep is not True:
                    b.m.add_implication(s, keep)
                if (j, t) in fwd:
                    b.m.add(fwd[j, t] + s <= 1)
    return fwd, share


def held_tiles(b, i: int, tiles: dict) -> dict:
    """{tensor: Term} of the words of each tile level ``i`` holds per instance: the tile,
    or ceil(tile / g) for a tensor its nodes may share across the mesh above it."""
    out = dict(tiles)
    for t, tile in tiles.items():
        s = b.share.get((i + 1, t))
        if s is None:
            continue
        kit, m = b.kit, b.m
        g = kit.term(b.sp_all[i + 1].over(b.sp_rel[t, i + 1]), f"gshare_{t}{i}")
        held = m.new_int_var(0, tile.ub, kit.name(f"held_{t}{i}"))
        m.add(held == tile.expr).only_enforce_if(s.negated())
        if g.is_const:
            m.add(g.const * held >= tile.expr).only_enforce_if(s)
            m.add(g.const * held <= tile.expr + g.const - 1).only_enforce_if(s)
        else:
            z = m.new_int_var(0, tile.ub * g.ub, kit.name(f"heldg_{t}{i}"))  # held = tile when not shared
            m.add_multiplication_equality(z, [held, g.expr])
            m.add(z >= tile.expr).only_enforce_if(s)
            m.add(z <= tile.expr + g.expr - 1).only_enforce_if(s)
        out[t] = Term(held, 1, tile.ub, None)
    return out
