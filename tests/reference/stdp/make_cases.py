#!/usr/bin/env python3
"""Write the STDP reference cases ``tests/reference/stdp/cases/*.toml``.

The cases are plain renshaw descriptions (docs/description.md plus the
plastic-synapse keys `synapse.rule`, `tau_plus`, `lambda`, `alpha`, `mu_plus`,
`mu_minus`, `Wmax` and `[[record_weights]]`). This script only exists so that
the random spike trains are reproducible (numpy, fixed seeds); the TOML files
it writes are committed and are what `make_nest_stdp.py` reads.

    python3 tests/reference/stdp/make_cases.py

How spikes are imposed (renshaw has no parrot neurons): every neuron is an
`iaf_psc_delta` with E_L = V_reset = V_m = 0, t_ref = 0.1 ms (one step) and a
`spike_times` stimulus of weight 1000 mV, so it spikes exactly at
`stimulus time + stimulus delay`. Post neurons have V_th = 500 mV so the
plastic input (|w| <= 100 mV, a few spikes per 10 ms at most) never makes an
extra spike, while 1000 mV always does. Imposed spike trains keep >= 2 dt
between spikes of one neuron (the step after a spike is refractory; random
trains keep >= 0.5 ms).

In every case all delays (stimuli and plastic projection) are equal, so
NEST's min_delay equals the plastic delay d (see README: weight snapshots).
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
        r = repr(float(x))
        return r
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
    def __init__(self, name, comment, duration, delay=1.0, dt=DT, seed=1):
        self.name = name
        self.comment = comment
        self.duration = duration
        self.delay = delay
        self.dt = dt
        self.seed = seed
        self.pops = []  # (name, params, size)
        self.stims = []  # (pop, [spike times of the neuron])
        self.projs = []
        self.recw = []

    def pair_pops(self, pre, post, pre_trains, post_trains, post_extra=None):
        """Two populations whose neuron i spikes exactly at the given times."""
        assert len(pre_trains) == len(post_trains)
        n = len(pre_trains)
        pp = dict(POST_PARAMS)
        if post_extra:
            pp.update(post_extra)
        self.pops.append((pre, dict(PRE_PARAMS), n))
        self.pops.append((post, pp, n))
        self.stims.append((pre, pre_trains))
        self.stims.append((post, post_trains))

    def proj(self, pre, post, syn, connect=None, interval=None):
        syn = dict(syn)
        syn.setdefault("delay", self.delay)
        self.projs.append((pre, post, connect or {"rule": "one_to_one"}, syn))
        if interval is not None:
            self.recw.append((len(self.projs) - 1, interval))

    def write(self):
        d = self.delay
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
            # the neuron spikes at stimulus time + delay
            stim = []
            for tr in trains:
                s = [grid(t - d, self.dt) for t in tr]
                assert all(x > 0 for x in s), (self.name, pop, tr)
                assert all(b - a >= 2 * self.dt - 1e-9 for a, b in zip(s, s[1:])), (self.name, pop, tr)
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
            L.append(f"interval = {fmt(float(iv))}")
        L.append("")
        L.append("[run]")
        L.append(f"duration = {fmt(float(self.duration))}")
        L.append("")
        with open(os.path.join(CASES, self.name + ".toml"), "w") as f:
            f.write("\n".join(L))


def stdp(rule="stdp", **kw):
    s = {"rule": rule}
    s.update(kw)
    return s


# --------------------------------------------------------------------------
# (a) single pre/post pairs at many intervals

PAIR_DTS = sorted(set([float(x) for x in range(-50, 51, 5)] + [-1.5, -1.1, -1.0, -0.9, -0.5, 0.5, 1.0]))
PAIR_REPS = [100.0 + 200.0 * k for k in range(5)]
PAIR_FLUSH = 1100.0  # a lone pre spike that applies the pending facilitation


def pairs_case(name, mu, extra_comment):
    pre, post = [], []
    for dtp in PAIR_DTS:
        pre.append(PAIR_REPS + [PAIR_FLUSH])
        post.append([grid(t + dtp) for t in PAIR_REPS])
    c = Case(name, f"""
