//! `[bodies.NAME]` and `[[phases]]`: the closed loop and the protocol.
//!
//! A body's afferents and cue become Poisson stimuli appended after the
//! description's own `[[stimuli]]`, so the engines need nothing new: the
//! closed loop changes those stimuli's rates at run time.

use super::node::{Entry, Node, NodeKind};
use super::parse::{
    Checker, array_of_tables, get, join, population_ref, read_synapse, suggest, valid_name,
};
use super::types::*;
use crate::time::is_on_grid;

const BODY_KEYS: &[&str] = &[
    "model",
    "interval",
    "params",
    "flexor",
    "extensor",
    "afferents",
    "cue",
];
const BODY_MODELS: &[&str] = &["hindlimb"];
const HINDLIMB_KEYS: &[&str] = &[
    "length",
    "mass",
    "max_angle",
    "damping",
    "flexor_torque",
    "extensor_torque",
    "saturation_rate",
    "activation_tau",
    "gravity",
    "torque_noise",
    "noise_tau",
];
const AFFERENT_KEYS: &[&str] = &[
    "population",
    "signal",
    "base_rate",
    "length_gain",
    "velocity_gain",
    "max_rate",
    "synapse",
];
const SIGNALS: &[&str] = &["flexor", "extensor"];
const CUE_KEYS: &[&str] = &[
    "population",
    "threshold",
    "rate",
    "duration",
    "min_interval",
    "synapse",
];
const PHASE_KEYS: &[&str] = &[
    "name",
    "duration",
    "cues",
    "silence",
    "plasticity",
    "reset_bodies",
    "gap",
];
const GAP_KEYS: &[&str] = &["weight_decay", "weight_noise"];

/// The default hindlimb: a mouse hindlimb's size and mass, muscles able to
/// lift it against gravity about three times over.
pub const HINDLIMB_DEFAULTS: HindlimbParams = HindlimbParams {
    length: 20.0,
    mass: 3.0,
    max_angle: std::f64::consts::FRAC_PI_2,
    damping: 0.02,
    flexor_torque: 1.2,
    extensor_torque: 0.6,
    saturation_rate: 40.0,
    activation_tau: 20.0,
    gravity: 9.81,
    torque_noise: 0.0,
    noise_tau: 50.0,
};

