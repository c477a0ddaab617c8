#!/usr/bin/env python3
"""Write the dopamine-STDP reference cases ``tests/reference/dopamine/cases/*.toml``.

The cases are plain renshaw descriptions (docs/description.md plus the
`stdp_dopamine` synapse rule and `[[record_weights]]`). This script only
exists so that the random spike trains are reproducible (numpy, fixed seeds);
the TOML files it writes are committed and are what `make_nest_dopamine.py`
and `check_dopamine_rules.py` read.

    python3 tests/reference/dopamine/make_cases.py

How spikes are imposed (as in ../stdp): every neuron is an `iaf_psc_delta`
with E_L = V_reset = V_m = 0, t_ref = 0.1 ms and a `spike_times` stimulus of
weight 1000 mV, so it spikes exactly at `stimulus time + stimulus delay`.
Post neurons have V_th = 500 mV so the plastic input never makes an extra
spike. Dopamine (DA) populations are driven the same way. Trains keep >= 0.5
ms between spikes of one neuron. All times below are *neuron spike times*; the
stimulus times in the TOML are these minus the stimulus delay.
"""

import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
DT = 0.1

PRE_PARAMS = dict(E_L=0.0, V_reset=0.0, V_m=0.0, V_th=20.0, tau_m=10.0, C_m=1.0, t_ref=0.1)
POST_PARAMS = dict(PRE_PARAMS, V_th=500.0)


def fmt(x):
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return repr(float(x))
    if isinstance(x, str):
        return '"' + x + '"'
    raise TypeError(x)


def inline(d):
    return "{ " + ", ".join(f"{k} = {fmt(v)}" for k, v in d.items()) + " }"


def grid(t, dt=DT):
    """Round to the dt grid and return a clean decimal float."""
    return round(round(t / dt) * dt, 6)


def times_list(ts):
    return "[" + ", ".join(fmt(float(t)) for t in ts) + "]"


class Case:
    def __init__(self, name, comment, duration, stim_delay=1.0, dt=DT, seed=1):
        self.name = name
        self.comment = comment
        self.duration = duration
        self.stim_delay = stim_delay
        self.dt = dt
        self.seed = seed
        self.pops = []  # (name, params, size)
        self.stims = []  # (pop, [spike times of each neuron])
        self.projs = []
        self.recw = []

    def pop(self, name, size, params, trains=None):
        self.pops.append((name, dict(params), size))
        if trains is not None:
            assert len(trains) == size
            self.stims.append((name, trains))

    def proj(self, pre, post, syn, connect=None, interval=None):
        self.projs.append((pre, post, connect or {"rule": "one_to_one"}, dict(syn)))
        self.recw.append((len(self.projs) - 1, interval))

    def write(self):
        d = self.stim_delay
        L = []
        for line in self.comment.strip().splitlines():
            L.append("# " + line if line else "#")
        L.append("")
        L.append("[network]")
        L.append(f"dt = {fmt(self.dt)}")
        L.append(f"seed = {self.seed}")
        for name, params, size in self.pops:
            L.append("")
            L.append(f"[populations.{name}]")
            L.append('model = "iaf_psc_delta"')
            L.append(f"size = {size}")
            L.append(f"params = {inline(params)}")
        for pop, trains in self.stims:
            stim = []
            for tr in trains:
                s = [grid(t - d, self.dt) for t in tr]
                assert all(x > 0 for x in s), (self.name, pop, tr)
                assert all(b - a >= 2 * self.dt - 1e-9 for a, b in zip(s, s[1:])), (self.name, pop, tr)
                assert all(x + d <= self.duration for x in s), (self.name, pop, tr)
                stim.append(s)
            L.append("")
            L.append("[[stimuli]]")
            L.append('kind = "spike_times"')
            L.append(f'targets = "{pop}"')
            L.append("spike_times = [")
            for s in stim:
                L.append("  " + times_list(s) + ",")
            L.append("]")
            L.append(f"synapse = {inline({'weight': 1000.0, 'delay': d})}")
        for pre, post, conn, syn in self.projs:
            L.append("")
            L.append("[[projections]]")
            L.append(f'from = "{pre}"')
            L.append(f'to = "{post}"')
            L.append(f"connect = {inline(conn)}")
            L.append(f"synapse = {inline(syn)}")
        for name, _, _ in self.pops:
            L.append("")
            L.append("[[record]]")
            L.append(f'population = "{name}"')
            L.append("spikes = true")
        for pi, iv in self.recw:
            L.append("")
            L.append("[[record_weights]]")
            L.append(f"projection = {pi}")
            if iv is not None:
                L.append(f"interval = {fmt(float(iv))}")
        L.append("")
        L.append("[run]")
        L.append(f"duration = {fmt(float(self.duration))}")
        L.append("")
        with open(os.path.join(CASES, self.name + ".toml"), "w") as f:
            f.write("\n".join(L))


