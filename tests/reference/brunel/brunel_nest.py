#!/usr/bin/env python3
"""NEST reference statistics for examples/brunel.toml (Brunel 2000, model A).

Builds exactly the network of ``examples/brunel.toml`` in NEST, simulates
1000 ms for several seeds and writes per-population firing rates and CV of
ISI to ``brunel_nest.json`` next to this file.

Usage (from the repository root):

    python3 tests/reference/brunel/brunel_nest.py                  # seeds 2000 2001 2002
    python3 tests/reference/brunel/brunel_nest.py --seeds 1 2 3 --threads 2

Network (checked against examples/brunel.toml at start-up):
  * E: 10000, I: 2500 iaf_psc_delta, C_m 1, tau_m 20, t_ref 2, E_L 0,
    V_reset 10, V_th 20; V_m ~ uniform[10, 20) (nest.random.uniform)
  * one poisson_generator, 20000 Hz, all_to_all to E+I (NEST gives each
    target an independent train), weight 0.1 mV, delay 1.5 ms
  * E -> E+I fixed_indegree 1000, weight 0.1, delay 1.5
  * I -> E+I fixed_indegree 250, weight -0.5, delay 1.5
    (autapses and multapses allowed: NEST defaults)
  * dt 0.1 ms, 1000 ms, spikes of all neurons recorded

Statistics per population:
  * rate_hz: spikes / (N * T) over all N neurons (silent ones included)
  * cv_isi: mean over neurons with >= 3 spikes of std(ISI)/mean(ISI)
    (population std, ddof=0)
  * *_after_200ms: same using only spikes with t > 200 ms (T = 800 ms)
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TOML = os.path.join(ROOT, "examples", "brunel.toml")

os.environ.setdefault("PYNEST_QUIET", "1")
import nest  # noqa: E402

try:
    nest.verbosity = nest.VerbosityLevel.ERROR
except AttributeError:  # older NEST
    nest.set_verbosity("M_ERROR")

DT = 0.1
DURATION = 1000.0
T_DISCARD = 200.0
NE, NI = 10000, 2500
PARAMS = {"C_m": 1.0, "tau_m": 20.0, "t_ref": 2.0, "E_L": 0.0,
          "V_reset": 10.0, "V_th": 20.0}
V0 = (10.0, 20.0)
P_RATE, P_W, P_D = 20000.0, 0.1, 1.5
CE, JE = 1000, 0.1
CI, JI = 250, -0.5
DELAY = 1.5


def check_toml():
    """Assert that the constants above are those of examples/brunel.toml."""
    try:
        import tomllib
    except ImportError:
        print("note: no tomllib, not checking against examples/brunel.toml")
        return
    if not os.path.exists(TOML):
        print(f"note: {TOML} not found, not checking")
        return
    with open(TOML, "rb") as f:
        d = tomllib.load(f)
    assert d["network"]["dt"] == DT
    assert d["run"]["duration"] == DURATION
    E, I = d["populations"]["E"], d["populations"]["I"]
    assert E["model"] == "iaf_psc_delta" and E["size"] == NE
    assert E["params"] == PARAMS
    assert E["init"] == {"V_m": {"uniform": list(V0)}}
    assert I == {"like": "E", "size": NI}
    (st,) = d["stimuli"]
    assert st["kind"] == "poisson" and st["rate"] == P_RATE
    assert st["targets"] == ["E", "I"]
    assert st["synapse"] == {"weight": P_W, "delay": P_D}
    pe, pi = d["projections"]
    assert pe == {"from": "E", "to": ["E", "I"],
                  "connect": {"rule": "fixed_indegree", "indegree": CE},
                  "synapse": {"weight": JE, "delay": DELAY}}
    assert pi == {"from": "I", "to": ["E", "I"],
                  "connect": {"rule": "fixed_indegree", "indegree": CI},
                  "synapse": {"weight": JI, "delay": DELAY}}


def stats(senders, times, n, t0, t1):
    """Rate (Hz) and mean CV of ISI for n neurons (senders 0..n-1), spikes in (t0, t1]."""
    m = (times > t0) & (times <= t1)
    s, t = senders[m], times[m]
    rate = len(t) / (n * (t1 - t0) * 1e-3)
    order = np.lexsort((t, s))
    s, t = s[order], t[order]
    bounds = np.flatnonzero(np.diff(s)) + 1
    cvs = []
    for ts in np.split(t, bounds):
        if len(ts) >= 3:
            isi = np.diff(ts)
            cvs.append(isi.std() / isi.mean())
    cv = float(np.mean(cvs)) if cvs else float("nan")
    return rate, cv, len(cvs)


def run(seed, threads):
    load_before = os.getloadavg()[0]
    nest.ResetKernel()
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:
        pass
    t_start = time.perf_counter()
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": threads,
                          "rng_seed": seed, "print_time": False})
    E = nest.Create("iaf_psc_delta", NE, params=PARAMS)
    I = nest.Create("iaf_psc_delta", NI, params=PARAMS)
    EI = E + I
    EI.V_m = nest.random.uniform(V0[0], V0[1])

    pg = nest.Create("poisson_generator", params={"rate": P_RATE})
    sr_e = nest.Create("spike_recorder")
    sr_i = nest.Create("spike_recorder")

    nest.Connect(pg, EI, "all_to_all",
                 {"synapse_model": "static_synapse", "weight": P_W, "delay": P_D})
    nest.Connect(E, EI, {"rule": "fixed_indegree", "indegree": CE,
                         "allow_autapses": True, "allow_multapses": True},
                 {"synapse_model": "static_synapse", "weight": JE, "delay": DELAY})
    nest.Connect(I, EI, {"rule": "fixed_indegree", "indegree": CI,
                         "allow_autapses": True, "allow_multapses": True},
                 {"synapse_model": "static_synapse", "weight": JI, "delay": DELAY})
    nest.Connect(E, sr_e)
    nest.Connect(I, sr_i)
    t_built = time.perf_counter()

    nest.Simulate(DURATION)
    t_sim = time.perf_counter()

    n_conn = nest.GetKernelStatus("num_connections")
    ks = nest.GetKernelStatus()
    kernel_timers = {k: float(np.max(ks[k])) for k in (
        "time_construction_create", "time_construction_connect", "time_simulate",
        "time_construction_create_cpu", "time_construction_connect_cpu",
        "time_simulate_cpu") if k in ks}
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
    out["num_connections"] = int(n_conn)
    out["wall_s"] = {"build": t_built - t_start, "simulate": t_sim - t_built,
                     "total": t_sim - t_start}
    out["nest_kernel_timers_s"] = kernel_timers
    # 1-min load average before / after (informative only; it lags by about a
    # minute). A better check for a disturbed timing: on an idle machine
    # time_simulate_cpu (per thread) is close to time_simulate (wall).
    out["loadavg_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return out


def report(r):
    w = r["wall_s"]
    print(f"seed {r['seed']}: E {r['E']['rate_hz']:.3f} Hz CV {r['E']['cv_isi']:.4f} | "
          f"I {r['I']['rate_hz']:.3f} Hz CV {r['I']['cv_isi']:.4f} | "
          f"after 200 ms: E {r['E']['rate_hz_after_200ms']:.3f} Hz CV "
          f"{r['E']['cv_isi_after_200ms']:.4f}, I {r['I']['rate_hz_after_200ms']:.3f} Hz "
          f"CV {r['I']['cv_isi_after_200ms']:.4f} | build {w['build']:.2f} s, "
          f"simulate {w['simulate']:.2f} s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[2000, 2001, 2002])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", default=os.path.join(HERE, "brunel_nest.json"))
    ap.add_argument("--one", type=int, metavar="SEED", help=argparse.SUPPRESS)
    ap.add_argument("--combine", nargs="+", metavar="JSON",
                    help="do not simulate: merge the runs of earlier outputs into --out")
    a = ap.parse_args()

    if a.one is not None:  # child: one seed, result as JSON on stdout
        print(json.dumps(run(a.one, a.threads)))
        return

    if a.combine:
        # merge the runs of earlier outputs (e.g. seeds timed one at a time on
        # an idle machine) into one file; statistics are recomputed
        runs = []
        for fn in a.combine:
            with open(fn) as f:
                d = json.load(f)
            assert d["local_num_threads"] == a.threads, fn
            runs += d["runs"]
        for r in runs:
            report(r)
    else:
        check_toml()
        runs = []
        for seed in a.seeds:
            # a fresh process per seed, so every timing includes the same
            # one-off costs (first-touch memory etc.) as a stand-alone run
            p = subprocess.run([sys.executable, os.path.join(HERE, os.path.basename(__file__)),
                                "--one", str(seed), "--threads", str(a.threads)],
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
    mean["wall_s_min"] = {k: float(np.min([r["wall_s"][k] for r in runs]))
                          for k in ("build", "simulate", "total")}

    doc = {
        "description": "NEST reference for examples/brunel.toml; see README.md",
        "nest_version": nest.__version__ if hasattr(nest, "__version__")
        else nest.GetKernelStatus("build_info")["version"],
        "python": sys.version.split()[0],
        "local_num_threads": a.threads,
        "host_cpus": os.cpu_count(),
        "dt": DT, "duration": DURATION, "discard_ms": T_DISCARD,
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
