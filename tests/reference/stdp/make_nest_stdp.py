#!/usr/bin/env python3
"""Generate NEST 3.10 reference data for renshaw's plastic-synapse (STDP) cases.

Reads every ``tests/reference/stdp/cases/*.toml`` (renshaw description format,
docs/description.md, plus `synapse.rule` and `[[record_weights]]`), builds the
equivalent NEST network, simulates ``run.duration`` ms in pieces and writes
``tests/reference/stdp/data/<case>.json``.

Usage (from the repository root):

    python3 tests/reference/stdp/make_nest_stdp.py              # all cases
    python3 tests/reference/stdp/make_nest_stdp.py pairs_add    # some cases

Mapping to NEST (on top of ../make_nest_reference.py, whose helpers are reused):
  * projection with `synapse.rule = "stdp"`         -> stdp_synapse
                    `synapse.rule = "stdp_nn_symm"` -> stdp_nn_symm_synapse
    All other synapse keys (weight, delay, tau_plus, lambda, alpha, mu_plus,
    mu_minus, Wmax) are passed unchanged in the syn_spec; missing ones take
    NEST's defaults (note: NEST's default mu_plus = mu_minus = 1.0).
    Each projection gets its own copy of the model (CopyModel) with a
    weight_recorder attached, so GetConnections can tell projections apart.
  * `tau_minus` is an ordinary neuron parameter of the postsynaptic population.
  * `[[record_weights]] projection = i, interval = T`: snapshot times are
    T, 2T, ... <= duration, plus `duration` itself if it is not on that list
    (the final weights). The simulation is run as nest.Simulate(t_k - t_{k-1})
    between consecutive snapshot times (the union over all record_weights
    entries) and the weights are read with GetConnections(...).get("weight").
  * all populations' spikes are recorded (spike_recorder).

Output (one JSON per case):
  {"case", "nest_version", "dt", "duration",
   "spikes":  {pop: {"senders": [local idx], "times": [ms]}},        # sorted by (time, sender)
   "weights": {"<projection index>": {"times": [snapshot times],
                                      "sources": [local idx in `from`],
                                      "targets": [local idx in `to`],
                                      "values": [[w per connection] per snapshot]}},
   "weight_events": {"<projection index>": {"times": [t_pre], "sources", "targets",
                                            "weights": [w after the update at that pre spike]}}}
Connections are sorted by (source, target). `weight_events` comes from NEST's
weight_recorder: one entry per presynaptic spike that NEST processed through
the synapse during the run (sorted by time, source, target).

Sanity checks done here (raise on failure): every neuron spikes exactly at its
stimulus times + stimulus delay (the imposed trains), and the last snapshot of
every projection equals the last weight_recorder entry of each connection.
"""

import json
import os
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
CASES = os.path.join(HERE, "cases")
DATA = os.path.join(HERE, "data")

import make_nest_reference as ref  # noqa: E402  (imports nest, sets verbosity)
import nest  # noqa: E402

EPS = 1e-9
RULES = {"stdp": "stdp_synapse", "stdp_nn_symm": "stdp_nn_symm_synapse"}


def snapshot_times(interval, duration, dt):
    if interval is None:
        return [duration]
    n_iv = int(round(interval / dt))
    n_dur = int(round(duration / dt))
    if n_iv <= 0 or abs(n_iv * dt - interval) > 1e-9 * max(1.0, interval):
        raise ValueError(f"record_weights interval {interval} is not a positive multiple of dt {dt}")
    steps = list(range(n_iv, n_dur + 1, n_iv))
    if not steps or steps[-1] != n_dur:
        steps.append(n_dur)
    return [round(s * dt, 9) for s in steps]