STDP reference (NEST stdp_synapse), {extra_comment}.
One Pre/Post pair per interval Dt = t_post - t_pre (spike times of the neurons):
Dt = {', '.join(f'{x:g}' for x in PAIR_DTS)} ms (neuron i <-> i-th Dt).
Each pair is repeated at t_pre = {', '.join(f'{x:g}' for x in PAIR_REPS)} ms; a lone pre spike
at {PAIR_FLUSH:g} ms then applies the facilitation still pending from the last post spike.
Plastic delay d = 1.0 ms (all dendritic in NEST): the effective pairing interval is Dt + d,
so Dt = -1.0 gives no pairing at all and Dt = -1.1 is the closest depressing pair.
Generated by make_cases.py; NEST data: make_nest_stdp.py -> data/{name}.json
""", duration=1200.0)
    c.pair_pops("Pre", "Post", pre, post)
    c.proj("Pre", "Post", stdp(weight=50.0, tau_plus=20.0, **{"lambda": 0.01}, alpha=1.0,
                               mu_plus=mu, mu_minus=mu, Wmax=100.0), interval=10.0)
    c.write()


# --------------------------------------------------------------------------
# random trains


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


def random_trains(seed, n, duration, pre_rate=10.0, post_rate=5.0, p_follow=0.5,
                  lags=None, jitter=6.0, tmin=3.0, bursts=False):
    """Pre: Poisson. Post: Poisson + a fraction of pre spikes copied with a lag
    (pair-specific mean lag, Gaussian jitter), so some pairs potentiate and
    some depress."""
    rng = np.random.default_rng(seed)
    if lags is None:
        lags = np.linspace(-15.0, 15.0, n)
    pre, post = [], []
    for i in range(n):
        p = poisson(rng, pre_rate, 0, duration)
        if bursts:
            # add short bursts (2-4 spikes, 2-6 ms apart) to get several spikes
            # between neighbours of the other train
            b = []
            for t in poisson(rng, 2.0, 0, duration):
                k = rng.integers(2, 5)
                b += list(t + np.cumsum(rng.uniform(2.0, 6.0, k)))
            p = np.concatenate([p, b])
        q = poisson(rng, post_rate, 0, duration)
        follow = p[rng.uniform(size=p.size) < p_follow]
        q = np.concatenate([q, follow + lags[i] + rng.normal(0.0, jitter, follow.size)])
        if bursts:
            b = []
            for t in poisson(rng, 2.0, 0, duration):
                k = rng.integers(2, 5)
                b += list(t + np.cumsum(rng.uniform(2.0, 6.0, k)))
            q = np.concatenate([q, b])
        pre.append(clean(p, tmin, duration - 0.1))
        post.append(clean(q, tmin, duration - 0.1))
    return pre, post


def random_case(name, rule, syn, comment, seed, duration=5000.0, delay=1.0, interval=20.0,
                post_extra=None, **kw):
    pre, post = random_trains(seed, 10, duration, **kw)
    c = Case(name, comment, duration=duration, delay=delay)
    c.pair_pops("Pre", "Post", pre, post, post_extra=post_extra)
    syn = dict(syn)
    c.proj("Pre", "Post", stdp(rule, **syn), interval=interval)
    c.write()


def main():
    os.makedirs(CASES, exist_ok=True)
    for f in os.listdir(CASES):
        if f.endswith(".toml"):
            os.remove(os.path.join(CASES, f))

    # (a)
    pairs_case("pairs_add", 0.0, "additive (mu_plus = mu_minus = 0), lambda 0.01, Wmax 100, w0 50")
    pairs_case("pairs_mult", 1.0, "multiplicative (mu_plus = mu_minus = 1), lambda 0.01, Wmax 100, w0 50")

    base = {"weight": 50.0, "tau_plus": 20.0, "lambda": 0.01, "alpha": 1.05, "Wmax": 100.0}
    # (b)
    random_case("poisson_add", "stdp", dict(base, mu_plus=0.0, mu_minus=0.0), """
