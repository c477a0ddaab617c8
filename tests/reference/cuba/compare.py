#!/usr/bin/env python3
"""Compare renshaw runs of examples/cuba.toml with the NEST reference.

    renshaw run examples/cuba.toml --backend cpu -o /tmp/cuba_r1
    python3 tests/reference/cuba/compare.py /tmp/cuba_r1 [more run dirs ...]

Computes the statistics of cuba_nest.py (same function) from each run's
spike files and prints them next to NEST's mean +- std over seeds
(cuba_nest.json).
"""

import argparse
import importlib.util
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("cuba_nest", os.path.join(HERE, "cuba_nest.py"))
cuba = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cuba)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--nest", default=os.path.join(HERE, "cuba_nest.json"))
    a = ap.parse_args()
    with open(a.nest) as f:
        nest_doc = json.load(f)
    rows = {}
    for run in a.runs:
        for pop, n in (("E", cuba.NE), ("I", cuba.NI)):
            t = np.load(os.path.join(run, f"{pop}_spike_times.npy"))
            s = np.load(os.path.join(run, f"{pop}_spike_senders.npy"))
            r, cv, _ = cuba.stats(s, t, n, 0.0, cuba.DURATION)
            r2, cv2, _ = cuba.stats(s, t, n, cuba.T_DISCARD, cuba.DURATION)
            rows.setdefault(pop, []).append({"rate_hz": r, "cv_isi": cv,
                                             "rate_hz_after_200ms": r2, "cv_isi_after_200ms": cv2})
    keys = ("rate_hz", "cv_isi", "rate_hz_after_200ms", "cv_isi_after_200ms")
    print(f"{'':4}" + "".join(f"{k:>40}" for k in keys))
    for pop in ("E", "I"):
        cells = []
        for k in keys:
            v = [r[k] for r in rows[pop]]
            ours = f"{np.mean(v):.3f}" + (f"+-{np.std(v, ddof=1):.3f}" if len(v) > 1 else "")
            theirs = f"{nest_doc['mean'][pop][k]:.3f}+-{nest_doc['spread'][pop][k]['std']:.3f}"
            cells.append(f"{ours + ' vs NEST ' + theirs:>40}")
        print(f"{pop:4}" + "".join(cells))
    for run in a.runs:
        with open(os.path.join(run, "summary.json")) as f:
            t = json.load(f)["timings"]
        print(f"{run}: build {t['build_s']:.3f} s, simulate {t['simulate_s']:.3f} s")


if __name__ == "__main__":
    main()