/// Reads `[bodies]`, appending each body's afferents and cue to `stimuli`.
pub(crate) fn read_bodies(
    top: &[Entry],
    ck: &mut Checker<'_>,
    names: &[&str],
    pops: &[Option<PopulationSpec>],
    dt: f64,
    stimuli: &mut Vec<StimulusSpec>,
    n_stimuli_written: usize,
) -> Vec<BodySpec> {
    let Some(e) = get(top, "bodies") else {
        return Vec::new();
    };
    let Some(list) = ck.table(&e.value, "bodies", &[]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // Generated stimuli are numbered after every stimulus written in the
    // file, even ones that failed validation (there is no run then anyway).
    let mut next_stimulus = n_stimuli_written;
    for b in list {
        let path = join("bodies", &b.key);
        if !valid_name(&b.key) {
            ck.error(
                &b.key_span,
                &path,
                format!("body name `{}` is not allowed", b.key),
                Some("use letters, digits, `_` and `-`, starting with a letter or `_`".into()),
            );
        }
        if let Some(body) = read_body(&b.key, &b.value, &path, ck, names, pops, dt) {
            let (body, generated) = body.assign_stimuli(&mut next_stimulus);
            stimuli.extend(generated);
            out.push(body);
        }
    }
    out
}

/// A body as read, before its stimuli are numbered.
struct ReadBody {
    spec: BodySpec,
    afferent_synapses: Vec<(Dist, Dist)>,
    cue_synapse: Option<(Dist, Dist)>,
}

impl ReadBody {
    fn assign_stimuli(mut self, next: &mut usize) -> (BodySpec, Vec<StimulusSpec>) {
        let mut generated = Vec::new();
        let poisson = |population: usize, rate: f64, (weight, delay): (Dist, Dist)| StimulusSpec {
            kind: StimulusKind::Poisson { rate },
            targets: vec![NeuronSelection {
                population,
                neurons: None,
            }],
            weight,
            delay,
            start: 0.0,
            stop: f64::INFINITY,
        };
        for (a, syn) in self.spec.afferents.iter_mut().zip(self.afferent_synapses) {
            a.stimulus = *next;
            *next += 1;
            generated.push(poisson(a.population, a.base_rate.max(0.0), syn));
        }
        if let (Some(c), Some(syn)) = (self.spec.cue.as_mut(), self.cue_synapse) {
            c.stimulus = *next;
            *next += 1;
            generated.push(poisson(c.population, 0.0, syn));
        }
        (self.spec, generated)
    }
}

fn read_body(
    name: &str,
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    pops: &[Option<PopulationSpec>],
    dt: f64,
) -> Option<ReadBody> {
    let t = ck.table(node, path, BODY_KEYS)?;
    let before = ck.diags.len();
    let model = match get(t, "model") {
        None => "hindlimb",
        Some(m) => {
            let s = ck.string(&m.value, &join(path, "model"))?;
            if !BODY_MODELS.contains(&s) {
                ck.error(
                    &m.value.span,
                    &join(path, "model"),
                    format!("unknown body model `{s}`"),
                    Some(suggest(s, BODY_MODELS)),
                );
                return None;
            }
            s
        }
    };
    debug_assert_eq!(model, "hindlimb");
    let limb = read_hindlimb(t, path, ck);
    let interval = match get(t, "interval") {
        None => Some(dt.max(1.0))
            .filter(|&v| is_on_grid(v, dt))
            .or(Some(dt)),
        Some(e) => {
            let p = join(path, "interval");
            ck.number(&e.value, &p).and_then(|v| {
                if !(v.is_finite() && v >= dt) {
                    ck.error(
                        &e.value.span,
                        &p,
                        format!(
                            "the body exchange interval must be at least one step (dt = {dt} ms), got {v} ms"
                        ),
                        Some(format!("use a multiple of dt = {dt} ms, e.g. {}", dt.max(1.0))),
                    );
                    None
                } else if !is_on_grid(v, dt) {
                    ck.error(
                        &e.value.span,
                        &p,
                        format!("{v} ms is not a multiple of dt = {dt} ms"),
                        Some(format!("use a multiple of {dt}")),
                    );
                    None
                } else {
                    Some(v)
                }
            })
        }
    };
    let pools = |key: &str, ck: &mut Checker<'_>| -> Option<Vec<usize>> {
        let n = ck.required(t, node, path, key)?;
        population_list(n, &join(path, key), ck, names)
    };
    let flexor = pools("flexor", ck);
    let extensor = pools("extensor", ck);
    let mut afferents = Vec::new();
    let mut afferent_synapses = Vec::new();
    if let Some(e) = get(t, "afferents") {
        for (i, a) in array_of_tables(ck, &e.value, &join(path, "afferents"))
            .into_iter()
            .enumerate()
        {
            if let Some((spec, syn)) =
                read_afferent(a, &format!("{path}.afferents[{i}]"), ck, names, dt)
            {
                afferents.push(spec);
                afferent_synapses.push(syn);
            }
        }
    }
    let mut cue = None;
    let mut cue_synapse = None;
    if let Some(e) = get(t, "cue") {
        if let Some((spec, syn)) = read_cue(&e.value, &join(path, "cue"), ck, names, dt, limb) {
            cue = Some(spec);
            cue_synapse = Some(syn);
        }
    }
    let _ = pops;
    if ck.diags.len() > before {
        return None;
    }
    Some(ReadBody {
        spec: BodySpec {
            name: name.to_string(),
            model: BodyModelSpec::Hindlimb(limb?),
            interval: interval?,
            flexor: flexor?,
            extensor: extensor?,
            afferents,
            cue,
        },
        afferent_synapses,
        cue_synapse,
    })
}

