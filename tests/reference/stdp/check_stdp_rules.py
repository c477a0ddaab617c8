#!/usr/bin/env python3
"""Executable spec of NEST 3.10's stdp_synapse / stdp_nn_symm_synapse (no NEST needed).

Re-computes every weight snapshot and every weight_recorder entry in
``data/*.json`` from the recorded spike trains and the case's parameters,
with the rules written down in README.md, and reports the largest deviation.

    python3 tests/reference/stdp/check_stdp_rules.py           # all cases
    python3 tests/reference/stdp/check_stdp_rules.py pairs_add # some cases

The arithmetic follows NEST's source expression by expression (same order of
operations, times as NEST's doubles: tics * 0.001), so the result is normally
bit-identical to NEST; the tolerance used for PASS is 1e-12 relative.
"""

import json
import math
import os
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
STDP_EPS = 1.0e-6          # kernel default `stdp_eps`
MS_PER_TIC = 1.0 / 1000.0  # NEST default tics_per_ms = 1000


def nest_ms(t):
    """A grid time as NEST's Time::get_ms() returns it."""
    return MS_PER_TIC * round(t * 1000.0)


class PostHistory:
    """ArchivingNode: spike history of one postsynaptic neuron (entries t, Kminus)."""

    def __init__(self, times, tau_minus):
        self.t = []
        self.K = []
        Kminus, last = 0.0, -1.0
        inv = 1.0 / tau_minus
        self.inv = inv
        for ts in times:
            Kminus = Kminus * math.exp((last - ts) * inv) + 1.0
            last = ts
            self.t.append(ts)
            self.K.append(Kminus)

    def window(self, t1, t2):
        """Post spikes with t1 < t <= t2 (with NEST's stdp_eps)."""
        return [x for x in self.t if x >= t1 + STDP_EPS and x < t2 + STDP_EPS]

    def k_values(self, t):
        """(Kminus, nearest-neighbour Kminus) at time t from spikes strictly before t."""
        for i in range(len(self.t) - 1, -1, -1):
            if t - self.t[i] > STDP_EPS:
                return (self.K[i] * math.exp((self.t[i] - t) * self.inv),
                        math.exp((self.t[i] - t) * self.inv))
        return 0.0, 0.0


def simulate_synapse(rule, p, pre, hist, delay_ms):
    """Return [(t_pre, w after the update at t_pre)] for one synapse."""
    w = p["weight"]
    Wmax, lam, alpha = p["Wmax"], p["lambda"], p["alpha"]
    mu_p, mu_m, tau_p = p["mu_plus"], p["mu_minus"], p["tau_plus"]

    def facilitate(w, k):
        norm_w = (w / Wmax) + (lam * math.pow(1.0 - (w / Wmax), mu_p) * k)
        return norm_w * Wmax if norm_w < 1.0 else Wmax

    def depress(w, k):
        norm_w = (w / Wmax) - (alpha * lam * math.pow(w / Wmax, mu_m) * k)
        return norm_w * Wmax if norm_w > 0.0 else 0.0

    d = delay_ms
    Kplus, t_last = 0.0, 0.0
    out = []
    for t in pre:
        for tp in hist.window(t_last - d, t - d):
            minus_dt = t_last - (tp + d)
            if rule == "stdp":
                w = facilitate(w, Kplus * math.exp(minus_dt / tau_p))
            else:
                w = facilitate(w, math.exp(minus_dt / tau_p))
        K, K_nn = hist.k_values(t - d)
        w = depress(w, K if rule == "stdp" else K_nn)
        if rule == "stdp":
            Kplus = Kplus * math.exp((t_last - t) / tau_p) + 1.0
        t_last = t
        out.append((t, w))
    return out


DEFAULTS = {"weight": 1.0, "delay": 1.0, "tau_plus": 20.0, "lambda": 0.01, "alpha": 1.0,
            "mu_plus": 1.0, "mu_minus": 1.0, "Wmax": 100.0}


def check(name):
    with open(os.path.join(HERE, "cases", name + ".toml"), "rb") as f:
        desc = tomllib.load(f)
    with open(os.path.join(HERE, "data", name + ".json")) as f:
        data = json.load(f)
    dt = data["dt"]
    duration = data["duration"]
    pops = desc["populations"]
    # NEST's min_delay (all connections; here = the plastic delay of every case)
    min_delay = data["min_delay"]

    def trains(pop):
        sp = data["spikes"][pop]
        res = [[] for _ in range(pops[pop]["size"])]
        for s, t in zip(sp["senders"], sp["times"]):
            res[s].append(nest_ms(t))
        return res

    worst = 0.0
    n_vals = 0
    for key, wd in data["weights"].items():
        pj = desc["projections"][int(key)]
        syn = dict(DEFAULTS)
        syn.update({k: v for k, v in pj["synapse"].items() if k != "rule"})
        rule = pj["synapse"]["rule"]
        d = nest_ms(float(syn["delay"]))
        src, tgt = pj["from"], pj["to"]
        pre_tr = trains(src)
        tau_minus = float(pops[tgt].get("params", {}).get("tau_minus", 20.0))
        hists = [PostHistory(tr, tau_minus) for tr in trains(tgt)]
        ev = data["weight_events"][key]
        ev_map = {}
        for t, s, g, w in zip(ev["times"], ev["sources"], ev["targets"], ev["weights"]):
            ev_map.setdefault((s, g), []).append((t, w))
        for k, (s, g) in enumerate(zip(wd["sources"], wd["targets"])):
            upd = simulate_synapse(rule, syn, pre_tr[s], hists[g], d)
            # weight_recorder: every pre spike NEST delivered during the run
            got = ev_map.get((s, g), [])
            assert len(got) <= len(upd)
            for (t1, w1), (t2, w2) in zip(upd, got):
                assert abs(t1 - t2) < 1e-9, (name, key, s, g, t1, t2)
                worst = max(worst, abs(w1 - w2) / max(1.0, abs(w2)))
                n_vals += 1
            # snapshots: a pre spike at t_pre is in the snapshot at T iff
            # t_pre <= T - min_delay (NEST delivers spikes at the start of the
            # min_delay slice after the one in which they were emitted)
            for ti, T in enumerate(wd["times"]):
                # the rule below is only exact for T on the min_delay grid
                assert abs(T / min_delay - round(T / min_delay)) < 1e-9, (name, T, min_delay)
                w = syn["weight"]
                for t_pre, wu in upd:
                    if t_pre <= T - min_delay + 1e-9:
                        w = wu
                got_w = wd["values"][ti][k]
                worst = max(worst, abs(w - got_w) / max(1.0, abs(got_w)))
                n_vals += 1
            # which pre spikes were never applied (emitted in the last slice)
            pending = [t for t, _ in upd if t > duration - min_delay + 1e-9]
            assert len(got) == len(upd) - len(pending), (name, key, s, g, len(got), len(upd), pending)
    return worst, n_vals


def main(argv):
    names = sorted(f[:-5] for f in os.listdir(os.path.join(HERE, "data")) if f.endswith(".json"))
    if argv:
        names = [n for n in names if n in argv]
    bad = 0
    for n in names:
        worst, nv = check(n)
        ok = worst <= 1e-12
        bad += not ok
        print(f"{n:18s} {nv:6d} values  max rel. deviation {worst:.3g}  {'PASS' if ok else 'FAIL'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
