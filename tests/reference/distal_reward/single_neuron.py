#!/usr/bin/env python3
"""Lone neurons under their background noise: the paper's RS neuron against LIFs.

Izhikevich (2007): regular-spiking neuron, 1 ms steps (v in two 0.5 ms
half-steps), a current uniform in [-6.5, 6.5] every ms. LIF: NEST's
iaf_psc_delta at dt = 1 ms (rest 0, threshold 15 mV, reset 0, t_ref 2 ms)
with tau_m given and an excitatory and an inhibitory Poisson train of the
given rate and +-1 mV (examples/distal_reward.toml). For each it prints

* the rate under the noise alone;
* the rate with an extra input of -0.1, +0.1, +0.2 (weight units) every ms,
  i.e. how strongly a recurrent drive moves the rate;
* the probability of at least one spike within 20 ms after a single input
  of 1 and 4, against none (how much one synapse makes its target fire).

    python3 single_neuron.py rs
    python3 single_neuron.py lif TAU_M RATE_HZ      # e.g. lif 1.7 8400, lif 10 2500
"""

import sys

import numpy as np

rng = np.random.default_rng(0)
N, T = 2000, 10000  # neurons, ms


def run(kind, extra=0.0, kick_w=0.0, kicks=()):
    spikes = np.zeros((T, N), bool)
    if kind[0] == "rs":
        v = -65.0 * np.ones(N)
        u = 0.2 * v
    else:
        tau, rate = float(kind[1]), float(kind[2])
        V = rng.uniform(0, 10, N)
        P = np.exp(-1.0 / tau)
        ref = np.zeros(N, int)
        lam = rate / 1000.0
    for t in range(T):
        kick = kick_w if t in kicks else 0.0
        if kind[0] == "rs":
            I = 13 * (rng.random(N) - 0.5) + extra + kick
            f = v >= 30
            spikes[t] = f
            v[f] = -65
            u[f] += 8.0
            v += 0.5 * ((0.04 * v + 5) * v + 140 - u + I)
            v += 0.5 * ((0.04 * v + 5) * v + 140 - u + I)
            u += 0.02 * (0.2 * v - u)
        else:
            inp = rng.poisson(lam, N) - rng.poisson(lam, N) + extra + kick
            V = V * P
            r = ref > 0
            V = np.where(r, V, V + inp)
            ref[r] -= 1
            f = V >= 15.0
            spikes[t] = f
            V[f] = 0.0
            ref[f] = 2
    return spikes


kind = sys.argv[1:]
for extra in (0.0, -0.1, 0.1, 0.2):
    print(f"{' '.join(kind)}: extra {extra:+.1f} per ms: {run(kind, extra).mean() * 1000:.3f} Hz")
kicks = range(500, T - 50, 100)
for w in (0.0, 1.0, 4.0):
    sp = run(kind, 0.0, w, set(kicks))
    p = np.mean([sp[k : k + 20].any(0).mean() for k in kicks])
    print(f"{' '.join(kind)}: one input of {w}: P(spike within 20 ms) {p:.4f}")
