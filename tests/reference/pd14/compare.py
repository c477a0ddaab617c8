#!/usr/bin/env python3
"""Compare renshaw runs of the PD14 microcircuit with the NEST reference.

    renshaw run tests/reference/pd14/pd14_scale005.toml --backend cpu -o /tmp/pd14_r1
    python3 tests/reference/pd14/compare.py /tmp/pd14_r1 [more run dirs ...]

Computes, from each run directory's <pop>_spike_times.npy / _spike_senders.npy,
the statistics of pd14_nest.py (same function, same window (500, 1500] ms)
and prints them next to the NEST mean +- std over seeds
(pd14_nest_scale<S>.json, S taken from the run's population sizes).
"""

import argparse
import glob
import importlib.util
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("pd14_nest", os.path.join(HERE, "pd14_nest.py"))
pd14 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pd14)


def run_stats(run_dir, t_sim):
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    out = {"sizes": [], "summary": summary}
    for p in pd14.POPS:
        n = summary["populations"][p]["size"]
        out["sizes"].append(n)
        t = np.load(os.path.join(run_dir, f"{p}_spike_times.npy"))
        s = np.load(os.path.join(run_dir, f"{p}_spike_senders.npy"))
        out[p] = pd14.pop_stats(s, t, n, pd14.T_PRESIM, pd14.T_PRESIM + t_sim)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--nest", help="NEST JSON (default: the one whose sizes match)")
    ap.add_argument("--t-sim", type=float, default=1000.0)
    ap.add_argument("--json", help="write the renshaw statistics here")
    a = ap.parse_args()
    rs = [run_stats(r, a.t_sim) for r in a.runs]
    sizes = rs[0]["sizes"]
    nest_doc = None
    for fn in ([a.nest] if a.nest else sorted(glob.glob(os.path.join(HERE, "pd14_nest_scale*.json")))):
        with open(fn) as f:
            d = json.load(f)
        if d["sizes"] == sizes:
            nest_doc = d
            break
    keys = ("rate_hz", "cv_isi", "cc")
    print(f"{'pop':5}  " + "  ".join(f"{k + ' renshaw':>16} {k + ' NEST':>18}" for k in keys))
    for p in pd14.POPS:
        cells = []
        for k in keys:
            vals = [r[p][k] for r in rs]
            ours = f"{np.mean(vals):.4f}" + (f"+-{np.std(vals, ddof=1):.4f}" if len(vals) > 1 else "")
            if nest_doc:
                m, sd = nest_doc["mean"][p][k], nest_doc["spread"][p][k]["std"]
                theirs = f"{m:.4f}+-{sd:.4f}"
            else:
                theirs = "-"
            cells.append(f"{ours:>16} {theirs:>18}")
        print(f"{p:5}  " + "  ".join(cells))
    for r, d in zip(rs, a.runs):
        t = r["summary"]["timings"]
        print(f"{d}: {r['summary']['backend']}, build {t['build_s']:.2f} s, "
              f"simulate {t['simulate_s']:.2f} s for {r['summary']['duration_ms']} ms")
    if nest_doc:
        w = nest_doc["mean"]["wall_s"]
        print(f"NEST {nest_doc['nest_version']}, {nest_doc['local_num_threads']} threads: build "
              f"{w['build']:.1f} s, warm-up {w['presimulate']:.1f} s, simulate {w['simulate']:.1f} s "
              f"(mean over seeds)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump([{p: r[p] for p in pd14.POPS} | {"run": d, "timings": r["summary"]["timings"],
                        "backend": r["summary"]["backend"]} for r, d in zip(rs, a.runs)], f, indent=1)


if __name__ == "__main__":
    main()
