#!/usr/bin/env python3
"""Executable spec of NEST 3.10's stdp_dopamine_synapse + volume_transmitter.

A pure-Python re-implementation (no NEST needed) of what NEST does, step by
step, for the cases in ``cases/*.toml``; it re-runs every case and compares
weights (and c, n, Kplus, and the weight_recorder values) with ``data/``.

    python3 tests/reference/dopamine/check_dopamine_rules.py            # all cases
    python3 tests/reference/dopamine/check_dopamine_rules.py quirks -v  # one, verbose
    python3 tests/reference/dopamine/check_dopamine_rules.py --no-prune # see README
    python3 tests/reference/dopamine/check_dopamine_rules.py --chronological  # see README

The spike trains are the imposed ones (stimulus time + stimulus delay, which
make_nest_dopamine.py checked against NEST's spike_recorder).

NEST's schedule, per min_delay slice (origin O, end E = O + min_delay, in steps),
with the default deliver_interval = 1:
  1. deliver: every pre spike emitted in the *previous* slice (stamp in
     (O - min_delay, O]) goes through its synapses: send(t_pre).
  2. update: post neurons archive their spikes of (O, E] (Kminus, history
     pruning); the volume transmitter appends the DA spikes that reach it in
     (O, E] (time = DA spike time + dopamine_delay, coincident ones merged
     with a multiplicity) to its list, then calls
     trigger_update_weight(list, t_trig = E) on every synapse of its model and
     resets the list to [(E, multiplicity 0)] (a pseudo spike).
  3. a weight snapshot at time E reads the state now (so a pre spike of the
     slice (O, E] is not yet processed).
send() and trigger_update_weight() below are line-by-line translations of
models/stdp_dopamine_synapse.h; get_history / get_K_value / set_spiketime of
nestkernel/archiving_node.cpp. Times are NEST's ms doubles: steps * tics_per_step
* 0.001 (Time::get_ms()).
"""

import json
import math
import os
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
DATA = os.path.join(HERE, "data")

STDP_EPS = 1.0e-6  # kernel().connection_manager.get_stdp_eps() default
DEFAULTS = dict(A_plus=1.0, A_minus=1.5, tau_plus=20.0, tau_c=1000.0, tau_n=200.0, b=0.0, Wmin=0.0, Wmax=200.0)
NEURON_DEFAULTS = dict(tau_minus=20.0)


class Clock:
    def __init__(self, dt):
        self.dt = dt
        self.tics_per_step = int(round(dt * 1000.0))  # tics_per_ms = 1000

    def ms(self, steps):
        return (steps * self.tics_per_step) * 0.001

    def steps(self, t):
        return int(round(t / self.dt))


class Archiver:
    """nest::ArchivingNode (the post neuron's spike history)."""

    def __init__(self, tau_minus, prune=True):
        self.tau_minus_inv = 1.0 / tau_minus
        self.Kminus = 0.0
        self.last_spike = -1.0
        self.history = []  # [t, Kminus, access_counter]
        self.n_incoming = 0
        self.max_delay = 0.0
        self.prune = prune

    def register(self, delay):
        self.n_incoming += 1
        self.max_delay = max(self.max_delay, delay)

    def set_spiketime(self, t_sp, min_delay_ms):
        if self.n_incoming:
            while self.prune and len(self.history) > 1:
                next_t_sp = self.history[1][0]
                if (self.history[0][2] >= self.n_incoming
                        and t_sp - next_t_sp > self.max_delay + min_delay_ms + STDP_EPS):
                    self.history.pop(0)
                else:
                    break
            self.Kminus = self.Kminus * math.exp((self.last_spike - t_sp) * self.tau_minus_inv) + 1.0
            self.last_spike = t_sp
            self.history.append([t_sp, self.Kminus, 0])
        else:
            self.last_spike = t_sp

    def get_history(self, t1, t2):
        """Entries with t1 + eps <= t < t2 + eps, access counters incremented."""
        t1_lim = t1 + STDP_EPS
        t2_lim = t2 + STDP_EPS
        i = len(self.history)
        while i > 0 and self.history[i - 1][0] >= t2_lim:
            i -= 1
        finish = i
        while i > 0 and self.history[i - 1][0] >= t1_lim:
            self.history[i - 1][2] += 1
            i -= 1
        return self.history[i:finish]

    def get_K_value(self, t):
        for h in reversed(self.history):
            if t - h[0] > STDP_EPS:
                return h[1] * math.exp((h[0] - t) * self.tau_minus_inv)
        return 0.0