def da_syn(**kw):
    s = {"rule": "stdp_dopamine"}
    s.update(kw)
    return s


def poisson(rng, rate_hz, t0, t1):
    n = rng.poisson(rate_hz * (t1 - t0) / 1000.0)
    return np.sort(rng.uniform(t0, t1, n))


def clean(ts, t0, t1, min_isi=0.5):
    """Grid, clip to [t0, t1], keep spikes >= min_isi apart."""
    out = []
    for t in sorted(grid(x) for x in ts):
        if t < t0 or t > t1:
            continue
        if out and t - out[-1] < min_isi - 1e-9:
            continue
        out.append(t)
    return out


def reg(t0, t1, step):
    out, t = [], t0
    while t <= t1 + 1e-9:
        out.append(grid(t))
        t += step
    return out


# --------------------------------------------------------------------------
# (a) single pre/post pairs, dopamine 0.5 s and 2 s later

def pairs():
    t_pre = 100.0
    dts = [10.0, -10.0, 5.0]
    pre = [[t_pre] for _ in dts]
    post = [[grid(t_pre + x)] for x in dts]
    da1 = [reg(600.0, 700.0, 10.0)]
    da2 = [reg(2100.0, 2200.0, 10.0)]
    c = Case("pairs", """
Dopamine-modulated STDP reference (NEST stdp_dopamine_synapse + volume_transmitter).
Single pairs: every Pre neuron spikes once at 100 ms, Post neuron i at 100 + Dt_i with
Dt = +10, -10, +5 ms (neuron spike times; synaptic delay d = 1 ms, all dendritic in NEST).
Projection 0 (Pre -> Post): DA1 fires 11 spikes every 10 ms from 600 to 700 ms
  (the volume transmitter counts them at spike time + dopamine_delay = 601 ... 701 ms);
  all synapse parameters are given explicitly (NEST's defaults except weight).
Projection 1 (Pre2 -> Post2): the same pairs, DA2 fires 2100 ... 2200 ms; only weight, delay
  and dopamine are given (every other parameter, dopamine_delay included, is the default).
All delays are 1 ms -> NEST min_delay = 1 ms. Weights every 50 ms.
Generated by make_cases.py; NEST data: make_nest_dopamine.py -> data/pairs.json
""", duration=4000.0)
    c.pop("Pre", 3, PRE_PARAMS, pre)
    c.pop("Post", 3, POST_PARAMS, post)
    c.pop("DA1", 1, PRE_PARAMS, da1)
    c.pop("Pre2", 3, PRE_PARAMS, pre)
    c.pop("Post2", 3, POST_PARAMS, post)
    c.pop("DA2", 1, PRE_PARAMS, da2)
    c.proj("Pre", "Post", da_syn(weight=50.0, delay=1.0, dopamine="DA1", dopamine_delay=1.0,
                                 A_plus=1.0, A_minus=1.5, tau_plus=20.0, tau_c=1000.0, tau_n=200.0,
                                 b=0.0, Wmin=0.0, Wmax=200.0), interval=50.0)
    c.proj("Pre2", "Post2", da_syn(weight=50.0, delay=1.0, dopamine="DA2"), interval=50.0)
    c.write()


