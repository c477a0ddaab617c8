#!/usr/bin/env python3
"""Izhikevich (2007) Fig. 1 as the paper's model does it, for reference numbers.

An independent NumPy re-implementation of the network and protocol of
Izhikevich, "Solving the distal reward problem through linkage of STDP and
dopamine signaling", Cereb. Cortex 17:2443 (2007), Fig. 1, written from the
published model's semantics (not renshaw, no NEST). It gives the numbers that
examples/distal_reward.toml compares against (see its header):

* 800 excitatory (regular spiking: a = 0.02, d = 8) and 200 inhibitory (fast
  spiking: a = 0.1, d = 2) Izhikevich neurons, b = 0.2, c = -65, v updated
  in two 0.5 ms Euler half-steps, u in one 1 ms step, spike at v >= 30;
* each neuron has 100 random targets, drawn with replacement (autapses and
  multapses possible): excitatory ones among all 1000, inhibitory ones among
  the 800 excitatory; delay 1 ms; excitatory weights start at 1, inhibitory
  ones are -1 and fixed; weights are clipped to [0, 4];
* every ms every neuron gets a random current uniform in [-6.5, 6.5];
* STDP: a trace per neuron, set to 0.1 at its spike and multiplied by 0.95
  every ms; at a postsynaptic spike the eligibility sd of each excitatory
  input grows by its presynaptic neuron's trace of the previous ms; when a
  presynaptic spike arrives (1 ms later) sd falls by 1.5 times the target's
  trace (same-ms spikes included);
* every 10 ms: s <- clip(s + (0.002 + DA) sd, 0, 4) for the excitatory
  synapses, then sd <- 0.99 sd; DA is multiplied by 0.995 every ms;
* the rewarded synapse (the first synapse of neuron 0) starts at 0; when its
  target fires less than 20 ms after its source's last spike (strictly
  later), DA grows by 0.5 at a time uniform in (1, 3] s later.

`nest` as third argument replaces the STDP pairing by NEST's
stdp_dopamine_synapse convention with a 1 ms dendritic delay: facilitation
with presynaptic spikes up to and including the same ms, K+ taken 1 ms
after the postsynaptic spike; depression from postsynaptic spikes more than
1 ms before the presynaptic one. (It changes the outcome little.)

    python3 izhikevich2007.py [SECONDS [SEED [nest]]]     # default 3600 s, seed 1

Prints a line per simulated minute (rewarded weight; mean and percentiles of
all other excitatory weights; fraction of them at 0; mean rate; pairings) and
writes izhikevich2007_final_<seed>[_nest].npy (the 800 x 100 weights) to the
current directory. One hour takes about 10 minutes.
"""

import sys
import time

import numpy as np

T = int(sys.argv[1]) if len(sys.argv) > 1 else 3600
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
nest_conv = len(sys.argv) > 3 and sys.argv[3] == "nest"
rng = np.random.default_rng(seed)
Ne, Ni, M = 800, 200, 100
N = Ne + Ni
a = np.r_[0.02 * np.ones(Ne), 0.1 * np.ones(Ni)]
d = np.r_[8.0 * np.ones(Ne), 2.0 * np.ones(Ni)]
sm = 4.0
post = np.vstack([rng.integers(0, N, (Ne, M)), rng.integers(0, Ne, (Ni, M))])
s = np.vstack([np.ones((Ne, M)), -np.ones((Ni, M))])
sd = np.zeros((N, M))
# Excitatory inputs of every neuron: flat indices into s[:Ne] and their sources.
flat_post = post[:Ne].ravel()
in_syn = np.argsort(flat_post, kind="stable")
starts = np.r_[0, np.cumsum(np.bincount(flat_post, minlength=N))]
in_pre = in_syn // M
n1, syn = 0, 0
n2 = post[n1, syn]
s[n1, syn] = 0.0
v = -65.0 * np.ones(N)
u = 0.2 * v
tr_prev = np.zeros(N)  # STDP trace as of the previous ms
tr_prev2 = np.zeros(N)  # ... and of the ms before
DA = 0.0
rew = []
n1f, n2f = -100, -1
nspk = npair = 0
t0 = time.time()
sE, sdE = s[:Ne], sd[:Ne]
sd_flat = sdE.reshape(-1)
for sec in range(T):
    for t in range(1000):
        now = sec * 1000 + t
        I = 13.0 * (rng.random(N) - 0.5)
        fired = np.nonzero(v >= 30.0)[0]
        tr_now = 0.95 * tr_prev
        if fired.size:
            v[fired] = -65.0
            u[fired] += d[fired]
            tr_now[fired] = 0.1
            nspk += fired.size
            for j in fired:
                idx = in_syn[starts[j] : starts[j + 1]]
                pre = in_pre[starts[j] : starts[j + 1]]
                sd_flat[idx] += 0.95 * tr_now[pre] if nest_conv else tr_prev[pre]
            for i in fired:
                np.add.at(I, post[i], s[i])
                sd[i] -= 1.5 * (0.95 * tr_prev2[post[i]] if nest_conv else tr_now[post[i]])
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + I)
        v += 0.5 * ((0.04 * v + 5) * v + 140 - u + I)
        u += a * (0.2 * v - u)
        tr_prev2, tr_prev = tr_prev, tr_now
        DA *= 0.995
        if t % 10 == 9:
            np.clip(sE + (0.002 + DA) * sdE, 0, sm, out=sE)
            sd *= 0.99
        if fired.size:
            if n1 in fired:
                n1f = now
            if n2 in fired:
                n2f = now
                if now - n1f < 20 and n2f > n1f:
                    npair += 1
                    rew.append(now + 1000 + int(np.ceil(2000 * rng.random())))
        if now in rew:
            DA += 0.5
            rew = [r for r in rew if r != now]
    if (sec + 1) % 60 == 0 or sec + 1 == T:
        others = np.delete(sE.ravel(), n1 * M + syn)
        q = np.percentile(others, [50, 90, 99])
        print(
            f"{sec + 1:5d}s w={sE[n1, syn]:.3f} mean={others.mean():.3f} p50={q[0]:.3f} "
            f"p90={q[1]:.3f} p99={q[2]:.3f} ge0.9max={np.mean(others >= 0.9 * sm):.4f} "
            f"frac0={np.mean(others == 0):.3f} rate={nspk / N / (sec + 1):.2f}Hz "
            f"pairs={npair} wall={time.time() - t0:.0f}s",
            flush=True,
        )
np.save(f"izhikevich2007_final_{seed}{'_nest' if nest_conv else ''}.npy", sE)
