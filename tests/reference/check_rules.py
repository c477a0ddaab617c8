#!/usr/bin/env python3
"""Executable spec of NEST's step semantics, checked against data/*.json.

A pure-Python (no NEST) re-implementation of iaf_psc_delta / iaf_psc_exp
with the timing rules described in README.md. It re-simulates every case
whose populations are all psc_delta / psc_exp and compares spike steps and
V_m samples with the NEST data. Expected: identical spikes, |dV| < 1e-12.

    python3 tests/reference/check_rules.py [case ...]
"""
import json, math, os, sys, tomllib
HERE = os.path.dirname(os.path.abspath(__file__))


def resolve_populations(desc):
    raw = desc.get("populations", {})
    out = {}
    def get(name):
        if name not in out:
            p = raw[name]
            res = dict(get(p["like"])) if "like" in p else {}
            res.update({k: v for k, v in p.items() if k != "like"})
            res.setdefault("params", {}); res.setdefault("init", {})
            out[name] = res
        return out[name]
    return {n: get(n) for n in raw}


# NEST 3.10 defaults of the parameters used below
DEF = {"iaf_psc_delta": dict(C_m=250.0,E_L=-70.0,I_e=0.0,V_reset=-70.0,V_th=-55.0,t_ref=2.0,tau_m=10.0,V_m=-70.0),
       "iaf_psc_exp": dict(C_m=250.0,E_L=-70.0,I_e=0.0,V_reset=-70.0,V_th=-55.0,t_ref=2.0,tau_m=10.0,tau_syn_ex=2.0,tau_syn_in=2.0,V_m=-70.0)}


def steps(x, dt):
    """ms -> steps, NEST rule: round half up of x * steps_per_ms."""
    return math.floor(x * (1000.0 / round(dt * 1000)) + 0.5)


def run(case):
    desc = tomllib.load(open(os.path.join(HERE, "cases", case + ".toml"), "rb"))
    dt = desc["network"]["dt"]; T = desc["run"]["duration"]; nsteps = steps(T, dt)
    pops = resolve_populations(desc)
    neurons = []  # (pop, idx, params)
    index = {}
    for pn, p in pops.items():
        for i in range(p["size"]):
            q = dict(DEF[p["model"]]); q.update(p["params"]); q.update(p["init"]); q["model"] = p["model"]
            index[(pn, i)] = len(neurons); neurons.append((pn, i, q))
    N = len(neurons); L = nsteps + 500
    ex = [[0.0]*L for _ in range(N)]; inh = [[0.0]*L for _ in range(N)]; cur = [[0.0]*L for _ in range(N)]
    def tg(t):
        if isinstance(t, str): t = [t]
        if isinstance(t, dict): return [(t["population"], i) for i in t.get("neurons", range(pops[t["population"]]["size"]))]
        return [(pn, i) for pn in t for i in range(pops[pn]["size"])]
    # ex/inh[n][k]: weight arriving in step k (the step ending at (k+1)*dt);
    # cur[n][k]: current read at the END of step k, used in step k+1.
    for st in desc.get("stimuli", []):
        ts = tg(st["targets"])
        if st["kind"] == "spike_times":
            w = st["synapse"]["weight"]; D = steps(st["synapse"]["delay"], dt)
            lists = st.get("spike_times") or [st["times"]]*len(ts)
            for nn, times in zip(ts, lists):
                for t in times:
                    k = steps(t, dt) + D - 1   # arrival step index (step ending at t+d)
                    (ex if w >= 0 else inh)[index[nn]][k] += w
        else:
            syn = st.get("synapse", {}); w = syn.get("weight", 1.0); D = steps(syn.get("delay", dt), dt)
            # generator step j emits the amplitude valid at time (j+1)*dt
            # (dc: start <= (j+1)*dt < stop); it reaches slot j + D.
            for j in range(nsteps):
                tj = j + 1  # in steps
                if st["kind"] == "dc":
                    s = steps(st.get("start", 0.0), dt); e = steps(st.get("stop", 1e9), dt)
                    a = st["amplitude"] if s <= tj < e else 0.0
                else:
                    a = 0.0
                    for tt, aa in zip(st["times"], st["amplitudes"]):
                        if steps(tt, dt) <= tj: a = aa
                for nn in ts: cur[index[nn]][j + D] += w * a   # read at end of step j+D
    conns = []
    for pj in desc.get("projections", []):
        w = pj["synapse"]["weight"]; D = steps(pj["synapse"]["delay"], dt)
        rule = pj["connect"]["rule"]; aut = pj["connect"].get("allow_autapses", True)
        for s in ([pj["from"]] if isinstance(pj["from"], str) else pj["from"]):
            for t in ([pj["to"]] if isinstance(pj["to"], str) else pj["to"]):
                for i in range(pops[s]["size"]):
                    for j in range(pops[t]["size"]):
                        if rule == "one_to_one" and i != j: continue
                        if s == t and i == j and not aut: continue
                        conns.append((index[(s,i)], index[(t,j)], w, D))
    out = {index[k]: [] for k in index}
    st = []
    for (pn, i, q) in neurons:
        h = dt; P = {}
        P["P22"] = math.exp(-h/q["tau_m"]); P["P20"] = q["tau_m"]/q["C_m"]*(1-P["P22"])
        if q["model"] == "iaf_psc_exp":
            for k, tau in (("ex", q["tau_syn_ex"]), ("in", q["tau_syn_in"])):
                P["P11"+k] = math.exp(-h/tau)
                if tau == q["tau_m"]: P["P21"+k] = h/q["C_m"]*math.exp(-h/tau)
                else: P["P21"+k] = tau*q["tau_m"]/(q["C_m"]*(q["tau_m"]-tau))*(math.exp(-h/q["tau_m"])-math.exp(-h/tau))
        st.append(dict(V=q["V_m"]-q["E_L"], r=0, iex=0.0, iin=0.0, i0=0.0, P=P, q=q, RC=steps(q["t_ref"], dt)))
    Vrec = {n: [] for n in range(N)}
    # step k: integrate V over [k*dt, (k+1)*dt) with I_syn / i0 from the start
    # of the step, then decay I_syn and add arriving spikes, threshold,
    # read the current buffer, record the sample stamped (k+1)*dt.
    for k in range(nsteps):
        for n in range(N):
            s = st[n]; q = s["q"]; P = s["P"]
            if q["model"] == "iaf_psc_delta":
                if s["r"] == 0:
                    s["V"] = P["P20"]*(s["i0"] + q["I_e"]) + P["P22"]*s["V"] + ex[n][k] + inh[n][k]
                else:
                    s["r"] -= 1  # input arriving while refractory is dropped
            else:
                if s["r"] == 0:
                    s["V"] = s["V"]*P["P22"] + s["iex"]*P["P21ex"] + s["iin"]*P["P21in"] + (q["I_e"] + s["i0"])*P["P20"]
                else:
                    s["r"] -= 1
                s["iex"] = s["iex"]*P["P11ex"] + ex[n][k]; s["iin"] = s["iin"]*P["P11in"] + inh[n][k]
            if s["V"] >= q["V_th"] - q["E_L"]:
                s["r"] = s["RC"]; s["V"] = q["V_reset"] - q["E_L"]; out[n].append(k+1)
                for (a, b, w, D) in conns:
                    if a == n:
                        (ex if w >= 0 else inh)[b][k + D] += w
            s["i0"] = cur[n][k]
            Vrec[n].append(s["V"] + q["E_L"])
    return desc, dt, neurons, out, Vrec