def run_case(path):
    with open(path, "rb") as f:
        desc = tomllib.load(f)
    name = os.path.splitext(os.path.basename(path))[0]
    net = desc.get("network", {})
    dt = float(net.get("dt", 0.1))
    seed = int(net.get("seed", 0))
    duration = float(desc["run"]["duration"])

    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": dt, "local_num_threads": 1, "rng_seed": max(seed, 1) % (2**32 - 1)})

    pops = ref.resolve_populations(desc)
    nodes = {}
    for pname, p in pops.items():
        params = {k: ref.check_const(v, f"{pname}.params.{k}") for k, v in p["params"].items()}
        nc = nest.Create(p["model"], int(p["size"]), params=params)
        init = {k: ref.check_const(v, f"{pname}.init.{k}") for k, v in p["init"].items()}
        if init:
            nc.set(init)
        nodes[pname] = nc

    # imposed spike times per (pop, local index), to check NEST's spikes
    expected = {pname: {} for pname in pops}
    for si, st in enumerate(desc.get("stimuli", [])):
        if st["kind"] != "spike_times":
            raise ValueError(f"{name}: only spike_times stimuli are used in STDP cases")
        neurons = ref.target_neurons(st["targets"], pops, nodes)
        w = ref.check_const(st["synapse"]["weight"], "weight")
        d = ref.check_const(st["synapse"]["delay"], "delay")
        syn = {"synapse_model": "static_synapse", "weight": w, "delay": d}
        lists = st["spike_times"] if "spike_times" in st else [st["times"]] * len(neurons)
        if len(lists) != len(neurons):
            raise ValueError(f"{name}: stimulus {si}: {len(lists)} spike lists for {len(neurons)} targets")
        for (pname, i, n), times in zip(neurons, lists):
            if not times:
                continue
            sg = nest.Create("spike_generator", params={"spike_times": [float(t) for t in times]})
            nest.Connect(sg, n, syn_spec=syn)
            if w >= 1000.0:
                steps = expected[pname].setdefault(i, set())
                steps.update(int(round((float(t) + d) / dt)) for t in times)

    projs = []  # (src NodeCollection, tgt NodeCollection, model name or None, weight_recorder)
    for pi, pj in enumerate(desc.get("projections", [])):
        srcs = pj["from"] if isinstance(pj["from"], list) else [pj["from"]]
        tgts = pj["to"] if isinstance(pj["to"], list) else [pj["to"]]
        src_nc = sum((nodes[s] for s in srcs[1:]), nodes[srcs[0]])
        tgt_nc = sum((nodes[t] for t in tgts[1:]), nodes[tgts[0]])
        c = dict(pj["connect"])
        rule = c.pop("rule")
        if rule not in ("all_to_all", "one_to_one"):
            raise ValueError(f"{name}: connection rule {rule!r} not supported (not deterministic)")
        conn = {"rule": rule}
        for k in ("allow_autapses", "allow_multapses"):
            if k in c:
                conn[k] = bool(c.pop(k))
        if c:
            raise ValueError(f"{name}: unsupported connect keys {sorted(c)}")
        syn_in = dict(pj["synapse"])
        srule = syn_in.pop("rule", None)
        syn = {k: ref.check_const(v, f"projection {pi} synapse.{k}") for k, v in syn_in.items()}
        wr = None
        if srule is None:
            model = f"static_p{pi}"
            nest.CopyModel("static_synapse", model)
        elif srule in RULES:
            wr = nest.Create("weight_recorder")
            model = f"{RULES[srule]}_p{pi}"
            nest.CopyModel(RULES[srule], model, {"weight_recorder": wr})
        else:
            raise ValueError(f"{name}: synapse rule {srule!r} not supported")
        syn["synapse_model"] = model
        for s in srcs:
            for t in tgts:
                nest.Connect(nodes[s], nodes[t], conn_spec=conn, syn_spec=syn)
        projs.append((src_nc, tgt_nc, model, wr))

    # spike recorders for all populations. Their connections are given the
    # case's smallest delay: with NEST's default (1.0 ms) they would lower
    # min_delay below the plastic delay in poisson_delay25, and min_delay
    # decides when weight changes become visible (see README).
    rec_delay = min([ref.check_const(st["synapse"]["delay"], "delay") for st in desc.get("stimuli", [])]
                    + [ref.check_const(pj["synapse"].get("delay", dt), "delay") for pj in desc.get("projections", [])])
    recs = {}
    for pname, nc in nodes.items():
        sr = nest.Create("spike_recorder")
        nest.Connect(nc, sr, syn_spec={"delay": rec_delay})
        recs[pname] = (sr, nc[0].global_id)

    # weight snapshots
    rw = desc.get("record_weights", [])
    snaps = {}  # proj index -> list of times
    for r in rw:
        pi = int(r["projection"])
        if pi in snaps:
            raise ValueError(f"{name}: projection {pi} recorded twice")
        iv = r.get("interval")
        snaps[pi] = snapshot_times(None if iv is None else float(iv), duration, dt)
    all_t = sorted({t for ts in snaps.values() for t in ts} | {duration})

    def conn_table(pi):
        src_nc, tgt_nc, model, _ = projs[pi]
        sidx = {g: i for i, g in enumerate(src_nc.tolist())}
        tidx = {g: i for i, g in enumerate(tgt_nc.tolist())}
        cs = nest.GetConnections(source=src_nc, target=tgt_nc, synapse_model=model)
        st = cs.get(["source", "target", "weight"])
        rows = [(sidx[s], tidx[t], w) for s, t, w in zip(st["source"], st["target"], st["weight"])]
        rows.sort(key=lambda r: (r[0], r[1]))
        return rows

    out_w = {}
    for pi in snaps:
        rows = conn_table(pi)
        out_w[str(pi)] = {"times": [], "sources": [r[0] for r in rows],
                          "targets": [r[1] for r in rows], "values": []}
    t_now = 0.0
    for t in all_t:
        if t - t_now > EPS:
            nest.Simulate(round(t - t_now, 9))
            t_now = t
        for pi, ts in snaps.items():
            if any(abs(t - x) < EPS for x in ts):
                rows = conn_table(pi)
                d = out_w[str(pi)]
                assert [r[0] for r in rows] == d["sources"] and [r[1] for r in rows] == d["targets"]
                d["times"].append(t)
                d["values"].append([float(r[2]) for r in rows])

    assert abs(nest.min_delay - rec_delay) < EPS, (nest.min_delay, rec_delay)
    out = {"case": name, "nest_version": nest.__version__, "dt": dt, "duration": duration,
           "min_delay": nest.min_delay, "spikes": {}, "weights": out_w, "weight_events": {}}

    # spikes + check of the imposed trains
    for pname, (sr, first) in recs.items():
        ev = sr.get("events")
        times = [float(x) for x in ev["times"]]
        senders = [int(s) - first for s in ev["senders"]]
        order = sorted(range(len(times)), key=lambda i: (times[i], senders[i]))
        out["spikes"][pname] = {"senders": [senders[i] for i in order],
                                "times": [round(times[i], 9) for i in order]}
        got = {}
        for s, t in zip(senders, times):
            got.setdefault(s, []).append(int(round(t / dt)))
        for i in range(pops[pname]["size"]):
            want = sorted(s for s in expected[pname].get(i, set()) if s * dt <= duration + EPS)
            have = sorted(got.get(i, []))
            if want != have:
                raise AssertionError(f"{name}: {pname}[{i}] spikes (steps) {have} != imposed {want}")

    # weight_recorder events
    for pi, (src_nc, tgt_nc, model, wr) in enumerate(projs):
        if wr is None:
            continue
        sidx = {g: i for i, g in enumerate(src_nc.tolist())}
        tidx = {g: i for i, g in enumerate(tgt_nc.tolist())}
        ev = wr.get("events")
        rows = sorted(zip([round(float(x), 9) for x in ev["times"]],
                          [sidx[int(s)] for s in ev["senders"]],
                          [tidx[int(t)] for t in ev["targets"]],
                          [float(w) for w in ev["weights"]]))
        out["weight_events"][str(pi)] = {"times": [r[0] for r in rows], "sources": [r[1] for r in rows],
                                         "targets": [r[2] for r in rows], "weights": [r[3] for r in rows]}
        if str(pi) in out_w:
            d = out_w[str(pi)]
            last = {}
            for r in rows:
                last[(r[1], r[2])] = r[3]
            for k, (s, t) in enumerate(zip(d["sources"], d["targets"])):
                if (s, t) in last and last[(s, t)] != d["values"][-1][k]:
                    raise AssertionError(f"{name}: projection {pi} ({s},{t}): final weight "
                                         f"{d['values'][-1][k]} != last recorded {last[(s, t)]}")
    return name, out


def main(argv):
    os.makedirs(DATA, exist_ok=True)
    files = sorted(f for f in os.listdir(CASES) if f.endswith(".toml"))
    if argv:
        want = {os.path.splitext(os.path.basename(a))[0] for a in argv}
        files = [f for f in files if os.path.splitext(f)[0] in want]
    for f in files:
        name, out = run_case(os.path.join(CASES, f))
        dst = os.path.join(DATA, name + ".json")
        with open(dst, "w") as fh:
            json.dump(out, fh, separators=(",", ":"))
            fh.write("\n")
        nsp = {p: len(d["times"]) for p, d in out["spikes"].items()}
        nw = {p: f"{len(d['times'])}x{len(d['sources'])}" for p, d in out["weights"].items()}
        print(f"{name}: spikes {nsp} weights {nw} -> {os.path.relpath(dst)} "
              f"({os.path.getsize(dst) // 1024} KiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