STDP reference (NEST stdp_synapse), additive (mu 0), alpha 1.05, lambda 0.01, Wmax 100, w0 50.
10 one_to_one Pre/Post pairs, 5 s. Pre: Poisson 10 Hz; Post: Poisson 5 Hz plus half of the
pre spikes copied with a pair-specific lag (-15 .. +15 ms) and 6 ms Gaussian jitter.
d = 1.0 ms. Weights recorded every 20 ms. Generated by make_cases.py.
""", seed=11)
    random_case("poisson_mult", "stdp", dict(base, alpha=1.0, tau_plus=16.8, mu_plus=1.0, mu_minus=1.0), """
STDP reference (NEST stdp_synapse), multiplicative (mu 1), lambda 0.01, alpha 1.0, Wmax 100, w0 50,
non-default time constants tau_plus = 16.8 ms, Post tau_minus = 33.7 ms.
Same kind of trains as poisson_add (different seed). d = 1.0 ms. Generated by make_cases.py.
""", seed=12, post_extra={"tau_minus": 33.7})
    random_case("poisson_guetig", "stdp", dict(base, mu_plus=0.4, mu_minus=0.4, alpha=1.1), """
STDP reference (NEST stdp_synapse), Guetig et al. 2003 rule: mu_plus = mu_minus = 0.4
(non-integer powers), alpha 1.1, lambda 0.01, Wmax 100, w0 50. d = 1.0 ms. Generated by make_cases.py.
""", seed=13)
    random_case("poisson_delay25", "stdp", dict(base, mu_plus=0.0, mu_minus=0.0), """
STDP reference (NEST stdp_synapse), additive, plastic delay d = 2.5 ms (NEST treats the
whole delay as dendritic: pairs are formed between t_pre and t_post + d). Stimulus delays
are 2.5 ms too, so min_delay = 2.5 ms. Weights every 10 ms. Generated by make_cases.py.
""", seed=14, delay=2.5, interval=10.0, tmin=3.0)
    # (c)
    random_case("nn_symm_add", "stdp_nn_symm", dict(base, mu_plus=0.0, mu_minus=0.0), """
STDP reference (NEST stdp_nn_symm_synapse: symmetric nearest-neighbour pairing), additive,
alpha 1.05, lambda 0.01, Wmax 100, w0 50, d = 1.0 ms. Trains contain bursts so that several
spikes of one train fall between two neighbouring spikes of the other; several post
spikes precede the first pre spike (NEST pairs them with a virtual pre spike at t = 0,
see README). 3 s, weights every 35 ms (3000 is not a multiple of 35: the last snapshots
are at 2975 and, for the final weights, 3000). Generated by make_cases.py.
""", seed=21, duration=3000.0, bursts=True, interval=35.0)
    random_case("nn_symm_mult", "stdp_nn_symm", dict(base, alpha=1.0, tau_plus=15.0, mu_plus=1.0, mu_minus=1.0), """
STDP reference (NEST stdp_nn_symm_synapse), multiplicative (mu 1), tau_plus 15, Post
tau_minus 25, lambda 0.01, Wmax 100, w0 50, d = 1.0 ms, bursty trains, 3 s.
Generated by make_cases.py.
""", seed=22, duration=3000.0, bursts=True, post_extra={"tau_minus": 25.0})

    # hand-made patterns, stdp and stdp_nn_symm
    pats = [
        ([10.0], [5.0]),                 # 0: post before the only pre
        ([20.0, 40.0], [30.0]),          # 1: pre post pre
        ([20.0, 22.0, 24.0], [30.0]),    # 2: several pre before a post, then nothing
        ([20.0, 22.0, 24.0, 60.0], [30.0]),  # 3: ... then a late pre
        ([20.0, 40.0], [25.0, 27.0, 29.0]),  # 4: several post between two pre
        ([20.0, 40.0], [19.0]),          # 5: post exactly at t_pre - d
        ([20.0, 40.0], [18.9, 19.1]),    # 6: post just before / after t_pre - d
        ([30.0], [10.0, 15.0, 20.0]),    # 7: several post, then one pre (depression)
        ([20.0], [30.0]),                # 8: post after the last pre: never counted
        ([20.0, 50.0, 80.0], [35.0, 49.0, 65.0]),  # 9: alternating, one at t_pre - d
        ([2.0, 40.0], [1.5, 30.0]),      # 10: early spikes (first pre at 2.0)
        ([30.0, 30.5, 60.0], [30.0, 45.0]),  # 11: coincident pre/post, fast pre pair
        ([80.0, 99.0], [90.0]),          # 12: last pre arrives exactly at the end (99 + d = 100)
        ([80.0, 99.5], [95.0]),          # 13: last pre arrives after the end: not applied
    ]
    for rule, name in (("stdp", "patterns_stdp"), ("stdp_nn_symm", "patterns_nn_symm")):
        c = Case(name, f"""
