#!/usr/bin/env python3
"""Generate NEST reference statistics for renshaw (tests/nest_statistics.rs).

Reads every ``tests/reference/stats/cases/*.toml`` (renshaw description
format, see ``docs/description.md``), builds the equivalent NEST network and
writes ``tests/reference/stats/data/<case>.json``.

Two kinds of case:

* **f-I cases** (no Poisson stimulus): deterministic. One NEST run; the
  spike count and spike times of every recorded neuron are stored. Each case
  is re-run with every V_th shifted by +-1e-6 mV to check that no spike is a
  borderline threshold crossing (then renshaw must match exactly).
* **Poisson cases** (any ``poisson`` stimulus): NEST's and renshaw's random
  streams differ, so only statistics are stored. The case is run with
  ``N_SEEDS`` NEST seeds (``network.seed + k``, k = 0..N_SEEDS-1); per seed we
  store per population the mean rate over neurons, the across-neuron standard
  deviation of the rates, and the mean CV of ISI (neurons with >= 3 spikes,
  population std / mean, as renshaw's ``summary.json``); then the mean and
  the seed-to-seed standard deviation (ddof = 1) of each.

Usage (from the repository root):

    python3 tests/reference/stats/make_nest_stats.py                 # all cases
    python3 tests/reference/stats/make_nest_stats.py poisson_delta   # some

Mapping to NEST (same conventions as tests/reference/make_nest_reference.py):

  * populations -> nest.Create(model, size, params); `like` copies model,
    params, init and size, and `params` / `init` merge key by key (renshaw's
    rule). Only constant params / init are supported.
  * poisson      -> ONE poisson_generator(rate, start, stop) connected
                    all_to_all to the targets with static_synapse(weight,
                    delay): NEST sends an independent train to every target
                    (renshaw's semantics); several spikes in one step arrive
                    as one event with multiplicity, i.e. weight * count.
  * dc           -> dc_generator(amplitude, start, stop), static_synapse
                    weight 1.0, delay = the stimulus' `delay` (default dt).
  * record       -> spike_recorder (only spikes are supported here).
  * nest.ResetKernel() per run, resolution = dt, local_num_threads = 1.
"""

import json
import math
import os
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
DATA = os.path.join(HERE, "data")
N_SEEDS = 5
VTH_SHIFT = 1e-6  # mV, robustness check of deterministic cases

os.environ.setdefault("PYNEST_QUIET", "1")
import nest  # noqa: E402

try:
    nest.verbosity = nest.VerbosityLevel.ERROR
except AttributeError:  # older NEST
    nest.set_verbosity("M_ERROR")

EPS = 1e-9


def resolve_populations(desc):
    """{name: dict(model, size, params, init)} in file order, `like` resolved (merging tables)."""
    raw = desc.get("populations", {})
    out = {}

    def get(name, stack=()):
        if name in out:
            return out[name]
        if name in stack:
            raise ValueError(f"cyclic `like` at population {name}")
        p = raw[name]
        res = {"params": {}, "init": {}}
        if "like" in p:
            base = get(p["like"], stack + (name,))
            res = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        for k, v in p.items():
            if k == "like":
                continue
            if k in ("params", "init"):
                res[k].update(v)
            else:
                res[k] = v
        for k in ("model", "size"):
            if k not in res:
                raise ValueError(f"population {name}: missing {k}")
        out[name] = res
        return res

    for name in raw:
        get(name)
    return {name: out[name] for name in raw}


def const(x, what):
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    raise ValueError(f"{what}: only constant numbers are supported, got {x!r}")


def targets_of(targets, pops, nodes):
    """NodeCollection list (one per target spec entry) in target order."""
    if isinstance(targets, (str, dict)):
        targets = [targets]
    res = []
    for t in targets:
        if isinstance(t, str):
            res.append(nodes[t])
        else:
            name = t["population"]
            idx = t.get("neurons", list(range(int(pops[name]["size"]))))
            for i in idx:
                res.append(nodes[name][i])
    return res


