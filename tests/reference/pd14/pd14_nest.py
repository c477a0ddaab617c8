#!/usr/bin/env python3
"""NEST reference statistics for the Potjans & Diesmann (2014) microcircuit.

Builds the microcircuit in NEST 3.10 from the model as documented in
docs/pd14.md (numbers from INM-6/microcircuit-PD14-model, each cited there),
with the number of neurons scaled by --n-scaling and full in-degrees
(K_scaling = 1), simulates a warm-up of 500 ms and then T ms, and writes
per-population statistics of the recorded window to a JSON file.

Usage (from the repository root):

    python3 tests/reference/pd14/pd14_nest.py --n-scaling 0.05 --seeds 1 2 3
    python3 tests/reference/pd14/pd14_nest.py --n-scaling 0.1 --seeds 1 --threads 2 -o /tmp/x.json
    python3 tests/reference/pd14/pd14_nest.py --combine /tmp/a.json /tmp/b.json -o out.json

Each seed runs in a fresh Python process, so every timing includes the same
one-off costs. Statistics per population (window (t_presim, t_presim + T]):

  * rate_hz: spikes / (N * T), all N neurons (silent ones count)
  * rate_sd_hz: standard deviation of the single-neuron rates (ddof = 0)
  * cv_isi: mean over neurons with >= 3 spikes of std(ISI) / mean(ISI)
  * cc: mean Pearson correlation of spike counts in 2 ms bins over all pairs
    of the first min(200, N) neurons of the population (pairs with a silent
    neuron have no correlation and are left out; their number is recorded)
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# ---------------------------------------------------------------------------
# Model numbers. Source of each (file and variable of
# INM-6/microcircuit-PD14-model, PyNEST/src/microcircuit/) in docs/pd14.md.
# ---------------------------------------------------------------------------
POPS = ["L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]
N_FULL = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
# connection probabilities, [target, source]
CONN_PROBS = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
])
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
BG_RATE = 8.0            # Hz per external input
DELAY_POISSON = 1.5      # ms
PSP_EXC = 0.15           # mV
G = -4.0
WEIGHT_REL_SD = 0.1
DELAY_EXC, DELAY_INH, DELAY_REL_SD = 1.5, 0.75, 0.5
V0_MEAN = [-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43]
V0_SD = [5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48]
NEURON = {"C_m": 250.0, "tau_m": 10.0, "tau_syn_ex": 0.5, "tau_syn_in": 0.5,
          "E_L": -65.0, "V_th": -50.0, "V_reset": -65.0, "t_ref": 2.0}
DT = 0.1
T_PRESIM = 500.0
CC_NEURONS = 200
CC_BIN = 2.0


def psc_per_psp(C_m, tau_m, tau_s):
    """pA of PSC amplitude per mV of PSP peak, for iaf_psc_exp.

    A current J exp(-t/tau_s) gives the PSP
    v(t) = J tau_m tau_s / (C_m (tau_m - tau_s)) (exp(-t/tau_m) - exp(-t/tau_s)),
    which peaks at t* = tau_m tau_s ln(tau_m / tau_s) / (tau_m - tau_s).
    Same value as helpers.postsynaptic_potential_to_current of the reference.
    """
    t_peak = tau_m * tau_s * np.log(tau_m / tau_s) / (tau_m - tau_s)
    v_per_pa = (tau_m * tau_s / (C_m * (tau_m - tau_s))
                * (np.exp(-t_peak / tau_m) - np.exp(-t_peak / tau_s)))
    return 1.0 / v_per_pa


def full_synapse_numbers():
    """Total synapse numbers of the full-scale model: the number of draws with
    replacement from N_post * N_pre pairs after which a given pair is connected
    with probability C: ln(1 - C) / ln(1 - 1 / (N_post N_pre))."""
    prod = np.outer(N_FULL, N_FULL).astype(float)
    return np.log(1.0 - CONN_PROBS) / np.log((prod - 1.0) / prod)


def derived(scale):
    w_per_psp = psc_per_psp(NEURON["C_m"], NEURON["tau_m"], NEURON["tau_syn_ex"])
    psp = np.full((8, 8), PSP_EXC)
    psp[:, 1::2] = PSP_EXC * G
    psp[0, 2] = 2.0 * PSP_EXC          # L4E -> L23E doubled
    delay = np.full((8, 8), DELAY_EXC)
    delay[:, 1::2] = DELAY_INH
    return {
        "n": np.round(N_FULL * scale).astype(int),
        "n_syn": np.round(full_synapse_numbers() * scale).astype(int),  # K_scaling = 1
        "w": psp * w_per_psp,
        "w_ext": PSP_EXC * w_per_psp,
        "delay": delay,
        "dc": BG_RATE * K_EXT * PSP_EXC * w_per_psp * NEURON["tau_syn_ex"] * 1e-3,
    }


def pop_stats(senders, times, n, t0, t1):
    """Rate, CV ISI and spike-count correlation of one population.
    senders: 0-based local indices; spikes in (t0, t1]."""
    m = (times > t0) & (times <= t1)
    s, t = senders[m].astype(np.int64), times[m]
    T = (t1 - t0) * 1e-3
    counts = np.bincount(s, minlength=n)
    rates = counts / T
    order = np.lexsort((t, s))
    s, t = s[order], t[order]
    cvs = []
    for ts in np.split(t, np.flatnonzero(np.diff(s)) + 1):
        if len(ts) >= 3:
            isi = np.diff(ts)
            cvs.append(isi.std() / isi.mean())
    k = min(CC_NEURONS, n)
    edges = t0 + CC_BIN * np.arange(int(round((t1 - t0) / CC_BIN)) + 1)
    sel = s < k
    binned = np.zeros((k, len(edges) - 1))
    for i in range(k):
        binned[i] = np.histogram(t[sel][s[sel] == i], edges)[0]
    active = binned.std(axis=1) > 0
    cc = np.corrcoef(binned[active]) if active.sum() >= 2 else np.zeros((0, 0))
    iu = np.triu_indices(cc.shape[0], 1)
    ccs = cc[iu]
    return {
        "rate_hz": float(rates.mean()),
        "rate_sd_hz": float(rates.std()),
        "silent_fraction": float(np.mean(counts == 0)),
        "cv_isi": float(np.mean(cvs)) if cvs else float("nan"),
        "n_cv_neurons": len(cvs),
        "cc": float(ccs.mean()) if len(ccs) else float("nan"),
        "cc_sd": float(ccs.std()) if len(ccs) else float("nan"),
        "cc_neurons": k,
        "cc_pairs": int(len(ccs)),
        "n_spikes": int(len(t)),
    }


def run(scale, seed, threads, t_sim, bg):
    import nest
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:
        nest.set_verbosity("M_ERROR")
    d = derived(scale)
    load_before = os.getloadavg()[0]
    nest.ResetKernel()
    t_start = time.perf_counter()
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": threads,
                          "rng_seed": seed, "print_time": False})
    pops = []
    for i in range(8):
        p = nest.Create("iaf_psc_exp", d["n"][i], params=dict(
            NEURON, I_e=float(d["dc"][i]) if bg == "dc" else 0.0))
        p.V_m = nest.random.normal(mean=V0_MEAN[i], std=V0_SD[i])
        pops.append(p)
    recs = nest.Create("spike_recorder", 8)
    if bg == "poisson":
        gens = nest.Create("poisson_generator", 8)
        gens.rate = list(BG_RATE * K_EXT)
    n_syn_made = np.zeros((8, 8), dtype=int)
    for i, post in enumerate(pops):
        for j, pre in enumerate(pops):
            n = int(d["n_syn"][i, j])
            if n == 0:  # connection probability 0
                continue
            w, dl = d["w"][i, j], d["delay"][i, j]
            weight = nest.math.redraw(
                nest.random.normal(mean=w, std=abs(w) * WEIGHT_REL_SD),
                min=0.0 if w > 0 else -np.inf, max=np.inf if w > 0 else 0.0)
            # delays below 0.5 dt are redrawn; 0.05 <= d < 0.15 rounds to 0.1
            delay = nest.math.redraw(
                nest.random.normal(mean=dl, std=dl * DELAY_REL_SD),
                min=0.5 * DT, max=np.inf)
            nest.Connect(pre, post,
                         {"rule": "fixed_total_number", "N": n,
                          "allow_autapses": True, "allow_multapses": True},
                         {"synapse_model": "static_synapse", "weight": weight,
                          "delay": delay})
            n_syn_made[i, j] = n
        nest.Connect(post, recs[i])
        if bg == "poisson":
            nest.Connect(gens[i], post, "all_to_all",
                         {"synapse_model": "static_synapse", "weight": d["w_ext"],
                          "delay": DELAY_POISSON})
    # build the presynaptic connection infrastructure now, as the reference
    # implementation does (network.py, connect()), so it counts as build time
    nest.Prepare()
    nest.Cleanup()
    t_built = time.perf_counter()
    nest.Simulate(T_PRESIM)
    t_presim = time.perf_counter()
    nest.Simulate(t_sim)
    t_sim_done = time.perf_counter()

    ks = nest.GetKernelStatus()
    out = {"seed": seed, "n_scaling": scale, "bg_input": bg}
    for i, name in enumerate(POPS):
        ev = recs[i].get("events")
        senders = np.asarray(ev["senders"]) - pops[i][0].global_id
        times = np.asarray(ev["times"], dtype=float)
        out[name] = pop_stats(senders, times, int(d["n"][i]), T_PRESIM, T_PRESIM + t_sim)
        out[name]["rate_hz_presim"] = float(np.sum(times <= T_PRESIM) / (d["n"][i] * T_PRESIM * 1e-3))
    out["num_neurons"] = int(d["n"].sum())
    out["num_connections"] = int(ks["num_connections"])
    out["num_recurrent_synapses"] = int(n_syn_made.sum())
    out["wall_s"] = {"build": t_built - t_start, "presimulate": t_presim - t_built,
                     "simulate": t_sim_done - t_presim, "total": t_sim_done - t_start}
    out["nest_kernel_timers_s"] = {k: float(np.max(ks[k])) for k in (
        "time_construction_create", "time_construction_connect", "time_simulate",
        "time_construction_create_cpu", "time_construction_connect_cpu",
        "time_simulate_cpu", "time_communicate_prepare") if k in ks}
    try:
        import resource
        out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except Exception:  # noqa: BLE001
        pass
    out["loadavg_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return out


def report(r):
    w = r["wall_s"]
    rates = " ".join(f"{p} {r[p]['rate_hz']:.2f}" for p in POPS)
    print(f"scale {r['n_scaling']} seed {r['seed']}: {rates} Hz | build {w['build']:.1f} s, "
          f"presim {w['presimulate']:.1f} s, sim {w['simulate']:.1f} s"
          f"{'' if timing_clean(r) else ' (timing disturbed)'}", flush=True)


def check_toml(path, scale):
    """Assert that a literal renshaw description (scripts/pd14_description.py
    --literal) has this script's sizes, synapse numbers and weights."""
    try:
        import tomllib
    except ImportError:
        print("note: no tomllib, not checking", path)
        return
    if not os.path.exists(path):
        print("note: not found, not checking:", path)
        return
    with open(path, "rb") as f:
        desc = tomllib.load(f)
    d = derived(scale)
    first = desc["populations"][POPS[0]]
    assert first["model"] == "iaf_psc_exp"
    assert first["params"] == dict(NEURON, I_e=0.0), first["params"]
    for i, p in enumerate(POPS):
        pop = desc["populations"][p]
        assert pop["size"] == d["n"][i], (p, pop["size"], d["n"][i])
        assert i == 0 or (pop["like"] == POPS[0] and pop["params"] == {"I_e": 0.0})
        assert pop["init"]["V_m"]["normal"] == {"mean": V0_MEAN[i], "std": V0_SD[i]}
    seen = 0
    for pr in desc["projections"]:
        i, j = POPS.index(pr["to"]), POPS.index(pr["from"])
        assert pr["connect"]["n"] == d["n_syn"][i, j], (pr["from"], pr["to"])
        w = pr["synapse"]["weight"]["normal_clipped"]
        assert abs(w["mean"] - d["w"][i, j]) < 1e-9 * abs(d["w"][i, j]), (pr, d["w"][i, j])
        assert abs(w["std"] - abs(w["mean"]) * WEIGHT_REL_SD) < 1e-9 * abs(w["mean"])
        assert w.get("min", -np.inf) == (0.0 if w["mean"] > 0 else -np.inf)
        assert w.get("max", np.inf) == (np.inf if w["mean"] > 0 else 0.0)
        dl = pr["synapse"]["delay"]["normal_clipped"]
        assert dl["mean"] == d["delay"][i, j] and dl["std"] == dl["mean"] * DELAY_REL_SD
        assert dl["min"] == 0.5 * DT and dl["max"] >= dl["mean"] + 10 * dl["std"], dl
        seen += 1
    assert seen == int((d["n_syn"] > 0).sum())
    for st in desc["stimuli"]:
        i = POPS.index(st["targets"])
        assert abs(st["rate"] - BG_RATE * K_EXT[i]) < 1e-9
        assert abs(st["synapse"]["weight"] - d["w_ext"]) < 1e-9
    print(f"{os.path.relpath(path, ROOT)} agrees with this script at scale {scale}")


