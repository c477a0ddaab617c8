//! `[templates.NAME]` / `[instances.NAME]`: reusable circuit blocks.

use renshaw::description::{Diagnostic, Format, Override, parse_str_with};
use renshaw::simulation::{Backend, RunOptions, run_description};

/// Two instances of a segment (motoneurons, interneurons, their drive, a
/// projection onto a shared population, a recorder, a weight recorder), and a
/// projection between the instances.
const WITH_TEMPLATES: &str = r#"[parameters]
n = 20

[templates.segment]
parameters = { size = "${n}", w = 2.0 }

[templates.segment.populations.MN]
model = "iaf_psc_exp"
size = "${size}"
params = { tau_syn_ex = 1.0 }

[templates.segment.populations.IN]
like = "MN"
size = "${size / 2}"

[[templates.segment.stimuli]]
kind = "poisson"
rate = 9000.0
targets = ["MN", { population = "IN", neurons = [0, 1, 2] }]
synapse = { weight = 87.8, delay = 1.0 }

[[templates.segment.projections]]
from = "IN"
to = "MN"
connect = { rule = "fixed_indegree", indegree = 5 }
synapse = { weight = "${-w * 10}", delay = 1.0 }

[[templates.segment.projections]]
from = "MN"
to = "Renshaw"
connect = { rule = "fixed_probability", p = 0.5 }
synapse = { weight = 40.0, delay = 1.0, rule = "stdp", Wmax = 100.0 }

[[templates.segment.record]]
population = "MN"
spikes = true

[[templates.segment.record_weights]]
projection = 1

[populations.Renshaw]
model = "iaf_psc_exp"
size = 10

[[projections]]
from = "Renshaw"
to = ["flex_MN", "E-MN"]
connect = { rule = "fixed_indegree", indegree = 2 }
synapse = { weight = -30.0, delay = 1.0 }

[instances.flex]
template = "segment"

[instances.ext]
template = "segment"
prefix = "E-"
parameters = { size = 30, w = 4.0 }

[[projections]]
from = "flex_IN"
to = "E-MN"
connect = { rule = "fixed_indegree", indegree = 3 }
synapse = { weight = -20.0, delay = 1.0 }

[[record]]
population = "Renshaw"
spikes = true

[run]
duration = 300.0
"#;

/// The same network written out by hand, in the order instances expand to:
/// the description's own populations and projections first, then each
/// instance's in turn.
const BY_HAND: &str = r#"[populations.Renshaw]
model = "iaf_psc_exp"
size = 10

[populations.flex_MN]
model = "iaf_psc_exp"
size = 20
params = { tau_syn_ex = 1.0 }

[populations.flex_IN]
like = "flex_MN"
size = 10

[populations.E-MN]
model = "iaf_psc_exp"
size = 30
params = { tau_syn_ex = 1.0 }

[populations.E-IN]
like = "E-MN"
size = 15

[[projections]]
from = "Renshaw"
to = ["flex_MN", "E-MN"]
connect = { rule = "fixed_indegree", indegree = 2 }
synapse = { weight = -30.0, delay = 1.0 }

[[projections]]
from = "flex_IN"
to = "E-MN"
connect = { rule = "fixed_indegree", indegree = 3 }
synapse = { weight = -20.0, delay = 1.0 }

[[projections]]
from = "flex_IN"
to = "flex_MN"
connect = { rule = "fixed_indegree", indegree = 5 }
synapse = { weight = -20.0, delay = 1.0 }

[[projections]]
from = "flex_MN"
to = "Renshaw"
connect = { rule = "fixed_probability", p = 0.5 }
synapse = { weight = 40.0, delay = 1.0, rule = "stdp", Wmax = 100.0 }

[[projections]]
from = "E-IN"
to = "E-MN"
connect = { rule = "fixed_indegree", indegree = 5 }
synapse = { weight = -40.0, delay = 1.0 }

[[projections]]
from = "E-MN"
to = "Renshaw"
connect = { rule = "fixed_probability", p = 0.5 }
synapse = { weight = 40.0, delay = 1.0, rule = "stdp", Wmax = 100.0 }

[[stimuli]]
kind = "poisson"
rate = 9000.0
targets = ["flex_MN", { population = "flex_IN", neurons = [0, 1, 2] }]
synapse = { weight = 87.8, delay = 1.0 }

[[stimuli]]
kind = "poisson"
rate = 9000.0
targets = ["E-MN", { population = "E-IN", neurons = [0, 1, 2] }]
synapse = { weight = 87.8, delay = 1.0 }

[[record]]
population = "Renshaw"
spikes = true

[[record]]
population = "flex_MN"
spikes = true

[[record]]
population = "E-MN"
spikes = true

[[record_weights]]
projection = 3

[[record_weights]]
projection = 5

[run]
duration = 300.0
"#;

fn parse(text: &str, set: &[&str]) -> Result<renshaw::description::Description, Vec<Diagnostic>> {
    let overrides: Vec<Override> = set.iter().map(|s| s.parse().unwrap()).collect();
    parse_str_with(text, Format::Toml, "test.toml", &overrides).map_err(|e| e.0)
}