class Synapse:
    """nest::stdp_dopamine_synapse (one connection)."""

    def __init__(self, w, delay, cp, target):
        self.weight = w
        self.Kplus = 0.0
        self.c = 0.0
        self.n = 0.0
        self.dopa_spikes_idx = 0
        self.t_last_update = 0.0
        self.delay = delay
        self.cp = cp
        self.target = target

    def update_dopamine_(self, dopa):
        minus_dt = dopa[self.dopa_spikes_idx][0] - dopa[self.dopa_spikes_idx + 1][0]
        self.dopa_spikes_idx += 1
        self.n = self.n * math.exp(minus_dt / self.cp["tau_n"]) + dopa[self.dopa_spikes_idx][1] / self.cp["tau_n"]

    def update_weight_(self, c0, n0, minus_dt):
        cp = self.cp
        taus_ = (cp["tau_c"] + cp["tau_n"]) / (cp["tau_c"] * cp["tau_n"])
        self.weight = self.weight - c0 * (n0 / taus_ * math.expm1(taus_ * minus_dt)
                                          - cp["b"] * cp["tau_c"] * math.expm1(minus_dt / cp["tau_c"]))
        if self.weight < cp["Wmin"]:
            self.weight = cp["Wmin"]
        if self.weight > cp["Wmax"]:
            self.weight = cp["Wmax"]

    def process_dopa_spikes_(self, dopa, t0, t1):
        cp = self.cp
        if len(dopa) > self.dopa_spikes_idx + 1 and t1 - dopa[self.dopa_spikes_idx + 1][0] > -STDP_EPS:
            n0 = self.n * math.exp((dopa[self.dopa_spikes_idx][0] - t0) / cp["tau_n"])
            self.update_weight_(self.c, n0, t0 - dopa[self.dopa_spikes_idx + 1][0])
            self.update_dopamine_(dopa)
            while len(dopa) > self.dopa_spikes_idx + 1 and t1 - dopa[self.dopa_spikes_idx + 1][0] > -STDP_EPS:
                cd = self.c * math.exp((t0 - dopa[self.dopa_spikes_idx][0]) / cp["tau_c"])
                self.update_weight_(cd, self.n, dopa[self.dopa_spikes_idx][0] - dopa[self.dopa_spikes_idx + 1][0])
                self.update_dopamine_(dopa)
            cd = self.c * math.exp((t0 - dopa[self.dopa_spikes_idx][0]) / cp["tau_c"])
            self.update_weight_(cd, self.n, dopa[self.dopa_spikes_idx][0] - t1)
        else:
            n0 = self.n * math.exp((dopa[self.dopa_spikes_idx][0] - t0) / cp["tau_n"])
            self.update_weight_(self.c, n0, t0 - t1)
        self.c = self.c * math.exp((t0 - t1) / cp["tau_c"])

    def send(self, t_spike, dopa):
        cp = self.cp
        d = self.delay
        hist = self.target.get_history(self.t_last_update - d, t_spike - d)
        t0 = self.t_last_update
        for h in hist:
            self.process_dopa_spikes_(dopa, t0, h[0] + d)
            t0 = h[0] + d
            minus_dt = self.t_last_update - t0
            if t_spike - h[0] > STDP_EPS:
                self.c += cp["A_plus"] * (self.Kplus * math.exp(minus_dt / cp["tau_plus"]))
        self.process_dopa_spikes_(dopa, t0, t_spike)
        self.c -= cp["A_minus"] * self.target.get_K_value(t_spike - d)
        sent = self.weight
        self.Kplus = self.Kplus * math.exp((self.t_last_update - t_spike) / cp["tau_plus"]) + 1.0
        self.t_last_update = t_spike
        return sent

    def trigger_update_weight(self, dopa, t_trig):
        cp = self.cp
        d = self.delay
        hist = self.target.get_history(self.t_last_update - d, t_trig - d)
        t0 = self.t_last_update
        for h in hist:
            self.process_dopa_spikes_(dopa, t0, h[0] + d)
            t0 = h[0] + d
            minus_dt = self.t_last_update - t0
            self.c += cp["A_plus"] * (self.Kplus * math.exp(minus_dt / cp["tau_plus"]))
        self.process_dopa_spikes_(dopa, t0, t_trig)
        self.n = self.n * math.exp((dopa[self.dopa_spikes_idx][0] - t_trig) / cp["tau_n"])
        self.Kplus = self.Kplus * math.exp((self.t_last_update - t_trig) / cp["tau_plus"])
        self.t_last_update = t_trig
        self.dopa_spikes_idx = 0