# --------------------------------------------------------------------------
# slice-boundary corner cases, weights every 1 ms

def quirks():
    base = [100.0 + 150.0 * k for k in range(4)]
    # (pre offset, [post offsets]) relative to each base time T (integer ms = slice ends)
    pat = [
        (0.4, [-0.3]),   # post arrives (t_post + d = T+0.7) after the pre, inside the pre's slice
        (0.5, [-0.5]),   # t_post = t_pre - d exactly
        (0.0, [0.0]),    # pre and post in the same step (pre at a slice end)
        (0.9, [0.0]),    # post arrival T+1.0 = end of the pre's slice
        (1.0, [0.1]),    # pre at a slice end, post arrival T+1.1 in the next slice
        (0.2, [3.2, 3.7]),  # ordinary causal pairs
        ((-4.6, 0.4), [-0.3]),  # neuron 0's pattern after an earlier pre spike (Kplus > 0)
    ]
    pre = [[grid(T + x) for T in base for x in (p if isinstance(p, tuple) else (p,))] for p, _ in pat]
    post = [[grid(T + q) for T in base for q in qs] for _, qs in pat]
    # DA arrivals at the volume transmitter (dopamine_delay 1.0): spike = arrival - 1
    a0 = [60.0] + reg(90.0, 640.0, 25.0)
    a1 = [60.0]
    for T in base:
        a1 += [grid(T + 0.4), grid(T + 0.7), grid(T + 1.0), grid(T + 3.7)]
    a0 = sorted(set(a0) | {grid(T + 0.5) for T in base[::2]})
    da = [[grid(a - 1.0) for a in a0], [grid(a - 1.0) for a in sorted(set(a1))]]
    c = Case("quirks", """
Dopamine-modulated STDP: corner cases of NEST's slice-wise updates. d = dopamine_delay =
stimulus delay = 1 ms -> min_delay 1 ms, so the volume transmitter updates every synapse at
every integer ms (end of each min_delay slice). Pairs repeated at T = 100 + 150 k (k = 0..3):
  neuron 0: pre T+0.4, post T-0.3 (post reaches the synapse at T+0.7, after the pre spike,
            inside the same slice (T, T+1])
  neuron 1: pre T+0.5, post T-0.5 (t_post = t_pre - d exactly)
  neuron 2: pre T, post T (same step)
  neuron 3: pre T+0.9, post T (post reaches the synapse at T+1.0 = end of the pre's slice)
  neuron 4: pre T+1.0 (a slice end), post T+0.1 (reaches the synapse at T+1.1, next slice)
  neuron 5: pre T+0.2, posts T+3.2 and T+3.7 (ordinary causal pairs)
  neuron 6: pre T-4.6 and T+0.4, post T-0.3 (neuron 0's pattern with Kplus > 0 from the
            earlier pre spike: that part of the facilitation is applied twice)
DA (2 neurons): both fire at 59 ms (-> one volume-transmitter entry of multiplicity 2 at 60);
DA[0] every 25 ms from 89 ms on plus T-0.5 (every other T); DA[1] at T-0.6, T-0.3, T, T+2.7, i.e.
arriving exactly with neuron 0's pre spike, its post arrival, a slice end and neuron 5's post.
Weights every 1 ms. Generated by make_cases.py.
""", duration=650.0)
    c.pop("Pre", len(pat), PRE_PARAMS, pre)
    c.pop("Post", len(pat), POST_PARAMS, post)
    c.pop("DA", 2, PRE_PARAMS, da)
    c.proj("Pre", "Post", da_syn(weight=50.0, delay=1.0, dopamine="DA", dopamine_delay=1.0,
                                 A_plus=1.0, A_minus=1.5, tau_plus=20.0, tau_c=1000.0, tau_n=200.0,
                                 b=0.0, Wmin=0.0, Wmax=200.0), interval=1.0)
    c.write()


