//! The WGSL sources, composed at run time exactly as build.rs composes them
//! for validation: a line `// #include "shared/x.wgsl"` is replaced by that file.

/// (file name, source) of every file under shaders/.
const FILES: &[(&str, &str)] = &[
    (
        "shared/bindings.wgsl",
        include_str!("../../../shaders/shared/bindings.wgsl"),
    ),
    (
        "shared/fixed.wgsl",
        include_str!("../../../shaders/shared/fixed.wgsl"),
    ),
    (
        "shared/philox.wgsl",
        include_str!("../../../shaders/shared/philox.wgsl"),
    ),
    (
        "shared/stdp.wgsl",
        include_str!("../../../shaders/shared/stdp.wgsl"),
    ),
    (
        "shared/dopamine.wgsl",
        include_str!("../../../shaders/shared/dopamine.wgsl"),
    ),
    (
        "begin_step.wgsl",
        include_str!("../../../shaders/begin_step.wgsl"),
    ),
    (
        "neuron_update.wgsl",
        include_str!("../../../shaders/neuron_update.wgsl"),
    ),
    (
        "deliver.wgsl",
        include_str!("../../../shaders/deliver.wgsl"),
    ),
    (
        "poisson.wgsl",
        include_str!("../../../shaders/poisson.wgsl"),
    ),
    (
        "inject_spikes.wgsl",
        include_str!("../../../shaders/inject_spikes.wgsl"),
    ),
    ("sample.wgsl", include_str!("../../../shaders/sample.wgsl")),
    (
        "dopamine_send.wgsl",
        include_str!("../../../shaders/dopamine_send.wgsl"),
    ),
    (
        "dopamine_transmit.wgsl",
        include_str!("../../../shaders/dopamine_transmit.wgsl"),
    ),
    (
        "dopamine_trigger.wgsl",
        include_str!("../../../shaders/dopamine_trigger.wgsl"),
    ),
];

/// The kernels, in the order a step runs them.
pub const KERNELS: &[&str] = &[
    "dopamine_send",
    "begin_step",
    "neuron_update",
    "deliver",
    "poisson",
    "inject_spikes",
    "sample",
    "dopamine_transmit",
    "dopamine_trigger",
];

fn source(name: &str) -> &'static str {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("no shader file {name}"))
}

/// The full source of kernel `name` (e.g. `"deliver"`), includes resolved.
pub fn compose(name: &str) -> String {
    compose_file(&format!("{name}.wgsl"), 0)
}

fn compose_file(file: &str, depth: usize) -> String {
    assert!(depth < 8, "include depth exceeded at {file}");
    let mut out = String::new();
    for line in source(file).lines() {
        if let Some(rest) = line.trim().strip_prefix("// #include \"") {
            out.push_str(&compose_file(rest.trim_end_matches('"'), depth + 1));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