def imposed_spikes(desc, clock):
    """{pop: {local idx: sorted spike steps}} from the 1000-mV spike_times stimuli."""
    pops = desc["populations"]
    out = {p: {} for p in pops}
    for st in desc.get("stimuli", []):
        assert st["kind"] == "spike_times" and st["synapse"]["weight"] >= 1000.0
        tg = st["targets"]
        assert isinstance(tg, str), "only whole-population targets are used here"
        D = clock.steps(st["synapse"]["delay"])
        lists = st["spike_times"] if "spike_times" in st else [st["times"]] * pops[tg]["size"]
        for i, ts in enumerate(lists):
            out[tg].setdefault(i, set()).update(clock.steps(t) + D for t in ts)
    return {p: {i: sorted(s) for i, s in d.items()} for p, d in out.items()}


def all_delays(desc):
    ds = [st["synapse"]["delay"] for st in desc.get("stimuli", [])]
    for pj in desc.get("projections", []):
        ds.append(pj["synapse"].get("delay", desc.get("network", {}).get("dt", 0.1)))
        if pj["synapse"].get("rule") == "stdp_dopamine":
            ds.append(pj["synapse"].get("dopamine_delay", 1.0))
    return ds


def simulate(desc, snap_times, prune=True, chronological=False):
    """Run a case. Returns {proj: {"times", "values", "c", "n", "Kplus"}}, weight events."""
    net = desc.get("network", {})
    clock = Clock(float(net.get("dt", 0.1)))
    duration = float(desc["run"]["duration"])
    n_dur = clock.steps(duration)
    M = clock.steps(min(all_delays(desc)))  # min_delay in steps
    min_delay_ms = clock.ms(M)
    spikes = imposed_spikes(desc, clock)
    pops = desc["populations"]

    def size(p):
        return pops[p]["size"]

    archivers = {}  # (pop, idx) -> Archiver

    def arch(pop, i):
        if (pop, i) not in archivers:
            tm = pops[pop].get("params", {}).get("tau_minus", NEURON_DEFAULTS["tau_minus"])
            archivers[(pop, i)] = Archiver(tm, prune)
        return archivers[(pop, i)]

    projs = []  # dict(syns=[(src idx, tgt idx, Synapse)], pre_pop, vt arrivals {step: mult}, dopa list)
    for pi, pj in enumerate(desc["projections"]):
        syn = pj["synapse"]
        assert syn.get("rule") == "stdp_dopamine"
        assert isinstance(pj["from"], str) and isinstance(pj["to"], str)
        cp = {k: float(syn.get(k, v)) for k, v in DEFAULTS.items()}
        d = clock.ms(clock.steps(syn["delay"]))
        rule = pj["connect"]["rule"]
        if rule == "one_to_one":
            pairs = [(i, i) for i in range(size(pj["from"]))]
        elif rule == "all_to_all":
            pairs = [(i, j) for i in range(size(pj["from"])) for j in range(size(pj["to"]))]
        else:
            raise ValueError(rule)
        syns = []
        for i, j in pairs:
            a = arch(pj["to"], j)
            a.register(d)
            syns.append((i, j, Synapse(float(syn["weight"]), d, cp, a)))
        DD = clock.steps(syn.get("dopamine_delay", 1.0))
        arrivals = {}
        for _, steps in spikes[syn["dopamine"]].items():
            for s in steps:
                arrivals[s + DD] = arrivals.get(s + DD, 0) + 1
        by_pre = {}
        for i, j, s in syns:
            by_pre.setdefault(i, []).append((j, s))
        projs.append(dict(syns=syns, by_pre=by_pre, pre=pj["from"], arrivals=arrivals,
                          dopa=[(0.0, 0.0)]))  # init_buffers: pseudo dopa spike at t = 0

    post_events = sorted((s, pop, i) for (pop, i) in archivers for s in spikes[pop].get(i, []))
    snap_steps = {clock.steps(t): t for t in snap_times}
    out = {pi: {"times": [], "values": [], "c": [], "n": [], "Kplus": []} for pi in range(len(projs))}
    events = {pi: [] for pi in range(len(projs))}
    pe = 0
    for origin in range(0, n_dur, M):
        end = origin + M
        # 1. deliver the pre spikes of the previous slice
        #    (--chronological: those of this slice, i.e. before the trigger at its end)
        lo, hi = (origin, end) if chronological else (origin - M, origin)
        for pi, p in enumerate(projs):
            pre_ev = sorted((s, i) for i in p["by_pre"] for s in spikes[p["pre"]].get(i, [])
                            if lo < s <= hi)
            for s, i in pre_ev:
                for j, syn in p["by_pre"][i]:
                    w = syn.send(clock.ms(s), p["dopa"])
                    events[pi].append((clock.ms(s), i, j, w))
        # 2a. post neurons spike (and prune their history) during the slice
        while pe < len(post_events) and post_events[pe][0] <= end:
            s, pop, i = post_events[pe]
            archivers[(pop, i)].set_spiketime(clock.ms(s), min_delay_ms)
            pe += 1
        # 2b. volume transmitters: collect DA arrivals of (origin, end], trigger at end
        t_trig = clock.ms(end)
        for p in projs:
            for a in range(origin + 1, end + 1):
                if a in p["arrivals"]:
                    p["dopa"].append((clock.ms(a), float(p["arrivals"][a])))
            for _, _, syn in p["syns"]:
                syn.trigger_update_weight(p["dopa"], t_trig)
            p["dopa"] = [(t_trig, 0.0)]
        # 3. snapshots
        if end in snap_steps:
            for pi, p in enumerate(projs):
                o = out[pi]
                o["times"].append(snap_steps[end])
                o["values"].append([s.weight for _, _, s in p["syns"]])
                o["c"].append([s.c for _, _, s in p["syns"]])
                o["n"].append([s.n for _, _, s in p["syns"]])
                o["Kplus"].append([s.Kplus for _, _, s in p["syns"]])
    order = {pi: [(i, j) for i, j, _ in p["syns"]] for pi, p in enumerate(projs)}
    return out, events, order