# --------------------------------------------------------------------------
# (b) random trains

def random_b0():
    rng = np.random.default_rng(20240601)
    T = 3000.0
    pre = [clean(poisson(rng, 10.0, 5.0, T), 5.0, T) for _ in range(4)]
    post = [clean(poisson(rng, 12.0, 5.0, T), 5.0, T) for _ in range(4)]
    da = [clean(poisson(rng, 4.0, 5.0, T), 5.0, T) for _ in range(2)]
    c = Case("random", """
Dopamine-modulated STDP, random trains, b = 0. Pre (4) -> Post (4) all_to_all (16 synapses),
Poisson-like trains (10 Hz pre, 12 Hz post, >= 0.5 ms ISI), DA population of 2 neurons at
~4 Hz each. Non-default A_minus 1.2, tau_c 500, tau_n 100; Post tau_minus = 30.
All delays 1 ms -> min_delay 1 ms. Weights every 50 ms. Generated by make_cases.py.
""", duration=T)
    c.pop("Pre", 4, PRE_PARAMS, pre)
    c.pop("Post", 4, dict(POST_PARAMS, tau_minus=30.0), post)
    c.pop("DA", 2, PRE_PARAMS, da)
    c.proj("Pre", "Post", da_syn(weight=50.0, delay=1.0, dopamine="DA", dopamine_delay=1.0,
                                 A_plus=1.0, A_minus=1.2, tau_plus=20.0, tau_c=500.0, tau_n=100.0,
                                 b=0.0, Wmin=0.0, Wmax=200.0),
           connect={"rule": "all_to_all"}, interval=50.0)
    c.write()


def random_b():
    rng = np.random.default_rng(20240602)
    T = 3000.0
    pre = [clean(poisson(rng, 10.0, 5.0, T), 5.0, T) for _ in range(3)]
    post = [clean(poisson(rng, 10.0, 5.0, T), 5.0, T) for _ in range(4)]
    da = [clean(poisson(rng, 5.0, 5.0, T), 5.0, T) for _ in range(2)]
    c = Case("random_b", """
Dopamine-modulated STDP, random trains, baseline b = 0.01 (the mean of n is the total DA
rate in 1/ms, ~0.01 here, so n - b changes sign). Pre (3) -> Post (4) all_to_all
(12 synapses), ~10 Hz trains, DA population of 2 neurons at ~5 Hz each.
Delays: stimuli 0.5 ms, plastic d = 1.5 ms, dopamine_delay = 2.0 ms -> min_delay 0.5 ms
(volume-transmitter updates every 0.5 ms). tau_plus 15, Post tau_minus 25, A_plus 0.8,
Wmin 10, Wmax 150. Weights every 50 ms. Generated by make_cases.py.
""", duration=T, stim_delay=0.5)
    c.pop("Pre", 3, PRE_PARAMS, pre)
    c.pop("Post", 4, dict(POST_PARAMS, tau_minus=25.0), post)
    c.pop("DA", 2, PRE_PARAMS, da)
    c.proj("Pre", "Post", da_syn(weight=40.0, delay=1.5, dopamine="DA", dopamine_delay=2.0,
                                 A_plus=0.8, A_minus=1.5, tau_plus=15.0, tau_c=1000.0, tau_n=200.0,
                                 b=0.01, Wmin=10.0, Wmax=150.0),
           connect={"rule": "all_to_all"}, interval=50.0)
    c.write()


