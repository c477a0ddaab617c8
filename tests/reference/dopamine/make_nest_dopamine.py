#!/usr/bin/env python3
"""Generate NEST 3.10 reference data for renshaw's dopamine-modulated STDP cases.

Reads every ``tests/reference/dopamine/cases/*.toml`` (renshaw description
format, docs/description.md, plus `synapse.rule = "stdp_dopamine"` and
`[[record_weights]]`), builds the equivalent NEST network, simulates
``run.duration`` ms in pieces and writes ``tests/reference/dopamine/data/<case>.json``.

Usage (from the repository root):

    python3 tests/reference/dopamine/make_nest_dopamine.py           # all cases
    python3 tests/reference/dopamine/make_nest_dopamine.py pairs     # some cases

Mapping to NEST (helpers reused from ../make_nest_reference.py):
  * populations / spike_times stimuli exactly as in ../stdp/make_nest_stdp.py
    (one spike_generator per neuron, static_synapse with the stimulus'
    weight and delay).
  * projection with `synapse.rule = "stdp_dopamine"`:
      - one `volume_transmitter` per projection (deliver_interval left at its
        default, 1); every neuron of the population named by `dopamine` is
        connected to it with a static_synapse, weight 1.0, delay
        `dopamine_delay` (default 1.0 ms);
      - nest.CopyModel("stdp_dopamine_synapse", "stdp_dopamine_synapse_p<i>",
        {volume_transmitter, weight_recorder, A_plus, A_minus, tau_plus,
         tau_c, tau_n, b, Wmin, Wmax}) -- these are common properties, NEST
        refuses them in the syn_spec of Connect. Missing ones take NEST's
        defaults (A_plus 1, A_minus 1.5, tau_plus 20, tau_c 1000, tau_n 200,
        b 0, Wmin 0, Wmax 200);
      - nest.Connect(from, to, conn_spec, {"synapse_model": ..., "weight", "delay"}).
    A projection without `rule` is a static_synapse.
  * `tau_minus` is an ordinary neuron parameter of the postsynaptic population.
  * spike_recorder for every population; its connections get the case's
    smallest delay so that they do not lower NEST's min_delay (NEST's
    min_delay is the minimum over ALL connection delays, devices included, and
    it sets the period of the volume transmitter's updates).
  * `[[record_weights]] projection = i, interval = T`: snapshot times are
    T, 2T, ... <= duration, plus `duration` itself (the final weights). The
    simulation runs as nest.Simulate(t_k - t_{k-1}) between consecutive
    snapshot times (the union over all record_weights entries) and the
    connections are read with GetConnections(...).get(). Snapshot times must be
    multiples of min_delay (checked): a Simulate that ends inside a min_delay
    slice would move NEST's update points.

Output (one JSON per case), the layout of ../stdp/data plus dopamine fields:
  {"case", "nest_version", "dt", "duration", "min_delay", "max_delay",
   "spikes":  {pop: {"senders": [local idx], "times": [ms]}},        # sorted by (time, sender)
   "weights": {"<projection index>": {"times": [snapshot times],
                                      "sources": [local idx in `from`],
                                      "targets": [local idx in `to`],
                                      "values": [[w per connection] per snapshot],
                                      "c":      [[eligibility trace c] per snapshot],
                                      "n":      [[dopamine trace n] per snapshot],
                                      "Kplus":  [[pre trace] per snapshot]}},
   "weight_events": {"<projection index>": {"times": [t_pre], "sources", "targets",
                                            "weights": [w sent with that pre spike]}},
   "dopamine": {"<projection index>": {"population": name, "dopamine_delay": ms,
                                       "times": [ms], "multiplicities": [int]}}}
Connections are sorted by (source, target). `dopamine.times` are the times at
which NEST's volume transmitter registers the DA spikes: DA neuron spike time +
dopamine_delay, coincident spikes merged into one entry with a multiplicity
(this is what volume_transmitter::update() stores, origin + lag + 1 steps).
NEST does not expose that buffer, so they are computed from the DA
population's spike_recorder and then verified: at every snapshot time T the
synapses' `n` must equal sum_{t_a <= T} m_a / tau_n * exp(-(T - t_a) / tau_n)
to 1e-12 (relative), which fails if any DA spike were counted at another time.

Sanity checks done here (raise on failure): every neuron spikes exactly at
its stimulus times + stimulus delay (imposed trains), nest.min_delay equals the
smallest delay in the case, the `n` check above, and the last snapshot of every
projection equals the state after one uninterrupted nest.Simulate(duration)
(so the snapshot pieces do not change NEST's results).
"""