def check_case(name, prune=True, verbose=False, chronological=False):
    with open(os.path.join(CASES, name + ".toml"), "rb") as f:
        desc = tomllib.load(f)
    with open(os.path.join(DATA, name + ".json")) as f:
        data = json.load(f)
    snap_times = sorted({t for d in data["weights"].values() for t in d["times"]})
    out, events, order = simulate(desc, snap_times, prune, chronological)
    worst = {}
    ok = True
    for p, d in data["weights"].items():
        pi = int(p)
        idx = {st: k for k, st in enumerate(order[pi])}
        cols = [idx[(s, t)] for s, t in zip(d["sources"], d["targets"])]
        rows = [out[pi]["times"].index(t) for t in d["times"]]
        for key in ("values", "c", "n", "Kplus"):
            err = 0.0
            where = None
            for r, k in enumerate(rows):
                for q, col in enumerate(cols):
                    e = abs(out[pi][key][k][col] - d[key][r][q])
                    if e > err:
                        err, where = e, (d["times"][r], d["sources"][q], d["targets"][q],
                                         d[key][r][q], out[pi][key][k][col])
            worst[(p, key)] = (err, where)
            if err > 1e-9:
                ok = False
        ev = sorted((round(t, 9), i, j, w) for t, i, j, w in events[pi])
        de = data["weight_events"][p]
        ref = list(zip(de["times"], de["sources"], de["targets"], de["weights"]))
        if len(ev) != len(ref) or any(a[:3] != tuple(b[:3]) for a, b in zip(ev, ref)):
            ok = False
            worst[(p, "events")] = ("event list differs", None)
        else:
            e = max([abs(a[3] - b[3]) for a, b in zip(ev, ref)] or [0.0])
            worst[(p, "events")] = (e, None)
            if e > 1e-9:
                ok = False
    summary = ", ".join(f"p{p} {k} {v[0]:.1e}" if isinstance(v[0], float) else f"p{p} {k} {v[0]}"
                        for (p, k), v in sorted(worst.items()))
    print(f"{name}: {'OK' if ok else 'MISMATCH'} (max |spec - NEST|: {summary})")
    if verbose or not ok:
        for (p, k), (e, where) in sorted(worst.items()):
            if where is not None:
                print(f"    p{p} {k}: worst at (t, src, tgt, NEST, spec) = {where}")
    return ok


def main(argv):
    prune = "--no-prune" not in argv
    chrono = "--chronological" in argv
    verbose = "-v" in argv
    names = [a for a in argv if not a.startswith("-")]
    if not names:
        names = sorted(os.path.splitext(f)[0] for f in os.listdir(CASES) if f.endswith(".toml"))
    ok = all([check_case(n, prune, verbose, chrono) for n in names])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
