//! Validation of descriptions, data-driven: each test gives a description
//! and the exact list of diagnostics it must produce, rendered as
//! `LINE:COL: PATH: MESSAGE` in the order `parse_str` returns them.
//!
//! The text of each case starts on the line after `r#"` (one leading newline
//! is dropped), so line 1 is the first line of the description.
//!
//! When an expectation changes, the failure message prints the actual list
//! as Rust source, ready to paste.

use renshaw::description::{
    ConnectRule, Description, Diagnostic, Dist, Format, StimulusKind, parse_str,
};
use renshaw::models::ModelKind;

fn strip(text: &str) -> &str {
    text.strip_prefix('\n').unwrap_or(text)
}

fn render(d: &Diagnostic) -> String {
    format!("{}:{}: {}: {}", d.line, d.column, d.path, d.message)
}

fn errors(text: &str, format: Format) -> Vec<Diagnostic> {
    match parse_str(strip(text), format, "test.toml") {
        Ok(_) => panic!("expected errors, but the description is valid:\n{text}"),
        Err(e) => {
            assert!(!e.0.is_empty(), "Err with an empty list of diagnostics");
            for d in &e.0 {
                assert_eq!(d.file, "test.toml");
            }
            e.0
        }
    }
}

fn compare(text: &str, format: Format, expected: &[&str]) -> Vec<Diagnostic> {
    let diags = errors(text, format);
    let actual: Vec<String> = diags.iter().map(render).collect();
    if actual != expected {
        let mut listing = String::from("&[\n");
        for a in &actual {
            listing.push_str(&format!("    {a:?},\n"));
        }
        listing.push(']');
        let full: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        panic!(
            "diagnostics differ\n--- input ---\n{}\n--- expected ---\n{expected:#?}\n--- actual (paste-able) ---\n{listing}\n--- actual, in full ---\n{}",
            strip(text),
            full.join("\n")
        );
    }
    diags
}

/// Parses TOML `text`, expects it to be rejected with exactly `expected`.
fn check(text: &str, expected: &[&str]) -> Vec<Diagnostic> {
    compare(text, Format::Toml, expected)
}

/// Like [`check`], for JSON.
fn check_json(text: &str, expected: &[&str]) -> Vec<Diagnostic> {
    compare(text, Format::Json, expected)
}

/// Parses TOML `text` and expects it to be valid.
fn ok(text: &str) -> Description {
    parse_str(strip(text), Format::Toml, "test.toml").unwrap_or_else(|e| {
        panic!(
            "expected a valid description:\n{}\n--- errors ---\n{e}",
            strip(text)
        )
    })
}

/// Asserts that the help of diagnostic `i` contains `needle`.
fn help_contains(diags: &[Diagnostic], i: usize, needle: &str) {
    let help = diags[i]
        .help
        .as_deref()
        .unwrap_or_else(|| panic!("diagnostic {i} has no help: {}", diags[i]));
    assert!(
        help.contains(needle),
        "help of diagnostic {i} lacks {needle:?}: {help}"
    );
}

// ---------------------------------------------------------------- top level

#[test]
fn unknown_top_level_key_suggests() {
    let d = check(
        r#"
[netwrok]
dt = 0.1

[populations.A]
model = "iaf_psc_exp"
size = 10

[run]
duration = 100.0
"#,
        &["1:2: netwrok: unknown key `netwrok`"],
    );
    help_contains(&d, 0, "did you mean `network`?");
}

#[test]
fn missing_run() {
    let d = check(
        r#"
[populations.A]
model = "iaf_psc_exp"
size = 10
"#,
        &["1:1: run: missing table `run`"],
    );
    help_contains(&d, 0, "duration");
}

#[test]
fn missing_populations() {
    check(
        r#"
[run]
duration = 100.0
"#,
        &["1:1: populations: missing table `populations`: a network needs at least one population"],
    );
}

#[test]
fn dt_must_be_positive() {
    check(
        r#"
[network]
dt = 0.0

[populations.A]
model = "iaf_psc_exp"
size = 10

[run]
duration = 100.0
"#,
        &["2:6: network.dt: must be a positive time step in ms, got 0"],
    );
    check(
        r#"
[network]
dt = -0.1

[populations.A]
model = "iaf_psc_exp"
size = 10

[run]
duration = 100.0
"#,
        &["2:6: network.dt: must be a positive time step in ms, got -0.1"],
    );
}

#[test]
fn duration_off_grid() {
    check(
        r#"
[network]
dt = 0.1

[populations.A]
model = "iaf_psc_exp"
size = 10

[run]
duration = 100.05
"#,
        &["9:12: run.duration: 100.05 ms is not a multiple of dt = 0.1 ms"],
    );
}

#[test]
fn warmup_is_checked() {
    let case = |warmup: &str| {
        format!(
            "[network]\ndt = 0.1\n\n[populations.A]\nmodel = \"iaf_psc_exp\"\nsize = 10\n\n[run]\nduration = 100.0\nwarmup = {warmup}\n"
        )
    };
    check(
        &case("-1.0"),
        &["10:10: run.warmup: must be a time >= 0 ms, got -1"],
    );
    check(
        &case("10.05"),
        &["10:10: run.warmup: 10.05 ms is not a multiple of dt = 0.1 ms"],
    );
    let d = check(
        &case("100.0"),
        &[
            "10:10: run.warmup: 100 ms leaves nothing to analyse: it must be shorter than run.duration (100 ms)",
        ],
    );
    help_contains(&d, 0, "after the warmup");
    check(
        &case("\"long\""),
        &["10:10: run.warmup: expected a number, found a string"],
    );
    // Every problem of the table is reported at once.
    let d = check(
        "[populations.A]\nmodel = \"iaf_psc_exp\"\nsize = 10\n\n[run]\nduration = 0.0\nwarmup = -2.0\nwarmpu = 1.0\n",
        &[
            "6:12: run.duration: must be a positive time in ms, got 0",
            "7:10: run.warmup: must be a time >= 0 ms, got -2",
            "8:1: run.warmpu: unknown key `warmpu`",
        ],
    );
    help_contains(&d, 2, "did you mean `warmup`?");
}