import json
import math
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
COMMON = ("A_plus", "A_minus", "tau_plus", "tau_c", "tau_n", "b", "Wmin", "Wmax")
DEFAULT_DOPAMINE_DELAY = 1.0


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


def case_delays(desc):
    """All connection delays of the case (stimuli, projections, dopamine)."""
    ds = [ref.check_const(st["synapse"]["delay"], "delay") for st in desc.get("stimuli", [])
          if "synapse" in st]
    for pj in desc.get("projections", []):
        syn = pj["synapse"]
        ds.append(ref.check_const(syn.get("delay", desc.get("network", {}).get("dt", 0.1)), "delay"))
        if syn.get("rule") == "stdp_dopamine":
            ds.append(float(syn.get("dopamine_delay", DEFAULT_DOPAMINE_DELAY)))
    return ds


def build(desc, name):
    """Create the NEST network of a case. Returns (pops, nodes, expected, projs, recs)."""
    net = desc.get("network", {})
    dt = float(net.get("dt", 0.1))
    seed = int(net.get("seed", 0))
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

    expected = {pname: {} for pname in pops}
    for si, st in enumerate(desc.get("stimuli", [])):
        if st["kind"] != "spike_times":
            raise ValueError(f"{name}: only spike_times stimuli are used in dopamine cases")
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

    # projections: (src NodeCollection, tgt NodeCollection, model, weight_recorder, dopamine info)
    projs = []
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
        wr = None
        dinfo = None
        if srule is None or srule == "static":
            model = f"static_p{pi}"
            nest.CopyModel("static_synapse", model)
            syn = {k: ref.check_const(v, f"projection {pi} synapse.{k}") for k, v in syn_in.items()}
        elif srule == "stdp_dopamine":
            da_pop = syn_in.pop("dopamine")
            da_delay = float(syn_in.pop("dopamine_delay", DEFAULT_DOPAMINE_DELAY))
            common = {k: float(syn_in.pop(k)) for k in COMMON if k in syn_in}
            syn = {k: ref.check_const(v, f"projection {pi} synapse.{k}") for k, v in syn_in.items()}
            if set(syn) - {"weight", "delay"}:
                raise ValueError(f"{name}: projection {pi}: unknown synapse keys {sorted(set(syn) - {'weight', 'delay'})}")
            vt = nest.Create("volume_transmitter")
            nest.Connect(nodes[da_pop], vt, syn_spec={"synapse_model": "static_synapse",
                                                      "weight": 1.0, "delay": da_delay})
            wr = nest.Create("weight_recorder")
            model = f"stdp_dopamine_synapse_p{pi}"
            nest.CopyModel("stdp_dopamine_synapse", model,
                           dict(common, volume_transmitter=vt, weight_recorder=wr))
            dinfo = {"population": da_pop, "dopamine_delay": da_delay, "vt": vt,
                     "tau_n": nest.GetDefaults(model, "tau_n")}
        else:
            raise ValueError(f"{name}: synapse rule {srule!r} not supported")
        syn["synapse_model"] = model
        for s in srcs:
            for t in tgts:
                nest.Connect(nodes[s], nodes[t], conn_spec=conn, syn_spec=syn)
        projs.append((src_nc, tgt_nc, model, wr, dinfo))

    rec_delay = min(case_delays(desc))
    recs = {}
    for pname, nc in nodes.items():
        sr = nest.Create("spike_recorder")
        nest.Connect(nc, sr, syn_spec={"delay": rec_delay})
        recs[pname] = (sr, nc[0].global_id)
    return pops, nodes, expected, projs, recs, rec_delay


