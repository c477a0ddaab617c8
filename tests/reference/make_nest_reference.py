#!/usr/bin/env python3
"""Generate NEST reference data for the renshaw test cases.

Reads every ``tests/reference/cases/*.toml`` (renshaw description format, see
``docs/description.md``), builds the equivalent NEST network, simulates
``run.duration`` ms and writes ``tests/reference/data/<case>.json``.

Usage (from the repository root):

    python3 tests/reference/make_nest_reference.py            # all cases
    python3 tests/reference/make_nest_reference.py net_psc_exp  # some cases

Only the deterministic subset of the format is supported (constant init,
constant weights/delays, rules all_to_all and one_to_one, stimuli
spike_times / dc / step_current). Anything else raises an error.

Mapping to NEST:
  * populations    -> nest.Create(model, size, params), then V_m etc. from init
  * spike_times    -> one spike_generator per target neuron, static_synapse
                      with the stimulus' weight and delay
  * dc             -> one dc_generator (amplitude, start, stop)
  * step_current   -> one step_current_generator (amplitude_times/values)
                      Current stimuli are connected with the optional
                      `synapse` table (weight, delay); without it weight = 1.0
                      and delay = dt (the smallest possible NEST delay).
  * projections    -> nest.Connect(..., conn_spec, static_synapse(weight, delay))
  * record         -> spike_recorder and/or multimeter(interval, record_from)

NEST's multimeter delivers the samples of the last min_delay slice only after
the next Simulate call, so we simulate `duration + min_delay` and drop all
events with time > duration.
"""

import json
import os
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
DATA = os.path.join(HERE, "data")

os.environ.setdefault("PYNEST_QUIET", "1")
import nest  # noqa: E402

try:
    nest.verbosity = nest.VerbosityLevel.ERROR
except AttributeError:  # older NEST
    nest.set_verbosity("M_ERROR")

# tolerance for "time <= duration" (times are multiples of dt in double)
EPS = 1e-9


def resolve_populations(desc):
    """Resolve `like` and return {name: dict(model, size, params, init)} in file order."""
    raw = desc.get("populations", {})
    out = {}

    def get(name, stack=()):
        if name in out:
            return out[name]
        if name in stack:
            raise ValueError(f"cyclic `like` at population {name}")
        p = raw[name]
        base = {}
        if "like" in p:
            base = dict(get(p["like"], stack + (name,)))
        res = dict(base)
        for k, v in p.items():
            if k == "like":
                continue
            res[k] = v
        for k in ("model", "size"):
            if k not in res:
                raise ValueError(f"population {name}: missing {k}")
        res.setdefault("params", {})
        res.setdefault("init", {})
        out[name] = res
        return res

    for name in raw:
        get(name)
    return {name: out[name] for name in raw}


def check_const(x, what):
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    raise ValueError(f"{what}: only constant numbers are supported in reference cases, got {x!r}")


def target_neurons(targets, pops, nodes):
    """Return list of (pop_name, local_index, NodeCollection of 1) for a targets spec."""
    res = []
    if isinstance(targets, str):
        targets = [targets]
    if isinstance(targets, dict):
        name = targets["population"]
        idx = targets.get("neurons", list(range(pops[name]["size"])))
        for i in idx:
            res.append((name, i, nodes[name][i]))
        return res
    for name in targets:
        for i in range(pops[name]["size"]):
            res.append((name, i, nodes[name][i]))
    return res