#[test]
fn warmup_defaults_to_zero_and_is_read() {
    let without = ok(r#"
[populations.A]
model = "iaf_psc_exp"
size = 10

[run]
duration = 100.0
"#);
    assert_eq!((without.run.duration, without.run.warmup), (100.0, 0.0));
    let with = ok(r#"
[populations.A]
model = "iaf_psc_exp"
size = 10

[run]
duration = 100.0
warmup = 99.9
"#);
    assert_eq!((with.run.duration, with.run.warmup), (100.0, 99.9));
}

// ---------------------------------------------------------------- populations

#[test]
fn unknown_model_suggests() {
    let d = check(
        r#"
[populations.A]
model = "iaf_psc_exps"
size = 10

[run]
duration = 100.0
"#,
        &["2:9: populations.A.model: unknown model `iaf_psc_exps`"],
    );
    help_contains(&d, 0, "did you mean `iaf_psc_exp`?");
}

#[test]
fn unknown_parameter() {
    let d = check(
        r#"
[populations.A]
model = "iaf_psc_exp"
size = 10
params = { tau_syn_exc = 2.0, I_e = 1.0 }

[populations.B]
model = "iaf_psc_delta"
size = 10
params = { tau_syn_ex = 2.0 }

[run]
duration = 100.0
"#,
        &[
            "4:12: populations.A.params.tau_syn_exc: `tau_syn_exc` is not a parameter of iaf_psc_exp",
            "9:12: populations.B.params.tau_syn_ex: `tau_syn_ex` is not a parameter of iaf_psc_delta",
        ],
    );
    help_contains(&d, 0, "did you mean `tau_syn_ex`?");
}

#[test]
fn state_variable_in_params_is_accepted() {
    let desc = ok(r#"
[populations.A]
model = "iaf_psc_exp"
size = 10
params = { V_m = -65.0, I_e = 10.0 }

[run]
duration = 100.0
"#);
    let p = &desc.populations[0];
    assert_eq!(p.init[0], Some(Dist::Constant(-65.0)));
    assert_eq!(p.params[p.model.param_index("I_e").unwrap()], 10.0);
}

#[test]
fn size_must_be_a_positive_integer() {
    check(
        r#"
[populations.A]
model = "iaf_psc_exp"
size = 0

[populations.B]
model = "iaf_psc_exp"
size = -3

[populations.C]
model = "iaf_psc_exp"
size = 10.0

[populations.D]
model = "iaf_psc_exp"

[run]
duration = 100.0
"#,
        &[
            "3:8: populations.A.size: must be a positive number of neurons (at most 2147483647), got 0",
            "7:8: populations.B.size: must be a positive number of neurons (at most 2147483647), got -3",
            "11:8: populations.C.size: expected an integer, found a float",
            "13:14: populations.D: missing key `size`",
        ],
    );
}

#[test]
fn parameter_constraints() {
    check(
        r#"
[populations.A]
model = "iaf_psc_exp"
size = 10
params = { V_reset = -50.0, V_th = -55.0 }

[populations.B]
model = "iaf_psc_delta"
size = 10
params = { C_m = -250.0 }

[populations.C]
model = "iaf_cond_exp"
size = 10
params = { t_ref = -1.0 }

[populations.D]
model = "iaf_psc_exp"
size = 10
params = { V_reset = -55.0, V_th = -55.0 }

[run]
duration = 100.0
"#,
        &[
            "4:22: populations.A.params.V_reset: must be below V_th (-55 mV), got -50 mV",
            "9:18: populations.B.params.C_m: must be a positive finite number, got -250",
            "14:20: populations.C.params.t_ref: must be >= 0, got -1",
            "19:22: populations.D.params.V_reset: must be below V_th (-55 mV), got -55 mV",
        ],
    );
}

#[test]
fn like_missing_and_cycle() {
    let d = check(
        r#"
[populations.Exc]
model = "iaf_psc_exp"
size = 10

[populations.B]
like = "Ecx"

[populations.C]
like = "D"
size = 3

[populations.D]
like = "C"

[run]
duration = 100.0
"#,
        &[
            "6:8: populations.B.like: no population named `Ecx`",
            "9:8: populations.C.like: `like` chain loops back to `D`",
            "13:8: populations.D.like: `like` chain loops back to `C`",
        ],
    );
    help_contains(&d, 0, "did you mean `Exc`?");
}

#[test]
fn init_distributions() {
    let d = check(
        r#"
[populations.A]
model = "iaf_psc_exp"
size = 10
init = { V_m = { gauss = { mean = -65.0, std = 2.0 } } }

[populations.B]
model = "iaf_psc_exp"
size = 10
init = { V_m = { uniform = [-60.0, -70.0] } }

[populations.C]
model = "iaf_psc_exp"
size = 10
init = { V_m = { normal = { mean = -65.0, std = -1.0 } } }

[populations.D]
model = "iaf_psc_exp"
size = 10
init = { V_x = -65.0 }

[run]
duration = 100.0
"#,
        &[
            "4:18: populations.A.init.V_m.gauss: unknown distribution `gauss`",
            "9:28: populations.B.init.V_m.uniform: low (-60) exceeds high (-70)",
            "14:49: populations.C.init.V_m.normal.std: must be >= 0, got -1",
            "19:10: populations.D.init.V_x: `V_x` is not a state variable of iaf_psc_exp",
        ],
    );
    help_contains(&d, 0, "allowed: uniform, normal, normal_clipped, lognormal");
    help_contains(&d, 3, "did you mean `V_m`?");
}

// ---------------------------------------------------------------- references

#[test]
fn unknown_population_references_suggest() {
    let d = check(
        r#"
[populations.Exc]
model = "iaf_psc_exp"
size = 10

[populations.Inh]
model = "iaf_psc_exp"
size = 5

[[stimuli]]
kind = "dc"
amplitude = 100.0
targets = ["Exc", "Ihn"]

[[projections]]
from = "Ecx"
to = "Inh"
connect = { rule = "all_to_all" }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = "Exc"
to = { population = "inh" }
connect = { rule = "all_to_all" }
synapse = { weight = 1.0, delay = 1.0 }

[[record]]
population = "Exk"

[run]
duration = 100.0
"#,
        &[
            "12:19: stimuli[0].targets[1]: no population named `Ihn`",
            "15:8: projections[0].from: no population named `Ecx`",
            "22:21: projections[1].to.population: no population named `inh`",
            "27:14: record[0].population: no population named `Exk`",
        ],
    );
    help_contains(&d, 0, "did you mean `Inh`?");
    help_contains(&d, 1, "did you mean `Exc`?");
    help_contains(&d, 2, "did you mean `Inh`?");
    help_contains(&d, 3, "did you mean `Exc`?");
}

// ---------------------------------------------------------------- projections

/// Two populations A (10) and B (4), then `rest`.
fn with_ab(rest: &str) -> String {
    format!(
        "[populations.A]\nmodel = \"iaf_psc_exp\"\nsize = 10\n\n[populations.B]\nmodel = \"iaf_psc_exp\"\nsize = 4\n\n[run]\nduration = 100.0\n{rest}"
    )
}

#[test]
fn probability_outside_unit_interval() {
    check(
        &with_ab(
            r#"
[[projections]]
from = "A"
to = "B"
connect = { rule = "fixed_probability", p = 1.5 }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = "A"
to = "B"
connect = { rule = "fixed_probability", p = -0.1 }
synapse = { weight = 1.0, delay = 1.0 }
"#,
        ),
        &[
            "15:45: projections[0].connect.p: a probability must lie in [0, 1], got 1.5",
            "21:45: projections[1].connect.p: a probability must lie in [0, 1], got -0.1",
        ],
    );
}

#[test]
fn degrees_and_totals_without_multapses() {
    let d = check(
        &with_ab(
            r#"
[[projections]]
from = "B"
to = "A"
connect = { rule = "fixed_indegree", indegree = 5, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = "A"
to = "A"
connect = { rule = "fixed_indegree", indegree = 10, allow_autapses = false, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = "A"
to = "B"
connect = { rule = "fixed_outdegree", outdegree = 5, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = "A"
to = "B"
connect = { rule = "fixed_total_number", n = 41, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = "A"
to = "B"
connect = { rule = "one_to_one" }
synapse = { weight = 1.0, delay = 1.0 }
"#,
        ),
        &[
            "15:49: projections[0].connect.indegree: indegree 5 exceeds the 4 available sources and multapses are not allowed",
            "21:49: projections[1].connect.indegree: indegree 10 exceeds the 9 available sources and multapses are not allowed",
            "27:51: projections[2].connect.outdegree: outdegree 5 exceeds the 4 available targets and multapses are not allowed",
            "33:46: projections[3].connect.n: 41 connections exceed the 40 possible pairs and multapses are not allowed",
            "39:20: projections[4].connect.rule: one_to_one needs equal sizes, got 10 sources and 4 targets",
        ],
    );
    help_contains(&d, 0, "allow_multapses = true");
}

#[test]
fn degrees_at_the_limit_are_accepted() {
    let desc = ok(&with_ab(
        r#"
[[projections]]
from = "B"
to = "A"
connect = { rule = "fixed_indegree", indegree = 4, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = "A"
to = "A"
connect = { rule = "fixed_indegree", indegree = 9, allow_autapses = false, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = "A"
to = "B"
connect = { rule = "fixed_total_number", n = 40, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = "A"
to = "B"
connect = { rule = "fixed_indegree", indegree = 50 }
synapse = { weight = 1.0, delay = 1.0 }
"#,
    ));
    assert_eq!(
        desc.projections[1].rule,
        ConnectRule::FixedIndegree { indegree: 9 }
    );
    assert!(!desc.projections[1].allow_autapses);
    assert_eq!(
        desc.projections[2].rule,
        ConnectRule::FixedTotalNumber { n: 40 }
    );
    assert!(desc.projections[3].allow_multapses);
}

#[test]
fn delays() {
    let d = check(
        &with_ab(
            r#"
[[projections]]
from = "A"
to = "B"
connect = { rule = "all_to_all" }
synapse = { weight = 1.0, delay = 0.04 }

[[projections]]
from = "A"
to = "B"
connect = { rule = "all_to_all" }
synapse = { weight = 1.0, delay = { normal = { mean = 1.5, std = 0.5 } } }

[[projections]]
from = "A"
to = "B"
connect = { rule = "all_to_all" }
synapse = { weight = 1.0, delay = { normal_clipped = { mean = 1.5, std = 0.5, max = 3.0 } } }

[[projections]]
from = "A"
to = "B"
connect = { rule = "all_to_all" }
synapse = { weight = 1.0, delay = { uniform = [0.04, 2.0] } }

[[projections]]
from = "A"
to = "B"
connect = { rule = "all_to_all" }
synapse = { weight = 1.0, delay = { lognormal = { mu = 0.0, sigma = 1.0 } } }

[[projections]]
from = "A"
to = "B"
connect = { rule = "all_to_all" }
synapse = { weight = 1.0, delay = { normal_clipped = { mean = 1.5, std = 0.5, min = 0.1 } } }
"#,
        ),
        &[
            "16:35: projections[0].synapse.delay: delay 0.04 ms is shorter than one step (dt = 0.1 ms)",
            "22:35: projections[1].synapse.delay: this distribution can draw delays below one step",
            "28:35: projections[2].synapse.delay: this distribution can draw delays below one step",
            "34:35: projections[3].synapse.delay: this distribution can draw delays down to 0.04 ms, shorter than one step (dt = 0.1 ms)",
            "40:35: projections[4].synapse.delay: this distribution can draw delays below one step",
            "46:35: projections[5].synapse.delay: delay distributions must be bounded above",
        ],
    );
    help_contains(&d, 1, "normal_clipped");
}

#[test]
fn delay_of_half_a_step_rounds_up() {
    // NEST rounds delays to steps half up: 0.05 ms at dt = 0.1 is one step.
    let desc = ok(&with_ab(
        r#"
[[projections]]
from = "A"
to = "B"
connect = { rule = "all_to_all" }
synapse = { weight = 1.0, delay = 0.05 }
"#,
    ));
    assert_eq!(desc.projections[0].delay, Dist::Constant(0.05));
    assert_eq!(renshaw::time::round_to_steps(0.05, 0.1), 1);
}

#[test]
fn missing_synapse_points_at_the_table() {
    let d = check(
        &with_ab(
            r#"
[[projections]]
from = "A"
to = "B"
connect = { rule = "all_to_all" }
"#,
        ),
        &["12:1: projections[0]: missing key `synapse`"],
    );
    help_contains(&d, 0, "synapse = { weight = .., delay = .. }");
    check_json(
        r#"
{
  "populations": { "A": { "model": "iaf_psc_exp", "size": 10 } },
  "stimuli": [
    { "kind": "poisson", "rate": 10.0, "targets": "A" }
  ],
  "run": { "duration": 100.0 }
}
"#,
        &["4:5: stimuli[0]: missing key `synapse`"],
    );
}

// ---------------------------------------------------------------- stimuli

#[test]
fn spike_times_must_be_sorted_positive_and_on_grid() {
    check(
        &with_ab(
            r#"
[[stimuli]]
kind = "spike_times"
targets = "B"
times = [1.0, 3.0, 2.0]
synapse = { weight = 1.0, delay = 1.0 }

[[stimuli]]
kind = "spike_times"
targets = "B"
times = [0.0, 1.0]
synapse = { weight = 1.0, delay = 1.0 }

[[stimuli]]
kind = "spike_times"
targets = { population = "A", neurons = [0, 1] }
spike_times = [[1.0, 2.0], [1.0, 2.05]]
synapse = { weight = 1.0, delay = 1.0 }
"#,
        ),
        &[
            "15:20: stimuli[0].times: times must increase: entry 2 (2 ms) follows 3 ms",
            "21:10: stimuli[1].times[0]: 0 ms: times must be > 0 (a spike at 0 cannot be emitted)",
            "27:34: stimuli[2].spike_times[1][1]: 2.05 ms is not a multiple of dt = 0.1 ms",
        ],
    );
}

#[test]
fn spike_times_one_list_per_target() {
    let d = check(
        &with_ab(
            r#"
[[stimuli]]
kind = "spike_times"
targets = "B"
spike_times = [[1.0], [2.0], [3.0]]
synapse = { weight = 1.0, delay = 1.0 }

[[stimuli]]
kind = "spike_times"
targets = ["B", { population = "A", neurons = [3, 4] }]
spike_times = [[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0]]
synapse = { weight = 1.0, delay = 1.0 }
"#,
        ),
        &[
            "15:15: stimuli[0].spike_times: 3 lists given for 4 target neurons",
            "21:15: stimuli[1].spike_times: 7 lists given for 6 target neurons",
        ],
    );
    help_contains(&d, 0, "`times`");
}

#[test]
fn step_current_lengths_must_match() {
    check(
        &with_ab(
            r#"
[[stimuli]]
kind = "step_current"
targets = "A"
times = [10.0, 20.0, 30.0]
amplitudes = [100.0, 0.0]
"#,
        ),
        &["12:1: stimuli[0]: `times` has 3 entries but `amplitudes` has 2"],
    );
}

#[test]
fn stimulus_kinds_and_keys() {
    let d = check(
        &with_ab(
            r#"
[[stimuli]]
kind = "poison"
targets = "A"

[[stimuli]]
kind = "poisson"
rate = 100.0
amplitude = 3.0
targets = "A"
synapse = { weight = 1.0 }

[[stimuli]]
kind = "poisson"
rate = -1.0
targets = "A"
"#,
        ),
        &[
            "13:8: stimuli[0].kind: unknown stimulus kind `poison`",
            "19:1: stimuli[1].amplitude: unknown key `amplitude`",
            "23:1: stimuli[2]: missing key `synapse`",
            "25:8: stimuli[2].rate: must be >= 0 Hz, got -1",
        ],
    );
    help_contains(&d, 0, "did you mean `poisson`?");
}

// ---------------------------------------------------------------- record

#[test]
fn record_problems() {
    let d = check(
        &with_ab(
            r#"
[[record]]
population = "A"
state = ["V_m", "I_syn"]

[[record]]
population = "B"
state = ["V_m"]
interval = 0.15

[[record]]
population = "B"
neurons = [0, 4]

[[record]]
population = "B"
spikes = false
"#,
        ),
        &[
            "14:17: record[0].state[1]: `I_syn` is not a state variable of iaf_psc_exp",
            "19:12: record[1].interval: 0.15 ms is not a multiple of dt = 0.1 ms",
            "23:15: record[2].neurons[1]: neuron index 4 is outside the population (0..4)",
            "25:1: record[3]: records nothing",
        ],
    );
    help_contains(&d, 0, "did you mean `I_syn_");
}

#[test]
fn neuron_index_out_of_range_in_targets() {
    check(
        &with_ab(
            r#"
[[stimuli]]
kind = "dc"
amplitude = 10.0
targets = { population = "B", neurons = [1, 7] }
"#,
        ),
        &["15:45: stimuli[0].targets.neurons[1]: neuron index 7 is outside the population (0..4)"],
    );
}

// ---------------------------------------------------------------- like, lists, limits

#[test]
fn inherited_problems_are_reported_once_where_written() {
    // B and C inherit A's tables; each problem is reported once, at A.
    check(
        r#"
[populations.A]
model = "iaf_psc_exp"
size = 0
params = { C_m = -1.0, V_reset = -50.0 }
init = { V_m = { normal = { mean = -65.0, std = -1.0 } } }

[populations.B]
like = "A"

[populations.C]
like = "B"

[run]
duration = 100.0
"#,
        &[
            "3:8: populations.A.size: must be a positive number of neurons (at most 2147483647), got 0",
            "4:18: populations.A.params.C_m: must be a positive finite number, got -1",
            "4:34: populations.A.params.V_reset: must be below V_th (-55 mV), got -50 mV",
            "5:49: populations.A.init.V_m.normal.std: must be >= 0, got -1",
        ],
    );
}

#[test]
fn like_overrides_and_inherits() {
    let desc = ok(r#"
[populations.A]
model = "iaf_psc_exp"
size = 10
params = { I_e = 100.0, tau_m = 20.0 }
init = { V_m = { uniform = [-70.0, -60.0] } }

[populations.B]
like = "A"
size = 5
params = { I_e = 200.0 }

[run]
duration = 100.0
"#);
    let (a, b) = (&desc.populations[0], &desc.populations[1]);
    let m = ModelKind::IafPscExp;
    assert_eq!((a.size, b.size), (10, 5));
    assert_eq!(b.model, m);
    assert_eq!(b.params[m.param_index("I_e").unwrap()], 200.0);
    assert_eq!(b.params[m.param_index("tau_m").unwrap()], 20.0);
    assert_eq!(a.params[m.param_index("I_e").unwrap()], 100.0);
    assert_eq!(
        b.init[0],
        Some(Dist::Uniform {
            low: -70.0,
            high: -60.0
        })
    );
}

#[test]
fn population_listed_twice_in_a_projection() {
    check(
        &with_ab(
            r#"
[[projections]]
from = ["A", "B", "A"]
to = "B"
connect = { rule = "fixed_indegree", indegree = 12, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }
"#,
        ),
        &["13:19: projections[0].from[2]: population `A` listed twice"],
    );
}

#[test]
fn huge_populations_do_not_overflow() {
    let n = i32::MAX;
    let mut text = String::new();
    for name in ["A", "B", "C", "D", "E", "F"] {
        text.push_str(&format!(
            "[populations.{name}]\nmodel = \"iaf_psc_delta\"\nsize = {n}\n\n"
        ));
    }
    text.push_str(
        r#"[[projections]]
from = ["A", "B", "C"]
to = ["D", "E", "F"]
connect = { rule = "fixed_total_number", n = 10, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }

[[projections]]
from = ["A", "B", "C"]
to = ["D", "E", "F"]
connect = { rule = "fixed_indegree", indegree = 10, allow_multapses = false }
synapse = { weight = 1.0, delay = 1.0 }

[run]
duration = 1.0
"#,
    );
    let desc = ok(&text);
    assert_eq!(
        desc.projections[0].rule,
        ConnectRule::FixedTotalNumber { n: 10 }
    );
    check(
        &text.replace("size = 2147483647", "size = 2147483648"),
        &[
            "3:8: populations.A.size: must be a positive number of neurons (at most 2147483647), got 2147483648",
            "7:8: populations.B.size: must be a positive number of neurons (at most 2147483647), got 2147483648",
            "11:8: populations.C.size: must be a positive number of neurons (at most 2147483647), got 2147483648",
            "15:8: populations.D.size: must be a positive number of neurons (at most 2147483647), got 2147483648",
            "19:8: populations.E.size: must be a positive number of neurons (at most 2147483647), got 2147483648",
            "23:8: populations.F.size: must be a positive number of neurons (at most 2147483647), got 2147483648",
        ],
    );
}

// ---------------------------------------------------------------- syntax

#[test]
fn toml_syntax_errors() {
    check(
        r#"
[populations.A
model = "iaf_psc_exp"
"#,
        &["1:15: : syntax error: unclosed table, expected `]`"],
    );
    check(
        r#"
[populations.A]
model = "iaf_psc_exp"
size = 10
size = 3
"#,
        &["4:1: : syntax error: duplicate key"],
    );
    check(
        r#"
[populations.A]
model = "iaf_psc_exp
"#,
        &["2:21: : syntax error: invalid basic string, expected `\"`"],
    );
}

#[test]
fn json_syntax_errors() {
    check_json(
        r#"
{
  "populations": { "A": { "model": "iaf_psc_exp", "size": 10 } },
  "run": { "duration": tru }
}
"#,
        &["3:24: : syntax error: Unexpected word"],
    );
    check_json(
        r#"
{
  "populations": { "A": { "model": "iaf_psc_exp", "size": 10 } },
  "run": { "duration": 1.0 
"#,
        &["3:10: : syntax error: Unterminated object"],
    );
    check_json("", &["0:0: : syntax error: the file holds no JSON value"]);
    check_json("[1, 2]", &["1:1: : expected a table, found an array"]);
}

#[test]
fn json_errors_point_at_the_value() {
    let d = check_json(
        r#"
{
  // comments and trailing commas are allowed
  "network": { "dt": 0.1, "seed": -1 },
  "populations": {
    "Exc": { "model": "iaf_psc_exp", "size": 10,
             "params": { "tau_syn_exc": 2.0 } },
  },
  "projections": [
    { "from": "Exc", "to": "Ecx",
      "connect": { "rule": "fixed_probability", "p": 2 },
      "synapse": { "weight": 1.0, "delay": 0.01 } },
  ],
  "run": { "duration": 100.0 },
}
"#,
        &[
            "3:35: network.seed: must be >= 0, got -1",
            "6:26: populations.Exc.params.tau_syn_exc: `tau_syn_exc` is not a parameter of iaf_psc_exp",
            "9:28: projections[0].to: no population named `Ecx`",
            "10:54: projections[0].connect.p: a probability must lie in [0, 1], got 2",
            "11:44: projections[0].synapse.delay: delay 0.01 ms is shorter than one step (dt = 0.1 ms)",
        ],
    );
    help_contains(&d, 2, "did you mean `Exc`?");
}

// ---------------------------------------------------------------- everything at once

#[test]
fn independent_errors_are_all_reported_at_once() {
    // Exc has a parameter problem; what names Exc (stimuli, projections,
    // record) is still checked in full against its model and size.
    let d = check(
        r#"
[network]
dt = 0.1
sead = 1

[populations.Exc]
model = "iaf_psc_exp"
size = 80
params = { V_reset = -50.0, V_th = -55.0 }

[populations.Inh]
model = "iaf_cond_exp"
size = 20.5

[[stimuli]]
kind = "poisson"
rate = 8000.0
targets = "Ex"
synapse = { weight = 87.8, delay = 1.5 }

[[stimuli]]
kind = "spike_times"
targets = { population = "Exc", neurons = [0, 1] }
spike_times = [[10.0, 5.0], [15.0]]
synapse = { weight = 50.0, delay = 1.0 }

[[projections]]
from = "Exc"
to = "Exc"
connect = { rule = "fixed_probability", p = 1.1 }
synapse = { weight = { uniform = [2.0, 1.0] }, delay = 1.0 }

[[projections]]
from = "Exc"
to = "Exc"
connect = { rule = "fixed_indegre", indegree = 10 }
synapse = { weight = -1.0, delay = 0.01 }

[[record]]
population = "Exc"
state = ["V_n"]
interval = 0.25

[run]
duration = 0.0
"#,
        &[
            "3:1: network.sead: unknown key `sead`",
            "8:22: populations.Exc.params.V_reset: must be below V_th (-55 mV), got -50 mV",
            "12:8: populations.Inh.size: expected an integer, found a float",
            "17:11: stimuli[0].targets: no population named `Ex`",
            "23:23: stimuli[1].spike_times[0]: times must increase: entry 1 (5 ms) follows 10 ms",
            "29:45: projections[0].connect.p: a probability must lie in [0, 1], got 1.1",
            "30:34: projections[0].synapse.weight.uniform: low (2) exceeds high (1)",
            "35:20: projections[1].connect.rule: unknown connection rule `fixed_indegre`",
            "36:36: projections[1].synapse.delay: delay 0.01 ms is shorter than one step (dt = 0.1 ms)",
            "40:10: record[0].state[0]: `V_n` is not a state variable of iaf_psc_exp",
            "41:12: record[0].interval: 0.25 ms is not a multiple of dt = 0.1 ms",
            "44:12: run.duration: must be a positive time in ms, got 0",
        ],
    );
    help_contains(&d, 0, "did you mean `seed`?");
    help_contains(&d, 3, "did you mean `Exc`?");
    help_contains(&d, 7, "did you mean `fixed_indegree`?");
    help_contains(&d, 9, "did you mean `V_m`?");
}

// ---------------------------------------------------------------- a valid description

const VALID: &str = r#"
[network]
dt = 0.1
seed = 12345

[populations.Exc]
model = "iaf_psc_exp"
size = 80
params = { I_e = 376.0, tau_m = 10.0 }
init = { V_m = { uniform = [-70.0, -55.0] } }

[populations.Inh]
like = "Exc"
size = 20

[populations.Delta]
model = "iaf_psc_delta"
size = 5
params = { refractory_input = true, V_min = -90.0 }
init = { V_m = { normal = { mean = -65.0, std = 2.0 } } }

[populations.Cond]
model = "iaf_cond_exp"
size = 3

[[stimuli]]
kind = "spike_times"
targets = { population = "Exc", neurons = [0, 3] }
spike_times = [[10.0, 20.0], [15.0]]
synapse = { weight = 50.0, delay = 1.0 }

[[stimuli]]
kind = "poisson"
rate = 8000.0
targets = ["Exc", "Inh"]
synapse = { weight = 87.8, delay = 1.5 }
start = 0.0
stop = 1000.0

[[stimuli]]
kind = "dc"
amplitude = 100.0
targets = "Delta"

[[stimuli]]
kind = "step_current"
times = [10.0, 50.0]
amplitudes = [200.0, 0.0]
targets = "Cond"

[[projections]]
from = "Exc"
to = ["Exc", "Inh"]
connect = { rule = "fixed_indegree", indegree = 8, allow_autapses = false }
synapse = { weight = { normal_clipped = { mean = 20.0, std = 2.0, min = 0.0 } }, delay = { uniform = [0.5, 2.0] } }

[[projections]]
from = "Inh"
to = "Exc"
connect = { rule = "fixed_probability", p = 0.2 }
synapse = { weight = -100.0, delay = 0.8 }

[[projections]]
from = "Exc"
to = "Delta"
connect = { rule = "fixed_total_number", n = 30, allow_multapses = false }
synapse = { weight = { lognormal = { mu = 0.0, sigma = 0.5 } }, delay = 1.0 }

[[record]]
population = "Exc"
neurons = [0, 1]
spikes = true
state = ["V_m", "I_syn_ex"]
interval = 0.5

[[record]]
population = "Cond"

[run]
duration = 1000.0
"#;

#[test]
fn valid_description_yields_typed_values() {
    let d = ok(VALID);
    assert_eq!(d.source, "test.toml");
    assert_eq!((d.network.dt, d.network.seed), (0.1, 12345));
    let names: Vec<&str> = d.populations.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Exc", "Inh", "Delta", "Cond"]);
    let sizes: Vec<usize> = d.populations.iter().map(|p| p.size).collect();
    assert_eq!(sizes, [80, 20, 5, 3]);

    // Parameters: given values, the rest NEST's defaults.
    let exc = &d.populations[0];
    let m = ModelKind::IafPscExp;
    assert_eq!(exc.model, m);
    assert_eq!(exc.params.len(), m.params().len());
    let get = |p: &renshaw::description::PopulationSpec, name: &str| {
        p.params[p.model.param_index(name).unwrap()]
    };
    assert_eq!(get(exc, "I_e"), 376.0);
    assert_eq!(get(exc, "tau_syn_ex"), 2.0);
    assert_eq!(get(exc, "tau_syn_in"), 2.0);
    assert_eq!(get(exc, "C_m"), 250.0);
    assert_eq!(get(exc, "E_L"), -70.0);
    assert_eq!(get(exc, "V_th"), -55.0);
    assert_eq!(get(exc, "t_ref"), 2.0);
    assert_eq!(
        exc.init,
        vec![
            Some(Dist::Uniform {
                low: -70.0,
                high: -55.0
            }),
            None,
            None
        ]
    );
    let inh = &d.populations[1];
    assert_eq!((inh.model, get(inh, "I_e")), (m, 376.0));
    assert_eq!(inh.init, exc.init);
    let delta = &d.populations[2];
    assert_eq!(delta.model, ModelKind::IafPscDelta);
    assert_eq!(get(delta, "refractory_input"), 1.0);
    assert_eq!(get(delta, "V_min"), -90.0);
    assert_eq!(
        delta.init[0],
        Some(Dist::Normal {
            mean: -65.0,
            std: 2.0
        })
    );
    let cond = &d.populations[3];
    assert_eq!(cond.model, ModelKind::IafCondExp);
    assert_eq!(cond.params, ModelKind::IafCondExp.default_params());
    assert_eq!(
        (
            get(cond, "g_L"),
            get(cond, "tau_syn_ex"),
            get(cond, "V_reset")
        ),
        (16.6667, 0.2, -60.0)
    );

    // Stimuli.
    assert_eq!(d.stimuli.len(), 4);
    let s0 = &d.stimuli[0];
    match &s0.kind {
        StimulusKind::SpikeTimes { per_neuron, shared } => {
            assert_eq!(per_neuron, &vec![vec![10.0, 20.0], vec![15.0]]);
            assert!(!shared);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s0.targets[0].population, 0);
    assert_eq!(s0.targets[0].neurons, Some(vec![0, 3]));
    assert_eq!(
        (s0.weight, s0.delay),
        (Dist::Constant(50.0), Dist::Constant(1.0))
    );
    let s1 = &d.stimuli[1];
    assert!(matches!(s1.kind, StimulusKind::Poisson { rate } if rate == 8000.0));
    assert_eq!(
        s1.targets.iter().map(|t| t.population).collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!((s1.start, s1.stop), (0.0, 1000.0));
    let s2 = &d.stimuli[2];
    assert!(matches!(s2.kind, StimulusKind::Dc { amplitude } if amplitude == 100.0));
    assert_eq!((s2.start, s2.stop), (0.0, f64::INFINITY));
    match &d.stimuli[3].kind {
        StimulusKind::StepCurrent { times, amplitudes } => {
            assert_eq!(
                (times.as_slice(), amplitudes.as_slice()),
                (&[10.0, 50.0][..], &[200.0, 0.0][..])
            );
        }
        other => panic!("{other:?}"),
    }

    // Projections.
    let p0 = &d.projections[0];
    assert_eq!(
        (p0.from.as_slice(), p0.to.as_slice()),
        (&[0][..], &[0, 1][..])
    );
    assert_eq!(p0.rule, ConnectRule::FixedIndegree { indegree: 8 });
    assert!(!p0.allow_autapses && p0.allow_multapses);
    assert_eq!(
        p0.weight,
        Dist::NormalClipped {
            mean: 20.0,
            std: 2.0,
            min: 0.0,
            max: f64::INFINITY
        }
    );
    assert_eq!(
        p0.delay,
        Dist::Uniform {
            low: 0.5,
            high: 2.0
        }
    );
    assert_eq!(
        d.projections[1].rule,
        ConnectRule::FixedProbability { p: 0.2 }
    );
    assert_eq!(d.projections[1].weight, Dist::Constant(-100.0));
    assert_eq!(
        d.projections[2].rule,
        ConnectRule::FixedTotalNumber { n: 30 }
    );
    assert!(!d.projections[2].allow_multapses);
    assert_eq!(
        d.projections[2].weight,
        Dist::Lognormal {
            mu: 0.0,
            sigma: 0.5
        }
    );

    // Records and run.
    let r0 = &d.records[0];
    assert_eq!(
        (r0.selection.population, r0.selection.neurons.clone()),
        (0, Some(vec![0, 1]))
    );
    assert!(r0.spikes);
    assert_eq!(r0.state, [0, 1]);
    assert_eq!(r0.interval, 0.5);
    let r1 = &d.records[1];
    assert_eq!(
        (
            r1.selection.population,
            r1.spikes,
            r1.state.len(),
            r1.interval
        ),
        (3, true, 0, 0.1)
    );
    assert_eq!(d.run.duration, 1000.0);
}

/// TOML text as pretty JSON, keys in file order, floats kept as floats.
fn toml_to_json(text: &str) -> String {
    fn emit(v: &toml::Value, indent: usize, out: &mut String) {
        let pad = "  ".repeat(indent + 1);
        match v {
            toml::Value::String(s) => out.push_str(&serde_json::to_string(s).unwrap()),
            toml::Value::Integer(i) => out.push_str(&i.to_string()),
            // JSON has no infinities or NaN: 1e999 reads as infinity.
            toml::Value::Float(f) if f.is_nan() => out.push_str("\"nan\""),
            toml::Value::Float(f) if f.is_infinite() => {
                out.push_str(if *f > 0.0 { "1e999" } else { "-1e999" })
            }
            toml::Value::Float(f) => out.push_str(&format!("{f:?}")),
            toml::Value::Boolean(b) => out.push_str(&b.to_string()),
            toml::Value::Datetime(d) => {
                out.push_str(&serde_json::to_string(&d.to_string()).unwrap())
            }
            toml::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&pad);
                    emit(item, indent + 1, out);
                }
                out.push_str(&format!("\n{}]", "  ".repeat(indent)));
            }
            toml::Value::Table(t) => {
                out.push('{');
                for (i, (k, item)) in t.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&format!("{pad}{}: ", serde_json::to_string(k).unwrap()));
                    emit(item, indent + 1, out);
                }
                out.push_str(&format!("\n{}}}", "  ".repeat(indent)));
            }
        }
    }
    let table: toml::Table = toml::from_str(text).expect("valid TOML");
    let mut out = String::new();
    emit(&toml::Value::Table(table), 0, &mut out);
    out.push('\n');
    out
}

/// VALID as JSON.
fn valid_json() -> String {
    toml_to_json(VALID)
}

#[test]
fn valid_description_as_json() {
    let json = valid_json();
    let d = parse_str(&json, Format::Json, "test.json").unwrap_or_else(|e| panic!("{json}\n{e}"));
    let t = ok(VALID);
    assert_eq!(
        serde_json::to_value(&d.populations).unwrap(),
        serde_json::to_value(&t.populations).unwrap()
    );
    assert_eq!(
        serde_json::to_value(&d.projections).unwrap(),
        serde_json::to_value(&t.projections).unwrap()
    );
    assert_eq!(d.stimuli.len(), 4);
    assert_eq!(d.run.duration, 1000.0);
}

// ---------------------------------------------------------------- robustness

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Variants of `text`: truncations, character replacements and insertions,
/// deleted and repeated lines.
fn mutations(text: &str, seed: u64) -> Vec<String> {
    const PIECES: &[&str] = &[
        "",
        " ",
        "\n",
        "\"",
        "'",
        "[",
        "]",
        "[[",
        "{",
        "}",
        "=",
        ":",
        ",",
        "#",
        "//",
        "/*",
        "\\",
        "0",
        "-1",
        "1e999",
        "nan",
        "-inf",
        "0.05",
        "2147483648",
        "99999999999999999999",
        "true",
        "null",
        "x",
        "é",
        "€",
        "😀",
        "\u{0}",
        "\t",
        "\r\n",
    ];
    let mut out = Vec::new();
    let boundaries: Vec<usize> = (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    for &cut in boundaries.iter().step_by(7) {
        out.push(text[..cut].to_string());
    }
    let mut rng = Lcg(seed);
    for _ in 0..250 {
        let mut t = text.to_string();
        for _ in 0..1 + rng.below(3) {
            let cuts: Vec<usize> = (0..=t.len()).filter(|&i| t.is_char_boundary(i)).collect();
            let a = cuts[rng.below(cuts.len())];
            let b = cuts[(cuts.binary_search(&a).unwrap() + rng.below(3)).min(cuts.len() - 1)];
            t.replace_range(a..b, PIECES[rng.below(PIECES.len())]);
        }
        out.push(t);
    }
    let lines: Vec<&str> = text.lines().collect();
    for i in 0..lines.len() {
        let mut without = lines.clone();
        without.remove(i);
        out.push(without.join("\n"));
        let mut twice = lines.clone();
        twice.insert(i, lines[i]);
        out.push(twice.join("\n"));
    }
    out
}

fn assert_robust(text: &str, format: Format) -> bool {
    let result = std::panic::catch_unwind(|| parse_str(text, format, "m"));
    let result = result.unwrap_or_else(|_| panic!("parse_str panicked ({format:?}) on:\n{text}"));
    match result {
        Ok(_) => true,
        Err(e) => {
            assert!(
                !e.0.is_empty(),
                "empty error list ({format:?}) for:\n{text}"
            );
            let lines = text.split('\n').count();
            for d in &e.0 {
                let positioned = d.line >= 1 && d.line <= lines && d.column >= 1;
                let no_position =
                    d.line == 0 && d.column == 0 && d.message.starts_with("syntax error");
                assert!(
                    positioned || no_position,
                    "bad position in `{d}` ({format:?}) for:\n{text}"
                );
                assert!(!d.message.is_empty());
                let _ = d.to_string();
            }
            false
        }
    }
}

#[test]
fn mutated_descriptions_never_panic() {
    let toml_text = strip(VALID);
    let json_text = valid_json();
    assert!(assert_robust(toml_text, Format::Toml));
    assert!(assert_robust(&json_text, Format::Json));
    let (mut total, mut valid) = (0, 0);
    for (text, format, seed) in [
        (toml_text.to_string(), Format::Toml, 1),
        (json_text, Format::Json, 2),
    ] {
        for m in mutations(&text, seed) {
            total += 1;
            valid += assert_robust(&m, format) as usize;
        }
    }
    assert!(total > 1000, "only {total} variants");
    // Most variants are broken; some (e.g. a truncation after a whole table) stay valid.
    assert!(valid < total / 2, "{valid} of {total} variants valid");
}

#[test]
fn odd_values_do_not_panic() {
    // Values at the edges of the number types, in every numeric slot.
    let values = [
        "0",
        "-0.0",
        "1e308",
        "-1e308",
        "inf",
        "-inf",
        "nan",
        "9223372036854775807",
        "-9223372036854775808",
        "1e-320",
        "\"1\"",
        "[]",
        "{}",
        "true",
    ];
    let slots = [
        "dt", "size", "I_e", "tau_m", "t_ref", "p", "delay", "weight", "rate", "time", "interval",
        "duration", "neuron",
    ];
    for v in values {
        for slot in slots {
            let text = format!(
                r#"[network]
dt = {dt}
[populations.A]
model = "iaf_psc_exp"
size = {size}
params = {{ I_e = {ie}, tau_m = {tau}, t_ref = {tref} }}
[[projections]]
from = "A"
to = "A"
connect = {{ rule = "fixed_probability", p = {p} }}
synapse = {{ weight = {w}, delay = {d} }}
[[stimuli]]
kind = "poisson"
rate = {rate}
targets = {{ population = "A", neurons = [{n}] }}
synapse = {{ weight = 1.0, delay = {d} }}
[[stimuli]]
kind = "spike_times"
targets = "A"
times = [{time}]
synapse = {{ weight = 1.0 }}
[[record]]
population = "A"
interval = {interval}
[run]
duration = {duration}
"#,
                dt = if slot == "dt" { v } else { "0.1" },
                size = if slot == "size" { v } else { "3" },
                ie = if slot == "I_e" { v } else { "0.0" },
                tau = if slot == "tau_m" { v } else { "10.0" },
                tref = if slot == "t_ref" { v } else { "2.0" },
                p = if slot == "p" { v } else { "0.5" },
                w = if slot == "weight" { v } else { "1.0" },
                d = if slot == "delay" { v } else { "1.0" },
                rate = if slot == "rate" { v } else { "10.0" },
                n = if slot == "neuron" { v } else { "1" },
                time = if slot == "time" { v } else { "1.0" },
                interval = if slot == "interval" { v } else { "1.0" },
                duration = if slot == "duration" { v } else { "10.0" },
            );
            assert_robust(&text, Format::Toml);
            assert_robust(&toml_to_json(&text), Format::Json);
        }
    }
}

// ---------------------------------------------------------------- the command line

fn renshaw(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_renshaw"))
        .args(args)
        .output()
        .expect("run renshaw");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_validate() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, strip(VALID)).unwrap();
    let good_json = dir.path().join("good.json");
    std::fs::write(&good_json, valid_json()).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        strip(VALID)
            .replace("size = 80", "size = 0")
            .replace("p = 0.2", "p = 2.0"),
    )
    .unwrap();
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, "{\n  \"run\": { \"duration\": 10 },\n  \"populations\": { \"A\": { \"model\": \"iaf_psc_exq\", \"size\": 1 } }\n}\n").unwrap();
    let missing = dir.path().join("missing.toml");

    let (code, stdout, stderr) =
        renshaw(&["validate".as_ref(), good.as_os_str(), good_json.as_os_str()]);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("good.toml: ok (4 populations, 108 neurons, 3 projections, 4 stimuli)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("good.json: ok (4 populations, 108 neurons, 3 projections, 4 stimuli)"),
        "{stdout}"
    );

    let (code, stdout, stderr) = renshaw(&["validate".as_ref(), bad.as_os_str()]);
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let b = bad.display();
    let expected = format!(
        "error: {b}:7:8: populations.Exc.size: must be a positive number of neurons (at most 2147483647), got 0\n\
         error: {b}:59:45: projections[1].connect.p: a probability must lie in [0, 1], got 2\n\
         2 errors\n"
    );
    assert_eq!(stderr, expected);

    let (code, _, stderr) = renshaw(&["validate".as_ref(), bad_json.as_os_str()]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "{}:3:36: populations.A.model: unknown model `iaf_psc_exq`",
            bad_json.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: did you mean `iaf_psc_exp`?"),
        "{stderr}"
    );

    // Every file is checked, even after a bad one; a missing file is an error, not a panic.
    let (code, stdout, stderr) = renshaw(&[
        "validate".as_ref(),
        missing.as_os_str(),
        bad.as_os_str(),
        good.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: {}: cannot read the file:",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{b}:7:8:")), "{stderr}");
    assert!(stdout.contains("good.toml: ok"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