fn read_hindlimb(t: &[Entry], path: &str, ck: &mut Checker<'_>) -> Option<HindlimbParams> {
    let mut p = HINDLIMB_DEFAULTS;
    let Some(e) = get(t, "params") else {
        return Some(p);
    };
    let pp = join(path, "params");
    let fields = ck.table(&e.value, &pp, HINDLIMB_KEYS)?;
    let mut ok = true;
    for f in fields {
        let kp = join(&pp, &f.key);
        let Some(v) = ck.finite(&f.value, &kp) else {
            ok = false;
            continue;
        };
        let (slot, lower_ok, what): (&mut f64, bool, &str) = match f.key.as_str() {
            "length" => (&mut p.length, v > 0.0, "> 0 mm"),
            "mass" => (&mut p.mass, v > 0.0, "> 0 g"),
            "max_angle" => (
                &mut p.max_angle,
                v > 0.0 && v <= std::f64::consts::PI,
                "in (0, pi] rad",
            ),
            "damping" => (&mut p.damping, v >= 0.0, ">= 0 N·mm·s/rad"),
            "flexor_torque" => (&mut p.flexor_torque, v >= 0.0, ">= 0 N·mm"),
            "extensor_torque" => (&mut p.extensor_torque, v >= 0.0, ">= 0 N·mm"),
            "saturation_rate" => (&mut p.saturation_rate, v > 0.0, "> 0 Hz"),
            "activation_tau" => (&mut p.activation_tau, v > 0.0, "> 0 ms"),
            "gravity" => (&mut p.gravity, v >= 0.0, ">= 0 m/s²"),
            "torque_noise" => (&mut p.torque_noise, v >= 0.0, ">= 0 N·mm"),
            "noise_tau" => (&mut p.noise_tau, v > 0.0, "> 0 ms"),
            _ => continue,
        };
        if lower_ok {
            *slot = v;
        } else {
            ck.error(&f.value.span, &kp, format!("must be {what}, got {v}"), None);
            ok = false;
        }
    }
    ok.then_some(p)
}