def random_md2():
    rng = np.random.default_rng(20240603)
    T = 2000.0
    pre = [clean(poisson(rng, 20.0, 5.0, T), 5.0, T) for _ in range(5)]
    post = [clean(poisson(rng, 20.0, 5.0, T), 5.0, T) for _ in range(5)]
    da = [clean(poisson(rng, 8.0, 5.0, T), 5.0, T)]
    c = Case("random_md2", """
Dopamine-modulated STDP, random trains, min_delay 2 ms: stimulus delays 2.0, plastic
d = 2.0, dopamine_delay = 3.0 -> volume-transmitter updates every 2 ms. b = 0.003.
Pre (5) -> Post (5) one_to_one, ~20 Hz trains, one DA neuron at ~8 Hz.
Weights every 10 ms. Generated by make_cases.py.
""", duration=T, stim_delay=2.0)
    c.pop("Pre", 5, PRE_PARAMS, pre)
    c.pop("Post", 5, POST_PARAMS, post)
    c.pop("DA", 1, PRE_PARAMS, da)
    c.proj("Pre", "Post", da_syn(weight=30.0, delay=2.0, dopamine="DA", dopamine_delay=3.0,
                                 A_plus=1.0, A_minus=1.5, tau_plus=20.0, tau_c=1000.0, tau_n=200.0,
                                 b=0.003, Wmin=0.0, Wmax=200.0), interval=10.0)
    c.write()


# --------------------------------------------------------------------------
# (c) clipping

def clip():
    base = [100.0 + 50.0 * k for k in range(39)]  # 100 ... 2000
    preA = [[grid(t + 0.3) for t in base], [grid(t + 0.3) for t in base]]
    postA = [[grid(t + 5.3) for t in base], [grid(t - 4.7) for t in base]]
    da = [reg(150.3, 2300.0, 50.0), reg(175.0, 2300.0, 50.0)]
    c = Case("clip", """
Dopamine-modulated STDP: clipping at Wmin / Wmax (Wmin 10, Wmax 15, w0 12.5, delays 1 ms,
min_delay 1 ms). Pairs every 50 ms, pre at 100.3, 150.3, ..., 2000.3 ms (mid-slice, so that
NEST's roll-back of the weight from the slice end to the pre spike is visible):
Projection 0 (PreA -> PostA), DA "DA" 2 neurons firing every 50 ms (40 Hz in total), b = 0,
  A_plus 0.1, A_minus 0.15: neuron 0 post 5 ms after pre (c > 0) -> w climbs to Wmax and stays
  there while pre spikes keep coming; neuron 1 post 5 ms before pre (c < 0) -> w falls to Wmin.
Projection 1 (PreA -> PostA again, a second synapse on every pair), dopamine "DAnone" (a
  population that never fires), b = 0.02: n = 0, so dw/dt = -b c: neuron 0 (c > 0) falls to
  Wmin, neuron 1 (c < 0) climbs to Wmax.
Weights every 5 ms. Generated by make_cases.py.
""", duration=2500.0)
    c.pop("PreA", 2, PRE_PARAMS, preA)
    c.pop("PostA", 2, POST_PARAMS, postA)
    c.pop("DA", 2, PRE_PARAMS, da)
    c.pop("DAnone", 1, PRE_PARAMS, None)
    c.proj("PreA", "PostA", da_syn(weight=12.5, delay=1.0, dopamine="DA", dopamine_delay=1.0,
                                   A_plus=0.1, A_minus=0.15, tau_plus=20.0, tau_c=1000.0, tau_n=200.0,
                                   b=0.0, Wmin=10.0, Wmax=15.0), interval=5.0)
    c.proj("PreA", "PostA", da_syn(weight=12.5, delay=1.0, dopamine="DAnone", dopamine_delay=1.0,
                                   A_plus=1.0, A_minus=1.5, tau_plus=20.0, tau_c=1000.0, tau_n=200.0,
                                   b=0.02, Wmin=10.0, Wmax=15.0), interval=5.0)
    c.write()


# --------------------------------------------------------------------------
# (d) no dopamine