def build_and_run(desc, seed, vth_shift=0.0):
    net = desc.get("network", {})
    dt = float(net.get("dt", 0.1))
    duration = float(desc["run"]["duration"])
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": dt, "local_num_threads": 1,
                          "rng_seed": max(int(seed), 1) % (2**32 - 1)})
    pops = resolve_populations(desc)
    nodes = {}
    for pname, p in pops.items():
        params = {k: const(v, f"{pname}.params.{k}") for k, v in p["params"].items()}
        nc = nest.Create(p["model"], int(p["size"]), params=params)
        init = {k: const(v, f"{pname}.init.{k}") for k, v in p["init"].items()}
        if init:
            nc.set(init)
        if vth_shift:
            nc.set({"V_th": nc[0].get("V_th") + vth_shift})
        nodes[pname] = nc

    for si, st in enumerate(desc.get("stimuli", [])):
        kind = st["kind"]
        tg = targets_of(st["targets"], pops, nodes)
        window = {k: float(st[k]) for k in ("start", "stop") if k in st}
        if kind == "poisson":
            gen = nest.Create("poisson_generator", params={"rate": float(st["rate"]), **window})
            syn = {"synapse_model": "static_synapse",
                   "weight": const(st["synapse"]["weight"], "weight"),
                   "delay": const(st["synapse"].get("delay", dt), "delay")}
        elif kind == "dc":
            gen = nest.Create("dc_generator", params={"amplitude": float(st["amplitude"]), **window})
            syn = {"synapse_model": "static_synapse", "weight": 1.0,
                   "delay": const(st.get("delay", dt), "delay")}
        else:
            raise ValueError(f"stimulus {si}: kind {kind!r} not supported here")
        for nc in tg:
            nest.Connect(gen, nc, conn_spec={"rule": "all_to_all"}, syn_spec=syn)

    if desc.get("projections"):
        raise ValueError("projections are not supported in statistics cases")

    recorders = []
    for rec in desc.get("record", []):
        if rec.get("state"):
            raise ValueError("only spike recording is supported in statistics cases")
        if not rec.get("spikes", True):
            continue
        pname = rec["population"]
        nc = nodes[pname]
        idx = rec.get("neurons", list(range(int(pops[pname]["size"]))))
        sub = nest.NodeCollection(sorted(nc[i].global_id for i in idx))
        sr = nest.Create("spike_recorder")
        nest.Connect(sub, sr)
        recorders.append((pname, sr, nc[0].global_id, sorted(idx)))

    nest.Simulate(duration)

    result = {}
    for pname, sr, first, idx in recorders:
        ev = sr.get("events")
        trains = {i: [] for i in idx}
        for s, t in zip(ev["senders"], ev["times"]):
            if t <= duration + EPS:
                trains[int(s) - first].append(round(float(t), 9))
        for i in trains:
            trains[i].sort()
        result[pname] = trains
    return dt, duration, result


def mean(xs):
    return sum(xs) / len(xs)


def pstd(xs):
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def sstd(xs):
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def cv_isi(ts):
    isi = [b - a for a, b in zip(ts, ts[1:])]
    return pstd(isi) / mean(isi)


def fi_case(name, desc):
    seed = int(desc.get("network", {}).get("seed", 0))
    dt, duration, res = build_and_run(desc, seed)
    out = {"case": name, "kind": "fi", "nest_version": nest.__version__, "dt": dt,
           "duration": duration, "populations": {}}
    for pname, trains in res.items():
        out["populations"][pname] = {
            "neurons": list(trains),
            "counts": [len(trains[i]) for i in trains],
            "times": [trains[i] for i in trains],
        }
    robust = True
    for shift in (-VTH_SHIFT, VTH_SHIFT):
        _, _, r2 = build_and_run(desc, seed, vth_shift=shift)
        if r2 != res:
            robust = False
            print(f"  WARNING {name}: V_th shift {shift:+g} mV changes spike times")
    out["robust_vth_shift_mV"] = VTH_SHIFT if robust else None
    counts = {p: d["counts"] for p, d in out["populations"].items()}
    return out, f"counts {counts} robust={robust}"


def poisson_case(name, desc):
    seed0 = int(desc.get("network", {}).get("seed", 0))
    seeds = [max(seed0, 1) + k for k in range(N_SEEDS)]
    per_seed = {}
    dt = duration = None
    for s in seeds:
        dt, duration, res = build_and_run(desc, s)
        for pname, trains in res.items():
            rates = [len(t) / (duration * 1e-3) for t in trains.values()]
            cvs = [cv_isi(t) for t in trains.values() if len(t) >= 3]
            per_seed.setdefault(pname, []).append({
                "seed": s,
                "mean_rate": mean(rates),
                "std_rate": pstd(rates),
                "mean_cv_isi": mean(cvs) if cvs else None,
                "neurons_with_cv": len(cvs),
                "silent_neurons": sum(1 for t in trains.values() if not t),
            })
    out = {"case": name, "kind": "poisson", "nest_version": nest.__version__, "dt": dt,
           "duration": duration, "seeds": seeds, "populations": {}}
    msg = []
    for pname, rows in per_seed.items():
        d = {}
        for key in ("mean_rate", "std_rate", "mean_cv_isi"):
            xs = [r[key] for r in rows]
            d[key] = mean(xs)
            d[key + "_seed_std"] = sstd(xs)
        d["per_seed"] = rows
        out["populations"][pname] = d
        msg.append(f"{pname}: rate {d['mean_rate']:.3f} +- {d['mean_rate_seed_std']:.3f} Hz "
                   f"(std over neurons {d['std_rate']:.3f}), CV {d['mean_cv_isi']:.4f} "
                   f"+- {d['mean_cv_isi_seed_std']:.4f}")
    return out, "; ".join(msg)


def main(argv):
    os.makedirs(DATA, exist_ok=True)
    files = sorted(f for f in os.listdir(CASES) if f.endswith(".toml"))
    if argv:
        want = {os.path.splitext(os.path.basename(a))[0] for a in argv}
        files = [f for f in files if os.path.splitext(f)[0] in want]
    for f in files:
        name = os.path.splitext(f)[0]
        with open(os.path.join(CASES, f), "rb") as fh:
            desc = tomllib.load(fh)
        if any(st["kind"] == "poisson" for st in desc.get("stimuli", [])):
            out, msg = poisson_case(name, desc)
        else:
            out, msg = fi_case(name, desc)
        dst = os.path.join(DATA, name + ".json")
        with open(dst, "w") as fh:
            if out["kind"] == "fi":
                json.dump(out, fh, separators=(",", ":"))
            else:
                json.dump(out, fh, indent=1)
            fh.write("\n")
        print(f"{name}: {msg}")


if __name__ == "__main__":
    main(sys.argv[1:])