/// A population name or a list of names.
fn population_list(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
) -> Option<Vec<usize>> {
    let items: Vec<(&Node, String)> = match &node.kind {
        NodeKind::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (n, format!("{path}[{i}]")))
            .collect(),
        _ => vec![(node, path.to_string())],
    };
    if items.is_empty() {
        ck.error(
            &node.span,
            path,
            "empty list: name at least one population",
            None,
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (n, p) in items {
        match ck
            .string(n, &p)
            .and_then(|s| population_ref(s, n, &p, ck, names))
        {
            Some(i) => out.push(i),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn rate(ck: &mut Checker<'_>, t: &[Entry], path: &str, key: &str, default: f64) -> Option<f64> {
    let Some(e) = get(t, key) else {
        return Some(default);
    };
    let p = join(path, key);
    let v = ck.finite(&e.value, &p)?;
    if v < 0.0 {
        ck.error(&e.value.span, &p, format!("must be >= 0, got {v}"), None);
        return None;
    }
    Some(v)
}

fn population_key(
    t: &[Entry],
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
) -> Option<usize> {
    let n = ck.required(t, node, path, "population")?;
    let p = join(path, "population");
    let s = ck.string(n, &p)?;
    population_ref(s, n, &p, ck, names)
}

fn read_afferent(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    dt: f64,
) -> Option<(AfferentSpec, (Dist, Dist))> {
    let t = ck.table(node, path, AFFERENT_KEYS)?;
    let population = population_key(t, node, path, ck, names);
    let signal = ck.required(t, node, path, "signal").and_then(|n| {
        let p = join(path, "signal");
        match ck.string(n, &p)? {
            "flexor" => Some(Signal::Flexor),
            "extensor" => Some(Signal::Extensor),
            other => {
                ck.error(
                    &n.span,
                    &p,
                    format!("unknown signal `{other}`"),
                    Some(suggest(other, SIGNALS)),
                );
                None
            }
        }
    });
    // A negative base makes a threshold: silent until the stretch reaches
    // -base_rate / length_gain.
    let base_rate =
        get(t, "base_rate").map_or(Some(0.0), |e| ck.finite(&e.value, &join(path, "base_rate")));
    let length_gain = get(t, "length_gain").map_or(Some(0.0), |e| {
        ck.finite(&e.value, &join(path, "length_gain"))
    });
    let velocity_gain = get(t, "velocity_gain").map_or(Some(0.0), |e| {
        ck.finite(&e.value, &join(path, "velocity_gain"))
    });
    let max_rate = rate(ck, t, path, "max_rate", 1000.0);
    let (weight, delay) = read_synapse(t, node, path, ck, dt, true);
    Some((
        AfferentSpec {
            population: population?,
            signal: signal?,
            base_rate: base_rate?,
            length_gain: length_gain?,
            velocity_gain: velocity_gain?,
            max_rate: max_rate?,
            stimulus: usize::MAX,
        },
        (weight?, delay?),
    ))
}

fn read_cue(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    dt: f64,
    limb: Option<HindlimbParams>,
) -> Option<(CueSpec, (Dist, Dist))> {
    let t = ck.table(node, path, CUE_KEYS)?;
    let population = population_key(t, node, path, ck, names);
    let threshold = ck.required(t, node, path, "threshold").and_then(|n| {
        let p = join(path, "threshold");
        let v = ck.finite(n, &p)?;
        let top = limb?.max_height();
        if !(v > 0.0 && v < top) {
            ck.error(
                &n.span,
                &p,
                format!(
                    "a cue threshold of {v} mm is outside the limb's range: the foot moves between 0 mm (hanging) and {top:.3} mm (fully flexed)"
                ),
                Some(format!("choose a height strictly between 0 and {top:.3} mm")),
            );
            return None;
        }
        Some(v)
    });
    let cue_rate = rate(ck, t, path, "rate", 200.0);
    let time = |key: &str, default: f64, ck: &mut Checker<'_>| -> Option<f64> {
        let Some(e) = get(t, key) else {
            return Some(default);
        };
        let p = join(path, key);
        let v = ck.finite(&e.value, &p)?;
        if v < dt || !is_on_grid(v, dt) {
            ck.error(
                &e.value.span,
                &p,
                format!("must be a positive multiple of dt = {dt} ms, got {v}"),
                None,
            );
            return None;
        }
        Some(v)
    };
    let duration = time("duration", 20.0, ck);
    let min_interval = time("min_interval", 100.0, ck);
    if let (Some(d), Some(m)) = (duration, min_interval) {
        if m < d {
            ck.error(
                &node.span,
                path,
                format!("min_interval ({m} ms) is shorter than the cue's duration ({d} ms)"),
                Some("cues must not overlap: make min_interval >= duration".into()),
            );
        }
    }
    let (weight, delay) = read_synapse(t, node, path, ck, dt, true);
    Some((
        CueSpec {
            population: population?,
            threshold: threshold?,
            rate: cue_rate?,
            duration: duration?,
            min_interval: min_interval?,
            stimulus: usize::MAX,
        },
        (weight?, delay?),
    ))
}

/// Reads `[[phases]]`; returns them and their total duration.
pub(crate) fn read_phases(
    top: &[Entry],
    ck: &mut Checker<'_>,
    names: &[&str],
    bodies: &[BodySpec],
    dt: f64,
) -> Vec<PhaseSpec> {
    let Some(e) = get(top, "phases") else {
        return Vec::new();
    };
    let body_names: Vec<&str> = bodies.iter().map(|b| b.name.as_str()).collect();
    let mut out = Vec::new();
    for (i, node) in array_of_tables(ck, &e.value, "phases")
        .into_iter()
        .enumerate()
    {
        let path = format!("phases[{i}]");
        if let Some(p) = read_phase(node, &path, ck, names, bodies, &body_names, dt) {
            out.push(p);
        }
    }
    out
}

fn read_phase(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    bodies: &[BodySpec],
    body_names: &[&str],
    dt: f64,
) -> Option<PhaseSpec> {
    let t = ck.table(node, path, PHASE_KEYS)?;
    let before = ck.diags.len();
    let name = ck
        .required(t, node, path, "name")
        .and_then(|n| ck.string(n, &join(path, "name")).map(str::to_string));
    let duration = ck.required(t, node, path, "duration").and_then(|n| {
        let p = join(path, "duration");
        let v = ck.finite(n, &p)?;
        if v < 0.0 || !is_on_grid(v, dt) {
            ck.error(
                &n.span,
                &p,
                format!("must be a time >= 0 ms and a multiple of dt = {dt} ms, got {v}"),
                None,
            );
            return None;
        }
        Some(v)
    });
    // Bodies not named keep contingent cues (the natural closed loop).
    let mut cues: Vec<CueMode> = vec![CueMode::Contingent; bodies.len()];
    if let Some(e) = get(t, "cues") {
        let p = join(path, "cues");
        if let Some(fields) = ck.table(&e.value, &p, body_names) {
            for f in fields {
                let kp = join(&p, &f.key);
                let Some(bi) = body_names.iter().position(|n| *n == f.key) else {
                    continue; // reported by `table`
                };
                let Some(mode) = ck.string(&f.value, &kp) else {
                    continue;
                };
                cues[bi] = match mode {
                    "off" => CueMode::Off,
                    "contingent" => CueMode::Contingent,
                    other => match body_names.iter().position(|n| *n == other) {
                        Some(src) if src == bi => {
                            ck.error(
                                &f.value.span,
                                &kp,
                                "a body cannot be yoked to itself",
                                Some("use \"contingent\" for a master".into()),
                            );
                            continue;
                        }
                        Some(src) => CueMode::Yoked(src),
                        None => {
                            let mut allowed = vec!["off", "contingent"];
                            allowed.extend(body_names.iter().filter(|n| **n != f.key));
                            ck.error(
                                &f.value.span,
                                &kp,
                                format!("unknown cue mode `{other}`: write \"off\", \"contingent\" or the name of the body whose cues to replay (yoked)"),
                                Some(suggest(other, &allowed)),
                            );
                            continue;
                        }
                    },
                };
                if bodies[bi].cue.is_none() && cues[bi] != CueMode::Off {
                    ck.error(
                        &f.value.span,
                        &kp,
                        format!("body `{}` has no `cue` to deliver", f.key),
                        Some("add `cue = { population = .., threshold = .. }` to the body, or write \"off\"".into()),
                    );
                }
            }
        }
        // A yoked body replays the cues of a master decided in the same step.
        for (bi, m) in cues.iter().enumerate() {
            if let CueMode::Yoked(src) = m {
                if cues[*src] != CueMode::Contingent {
                    ck.error(
                        &e.value.span,
                        &p,
                        format!(
                            "body `{}` is yoked to `{}`, whose cues in this phase are not contingent",
                            body_names[bi], body_names[*src]
                        ),
                        Some("yoke a body to a master (a body with \"contingent\" cues)".into()),
                    );
                }
            }
        }
    }
    for (bi, b) in bodies.iter().enumerate() {
        if b.cue.is_none() {
            cues[bi] = CueMode::Off;
        }
    }
    let mut silence = Vec::new();
    if let Some(e) = get(t, "silence") {
        if let Some(list) = population_list(&e.value, &join(path, "silence"), ck, names) {
            silence = list;
        }
    }
    let flag = |key: &str, default: bool, ck: &mut Checker<'_>| {
        get(t, key).map_or(Some(default), |e| ck.boolean(&e.value, &join(path, key)))
    };
    let plasticity = flag("plasticity", true, ck);
    let reset_bodies = flag("reset_bodies", false, ck);
    let mut gap = None;
    if let Some(e) = get(t, "gap") {
        let p = join(path, "gap");
        if let Some(fields) = ck.table(&e.value, &p, GAP_KEYS) {
            let mut g = GapSpec {
                weight_decay: 0.0,
                weight_noise: 0.0,
            };
            for f in fields {
                let kp = join(&p, &f.key);
                let Some(v) = ck.finite(&f.value, &kp) else {
                    continue;
                };
                match f.key.as_str() {
                    "weight_decay" if (0.0..=1.0).contains(&v) => g.weight_decay = v,
                    "weight_noise" if v >= 0.0 => g.weight_noise = v,
                    "weight_decay" => ck.error(
                        &f.value.span,
                        &kp,
                        format!("must be a fraction in [0, 1], got {v}"),
                        Some(
                            "0 keeps what was learned, 1 returns every weight to its initial value"
                                .into(),
                        ),
                    ),
                    _ => ck.error(
                        &f.value.span,
                        &kp,
                        format!("must be >= 0 (a fraction of the largest weight), got {v}"),
                        None,
                    ),
                }
            }
            gap = Some(g);
        }
    }
    if ck.diags.len() > before {
        return None;
    }
    Some(PhaseSpec {
        name: name?,
        duration: duration?,
        cues,
        silence,
        plasticity: plasticity?,
        reset_bodies: reset_bodies?,
        gap,
    })
}