STDP reference ({'NEST stdp_synapse' if rule == 'stdp' else 'NEST stdp_nn_symm_synapse'}), hand-made spike
patterns, one Pre/Post pair each (neuron i = pattern i), d = 1.0 ms,
additive with lambda 0.05, Wmax 100, w0 50; weights every 1 ms so the step in which
each change becomes visible is recorded. Patterns (pre | post spike times, ms):
""" + "\n".join(f"  {i}: {a} | {b}" for i, (a, b) in enumerate(pats)) + """
Generated by make_cases.py.
""", duration=100.0)
        c.pair_pops("Pre", "Post", [p for p, _ in pats], [q for _, q in pats])
        c.proj("Pre", "Post", stdp(rule, weight=50.0, tau_plus=20.0, **{"lambda": 0.05}, alpha=1.0,
                                   mu_plus=0.0, mu_minus=0.0, Wmax=100.0), interval=1.0)
        c.write()

    # (d) clipping at 0 and Wmax
    def rep(t0, period, n, off=0.0):
        return [grid(t0 + period * k + off) for k in range(n)]

    pot_pre, pot_post = rep(20, 40, 25), rep(20, 40, 25, 4.0)    # post 4 ms after pre
    dep_pre, dep_post = rep(20, 40, 25, 6.0), rep(20, 40, 25)    # post 6 ms before pre
    # bursts: 5 pre spikes 1 ms apart, post 3 ms after the last / before the first
    burst_pot_pre = [grid(20 + 100 * k + j) for k in range(10) for j in range(5)]
    burst_pot_post = [grid(20 + 100 * k + 7.0 + j) for k in range(10) for j in range(5)]
    burst_dep_post = [grid(20 + 100 * k + j) for k in range(10) for j in range(5)]
    burst_dep_pre = [grid(20 + 100 * k + 7.0 + j) for k in range(10) for j in range(5)]
    c = Case("clip", """
STDP reference (NEST stdp_synapse): clipping at 0 and Wmax. Wmax = 10 everywhere.
A (additive, lambda 0.1, w0 9.5): neuron 0 potentiating pairs (post 4 ms after pre, every
  40 ms): each facilitation overshoots and is clipped to Wmax, then the same pre spike's
  depression (from the post spike 36 ms earlier) takes a little off; neuron 1 depressing
  pairs (post 6 ms before pre) -> clipped at 0; neuron 2 pre 20, 26, 200 | post 25:
  at pre 26 the facilitation is clipped and there is no depression (the post spike at
  25 = t_pre - d is excluded from Kminus), so w = Wmax exactly from t = 27 on.
B (additive, lambda 0.02, w0 0.5, alpha 1.5): neuron 0 depressing -> clipped at 0 and
  stays there between facilitations; neuron 1 potentiating.
C (multiplicative, lambda 0.8, alpha 1.0, w0 5): bursts of 5 spikes 1 ms apart; neuron 0
  pre burst then post burst (lambda*K > 1 -> facilitation clipped at Wmax inside the
  update at the next pre spike), neuron 1 post burst then pre burst (alpha*lambda*K > 1
  -> depression clipped at 0; with mu_minus = 1 the weight then stays exactly 0 until a
  facilitation, and facilitation of 0 with mu_plus = 1 works normally).
