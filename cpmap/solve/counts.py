"""The access counts of the layer model: each count of docs/cost-model.md section 3 as a
sum of gated monomials, materialized as one model variable per count.

:class:`AccessCounts` reads the variables a :class:`~cpmap.solve.model.LayerModelBuilder`
has built (exponents, keep and loop-order literals, tiles) and adds, per tensor, the fills,
read-backs, write-backs, per-MAC accesses and network words, with the loop-order reuse of
each refill count gated at the exponent level (:meth:`AccessCounts.versions`).
"""

from __future__ import annotations

from ..core.slots import Slot
from .forward import crosses, share_variants
from .kit import CUT_RATIO, PWL_RATIO
from .monomial import Mono, prod


class AccessCounts:
    """The count terms of one layer model (see the module docstring)."""

    def __init__(self, builder):
        self.kit, self.m, self.problem = builder.kit, builder.m, builder.problem
        self.L, self.levels, self.tensors = builder.L, builder.levels, builder.tensors
        self.encoding, self.irr = builder.encoding, builder.irr
        self.keep, self.inner, self.no_rel, self.S = builder.keep, builder.inner, builder.no_rel, builder.S
        self.sp_all, self.sp_rel, self.t_all, self.t_rel = builder.sp_all, builder.sp_rel, builder.t_all, builder.t_rel
        self.cycles_m = builder.cycles_m
        self.top = builder.top  # {tensor: its backing-store level} (the outermost unless resident)
        self.meshes = builder.meshes  # levels whose fanout is a mesh: their words per node (:mod:`.mesh`)
        self.fwd, self.share = builder.fwd, builder.share  # {(mesh level, tensor): literal} (:mod:`.forward`)
        self.pending: list = []  # (kind, level, tensor, sign, Mono, literal, label) of every count term
        self.owners: list = []  # the tensor whose traffic each pending term counts (net words included)
        self.terms: list = []  # (owner, kind, level, sign, Term, literal) as materialized (:mod:`.patterns`)

    def versions(self, t: str, i: int) -> tuple[Mono, Mono]:
        """(F, U) of tensor t's tile at level i: F removes the irrelevant factors of the
        innermost run of levels above i, gated per exponent."""
        kit, m = self.kit, self.m
        F = prod(self.t_all[j] for j in range(i + 1, self.L))
        alive = True  # every level between i and j has no relevant loop
        for j in range(i + 1, self.L):
            in_run = kit.conj([alive, kit.disj(self.inner[j, t], self.no_rel[t, j])], f"run_{t}{i}{j}")
            if in_run is not False:
                for d in self.irr[t]:
                    for p, k in kit.primes[d].items():
                        a = ("e", d, p, Slot(j))
                        if a not in kit.atoms:
                            continue
                        if in_run is True:
                            F.exps[d, p][a] -= 1
                            continue
                        e = kit.atoms[a]
                        r = m.new_int_var(0, k, kit.name(f"r_{t}{i}{j}{d}{p}"))
                        m.add(r == e).only_enforce_if(in_run)
                        m.add(r == 0).only_enforce_if(in_run.negated())
                        m.add(r <= e)
                        kit.atoms["r", t, i, j, d, p] = r
                        F.exps[d, p]["r", t, i, j, d, p] -= 1
            alive = kit.conj([alive, self.no_rel[t, j]], f"alive_{t}{i}{j}")
        U = prod(self.t_rel[t, j] for j in range(i + 1, self.L))
        return F, U

    def add_terms(self) -> None:
        """Collect every count's terms, tensor by tensor."""
        for t in self.tensors:
            self._owner = t
            self._add_tensor_terms(t)

    def _add(self, kind, level, tensor, mono, cond, label, sign=1) -> None:
        if cond is not False:
            self.pending.append((kind, level, tensor, sign, mono, cond, label))
            self.owners.append(self._owner)

    def _add_tensor_terms(self, t: str) -> None:
        kit, L, sp_all = self.kit, self.L, self.sp_all
        is_o = t == "O"
        # sharing per fanout: O always reduces (required), W/I multicast where supported
        shared = {j: (self.sp_rel[t, j] if (is_o or (self.levels[j].fanout is not None
                                                      and self.levels[j].fanout.multicast))
                      else sp_all[j]) for j in range(L)}

        def per_child(i, upto, last, shared=shared):
            """sent(t, i) = used(i) * last divided by the sharing factors of fanouts i+1..upto."""
            return prod([sp_all[j] for j in range(upto + 1, L)] + [shared[j] for j in range(i + 1, upto + 1)] + last)

        # access forwarding and buffer sharing
        variants = [(shared, True, frozenset())] if is_o else share_variants(self, t, shared)

        innermost = {k: kit.conj([self.keep[k, t]] + [kit.neg(self.keep[j, t]) for j in range(k)], f"inn_{t}{k}")
                     for k in range(L)}
        for i in range(L - 1):
            if self.keep[i, t] is False:
                continue
            F, U = self.versions(t, i)
            St = self.S[t, i]
            for p in range(i + 1, L):
                if self.keep[p, t] is False:
                    continue
                between = kit.conj([kit.neg(self.keep[j, t]) for j in range(i + 1, p)], f"byp_{t}{i}{p}")
                pair = kit.conj([self.keep[i, t], self.keep[p, t], between], f"pair_{t}{i}{p}")
                if pair is False:
                    continue
                if is_o:
                    self._output_terms(t, i, p, F, U, St, pair, innermost, per_child)
                    continue
                for sh, lit, div in variants if crosses(self, t, i, p) else [(shared, True, frozenset())]:
                    cond = pair if lit is True else kit.conj([pair, lit], f"fvar_{t}{i}{p}")
                    self._fill_terms(t, i, p, F, St, cond, lambda i, upto, last, sh=sh: per_child(i, upto, last, sh),
                                     i + 1 in div)
        for k in range(L):
            for sh, lit, _ in variants if crosses(self, t, 0, k) else [(shared, True, frozenset())]:
                self._mac_terms(t, sh, innermost, k, lit)

    def _hop(self, kind, j, t, words: Mono, cond, sign=1) -> None:
        """Words of ``t`` crossing mesh fanout ``j`` as ``kind``, per node (fills,
        write-backs: ``words`` counted per child over the used nodes) or per reduction
        group (read-backs): the count the mesh's hop tables multiply (:mod:`.mesh`)."""
        if j in self.meshes:
            per = self.sp_rel[t, j] if kind == "readback" else self.sp_all[j]
            self._add(f"hop_{kind}", j, t, words.over(per), cond, f"hop_{kind}", sign)

    def _fill_terms(self, t, i, p, F, St, pair, per_child, shared_below=False) -> None:
        """W or I filled into level i from its parent p (``shared_below``: level i's nodes
        share t across the mesh above them: each word is written at one node of a group)."""
        mine = per_child(i, i, [F, St])
        if shared_below:  # divided by g = the mesh's spatial factors irrelevant to t
            mine = (mine * self.sp_rel[t, i + 1]).over(self.sp_all[i + 1])
        self._add("writes", i, t, mine, pair, "fill")
        self._add("reads", p, t, per_child(i, p, [F, St]), pair, "fill_src")
        if (p + 1, t) in self.share:  # buffer sharing: read at the node holding the word
            self._hop("remote", p + 1, t, per_child(i, p, [F, St]), pair)
        for j in range(i + 1, p + 1):
            self._add("net", j, None, mine if j == i + 1 else per_child(i, j - 1, [F, St]), pair, "net_fill")
            self._hop("fill", j, t, per_child(i, j - 1, [F, St]), pair)

    def _output_terms(self, t, i, p, F, U, St, pair, innermost, per_child) -> None:
        """O written back from level i to its parent p, and read back on re-entry."""
        add = self._add
        sent = per_child(i, i, [F, St])
        up = per_child(i, p, [F, St])  # sent / g: one transfer per sharing group
        first = per_child(i, p, [U, St])  # first versions: no read-back
        add("writes", p, t, up, pair, "wb")
        add("reads", p, t, up, pair, "rb")
        add("reads", p, t, first, pair, "rb0", -1)
        add("writes", i, t, up, pair, "rbw")
        add("writes", i, t, first, pair, "rbw0", -1)
        for j in range(i + 1, p + 1):
            add("net", j, None, per_child(i, j - 1, [F, St]), pair, "net_wb")
            add("net", j, None, up, pair, "net_rb")
            add("net", j, None, first, pair, "net_rb0", -1)
            self._hop("reduce", j, t, per_child(i, j - 1, [F, St]), pair)
            self._hop("readback", j, t, up, pair)
            self._hop("readback", j, t, first, pair, -1)
        # fresh element-versions at the innermost keeper: sent - read-backs
        inn_pair = self.kit.conj([innermost[i], pair], f"innpair_{t}{i}{p}")
        add("reads", i, t, sent, inn_pair, "fresh", -1)
        add("reads", i, t, up, inn_pair, "fresh_rb")
        add("reads", i, t, first, inn_pair, "fresh_rb0", -1)

    def _mac_terms(self, t, shared, innermost, k, when=True) -> None:
        """Per-MAC reads (and O updates) at the innermost keeper k, and their network words
        (``when``: the literal of a forwarding variant, :mod:`.forward`)."""
        L, sp_all, cycles_m = self.L, self.sp_all, self.cycles_m
        lit = innermost[k] if when is True else self.kit.conj([innermost[k], when], f"fmac_{t}{k}")
        if lit is not False:
            per_mac = prod([cycles_m] + [sp_all[j] for j in range(k + 1, L)] + [shared[j] for j in range(1, k + 1)])
            for j in range(1, k + 1):
                nv = prod([cycles_m] + [sp_all[j2] for j2 in range(j, L)] + [shared[j2] for j2 in range(1, j)])
                self._add("net", j, None, nv, lit, "net_mac")
                self._hop("reduce" if t == "O" else "fill", j, t, nv, lit)
            self._add("reads", k, t, per_mac, lit, "mac_r")
            if (k + 1, t) in self.share:
                self._hop("remote", k + 1, t, per_mac, lit)
            if t == "O":
                self._add("writes", k, t, per_mac, lit, "mac_w")
                if k == self.top[t]:  # only the backing store keeps O: its first touches are fresh
                    self._add("reads", k, t, Mono(self.problem.tensor_words("O")), lit, "fresh_top", -1)

    def materialize(self) -> tuple[dict, dict]:
        kit, m = self.kit, self.m
        cut_ratio = PWL_RATIO if self.encoding == "pwl" else CUT_RATIO
        # pwl relaxes only monomials that always count positively: a relaxed monomial with a
        # minus sign could over-estimate the energy
        negative = {mono.key() for *_, sign, mono, _c, _l in self.pending if sign < 0}
        sums: dict = {}
        self.his: dict = {}  # upper bound of each count: the sum of its positive terms' bounds
        for (kind, level, tensor, sign, mono, cond, label), owner in zip(self.pending, self.owners):
            if self.encoding == "pwl" and mono.key() not in negative:
                t = kit.relaxed_term(mono, label)
            else:
                t = kit.term(mono, label)
            kit.cut(t, cut_ratio)
            g = kit.gated(t, cond, label)
            self.terms.append((owner, kind, level, sign, t, cond))
            if isinstance(g, int) and g == 0:
                continue
            key = ("net", level) if kind == "net" else (kind, level, tensor)
            sums[key] = sums.get(key, 0) + sign * g
            self.his[key] = self.his.get(key, 0) + (t.ub if sign > 0 else 0)
        # each count as a variable >= 0 (and >= its compulsory part) tightens the relaxation
        self.counts: dict = {}
        for key, expr in sums.items():
            if isinstance(expr, int):
                self.counts[key] = expr
                continue
            lo = self._compulsory(key)
            c = m.new_int_var(lo, max(lo, self.his[key]), kit.name(f"cnt_{key}"))
            m.add(c == expr)
            self.counts[key] = c
        return self.counts, self.his

    def _compulsory(self, key) -> int:
        """Every input word leaves DRAM at least once; every output word is written once."""
        if key[0] in ("reads", "writes") and key[1] == self.L - 1:
            t = key[2]
            if (key[0] == "reads" and t != "O") or (key[0] == "writes" and t == "O"):
                return self.problem.tensor_words(t)
        return 0