def check(case):
    desc, dt, neurons, out, Vrec = run(case)
    ref = json.load(open(os.path.join(HERE, "data", case + ".json")))
    ok = True
    pos = {(pn, i): n for n, (pn, i, q) in enumerate(neurons)}
    for pn, d in ref["spikes"].items():
        rec = set(range(len([1 for nn in neurons if nn[0] == pn])))
        for r in desc.get("record", []):
            if r["population"] == pn and "neurons" in r:
                rec = set(r["neurons"])
        for i in rec:
            r = [round(t / dt) for s, t in zip(d["senders"], d["times"]) if s == i]
            if r != out[pos[(pn, i)]]:
                ok = False
                print(f"  spike mismatch {pn}[{i}]: NEST steps {r[:5]} rules {out[pos[(pn, i)]][:5]}")
    maxerr = 0.0
    for pn, vs in ref["state"].items():
        if "V_m" in vs:
            v = vs["V_m"]
            for t, s, x in zip(v["times"], v["senders"], v["values"]):
                maxerr = max(maxerr, abs(Vrec[pos[(pn, s)]][round(t / dt) - 1] - x))
    ok = ok and maxerr < 1e-9
    print(f"{case}: {'OK' if ok else 'FAIL'} (spikes {'equal' if ok else 'differ'}, max |V_m - NEST| = {maxerr:.2e} mV)")
    return ok


if __name__ == "__main__":
    cases = sys.argv[1:] or sorted(f[:-5] for f in os.listdir(os.path.join(HERE, "cases")) if f.endswith(".toml"))
    bad = 0
    for c in cases:
        with open(os.path.join(HERE, "cases", c + ".toml"), "rb") as fh:
            models = {p.get("model") for p in resolve_populations(tomllib.load(fh)).values()}
        if not models <= set(DEF):
            print(f"{c}: skipped (models {sorted(models)})")
            continue
        bad += not check(c)
    sys.exit(1 if bad else 0)