def conn_table(projs, pi):
    """[(source idx, target idx, {key: value})] sorted by (source, target)."""
    src_nc, tgt_nc, model, _, dinfo = projs[pi]
    keys = ["weight"] if dinfo is None else ["weight", "c", "n", "Kplus"]
    sidx = {g: i for i, g in enumerate(src_nc.tolist())}
    tidx = {g: i for i, g in enumerate(tgt_nc.tolist())}
    cs = nest.GetConnections(source=src_nc, target=tgt_nc, synapse_model=model)
    st = cs.get(["source", "target"] + keys)
    rows = [(sidx[st["source"][j]], tidx[st["target"][j]], {k: float(st[k][j]) for k in keys})
            for j in range(len(st["source"]))]
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def run_case(path):
    with open(path, "rb") as f:
        desc = tomllib.load(f)
    name = os.path.splitext(os.path.basename(path))[0]
    dt = float(desc.get("network", {}).get("dt", 0.1))
    duration = float(desc["run"]["duration"])

    pops, nodes, expected, projs, recs, rec_delay = build(desc, name)
    plastic = {pi for pi, p in enumerate(projs) if p[4] is not None}

    rw = desc.get("record_weights", [])
    snaps = {}
    for r in rw:
        pi = int(r["projection"])
        if pi in snaps:
            raise ValueError(f"{name}: projection {pi} recorded twice")
        iv = r.get("interval")
        snaps[pi] = snapshot_times(None if iv is None else float(iv), duration, dt)
    all_t = sorted({t for ts in snaps.values() for t in ts} | {duration})

    # NEST updates min_delay at every Connect, so it is final here
    md = nest.min_delay
    if abs(md - rec_delay) > EPS:
        raise AssertionError(f"{name}: nest.min_delay {md} != smallest delay {rec_delay}")
    n_md = int(round(md / dt))
    for t in all_t:
        if int(round(t / dt)) % n_md:
            raise ValueError(f"{name}: snapshot time {t} is not a multiple of min_delay {md}")

    out_w = {}
    for pi in snaps:
        rows = conn_table(projs, pi)
        out_w[str(pi)] = {"times": [], "sources": [r[0] for r in rows], "targets": [r[1] for r in rows],
                          "values": []}
        if pi in plastic:
            out_w[str(pi)].update({"c": [], "n": [], "Kplus": []})
    t_now = 0.0
    for t in all_t:
        if t - t_now > EPS:
            nest.Simulate(round(t - t_now, 9))
            t_now = t
        for pi, ts in snaps.items():
            if any(abs(t - x) < EPS for x in ts):
                rows = conn_table(projs, pi)
                d = out_w[str(pi)]
                assert [r[0] for r in rows] == d["sources"] and [r[1] for r in rows] == d["targets"]
                d["times"].append(t)
                d["values"].append([r[2]["weight"] for r in rows])
                if pi in plastic:
                    for k in ("c", "n", "Kplus"):
                        d[k].append([r[2][k] for r in rows])

    out = {"case": name, "nest_version": nest.__version__, "dt": dt, "duration": duration,
           "min_delay": md, "max_delay": nest.max_delay, "spikes": {}, "weights": out_w,
           "weight_events": {}, "dopamine": {}}

    # spikes + check of the imposed trains
    spk = {}
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
        spk[pname] = got
        for i in range(pops[pname]["size"]):
            want = sorted(s for s in expected[pname].get(i, set()) if s * dt <= duration + EPS)
            have = sorted(got.get(i, []))
            if want != have:
                raise AssertionError(f"{name}: {pname}[{i}] spikes (steps) {have} != imposed {want}")

    # dopamine arrival times at the volume transmitters + check against n
    for pi, (_, _, model, wr, dinfo) in enumerate(projs):
        if dinfo is None:
            continue
        dd = int(round(dinfo["dopamine_delay"] / dt))
        mult = {}
        for s, steps in spk[dinfo["population"]].items():
            for st in steps:
                mult[st + dd] = mult.get(st + dd, 0) + 1
        arr = sorted(mult)
        out["dopamine"][str(pi)] = {"population": dinfo["population"],
                                    "dopamine_delay": dinfo["dopamine_delay"],
                                    "times": [round(a * dt, 9) for a in arr],
                                    "multiplicities": [mult[a] for a in arr]}
        if str(pi) in out_w:
            d = out_w[str(pi)]
            tau_n = dinfo["tau_n"]
            for t, ns in zip(d["times"], d["n"]):
                T = int(round(t / dt))
                want = sum(mult[a] / tau_n * math.exp(-(T - a) * dt / tau_n) for a in arr if a <= T)
                for v in ns:
                    if abs(v - want) > 1e-12 * max(abs(want), 1e-3):
                        raise AssertionError(f"{name}: projection {pi} n({t}) = {v} != {want} "
                                             "(DA counted at spike time + dopamine_delay)")

    # weight_recorder events
    for pi, (src_nc, tgt_nc, model, wr, dinfo) in enumerate(projs):
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

    # the same run in one piece must end in the same state
    _, _, _, projs1, _, _ = build(desc, name)
    nest.Simulate(duration)
    for pi in snaps:
        rows = conn_table(projs1, pi)
        d = out_w[str(pi)]
        one = [r[2]["weight"] for r in rows]
        if one != d["values"][-1]:
            raise AssertionError(f"{name}: projection {pi}: one Simulate({duration}) gives {one}, "
                                 f"pieces give {d['values'][-1]}")
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
        print(f"{name}: min_delay {out['min_delay']} spikes {nsp} weights {nw} -> "
              f"{os.path.relpath(dst)} ({os.path.getsize(dst) // 1024} KiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
