#!/usr/bin/env python3
"""Writes the renshaw descriptions of the Potjans & Diesmann (2014) microcircuit.

    python3 scripts/pd14_description.py            # writes both files below
    python3 scripts/pd14_description.py --check    # only checks that they are up to date

* examples/pd14.toml: with [parameters] (scale, bg_rate, poisson_background,
  seed, ...); every derived number is an expression over them.
* tests/reference/pd14/pd14_scale005.toml: scale 0.05 with literal numbers
  (no [parameters], no [run] warmup), for validation and tests today.

Both are evaluated from the same tables below, and the script checks that the
expressions of the parameterised file, evaluated at scale 0.05 (with the
description format's rules: f64 arithmetic, round half away from zero), give
exactly the literal file's numbers. Where every number comes from:
docs/pd14.md.
"""

import argparse
import math
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PARAM_OUT = os.path.join(ROOT, "examples", "pd14.toml")
LITERAL_OUT = os.path.join(ROOT, "tests", "reference", "pd14", "pd14_scale005.toml")
LITERAL_SCALE = 0.05

POPS = ["L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]
N_FULL = [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]
# connection probabilities [target][source] (network_params.py: conn_probs)
CONN_PROBS = [
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
]
K_EXT = [1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100]
V0_MEAN = [-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43]
V0_SD = [5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48]

# [parameters] of examples/pd14.toml, in order: (name, value or "${expr}", comment)
PARAMETERS = [
    ("scale", 1.0, "N_scaling: neuron numbers (and synapse totals) times scale; in-degrees stay full (K_scaling = 1)"),
    ("seed", 55, "rng seed (sim_params.py: rng_seed)"),
    ("t_presim", 500.0, "warm-up, ms (sim_params.py: t_presim)"),
    ("t_sim", 1000.0, "recorded time after the warm-up, ms (sim_params.py: t_sim)"),
    ("bg_rate", 8.0, "Hz per external (cortico-cortical) input (network_params.py: bg_rate)"),
    ("poisson_background", 1.0, "1: Poisson background, 0: DC of the same mean (network_params.py: bg_input_type)"),
    ("C_m", 250.0, "pF"),
    ("tau_m", 10.0, "ms"),
    ("tau_syn", 0.5, "ms, excitatory and inhibitory"),
    ("psp_exc", 0.15, "mV, PSP peak of the mean excitatory synapse (PSP_exc_mean)"),
    ("g", -4.0, "relative inhibitory weight"),
    ("w_rel_sd", 0.1, "relative sd of the weights (weight_rel_std)"),
    ("d_exc", 1.5, "ms, mean excitatory delay (delay_exc_mean)"),
    ("d_inh", 0.75, "ms, mean inhibitory delay (delay_inh_mean)"),
    ("d_rel_sd", 0.5, "relative sd of the delays (delay_rel_std)"),
    ("d_max_sd", 10.0, "delays above mean + d_max_sd sd are redrawn (renshaw needs a bound; the reference has none)"),
    ("d_ext", 1.5, "ms, delay of the background input (delay_poisson)"),
    ("t_peak", "${tau_m * tau_syn * ln(tau_m / tau_syn) / (tau_m - tau_syn)}",
     "ms, time of the PSP peak of an exponential PSC"),
    ("psc_per_psp", "${C_m * (tau_m - tau_syn) / (tau_m * tau_syn * (exp(-t_peak / tau_m) - exp(-t_peak / tau_syn)))}",
     "pA per mV: 585.39 (helpers.py: postsynaptic_potential_to_current)"),
    ("w_exc", "${psp_exc * psc_per_psp}", "pA, 87.81"),
    ("w_inh", "${g * w_exc}", "pA, -351.23"),
]


# --------------------------------------------------------------------------
# a small evaluator with the description format's expression rules
# --------------------------------------------------------------------------
def _round_half_away(x):
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


FUNCS = {"sqrt": math.sqrt, "exp": math.exp, "ln": math.log, "log10": math.log10,
         "round": _round_half_away, "floor": math.floor, "ceil": math.ceil, "abs": abs,
         "min": min, "max": max, "round_even": round}  # Python's round: half to even
EXPR = re.compile(r"^\$\{(.*)\}$")


def evaluate(expr, env):
    py = expr.replace("^", "**")
    if re.search(r"[^\w\s\.\+\-\*/\(\),]", py):
        raise ValueError(f"unexpected character in {expr!r}")
    v = eval(py, {"__builtins__": {}}, {**FUNCS, **env})  # noqa: S307 (own strings)
    return float(v)


def resolve(value, env):
    if isinstance(value, str):
        m = EXPR.match(value)
        if m:
            return evaluate(m.group(1), env)
    return value


def parameter_env(overrides=None):
    env = {}
    for name, value, _ in PARAMETERS:
        if overrides and name in overrides:
            value = overrides[name]
        env[name] = resolve(value, env)
    return env


# --------------------------------------------------------------------------
# the network as (key, value) items whose values are numbers or "${expr}"
# --------------------------------------------------------------------------
def q_full(i, j):
    """Full-scale total number of synapses j -> i (helpers.py:
    num_synapses_from_conn_probs): ln(1 - p) / ln((N_i N_j - 1) / (N_i N_j))."""
    prod = float(N_FULL[i]) * float(N_FULL[j])
    return math.log(1.0 - CONN_PROBS[i][j]) / math.log((prod - 1.0) / prod)


def half_even(x):
    """An expression for x rounded half to even, as np.round in the reference
    implementation (scale 0.05: L5E 242.5 -> 242; scale 0.1: L4E 2191.5 -> 2192)."""
    return f"round_even({x})"


def dc_expr(i):
    return f"${{(1 - poisson_background) * bg_rate * {K_EXT[i]} * w_exc * tau_syn * 0.001}}"


def network():
    pops = []
    for i, p in enumerate(POPS):
        pop = {"size": "${" + half_even(f"{N_FULL[i]} * scale") + "}",
               "I_e": dc_expr(i),
               "init": (V0_MEAN[i], V0_SD[i])}
        pops.append((p, pop))
    stimuli = []
    for i, p in enumerate(POPS):
        stimuli.append({"targets": p, "rate": f"${{poisson_background * bg_rate * {K_EXT[i]}}}",
                        "weight": "${w_exc}", "delay": "${d_ext}"})
    projections = []
    for i, post in enumerate(POPS):
        for j, pre in enumerate(POPS):
            if CONN_PROBS[i][j] == 0.0:
                continue
            exc = j % 2 == 0
            w = "w_exc" if exc else "w_inh"
            if (i, j) == (0, 2):
                w = "2 * w_exc"  # L4E -> L23E doubled
            d = "d_exc" if exc else "d_inh"
            projections.append({
                "from": pre, "to": post, "p": CONN_PROBS[i][j],
                "n": f"${{round({q_full(i, j)!r} * scale)}}",
                "w_mean": f"${{{w}}}", "w_std": f"${{w_rel_sd * abs({w})}}", "exc": exc,
                "d_mean": f"${{{d}}}", "d_std": f"${{d_rel_sd * {d}}}",
                "d_max": f"${{{d} * (1 + d_max_sd * d_rel_sd)}}",
            })
    return pops, stimuli, projections


def fmt(v):
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{v:.1f}"
    return repr(float(v))


def lit(v, env, integer=False):
    """The value of v as a literal (expressions evaluated)."""
    x = resolve(v, env)
    if integer:
        assert float(x).is_integer(), (v, x)
        return int(x)
    return float(x)


HEADER = """\
# Potjans & Diesmann (2014) cortical microcircuit: 77,169 iaf_psc_exp neurons in
# 8 populations (L2/3, L4, L5, L6; E and I) at scale 1, ~3e8 synapses.
# Model and numbers as the reference implementation INM-6/microcircuit-PD14-model
# (PyNEST/src/microcircuit/); every number and its source: docs/pd14.md.
#
# Written by scripts/pd14_description.py; edit that script, not this file.
#
# `scale` scales neuron numbers and synapse totals (the reference's N_scaling)
# and keeps the in-degrees of the full model (K_scaling = 1), so weights and
# the background need no compensation. Background: Poisson
# (poisson_background = 1, rate bg_rate * K_ext per neuron) or a DC of the
# same mean (poisson_background = 0; the reference's default is DC since 2025).
# Not included: the optional thalamic input (renshaw has no Poisson source
# neurons to connect with fixed_total_number; see docs/pd14.md).
#
#   renshaw run examples/pd14.toml --set scale=0.1
#
# NEST reference statistics (scale 0.05 and 0.1): tests/reference/pd14/.
"""

LITERAL_HEADER = """\
# Potjans & Diesmann (2014) microcircuit at scale 0.05 (N_scaling 0.05,
# full in-degrees) with literal numbers: examples/pd14.toml evaluated at
# scale = 0.05, seed = 55, Poisson background. 3,858 neurons, 14,944,047
# recurrent synapses. See docs/pd14.md.
#
# Written by scripts/pd14_description.py; edit that script, not this file.
#
# The reference warm-up is 500 ms: analyse only spikes after t = 500 ms
# (add `warmup = 500.0` to [run] once the format has it).
# NEST statistics of this network: tests/reference/pd14/pd14_nest_scale0.05.json.
"""


def render(literal, scale=LITERAL_SCALE):
    env = parameter_env({"scale": scale} if literal else None)
    pops, stimuli, projections = network()

    def val(v, integer=False):
        return fmt(lit(v, env, integer)) if literal else fmt(v)

    header = LITERAL_HEADER if literal else HEADER
    if literal and scale != LITERAL_SCALE:
        header = (f"# PD14 at scale {scale} with literal numbers, written by\n"
                  f"# scripts/pd14_description.py --literal {scale}. See docs/pd14.md.\n")
    out = [header, ""]
    if not literal:
        out.append("[parameters]")
        width = max(len(f"{n} = {fmt(v)}") for n, v, _ in PARAMETERS if not isinstance(v, str))
        for n, v, c in PARAMETERS:
            line = f"{n} = {fmt(v)}"
            if isinstance(v, str):
                out.append(f"# {c}")
                out.append(line)
            else:
                out.append(f"{line:<{width}}  # {c}")
        out.append("")
    out.append("[network]")
    out.append("dt = 0.1")
    out.append(f"seed = {lit('${seed}', env, True) if literal else fmt('${seed}')}")
    out.append("")
    first = pops[0][0]
    out.append("# sizes: N_full * scale rounded half to even, as np.round in the reference")
    out.append("# (network.py: num_neurons).")
    out.append("# I_e: the DC background, 0 with Poisson background (poisson_background = 1).")
    for k, (name, pop) in enumerate(pops):
        out.append(f"[populations.{name}]")
        if k == 0:
            out.append('model = "iaf_psc_exp"')
        else:
            out.append(f'like = "{first}"')
        out.append(f"size = {val(pop['size'], True)}")
        if k == 0:
            out.append("params = { " + ", ".join([
                f"C_m = {val('${C_m}')}", f"tau_m = {val('${tau_m}')}",
                f"tau_syn_ex = {val('${tau_syn}')}", f"tau_syn_in = {val('${tau_syn}')}",
                "E_L = -65.0", "V_th = -50.0", "V_reset = -65.0", "t_ref = 2.0",
                f"I_e = {val(pop['I_e'])}"]) + " }")
        else:
            out.append(f"params = {{ I_e = {val(pop['I_e'])} }}")
        m, s = pop["init"]
        out.append(f"init = {{ V_m = {{ normal = {{ mean = {fmt(m)}, std = {fmt(s)} }} }} }}")
        out.append("")
    out.append("# background: one independent Poisson train of rate bg_rate * K_ext per neuron")
    for st in stimuli:
        out.append("[[stimuli]]")
        out.append('kind = "poisson"')
        out.append(f'targets = "{st["targets"]}"')
        out.append(f"rate = {val(st['rate'])}")
        out.append(f"synapse = {{ weight = {val(st['weight'])}, delay = {val(st['delay'])} }}")
        out.append("")
    out.append("# recurrent connections: fixed_total_number, autapses and multapses allowed;")
    out.append("# weights normal, redrawn outside [0, inf) (E) or (-inf, 0] (I); delays normal,")
    out.append("# redrawn outside [0.05, mean + d_max_sd sd] ms (0.05 rounds to one step).")
    out.append("# The 9 pairs with connection probability 0 are left out.")
    for pr in projections:
        out.append("[[projections]]")
        out.append(f'from = "{pr["from"]}"')
        out.append(f'to = "{pr["to"]}"')
        out.append(f'connect = {{ rule = "fixed_total_number", n = {val(pr["n"], True)} }}  # p = {pr["p"]}')
        bound = "min = 0.0" if pr["exc"] else "max = 0.0"
        w = f"{{ normal_clipped = {{ mean = {val(pr['w_mean'])}, std = {val(pr['w_std'])}, {bound} }} }}"
        d = (f"{{ normal_clipped = {{ mean = {val(pr['d_mean'])}, std = {val(pr['d_std'])}, "
             f"min = 0.05, max = {val(pr['d_max'])} }} }}")
        out.append(f"synapse = {{ weight = {w}, delay = {d} }}")
        out.append("")
    for name, _ in pops:
        out.append("[[record]]")
        out.append(f'population = "{name}"')
        out.append("spikes = true")
        out.append("")
    out.append("[run]")
    if literal:
        out.append(f"duration = {fmt(lit('${t_presim + t_sim}', env))}")
    else:
        out.append('warmup = "${t_presim}"       # statistics from here on')
        out.append('duration = "${t_presim + t_sim}"')
    return "\n".join(out) + "\n"


def check_expressions():
    """Evaluate the parameterised file's strings at the literal scale and
    compare them with the literal file; also check that no synapse total or
    size is a rounding tie at common scales (numpy's round is half-to-even,
    the format's half away from zero)."""
    param_text, literal_text = render(False), render(True)
    env = parameter_env({"scale": LITERAL_SCALE})
    evaluated = re.sub(r'"\$\{([^"]*)\}"', lambda m: fmt_eval(m.group(1), env), param_text)
    # drop what only the parameterised file has
    body = evaluated.split("[network]", 1)[1].replace('warmup = 500.0       # statistics from here on\n', "")
    lit_body = literal_text.split("[network]", 1)[1]
    assert body == lit_body, "parameterised and literal files disagree at scale 0.05"
    for scale in [k / 1000 for k in range(1, 1001)]:
        assert not ties(scale), (scale, ties(scale))
        env_s = parameter_env({"scale": scale})
        for p, n in zip(POPS, N_FULL):
            assert evaluate(half_even(f"{n} * scale"), env_s) == round(n * scale), (scale, p)
    assert abs(env["w_exc"] - 87.80849352920843) < 1e-9, env["w_exc"]


def ties(scale):
    """Synapse totals that the description's round (half away from zero)
    rounds differently from the reference's np.round (half to even): the
    exact halves. (Sizes use half_even() and always agree.)"""
    out = []
    for i in range(8):
        for j in range(8):
            x = q_full(i, j) * scale
            if x > 0 and x - math.floor(x) == 0.5:
                out.append((f"{POPS[j]}->{POPS[i]}", x, _round_half_away(x), round(x)))
    return out


def fmt_eval(expr, env):
    x = evaluate(expr, env)
    # integers where the format expects them: sizes, n, seed
    if re.match(r"^(round|round_even|ceil)\(", expr) or expr == "seed":
        return str(int(x))
    return fmt(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="check that the files are up to date")
    ap.add_argument("--literal", type=float, metavar="SCALE",
                    help="print the literal description at SCALE (e.g. 0.1) to stdout instead")
    ap.add_argument("--ties", type=float, metavar="SCALE",
                    help="list sizes and totals that round differently from numpy at SCALE")
    a = ap.parse_args()
    if a.ties is not None:
        for what, x, ours, numpy in ties(a.ties):
            print(f"{what}: {x!r} -> description {ours}, reference (numpy) {numpy}")
        return
    check_expressions()
    if a.literal is not None:
        sys.stdout.write(render(True, a.literal))
        return
    ok = True
    for path, text in ((PARAM_OUT, render(False)), (LITERAL_OUT, render(True))):
        if a.check:
            with open(path) as f:
                if f.read() != text:
                    print(f"{os.path.relpath(path, ROOT)} is out of date")
                    ok = False
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path, ROOT)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