fn messages(text: &str, set: &[&str]) -> Vec<String> {
    parse(text, set)
        .unwrap_err()
        .iter()
        .map(|d| format!("{}:{}: {}: {}", d.line, d.column, d.path, d.message))
        .collect()
}

#[test]
fn instances_expand_to_the_network_written_by_hand() {
    let expanded = parse(WITH_TEMPLATES, &[]).unwrap();
    let by_hand = parse(BY_HAND, &[]).unwrap();
    let names = |d: &renshaw::description::Description| {
        d.populations
            .iter()
            .map(|p| (p.name.clone(), p.size))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&expanded), names(&by_hand));
    assert_eq!(expanded.projections.len(), 6);
    assert_eq!(expanded.stimuli.len(), 2);
    assert_eq!(expanded.records.len(), 3);
    assert_eq!(
        expanded
            .weight_records
            .iter()
            .map(|w| w.projection)
            .collect::<Vec<_>>(),
        vec![3, 5]
    );

    // Same description, same seed: the same spikes and the same learned
    // weights, spike for spike.
    let opts = RunOptions {
        backend: Backend::Cpu,
        threads: Some(2),
        ..Default::default()
    };
    let a = run_description(&expanded, &opts, 0.0).unwrap();
    let b = run_description(&by_hand, &opts, 0.0).unwrap();
    assert!(
        a.spikes.len() > 100,
        "the circuit should be active: {} spikes",
        a.spikes.len()
    );
    let key = |s: &renshaw::engine::Spike| (s.stamp, s.neuron);
    assert_eq!(
        a.spikes.iter().map(key).collect::<Vec<_>>(),
        b.spikes.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(a.weights.len(), 2);
    for (wa, wb) in a.weights.iter().zip(&b.weights) {
        assert!(!wa.final_weights.is_empty());
        assert_eq!(wa.final_weights, wb.final_weights);
    }
}

#[test]
fn instance_parameters_can_be_set_from_the_command_line() {
    let d = parse(WITH_TEMPLATES, &["instances.ext.parameters.size=8", "n=6"]).unwrap();
    let sizes: Vec<(String, usize)> = d
        .populations
        .iter()
        .map(|p| (p.name.clone(), p.size))
        .collect();
    assert_eq!(
        sizes,
        vec![
            ("Renshaw".to_string(), 10),
            ("flex_MN".to_string(), 6),
            ("flex_IN".to_string(), 3),
            ("E-MN".to_string(), 8),
            ("E-IN".to_string(), 4),
        ]
    );
}

#[test]
fn mistakes_in_instances_are_reported_with_suggestions() {
    let text = WITH_TEMPLATES
        .replace(
            "template = \"segment\"\nprefix",
            "template = \"segmnt\"\nprefix",
        )
        .replace(
            "[instances.flex]\ntemplate = \"segment\"",
            "[instances.flex]\ntemplate = \"segment\"\nparameters = { wx = 4.0 }",
        );
    let diags = parse(&text, &[]).unwrap_err();
    let text_of = |needle: &str| {
        diags
            .iter()
            .find(|d| d.message.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {diags:#?}"))
            .clone()
    };
    let unknown = text_of("unknown template `segmnt`");
    assert_eq!(unknown.path, "instances.ext.template");
    assert!(unknown.help.unwrap().contains("did you mean `segment`"));
    let param = text_of("the template has no parameter `wx`");
    assert_eq!(param.path, "instances.flex.parameters.wx");
    assert!(param.help.unwrap().contains("allowed: size, w"));
}

#[test]
fn a_clash_with_an_existing_population_is_an_error() {
    let text = WITH_TEMPLATES.replace(
        "[populations.Renshaw]",
        "[populations.flex_MN]\nmodel = \"iaf_psc_exp\"\nsize = 3\n\n[populations.Renshaw]",
    );
    let m = messages(&text, &[]);
    assert!(
        m.iter()
            .any(|s| s.contains("population `flex_MN` of instance `flex` already exists")),
        "{m:#?}"
    );
}

#[test]
fn template_shape_errors() {
    let text = WITH_TEMPLATES.replace(
        "[templates.segment]\nparameters",
        "[templates.segment]\nneurons = 3\nparameters",
    );
    let m = messages(&text, &[]);
    assert!(
        m.iter()
            .any(|s| s.contains("templates.segment.neurons: unknown key `neurons`")),
        "{m:#?}"
    );
    let text = "[instances.a]\ntemplate = \"x\"\n[populations.A]\nmodel = \"iaf_psc_delta\"\nsize = 1\n[run]\nduration = 1.0\n";
    let m = messages(text, &[]);
    assert_eq!(m, vec!["1:2: instances: `instances` without `templates`"]);
    let text = WITH_TEMPLATES.replace(
        "[instances.flex]\ntemplate = \"segment\"",
        "[instances.flex]\nprefix = \"f_\"",
    );
    let m = messages(&text, &[]);
    assert!(
        m.iter()
            .any(|s| s.contains("instances.flex: missing `template`")),
        "{m:#?}"
    );
}