d = 1.0 ms. Weights every 5 ms. Generated by make_cases.py.
""", duration=1100.0)
    c.pair_pops("PreA", "PostA", [pot_pre, dep_pre, [20.0, 26.0, 200.0]], [pot_post, dep_post, [25.0]])
    c.pair_pops("PreB", "PostB", [dep_pre, pot_pre], [dep_post, pot_post])
    c.pair_pops("PreC", "PostC", [burst_pot_pre, burst_dep_pre], [burst_pot_post, burst_dep_post])
    add = dict(tau_plus=20.0, mu_plus=0.0, mu_minus=0.0, Wmax=10.0)
    c.proj("PreA", "PostA", stdp(weight=9.5, **{"lambda": 0.1}, alpha=1.0, **add), interval=5.0)
    c.proj("PreB", "PostB", stdp(weight=0.5, **{"lambda": 0.02}, alpha=1.5, **add), interval=5.0)
    c.proj("PreC", "PostC", stdp(weight=5.0, tau_plus=20.0, **{"lambda": 0.8}, alpha=1.0,
                                 mu_plus=1.0, mu_minus=1.0, Wmax=10.0), interval=5.0)
    c.write()

    # (e) inhibitory: negative weight and Wmax; two plastic projections on the same pairs
    pre, post = random_trains(31, 6, 3000.0)
    c = Case("inhibitory", """
STDP reference (NEST stdp_synapse) with negative weights: weight and Wmax must have the
same sign in NEST (weight/Wmax is the normalised weight in [0, 1]; facilitation moves the
weight towards Wmax, i.e. makes it more negative). Two plastic projections Pre -> Post
(one_to_one, both recorded): 0 additive (w0 -20, Wmax -40, lambda 0.02),
1 multiplicative (w0 -5, Wmax -10, lambda 0.01, alpha 1.2). Both see the same spikes and
the same postsynaptic trace. 6 pairs, 3 s, d = 1.0 ms. Generated by make_cases.py.
""", duration=3000.0)
    c.pair_pops("Pre", "Post", pre, post)
    c.proj("Pre", "Post", stdp(weight=-20.0, tau_plus=20.0, **{"lambda": 0.02}, alpha=1.0,
                               mu_plus=0.0, mu_minus=0.0, Wmax=-40.0), interval=20.0)
    c.proj("Pre", "Post", stdp(weight=-5.0, tau_plus=20.0, **{"lambda": 0.01}, alpha=1.2,
                               mu_plus=1.0, mu_minus=1.0, Wmax=-10.0), interval=20.0)
    c.write()

    # all_to_all: several synapses share one postsynaptic trace / one presynaptic neuron
    rng = np.random.default_rng(41)
    dur = 3000.0
    pre = [clean(poisson(rng, 8.0, 0, dur), 3.0, dur - 0.1) for _ in range(6)]
    # post neurons fire partly after a random pre neuron's spike
    allpre = np.concatenate(pre)
    post = []
    for j in range(4):
        f = allpre[rng.uniform(size=allpre.size) < 0.12]
        q = np.concatenate([poisson(rng, 4.0, 0, dur), f + rng.normal(4.0 * (j - 1.5), 5.0, f.size)])
        post.append(clean(q, 3.0, dur - 0.1))
    c = Case("all_to_all_mult", """
STDP reference (NEST stdp_synapse), all_to_all 6 Pre -> 4 Post (24 synapses): every
postsynaptic trace / spike history is shared by 6 synapses, every pre spike updates 4.
Multiplicative (mu 1), lambda 0.01, alpha 1.0, Wmax 100, w0 30, d = 1.0 ms, 3 s,
weights every 25 ms. Generated by make_cases.py.
""", duration=dur)
    c.pops.append(("Pre", dict(PRE_PARAMS), len(pre)))
    c.pops.append(("Post", dict(POST_PARAMS), len(post)))
    c.stims.append(("Pre", pre))
    c.stims.append(("Post", post))
    c.proj("Pre", "Post", stdp(weight=30.0, tau_plus=20.0, **{"lambda": 0.01}, alpha=1.0,
                               mu_plus=1.0, mu_minus=1.0, Wmax=100.0),
           connect={"rule": "all_to_all"}, interval=25.0)
    c.write()

    print("wrote", sorted(os.listdir(CASES)))


if __name__ == "__main__":
    main()