def summarize(runs):
    keys = ("rate_hz", "rate_sd_hz", "cv_isi", "cc", "silent_fraction")
    mean, spread = {}, {}
    for p in POPS:
        mean[p] = {k: float(np.mean([r[p][k] for r in runs])) for k in keys}
        spread[p] = {k: {"std": float(np.std([r[p][k] for r in runs], ddof=1)) if len(runs) > 1 else 0.0,
                         "min": float(min(r[p][k] for r in runs)),
                         "max": float(max(r[p][k] for r in runs))} for k in keys}
    wk = ("build", "presimulate", "simulate", "total")
    mean["wall_s"] = {k: float(np.mean([r["wall_s"][k] for r in runs])) for k in wk}
    mean["wall_s_min"] = {k: float(np.min([r["wall_s"][k] for r in runs])) for k in wk}
    clean = [r for r in runs if timing_clean(r)]
    mean["wall_s_clean"] = {k: float(np.mean([r["wall_s"][k] for r in clean])) for k in wk} if clean else None
    mean["clean_timing_seeds"] = [r["seed"] for r in clean]
    return mean, spread


def timing_clean(r):
    """True when the run was not starved of CPU: NEST's per-thread CPU time of
    the simulation is at least 90 % of its wall time (on a busy machine its
    threads wait at every barrier and the wall time grows many-fold)."""
    t = r["nest_kernel_timers_s"]
    return t["time_simulate_cpu"] >= 0.9 * t["time_simulate"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-scaling", type=float, default=0.05)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--t-sim", type=float, default=1000.0, help="recorded ms after the 500 ms warm-up")
    ap.add_argument("--bg", choices=["poisson", "dc"], default="poisson")
    ap.add_argument("-o", "--out")
    ap.add_argument("--one", type=int, metavar="SEED", help=argparse.SUPPRESS)
    ap.add_argument("--combine", nargs="+", metavar="JSON",
                    help="do not simulate: merge the runs of earlier outputs into --out")
    a = ap.parse_args()

    if a.one is not None:  # child: one seed, result as JSON on stdout
        print(json.dumps(run(a.n_scaling, a.one, a.threads, a.t_sim, a.bg)))
        return

    if a.combine:
        runs, metas = [], []
        for fn in a.combine:
            with open(fn) as f:
                doc = json.load(f)
            runs += doc["runs"]
            metas.append(doc)
        m0 = metas[0]
        for m in metas:
            for k in ("n_scaling", "local_num_threads", "t_sim", "bg_input", "nest_version"):
                assert m[k] == m0[k], (k, m[k], m0[k])
        a.n_scaling, a.threads, a.t_sim, a.bg = (m0["n_scaling"], m0["local_num_threads"],
                                                 m0["t_sim"], m0["bg_input"])
        nest_version = m0["nest_version"]
        # several files may hold the same seed (a re-run for a clean timing):
        # the statistics must agree; keep the run with the clean timing
        by_seed = {}
        for r in runs:
            o = by_seed.get(r["seed"])
            if o is not None:
                for p in POPS:
                    assert o[p]["n_spikes"] == r[p]["n_spikes"], ("not deterministic", r["seed"], p)
                if timing_clean(o) and not timing_clean(r):
                    continue
            by_seed[r["seed"]] = r
        runs = [by_seed[s] for s in sorted(by_seed)]
        for r in runs:
            report(r)
    else:
        if a.n_scaling == 0.05:
            check_toml(os.path.join(HERE, "pd14_scale005.toml"), 0.05)
        runs = []
        for seed in a.seeds:
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", str(seed),
                                "--n-scaling", repr(a.n_scaling), "--threads", str(a.threads),
                                "--t-sim", repr(a.t_sim), "--bg", a.bg],
                               check=True, capture_output=True, text=True)
            r = json.loads(p.stdout.strip().splitlines()[-1])
            runs.append(r)
            report(r)
        import nest
        nest_version = nest.__version__

    mean, spread = summarize(runs)
    d = derived(a.n_scaling)
    doc = {
        "description": "NEST reference statistics for the PD14 microcircuit; see README.md",
        "nest_version": nest_version,
        "python": sys.version.split()[0],
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform(),
                    "cpu": _cpu_model()},
        "local_num_threads": a.threads,
        "n_scaling": a.n_scaling, "k_scaling": 1.0, "bg_input": a.bg,
        "dt": DT, "t_presim": T_PRESIM, "t_sim": a.t_sim,
        "window": [T_PRESIM, T_PRESIM + a.t_sim],
        "cc": {"neurons": f"first min({CC_NEURONS}, N) of each population", "bin_ms": CC_BIN},
        "populations": POPS,
        "sizes": d["n"].tolist(),
        "seeds": [r["seed"] for r in runs],
        "runs": runs,
        "mean": mean,
        "spread": spread,
    }
    out = a.out or os.path.join(HERE, f"pd14_nest_scale{a.n_scaling:g}.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {out}")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