def no_dopamine():
    rng = np.random.default_rng(20240604)
    T = 2000.0
    pre = [clean(poisson(rng, 15.0, 5.0, T), 5.0, T) for _ in range(3)]
    post = [clean(poisson(rng, 15.0, 5.0, T), 5.0, T) for _ in range(3)]
    c = Case("no_dopamine", """
Dopamine-modulated STDP without any dopamine spike: the DA population never fires.
Pre (3) -> Post (3) one_to_one, ~15 Hz random trains, delays 1 ms (min_delay 1 ms).
Projection 0: b = 0 -> n = 0 and dw/dt = c (n - b) = 0: the weights stay at 20.0 exactly,
  although c (the eligibility trace) moves with every pairing.
Projection 1: the same pairs (a second synapse on every pair), b = 0.005 -> dw/dt = -0.005 c.
The last record_weights has no interval (final weights only).
Generated by make_cases.py.
""", duration=T)
    c.pop("Pre", 3, PRE_PARAMS, pre)
    c.pop("Post", 3, POST_PARAMS, post)
    c.pop("DA", 1, PRE_PARAMS, None)
    c.proj("Pre", "Post", da_syn(weight=20.0, delay=1.0, dopamine="DA", dopamine_delay=1.0,
                                 b=0.0), interval=50.0)
    c.proj("Pre", "Post", da_syn(weight=20.0, delay=1.0, dopamine="DA", dopamine_delay=1.0,
                                 b=0.005), interval=None)
    c.write()


def negative_b():
    rng = np.random.default_rng(20240605)
    T = 3000.0
    pre = [clean(poisson(rng, 10.0, 5.0, T), 5.0, T) for _ in range(3)]
    post = [clean(poisson(rng, 10.0, 5.0, T), 5.0, T) for _ in range(3)]
    # Rewards: bursts of 5 DA spikes (one per ms), starting at random times.
    starts = np.sort(rng.uniform(200.0, T - 100.0, 6))
    da = [[grid(t0 + k) for t0 in starts] for k in range(5)]
    c = Case("negative_b", """
Dopamine-modulated STDP with a negative baseline b (NEST accepts any b): dw/dt = c (n - b)
with n - b > 0 at all times, so a positive eligibility potentiates also without dopamine
(Izhikevich's (2007) tonic dopamine term, dw/dt = (0.002 + DA) sd every 10 ms, is b < 0).
Pre (3) -> Post (3) all_to_all (9 synapses), ~10 Hz trains, delays 1 ms (min_delay 1 ms).
DA: 5 neurons fire together in 6 bursts (5 spikes one per ms from a random start: rewards).
Projection 0: dopamine "DA", b = -0.002, A_plus 1, A_minus 1.5, Wmin 0, Wmax 60, w0 30.
Projection 1 (the same pairs, a second synapse each): dopamine "DAnone" (never fires),
  b = -0.02: n = 0, so dw/dt = 0.02 c; Wmin 25, Wmax 35 (clipped on both sides).
Weights every 50 ms. Generated by make_cases.py.
""", duration=T)
    c.pop("Pre", 3, PRE_PARAMS, pre)
    c.pop("Post", 3, POST_PARAMS, post)
    c.pop("DA", 5, PRE_PARAMS, da)
    c.pop("DAnone", 1, PRE_PARAMS, None)
    c.proj("Pre", "Post", da_syn(weight=30.0, delay=1.0, dopamine="DA", dopamine_delay=1.0,
                                 A_plus=1.0, A_minus=1.5, tau_plus=20.0, tau_c=1000.0, tau_n=200.0,
                                 b=-0.002, Wmin=0.0, Wmax=60.0),
           connect={"rule": "all_to_all"}, interval=50.0)
    c.proj("Pre", "Post", da_syn(weight=30.0, delay=1.0, dopamine="DAnone", dopamine_delay=1.0,
                                 A_plus=1.0, A_minus=1.5, tau_plus=20.0, tau_c=1000.0, tau_n=200.0,
                                 b=-0.02, Wmin=25.0, Wmax=35.0),
           connect={"rule": "all_to_all"}, interval=50.0)
    c.write()


if __name__ == "__main__":
    os.makedirs(CASES, exist_ok=True)
    pairs()
    quirks()
    random_b0()
    random_b()
    random_md2()
    clip()
    no_dopamine()
    negative_b()
    print("wrote", sorted(os.listdir(CASES)))