def connect_each(src, neurons, syn):
    for (_, _, n) in neurons:
        nest.Connect(src, n, syn_spec=syn)


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

    pops = resolve_populations(desc)
    nodes = {}
    for pname, p in pops.items():
        params = {k: check_const(v, f"{pname}.params.{k}") for k, v in p["params"].items()}
        nc = nest.Create(p["model"], int(p["size"]), params=params)
        init = {k: check_const(v, f"{pname}.init.{k} (random init not supported)") for k, v in p["init"].items()}
        if init:
            nc.set(init)
        nodes[pname] = nc

    for si, st in enumerate(desc.get("stimuli", [])):
        kind = st["kind"]
        neurons = target_neurons(st["targets"], pops, nodes)
        if kind == "spike_times":
            syn = {"synapse_model": "static_synapse",
                   "weight": check_const(st["synapse"]["weight"], "weight"),
                   "delay": check_const(st["synapse"]["delay"], "delay")}
            if "spike_times" in st:
                lists = st["spike_times"]
                if len(lists) != len(neurons):
                    raise ValueError(f"{name}: stimulus {si}: {len(lists)} spike lists for {len(neurons)} targets")
            else:
                lists = [st["times"]] * len(neurons)
            for (_, _, n), times in zip(neurons, lists):
                if not times:
                    continue
                sg = nest.Create("spike_generator", params={"spike_times": [float(t) for t in times]})
                nest.Connect(sg, n, syn_spec=syn)
        elif kind in ("dc", "step_current"):
            # renshaw's current stimuli take a `delay` (default dt), the
            # delay of NEST's device connection; the weight stays 1.
            syn = {"synapse_model": "static_synapse",
                   "weight": 1.0,
                   "delay": check_const(st.get("delay", dt), "delay")}
            if kind == "dc":
                gp = {"amplitude": float(st["amplitude"])}
                if "start" in st:
                    gp["start"] = float(st["start"])
                if "stop" in st:
                    gp["stop"] = float(st["stop"])
                gen = nest.Create("dc_generator", params=gp)
            else:
                gp = {"amplitude_times": [float(t) for t in st["times"]],
                      "amplitude_values": [float(a) for a in st["amplitudes"]]}
                if "start" in st:
                    gp["start"] = float(st["start"])
                if "stop" in st:
                    gp["stop"] = float(st["stop"])
                gen = nest.Create("step_current_generator", params=gp)
            connect_each(gen, neurons, syn)
        else:
            raise ValueError(f"{name}: stimulus kind {kind!r} not supported (not deterministic)")

    for pj in desc.get("projections", []):
        srcs = pj["from"] if isinstance(pj["from"], list) else [pj["from"]]
        tgts = pj["to"] if isinstance(pj["to"], list) else [pj["to"]]
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
        syn = {"synapse_model": "static_synapse",
               "weight": check_const(pj["synapse"]["weight"], "weight"),
               "delay": check_const(pj["synapse"]["delay"], "delay")}
        for s in srcs:
            for t in tgts:
                nest.Connect(nodes[s], nodes[t], conn_spec=conn, syn_spec=syn)

    recorders = []  # (pop, kind, device, first_gid, vars)
    for rec in desc.get("record", []):
        pname = rec["population"]
        nc = nodes[pname]
        if "neurons" in rec:
            sub = nest.NodeCollection(sorted(nc[i].global_id for i in rec["neurons"]))
        else:
            sub = nc
        first = nc[0].global_id
        if rec.get("spikes", False):
            sr = nest.Create("spike_recorder")
            nest.Connect(sub, sr)
            recorders.append((pname, "spikes", sr, first, None))
        state = rec.get("state", [])
        if state:
            interval = float(rec.get("interval", dt))
            mm = nest.Create("multimeter", params={"interval": interval, "record_from": list(state)})
            nest.Connect(mm, sub)
            recorders.append((pname, "state", mm, first, list(state)))

    nest.Simulate(duration)
    nest.Simulate(nest.min_delay)  # flush multimeter samples of the last slice

    out = {"case": name, "nest_version": nest.__version__, "dt": dt,
           "duration": duration, "spikes": {}, "state": {}}
    for pname, kind, dev, first, vars_ in recorders:
        ev = dev.get("events")
        times = [float(t) for t in ev["times"]]
        senders = [int(s) - first for s in ev["senders"]]
        keep = [i for i, t in enumerate(times) if t <= duration + EPS]
        if kind == "spikes":
            order = sorted(keep, key=lambda i: (times[i], senders[i]))
            d = out["spikes"].setdefault(pname, {"senders": [], "times": []})
            d["senders"] += [senders[i] for i in order]
            d["times"] += [round(times[i], 9) for i in order]
        else:
            order = sorted(keep, key=lambda i: (times[i], senders[i]))
            pst = out["state"].setdefault(pname, {})
            for v in vars_:
                if v in pst:
                    raise ValueError(f"{name}: {pname}.{v} recorded twice")
                vals = ev[v]
                pst[v] = {"times": [round(times[i], 9) for i in order],
                          "senders": [senders[i] for i in order],
                          "values": [float(vals[i]) for i in order]}
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
        print(f"{name}: spikes {nsp}  -> {os.path.relpath(dst)} ({os.path.getsize(dst) // 1024} KiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
