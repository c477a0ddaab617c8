#!/usr/bin/env python3
"""NEST reference statistics for examples/cuba.toml (Vogels & Abbott 2005 CUBA).

The network of Brian2's CUBA benchmark example (brian2/examples/CUBA.py;
benchmark 2 of Brette et al. 2007, J Comput Neurosci 23:349), mapped onto
NEST's iaf_psc_exp. Simulates 1000 ms for several seeds and writes
per-population firing rates and CV of ISI to cuba_nest.json next to this file.

Usage (from the repository root):

    python3 tests/reference/cuba/cuba_nest.py                     # seeds 1..5, 2 threads
    python3 tests/reference/cuba/cuba_nest.py --seeds 7 --threads 1 -o /tmp/x.json

Mapping (README.md gives the derivation):
  * Brian2: dv/dt = (ge + gi - (v - El)) / taum, dge/dt = -ge/taue,
    dgi/dt = -gi/taui, with ge, gi in mV; a spike adds we = 1.62 mV to ge
    (wi = -9 mV to gi). iaf_psc_exp: dV/dt = -(V - E_L)/tau_m + I/C_m, so
    ge corresponds to I = ge * C_m / tau_m: with C_m = 200 pF and
    tau_m = 20 ms, 10 pA per mV: weights 16.2 pA and -90 pA.
  * 4000 iaf_psc_exp, E = first 3200, I = last 800; tau_m 20, tau_syn_ex 5,
    tau_syn_in 10, V_th -50, V_reset -60, E_L -49, t_ref 5, C_m 200, I_e 0
  * V_m ~ uniform[V_reset, V_th) = uniform[-60, -50)
  * E -> E+I and I -> E+I pairwise_bernoulli p = 0.02 (autapses allowed, as
    Brian2's connect('i<3200', p=0.02) includes i == j), delay 0.1 ms (NEST's
    minimum: one step; Brian2 has no delay)
  * no external input: E_L = -49 mV lies above V_th, every neuron fires on
    its own
  * dt 0.1 ms, 1000 ms, spikes of all neurons recorded

Statistics per population (E, I), as tests/reference/brunel/:
  * rate_hz: spikes / (N * T), all N neurons
  * cv_isi: mean over neurons with >= 3 spikes of std(ISI) / mean(ISI)
  * *_after_200ms: only spikes with t > 200 ms (T = 800 ms)
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
TOML = os.path.join(ROOT, "examples", "cuba.toml")

DT = 0.1
DURATION = 1000.0
T_DISCARD = 200.0
NE, NI = 3200, 800
P_CONN = 0.02
TAU_M, C_M = 20.0, 200.0
PARAMS = {"C_m": C_M, "tau_m": TAU_M, "tau_syn_ex": 5.0, "tau_syn_in": 10.0,
          "t_ref": 5.0, "E_L": -49.0, "V_reset": -60.0, "V_th": -50.0, "I_e": 0.0}
V0 = (-60.0, -50.0)
WE_MV, WI_MV = 1.62, -9.0   # Brian2's we = (60*0.27/10) mV, wi = (-20*4.5/10) mV
JE, JI = 16.2, -90.0        # pA: w * C_m / tau_m
assert abs(JE - WE_MV * C_M / TAU_M) < 1e-12 and abs(JI - WI_MV * C_M / TAU_M) < 1e-12
DELAY = 0.1


def check_toml():
    """Assert that the constants above are those of examples/cuba.toml."""
    try:
        import tomllib
    except ImportError:
        print("note: no tomllib, not checking against examples/cuba.toml")
        return
    if not os.path.exists(TOML):
        print(f"note: {TOML} not found, not checking")
        return
    with open(TOML, "rb") as f:
        d = tomllib.load(f)
    assert d["network"]["dt"] == DT
    assert d["run"]["duration"] == DURATION
    E, I = d["populations"]["E"], d["populations"]["I"]
    assert E["model"] == "iaf_psc_exp" and E["size"] == NE
    assert E["params"] == PARAMS, E["params"]
    assert E["init"] == {"V_m": {"uniform": list(V0)}}
    assert I == {"like": "E", "size": NI}
    assert not d.get("stimuli")
    pe, pi = d["projections"]
    for pr, src, w in ((pe, "E", JE), (pi, "I", JI)):
        assert pr["from"] == src and pr["to"] == ["E", "I"]
        assert pr["connect"] == {"rule": "fixed_probability", "p": P_CONN}
        assert pr["synapse"] == {"weight": w, "delay": DELAY}, pr


def stats(senders, times, n, t0, t1):
    """Rate (Hz) and mean CV of ISI for n neurons (senders 0..n-1), spikes in (t0, t1]."""
    m = (times > t0) & (times <= t1)
    s, t = senders[m], times[m]
    rate = len(t) / (n * (t1 - t0) * 1e-3)
    order = np.lexsort((t, s))
    s, t = s[order], t[order]
    cvs = []
    for ts in np.split(t, np.flatnonzero(np.diff(s)) + 1):
        if len(ts) >= 3:
            isi = np.diff(ts)
            cvs.append(isi.std() / isi.mean())
    cv = float(np.mean(cvs)) if cvs else float("nan")
    return rate, cv, len(cvs)


def run(seed, threads):
    import nest
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:
        nest.set_verbosity("M_ERROR")
    load_before = os.getloadavg()[0]
    nest.ResetKernel()
    t_start = time.perf_counter()
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": threads,
                          "rng_seed": seed, "print_time": False})
    E = nest.Create("iaf_psc_exp", NE, params=PARAMS)
    I = nest.Create("iaf_psc_exp", NI, params=PARAMS)
    EI = E + I
    EI.V_m = nest.random.uniform(V0[0], V0[1])
    sr_e = nest.Create("spike_recorder")
    sr_i = nest.Create("spike_recorder")
    for src, w in ((E, JE), (I, JI)):
        nest.Connect(src, EI, {"rule": "pairwise_bernoulli", "p": P_CONN,
                               "allow_autapses": True},
                     {"synapse_model": "static_synapse", "weight": w, "delay": DELAY})
    nest.Connect(E, sr_e)
    nest.Connect(I, sr_i)
    t_built = time.perf_counter()
    nest.Simulate(DURATION)
    t_sim = time.perf_counter()

    out = {"seed": seed}
    for name, pop, sr in (("E", E, sr_e), ("I", I, sr_i)):
        ev = sr.get("events")
        senders = np.asarray(ev["senders"]) - pop[0].global_id
        times = np.asarray(ev["times"], dtype=float)
        r, cv, ncv = stats(senders, times, len(pop), 0.0, DURATION)
        r2, cv2, ncv2 = stats(senders, times, len(pop), T_DISCARD, DURATION)
        out[name] = {"rate_hz": r, "cv_isi": cv,
                     "rate_hz_after_200ms": r2, "cv_isi_after_200ms": cv2,
                     "n_spikes": int(len(times)),
                     "n_cv_neurons": ncv, "n_cv_neurons_after_200ms": ncv2}
    ks = nest.GetKernelStatus()
    out["num_connections"] = int(ks["num_connections"])
    out["wall_s"] = {"build": t_built - t_start, "simulate": t_sim - t_built,
                     "total": t_sim - t_start}
    out["nest_kernel_timers_s"] = {k: float(np.max(ks[k])) for k in (
        "time_construction_create", "time_construction_connect", "time_simulate",
        "time_construction_connect_cpu", "time_simulate_cpu") if k in ks}
    out["timing_clean"] = timing_clean(out)
    out["loadavg_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return out


def timing_clean(r):
    """NEST's per-thread CPU time of Simulate is >= 90 % of its wall time: the
    run was not starved of CPU (on a busy 2-core machine NEST's threads wait
    at every step's barrier and the wall time grows many-fold)."""
    t = r["nest_kernel_timers_s"]
    return t["time_simulate_cpu"] >= 0.9 * t["time_simulate"]


def report(r):
    print(f"seed {r['seed']}: E {r['E']['rate_hz']:.3f} Hz CV {r['E']['cv_isi']:.4f} | "
          f"I {r['I']['rate_hz']:.3f} Hz CV {r['I']['cv_isi']:.4f} | after 200 ms: "
          f"E {r['E']['rate_hz_after_200ms']:.3f} Hz CV {r['E']['cv_isi_after_200ms']:.4f}, "
          f"I {r['I']['rate_hz_after_200ms']:.3f} Hz CV {r['I']['cv_isi_after_200ms']:.4f} | "
          f"build {r['wall_s']['build']:.2f} s, simulate {r['wall_s']['simulate']:.2f} s"
          f"{'' if r['timing_clean'] else ' (timing disturbed)'}",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", default=os.path.join(HERE, "cuba_nest.json"))
    ap.add_argument("--one", type=int, metavar="SEED", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.one is not None:
        print(json.dumps(run(a.one, a.threads)))
        return

    check_toml()
    runs = []
    for seed in a.seeds:
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", str(seed),
                            "--threads", str(a.threads)],
                           check=True, capture_output=True, text=True)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        runs.append(r)
        report(r)

    keys = ("rate_hz", "cv_isi", "rate_hz_after_200ms", "cv_isi_after_200ms")
    mean, spread = {}, {}
    for pop in ("E", "I"):
        mean[pop] = {k: float(np.mean([r[pop][k] for r in runs])) for k in keys}
        spread[pop] = {k: {"std": float(np.std([r[pop][k] for r in runs], ddof=1))
                           if len(runs) > 1 else 0.0,
                           "min": float(min(r[pop][k] for r in runs)),
                           "max": float(max(r[pop][k] for r in runs))}
                       for k in keys}
    mean["wall_s"] = {k: float(np.mean([r["wall_s"][k] for r in runs]))
                      for k in ("build", "simulate", "total")}
    clean = [r for r in runs if r["timing_clean"]]
    mean["wall_s_clean"] = {k: float(np.mean([r["wall_s"][k] for r in clean]))
                            for k in ("build", "simulate", "total")} if clean else None
    mean["clean_timing_seeds"] = [r["seed"] for r in clean]
    import nest
    doc = {
        "description": "NEST reference for examples/cuba.toml; see README.md",
        "nest_version": nest.__version__,
        "python": sys.version.split()[0],
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform()},
        "local_num_threads": a.threads,
        "dt": DT, "duration": DURATION, "discard_ms": T_DISCARD,
        "weights_pA": {"E": JE, "I": JI}, "C_m": C_M,
        "seeds": [r["seed"] for r in runs],
        "runs": runs,
        "mean": mean,
        "spread": spread,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
