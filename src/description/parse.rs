//! Turns a [`Node`] tree into a [`Description`], collecting every problem.

use super::diagnostic::Diagnostic;
use super::node::{Entry, LineIndex, Node, NodeKind};
use super::types::*;
use crate::models::ModelKind;
use crate::time::{is_on_grid, round_to_steps};
use std::collections::HashMap;
use std::ops::Range;

const TOP_KEYS: &[&str] = &[
    "parameters",
    "templates",
    "instances",
    "network",
    "populations",
    "stimuli",
    "projections",
    "record",
    "record_weights",
    "bodies",
    "phases",
    "run",
];
const SYNAPSE_RULES: &[&str] = &["static", "stdp", "stdp_nn_symm", "stdp_dopamine"];
const DOPAMINE_KEYS: &[&str] = &[
    "weight",
    "delay",
    "rule",
    "A_plus",
    "A_minus",
    "tau_plus",
    "tau_c",
    "tau_n",
    "b",
    "Wmin",
    "Wmax",
    "dopamine",
    "dopamine_delay",
    "deliver_interval",
];
const STDP_KEYS: &[&str] = &[
    "weight", "delay", "rule", "tau_plus", "lambda", "alpha", "mu_plus", "mu_minus", "Wmax",
];
const NETWORK_KEYS: &[&str] = &["dt", "seed"];
const POPULATION_KEYS: &[&str] = &["model", "size", "params", "init", "like"];
const STIMULUS_KINDS: &[&str] = &["poisson", "dc", "step_current", "spike_times"];
const RULES: &[&str] = &[
    "all_to_all",
    "one_to_one",
    "fixed_probability",
    "pairwise_bernoulli",
    "fixed_indegree",
    "fixed_outdegree",
    "fixed_total_number",
];
const DISTS: &[&str] = &["uniform", "normal", "normal_clipped", "lognormal"];

/// Walks the tree and records problems as it goes.
pub(crate) struct Checker<'a> {
    file: &'a str,
    index: &'a LineIndex,
    /// `--set` overrides as written, for problems in the values they gave.
    overrides: Vec<String>,
    /// Starts of spans whose problem is already reported (an expression that
    /// failed): later complaints about the same value would only repeat it.
    muted: Vec<usize>,
    pub(crate) diags: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(file: &'a str, index: &'a LineIndex) -> Self {
        Self {
            file,
            index,
            overrides: Vec::new(),
            muted: Vec::new(),
            diags: Vec::new(),
        }
    }

    /// Drops every later problem reported at `span`.
    pub(crate) fn mute(&mut self, span: &Range<usize>) {
        self.muted.push(span.start);
    }

    /// Names the `--set` overrides, so that problems in their values point at them.
    pub(crate) fn with_overrides(mut self, overrides: &[super::params::Override]) -> Self {
        self.overrides = overrides.iter().map(ToString::to_string).collect();
        self
    }

    pub(crate) fn error(
        &mut self,
        span: &Range<usize>,
        path: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        if self.muted.contains(&span.start) {
            return;
        }
        if let Some(o) = span
            .start
            .checked_sub(super::params::OVERRIDE_SPANS)
            .and_then(|i| self.overrides.get(i))
        {
            // The value came from the command line, not from the file.
            self.diags.push(Diagnostic {
                file: format!("{} ({o})", self.file),
                line: 0,
                column: 0,
                path: path.to_string(),
                message: message.into(),
                help,
            });
            return;
        }
        let (line, column) = self.index.line_col(span.start);
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line,
            column,
            path: path.to_string(),
            message: message.into(),
            help,
        });
    }

    pub(crate) fn expected(&mut self, node: &Node, path: &str, what: &str) {
        self.error(
            &node.span,
            path,
            format!("expected {what}, found {}", node.type_name()),
            None,
        );
    }

    /// Checks that `node` is a table whose keys are all in `allowed`.
    pub(crate) fn table<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'n [Entry]> {
        let NodeKind::Table(entries) = &node.kind else {
            self.expected(node, path, "a table");
            return None;
        };
        let mut seen: Vec<&str> = Vec::new();
        for e in entries {
            let key_path = join(path, &e.key);
            if seen.contains(&e.key.as_str()) {
                self.error(&e.key_span, &key_path, "key given twice", None);
            }
            seen.push(&e.key);
            if !allowed.is_empty() && !allowed.contains(&e.key.as_str()) {
                self.error(
                    &e.key_span,
                    &key_path,
                    format!("unknown key `{}`", e.key),
                    Some(suggest(&e.key, allowed)),
                );
            }
        }
        Some(entries)
    }

    pub(crate) fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        match node.as_f64() {
            Some(v) if v.is_nan() => {
                self.error(&node.span, path, "NaN is not allowed", None);
                None
            }
            Some(v) => Some(v),
            None => {
                self.expected(node, path, "a number");
                None
            }
        }
    }

    pub(crate) fn finite(&mut self, node: &Node, path: &str) -> Option<f64> {
        let v = self.number(node, path)?;
        if v.is_infinite() {
            self.error(&node.span, path, "must be finite", None);
            return None;
        }
        Some(v)
    }

    pub(crate) fn int(&mut self, node: &Node, path: &str) -> Option<i64> {
        match node.kind {
            NodeKind::Int(i) => Some(i),
            _ => {
                self.expected(node, path, "an integer");
                None
            }
        }
    }

    pub(crate) fn string<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
        match &node.kind {
            NodeKind::Str(s) => Some(s),
            _ => {
                self.expected(node, path, "a string");
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.kind {
            NodeKind::Bool(b) => Some(b),
            _ => {
                self.expected(node, path, "true or false");
                None
            }
        }
    }

    fn number_list(&mut self, node: &Node, path: &str) -> Option<Vec<f64>> {
        let NodeKind::Array(items) = &node.kind else {
            self.expected(node, path, "an array of numbers");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.finite(item, &format!("{path}[{i}]")) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A number or a distribution table.
    pub(crate) fn dist(&mut self, node: &Node, path: &str) -> Option<Dist> {
        if let Some(v) = node.as_f64() {
            return self.finite(node, path).map(|_| Dist::Constant(v));
        }
        let NodeKind::Table(entries) = &node.kind else {
            self.error(
                &node.span,
                path,
                format!(
                    "expected a number or a distribution, found {}",
                    node.type_name()
                ),
                Some(dist_help()),
            );
            return None;
        };
        if entries.len() != 1 {
            self.error(
                &node.span,
                path,
                "a distribution table holds exactly one key",
                Some(dist_help()),
            );
            return None;
        }
        let e = &entries[0];
        let p = join(path, &e.key);
        let v = &e.value;
        let dist = match e.key.as_str() {
            "uniform" => {
                let b = self.number_list(v, &p)?;
                if b.len() != 2 {
                    self.error(&v.span, &p, "expected [low, high]", None);
                    return None;
                }
                if b[0] > b[1] {
                    self.error(
                        &v.span,
                        &p,
                        format!("low ({}) exceeds high ({})", b[0], b[1]),
                        None,
                    );
                    return None;
                }
                Dist::Uniform {
                    low: b[0],
                    high: b[1],
                }
            }
            "normal" => {
                let t = self.table(v, &p, &["mean", "std"])?;
                let mean = self.required_finite(t, v, &p, "mean")?;
                let std = self.required_finite(t, v, &p, "std")?;
                self.non_negative(t, &p, "std", std)?;
                Dist::Normal { mean, std }
            }
            "normal_clipped" => {
                let t = self.table(v, &p, &["mean", "std", "min", "max"])?;
                let mean = self.required_finite(t, v, &p, "mean");
                let std = self.required_finite(t, v, &p, "std");
                let min = self
                    .optional_number(t, &p, "min")
                    .unwrap_or(f64::NEG_INFINITY);
                let max = self.optional_number(t, &p, "max").unwrap_or(f64::INFINITY);
                let (mean, std) = (mean?, std?);
                self.non_negative(t, &p, "std", std)?;
                if min >= max {
                    self.error(
                        &v.span,
                        &p,
                        format!("min ({min}) must be below max ({max})"),
                        None,
                    );
                    return None;
                }
                // Redrawing from a window far out in the tail never ends; refuse
                // windows that hold less than about one draw in a million.
                let mass = normal_mass(mean, std, min, max);
                if mass < 1e-6 {
                    self.error(
                        &v.span,
                        &p,
                        format!("[min, max] = [{min}, {max}] holds almost none of N({mean}, {std}) (mass {mass:.1e}); redrawing would not end"),
                        None,
                    );
                    return None;
                }
                Dist::NormalClipped {
                    mean,
                    std,
                    min,
                    max,
                }
            }
            "lognormal" => {
                let t = self.table(v, &p, &["mu", "sigma"])?;
                let mu = self.required_finite(t, v, &p, "mu")?;
                let sigma = self.required_finite(t, v, &p, "sigma")?;
                self.non_negative(t, &p, "sigma", sigma)?;
                Dist::Lognormal { mu, sigma }
            }
            other => {
                self.error(
                    &e.key_span,
                    &p,
                    format!("unknown distribution `{other}`"),
                    Some(suggest(other, DISTS)),
                );
                return None;
            }
        };
        Some(dist)
    }

    fn non_negative(&mut self, t: &[Entry], path: &str, key: &str, v: f64) -> Option<()> {
        if v < 0.0 {
            let e = get(t, key).expect("checked by caller");
            self.error(
                &e.value.span,
                &join(path, key),
                format!("must be >= 0, got {v}"),
                None,
            );
            return None;
        }
        Some(())
    }

    pub(crate) fn required<'n>(
        &mut self,
        t: &'n [Entry],
        parent: &Node,
        path: &str,
        key: &str,
    ) -> Option<&'n Node> {
        match get(t, key) {
            Some(e) => Some(&e.value),
            None => {
                self.error(&parent.span, path, format!("missing key `{key}`"), None);
                None
            }
        }
    }

    pub(crate) fn required_finite(
        &mut self,
        t: &[Entry],
        parent: &Node,
        path: &str,
        key: &str,
    ) -> Option<f64> {
        let n = self.required(t, parent, path, key)?;
        self.finite(n, &join(path, key))
    }

    fn optional_number(&mut self, t: &[Entry], path: &str, key: &str) -> Option<f64> {
        let e = get(t, key)?;
        self.number(&e.value, &join(path, key))
    }
}

fn normal_mass(mean: f64, std: f64, min: f64, max: f64) -> f64 {
    if std == 0.0 {
        return if mean >= min && mean <= max { 1.0 } else { 0.0 };
    }
    let cdf = |x: f64| 0.5 * erfc(-(x - mean) / (std * std::f64::consts::SQRT_2));
    cdf(max) - cdf(min)
}

/// Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7),
/// good enough to tell a usable truncation window from a hopeless one.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

fn dist_help() -> String {
    "write a number, or one of { uniform = [low, high] }, { normal = { mean, std } }, \
     { normal_clipped = { mean, std, min, max } }, { lognormal = { mu, sigma } }"
        .into()
}

pub(crate) fn get<'n>(t: &'n [Entry], key: &str) -> Option<&'n Entry> {
    t.iter().find(|e| e.key == key)
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// "did you mean X?" plus the list of what is allowed.
pub(crate) fn suggest(word: &str, allowed: &[&str]) -> String {
    let best = allowed
        .iter()
        .map(|a| (strsim::normalized_damerau_levenshtein(word, a), *a))
        .filter(|(score, _)| *score > 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, a)) => format!("did you mean `{a}`? allowed: {}", allowed.join(", ")),
        None => format!("allowed: {}", allowed.join(", ")),
    }
}

/// A population as written, before `like` is resolved.
struct RawPopulation<'n> {
    name: String,
    key_span: Range<usize>,
    node: &'n Node,
    entries: &'n [Entry],
}

/// Reads and validates a whole description.
pub(crate) fn read_description(
    root: &Node,
    ck: &mut Checker<'_>,
    source: &str,
) -> Option<Description> {
    let top = ck.table(root, "", TOP_KEYS)?;

    // [network]
    let mut dt = 0.1;
    let mut seed = 0u64;
    if let Some(e) = get(top, "network") {
        if let Some(t) = ck.table(&e.value, "network", NETWORK_KEYS) {
            if let Some(d) = get(t, "dt") {
                if let Some(v) = ck.number(&d.value, "network.dt") {
                    if v > 0.0 && v.is_finite() {
                        dt = v;
                    } else {
                        ck.error(
                            &d.value.span,
                            "network.dt",
                            format!("must be a positive time step in ms, got {v}"),
                            None,
                        );
                    }
                }
            }
            if let Some(s) = get(t, "seed") {
                if let Some(v) = ck.int(&s.value, "network.seed") {
                    if v < 0 {
                        ck.error(
                            &s.value.span,
                            "network.seed",
                            format!("must be >= 0, got {v}"),
                            None,
                        );
                    } else {
                        seed = v as u64;
                    }
                }
            }
        }
    }

    // [populations]
    let mut raw = Vec::new();
    match get(top, "populations") {
        None => ck.error(
            &(0..0),
            "populations",
            "missing table `populations`: a network needs at least one population",
            None,
        ),
        Some(e) => {
            if let Some(t) = ck.table(&e.value, "populations", &[]) {
                if t.is_empty() {
                    ck.error(&e.key_span, "populations", "no populations defined", None);
                }
                for p in t {
                    let path = join("populations", &p.key);
                    if !valid_name(&p.key) {
                        ck.error(&p.key_span, &path, format!("population name `{}` is not allowed", p.key),
                            Some("use letters, digits, `_` and `-`, starting with a letter or `_` (names become file names)".into()));
                    }
                    if let Some(entries) = ck.table(&p.value, &path, POPULATION_KEYS) {
                        raw.push(RawPopulation {
                            name: p.key.clone(),
                            key_span: p.key_span.clone(),
                            node: &p.value,
                            entries,
                        });
                    }
                }
            }
        }
    }
    let names: Vec<String> = raw.iter().map(|r| r.name.clone()).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let populations = read_populations(&raw, ck, &name_refs);

    let mut stimuli = Vec::new();
    if let Some(e) = get(top, "stimuli") {
        for (i, node) in array_of_tables(ck, &e.value, "stimuli")
            .into_iter()
            .enumerate()
        {
            if let Some(s) = read_stimulus(
                node,
                &format!("stimuli[{i}]"),
                ck,
                &name_refs,
                &populations,
                dt,
            ) {
                stimuli.push(s);
            }
        }
    }
    let n_stimuli_written = get(top, "stimuli").map_or(0, |e| match &e.value.kind {
        NodeKind::Array(a) => a.len(),
        _ => 0,
    });
    let bodies = super::protocol::read_bodies(
        top,
        ck,
        &name_refs,
        &populations,
        dt,
        &mut stimuli,
        n_stimuli_written,
    );
    let phases = super::protocol::read_phases(top, ck, &name_refs, &bodies, dt);
    let phases_total = (get(top, "phases").is_some() && !phases.is_empty())
        .then(|| phases.iter().map(|p| p.duration).sum::<f64>());
    let run = read_run(top, ck, dt, phases_total);

    let mut projections = Vec::new();
    if let Some(e) = get(top, "projections") {
        for (i, node) in array_of_tables(ck, &e.value, "projections")
            .into_iter()
            .enumerate()
        {
            if let Some(p) = read_projection(
                node,
                &format!("projections[{i}]"),
                ck,
                &name_refs,
                &populations,
                dt,
            ) {
                projections.push(p);
            }
        }
    }
    let mut records = Vec::new();
    if let Some(e) = get(top, "record") {
        for (i, node) in array_of_tables(ck, &e.value, "record")
            .into_iter()
            .enumerate()
        {
            if let Some(r) = read_record(
                node,
                &format!("record[{i}]"),
                ck,
                &name_refs,
                &populations,
                dt,
            ) {
                records.push(r);
            }
        }
    }
    let n_projections = get(top, "projections").map_or(0, |e| match &e.value.kind {
        NodeKind::Array(a) => a.len(),
        _ => 0,
    });
    let mut weight_records = Vec::new();
    if let Some(e) = get(top, "record_weights") {
        for (i, node) in array_of_tables(ck, &e.value, "record_weights")
            .into_iter()
            .enumerate()
        {
            if let Some(r) =
                read_weight_record(node, &format!("record_weights[{i}]"), ck, n_projections, dt)
            {
                weight_records.push(r);
            }
        }
    }

    if !ck.diags.is_empty() {
        return None;
    }
    Some(Description {
        source: source.to_string(),
        parameters: Vec::new(),
        network: NetworkSpec { dt, seed },
        populations: populations
            .into_iter()
            .map(|p| p.expect("no errors, so every population was read"))
            .collect(),
        stimuli,
        projections,
        records,
        weight_records,
        run: run?,
        bodies,
        phases,
    })
}

pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(crate) fn array_of_tables<'n>(
    ck: &mut Checker<'_>,
    node: &'n Node,
    path: &str,
) -> Vec<&'n Node> {
    match &node.kind {
        NodeKind::Array(items) => items.iter().collect(),
        _ => {
            ck.error(
                &node.span,
                path,
                format!(
                    "expected an array of tables (`[[{path}]]` in TOML), found {}",
                    node.type_name()
                ),
                None,
            );
            Vec::new()
        }
    }
}

fn read_run(
    top: &[Entry],
    ck: &mut Checker<'_>,
    dt: f64,
    phases_total: Option<f64>,
) -> Option<RunSpec> {
    let Some(e) = get(top, "run") else {
        if let Some(total) = phases_total {
            return (total > 0.0).then_some(RunSpec {
                duration: total,
                warmup: 0.0,
            });
        }
        ck.error(
            &(0..0),
            "run",
            "missing table `run`",
            Some("add `[run]` with `duration = <ms>`".into()),
        );
        return None;
    };
    let t = ck.table(&e.value, "run", &["duration", "warmup"])?;
    let duration = match (get(t, "duration"), phases_total) {
        (None, Some(total)) => Some(total),
        (Some(d), Some(total)) => read_run_duration(t, &e.value, ck, dt).and_then(|v| {
            if (v - total).abs() > 1e-9 * total.max(1.0) {
                ck.error(
                    &d.value.span,
                    "run.duration",
                    format!("{v} ms differs from the phases' total, {total} ms"),
                    Some("leave run.duration out: with [[phases]] it is their sum".into()),
                );
                None
            } else {
                Some(v)
            }
        }),
        _ => read_run_duration(t, &e.value, ck, dt),
    };
    let warmup = match get(t, "warmup") {
        Some(w) => read_run_warmup(&w.value, ck, dt, duration),
        None => Some(0.0),
    };
    Some(RunSpec {
        duration: duration?,
        warmup: warmup?,
    })
}

fn read_run_duration(t: &[Entry], run: &Node, ck: &mut Checker<'_>, dt: f64) -> Option<f64> {
    let n = ck.required(t, run, "run", "duration")?;
    let v = ck.number(n, "run.duration")?;
    if !(v > 0.0 && v.is_finite()) {
        ck.error(
            &n.span,
            "run.duration",
            format!("must be a positive time in ms, got {v}"),
            None,
        );
        return None;
    }
    if !is_on_grid(v, dt) {
        ck.error(
            &n.span,
            "run.duration",
            format!("{v} ms is not a multiple of dt = {dt} ms"),
            None,
        );
        return None;
    }
    Some(v)
}

/// The start of the analysis window: statistics leave out the spikes of the
/// first `warmup` ms, so it must leave part of the run to analyse.
fn read_run_warmup(n: &Node, ck: &mut Checker<'_>, dt: f64, duration: Option<f64>) -> Option<f64> {
    let v = ck.number(n, "run.warmup")?;
    if !(v >= 0.0 && v.is_finite()) {
        ck.error(
            &n.span,
            "run.warmup",
            format!("must be a time >= 0 ms, got {v}"),
            None,
        );
        return None;
    }
    if !is_on_grid(v, dt) {
        ck.error(
            &n.span,
            "run.warmup",
            format!("{v} ms is not a multiple of dt = {dt} ms"),
            None,
        );
        return None;
    }
    if let Some(d) = duration.filter(|&d| v >= d) {
        ck.error(
            &n.span,
            "run.warmup",
            format!(
                "{v} ms leaves nothing to analyse: it must be shorter than run.duration ({d} ms)"
            ),
            Some("statistics use the spikes after the warmup, up to the end of the run".into()),
        );
        return None;
    }
    Some(v)
}

/// Resolves `like` chains and reads every population; `None` where its model
/// or size is unknown (a broken `like`, a bad model or size).
fn read_populations(
    raw: &[RawPopulation<'_>],
    ck: &mut Checker<'_>,
    names: &[&str],
) -> Vec<Option<PopulationSpec>> {
    // The chain of tables that define each population, base first.
    let mut chains: Vec<Option<Vec<usize>>> = Vec::with_capacity(raw.len());
    for i in 0..raw.len() {
        let mut chain = vec![i];
        let mut current = i;
        let mut ok = true;
        while let Some(like) = get(raw[current].entries, "like") {
            let path = format!("populations.{}.like", raw[current].name);
            let Some(base) = ck.string(&like.value, &path) else {
                ok = false;
                break;
            };
            let Some(b) = names.iter().position(|n| *n == base) else {
                if current == i {
                    ck.error(
                        &like.value.span,
                        &path,
                        format!("no population named `{base}`"),
                        Some(suggest(base, names)),
                    );
                }
                ok = false;
                break;
            };
            if chain.contains(&b) {
                if current == i || b == i {
                    ck.error(
                        &like.value.span,
                        &path,
                        format!("`like` chain loops back to `{}`", raw[b].name),
                        None,
                    );
                }
                ok = false;
                break;
            }
            chain.push(b);
            current = b;
        }
        chain.reverse();
        chains.push(ok.then_some(chain));
    }

    raw.iter()
        .zip(chains)
        .map(|(r, chain)| read_population(r, raw, chain?, ck))
        .collect()
}

fn read_population(
    r: &RawPopulation<'_>,
    raw: &[RawPopulation<'_>],
    chain: Vec<usize>,
    ck: &mut Checker<'_>,
) -> Option<PopulationSpec> {
    let path = join("populations", &r.name);
    // The model and size come from the last table in the chain that sets them.
    let find = |key: &str| {
        chain
            .iter()
            .rev()
            .find_map(|&i| get(raw[i].entries, key).map(|e| (i, e)))
    };
    let model = match find("model") {
        None => {
            ck.error(
                &r.key_span,
                &path,
                "missing key `model`",
                Some(format!("allowed models: {}", model_names().join(", "))),
            );
            None
        }
        Some((i, e)) => {
            let p = join(&join("populations", &raw[i].name), "model");
            let name = ck.string(&e.value, &p);
            match name.map(|n| (n, ModelKind::from_name(n))) {
                Some((_, Some(m))) => Some(m),
                Some((n, None)) => {
                    if i == *chain.last().expect("chain has the population itself") {
                        ck.error(
                            &e.value.span,
                            &p,
                            format!("unknown model `{n}`"),
                            Some(suggest(n, &model_names())),
                        );
                    }
                    None
                }
                None => None,
            }
        }
    };
    let size = match find("size") {
        None => {
            ck.error(&r.key_span, &path, "missing key `size`", None);
            None
        }
        Some((i, e)) => {
            // A size inherited through `like` is reported where it is written.
            let own = i == *chain.last().expect("chain has the population itself");
            let p = join(&join("populations", &raw[i].name), "size");
            match e.value.kind {
                NodeKind::Int(n) if n > 0 && n <= u32::MAX as i64 / 2 => Some(n as usize),
                NodeKind::Int(n) if own => {
                    ck.error(
                        &e.value.span,
                        &p,
                        format!(
                            "must be a positive number of neurons (at most {}), got {n}",
                            u32::MAX / 2
                        ),
                        None,
                    );
                    None
                }
                _ if own => {
                    ck.expected(&e.value, &p, "an integer");
                    None
                }
                _ => None,
            }
        }
    };
    let model = model?;
    let mut params = model.default_params();
    let mut init: Vec<Option<Dist>> = vec![None; model.state().len()];
    let param_names: Vec<&str> = model.params().iter().map(|p| p.name).collect();
    let state_names: Vec<&str> = model.state().iter().map(|s| s.name).collect();
    let mut param_nodes: HashMap<&str, (&Node, String)> = HashMap::new();
    for &i in &chain {
        let base_path = join("populations", &raw[i].name);
        if let Some(e) = get(raw[i].entries, "params") {
            let p = join(&base_path, "params");
            if let Some(t) = ck.table(&e.value, &p, &[]) {
                for pe in t {
                    let kp = join(&p, &pe.key);
                    if let Some(idx) = model.param_index(&pe.key) {
                        let value = if pe.key == "refractory_input" {
                            ck.boolean(&pe.value, &kp)
                                .map(|b| if b { 1.0 } else { 0.0 })
                        } else {
                            ck.number(&pe.value, &kp)
                        };
                        if let Some(v) = value {
                            params[idx] = v;
                            param_nodes.insert(model.params()[idx].name, (&pe.value, kp));
                        }
                    } else if let Some(sidx) = model.state_index(&pe.key) {
                        // NEST accepts state variables among the parameters; so do we.
                        if let Some(v) = ck.finite(&pe.value, &kp) {
                            init[sidx] = Some(Dist::Constant(v));
                        }
                    } else {
                        let mut allowed = param_names.clone();
                        allowed.extend(state_names.iter());
                        ck.error(
                            &pe.key_span,
                            &kp,
                            format!("`{}` is not a parameter of {}", pe.key, model.name()),
                            Some(suggest(&pe.key, &allowed)),
                        );
                    }
                }
            }
        }
        if let Some(e) = get(raw[i].entries, "init") {
            let p = join(&base_path, "init");
            if let Some(t) = ck.table(&e.value, &p, &[]) {
                for ie in t {
                    let kp = join(&p, &ie.key);
                    match model.state_index(&ie.key) {
                        Some(sidx) => {
                            if let Some(d) = ck.dist(&ie.value, &kp) {
                                init[sidx] = Some(d);
                            }
                        }
                        None => ck.error(
                            &ie.key_span,
                            &kp,
                            format!("`{}` is not a state variable of {}", ie.key, model.name()),
                            Some(suggest(&ie.key, &state_names)),
                        ),
                    }
                }
            }
        }
    }
    for (name, problem) in model.check_params(&params) {
        match param_nodes.get(name) {
            Some((node, kp)) => ck.error(&node.span, kp, problem, None),
            None => {
                let span = get(r.entries, "params")
                    .map(|e| e.value.span.clone())
                    .unwrap_or(r.node.span.clone());
                ck.error(&span, &join(&join(&path, "params"), name), problem, None)
            }
        }
    }
    // Problems with parameters or initial values are reported above but leave
    // the model and size known, so that stimuli, projections and records
    // naming this population are still checked in full. (With any problem
    // reported, no description is returned.)
    Some(PopulationSpec {
        name: r.name.clone(),
        model,
        size: size?,
        params,
        init,
    })
}

fn model_names() -> Vec<&'static str> {
    ModelKind::ALL.iter().map(|m| m.name()).collect()
}

/// Reads `population`-or-list targets: a name, a list of names, or
/// `{ population, neurons }` tables (also in a list).
fn read_selection_list(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    pops: &[Option<PopulationSpec>],
) -> Option<Vec<NeuronSelection>> {
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
        match read_selection(n, &p, ck, names, pops) {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn read_selection(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    pops: &[Option<PopulationSpec>],
) -> Option<NeuronSelection> {
    match &node.kind {
        NodeKind::Str(name) => Some(NeuronSelection {
            population: population_ref(name, node, path, ck, names)?,
            neurons: None,
        }),
        NodeKind::Table(_) => {
            let t = ck.table(node, path, &["population", "neurons"])?;
            let pn = ck.required(t, node, path, "population")?;
            let pp = join(path, "population");
            let name = ck.string(pn, &pp)?;
            let population = population_ref(name, pn, &pp, ck, names)?;
            let neurons = match get(t, "neurons") {
                None => None,
                Some(e) => Some(read_neuron_indices(
                    &e.value,
                    &join(path, "neurons"),
                    ck,
                    pops[population].as_ref().map(|p| p.size),
                )?),
            };
            Some(NeuronSelection {
                population,
                neurons,
            })
        }
        _ => {
            ck.error(
                &node.span,
                path,
                format!(
                    "expected a population name or {{ population, neurons }}, found {}",
                    node.type_name()
                ),
                None,
            );
            None
        }
    }
}

fn read_neuron_indices(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    size: Option<usize>,
) -> Option<Vec<u32>> {
    let NodeKind::Array(items) = &node.kind else {
        ck.expected(node, path, "an array of neuron indices");
        return None;
    };
    if items.is_empty() {
        ck.error(&node.span, path, "empty list of neurons", None);
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match ck.int(item, &p) {
            Some(v) if v >= 0 && size.is_none_or(|s| (v as usize) < s) => {
                if out.contains(&(v as u32)) {
                    ck.error(&item.span, &p, format!("neuron {v} listed twice"), None);
                    ok = false;
                }
                out.push(v as u32)
            }
            Some(v) => {
                ck.error(
                    &item.span,
                    &p,
                    format!(
                        "neuron index {v} is outside the population (0..{})",
                        size.unwrap_or(0)
                    ),
                    None,
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

pub(crate) fn population_ref(
    name: &str,
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
) -> Option<usize> {
    match names.iter().position(|n| *n == name) {
        Some(i) => Some(i),
        None => {
            ck.error(
                &node.span,
                path,
                format!("no population named `{name}`"),
                Some(suggest(name, names)),
            );
            None
        }
    }
}

fn selection_size(sel: &[NeuronSelection], pops: &[Option<PopulationSpec>]) -> Option<usize> {
    sel.iter()
        .map(|s| match &s.neurons {
            Some(n) => Some(n.len()),
            None => pops[s.population].as_ref().map(|p| p.size),
        })
        .sum()
}

/// Reads a time in ms that must lie on the step grid.
fn grid_time(ck: &mut Checker<'_>, node: &Node, path: &str, dt: f64) -> Option<f64> {
    let v = ck.number(node, path)?;
    if v.is_infinite() {
        return Some(v);
    }
    if v < 0.0 {
        ck.error(&node.span, path, format!("must be >= 0 ms, got {v}"), None);
        return None;
    }
    if !is_on_grid(v, dt) {
        ck.error(
            &node.span,
            path,
            format!("{v} ms is not a multiple of dt = {dt} ms"),
            Some(format!("use a multiple of {dt}")),
        );
        return None;
    }
    Some(v)
}

/// Checks that every value a delay distribution can take rounds to at least one step.
fn check_delay(ck: &mut Checker<'_>, d: Dist, node: &Node, path: &str, dt: f64) -> Option<Dist> {
    let (lo, hi) = d.bounds();
    // A lognormal's values come arbitrarily close to 0: unbounded below as far as steps go.
    if !lo.is_finite() || matches!(d, Dist::Lognormal { .. }) {
        ck.error(
            &node.span,
            path,
            "this distribution can draw delays below one step",
            Some(format!(
                "bound it below, e.g. {{ normal_clipped = {{ mean = .., std = .., min = {dt} }} }}"
            )),
        );
        return None;
    }
    if round_to_steps(lo, dt) < 1 {
        let message = match d {
            Dist::Constant(_) => format!("delay {lo} ms is shorter than one step (dt = {dt} ms)"),
            _ => format!(
                "this distribution can draw delays down to {lo} ms, shorter than one step (dt = {dt} ms)"
            ),
        };
        ck.error(&node.span, path, message,
            Some(format!("delays are rounded to the nearest multiple of dt and must be at least dt; use a delay >= {dt}")));
        return None;
    }
    if hi.is_finite() && round_to_steps(hi, dt) > crate::time::MAX_DELAY_STEPS {
        ck.error(
            &node.span,
            path,
            format!(
                "delay {hi} ms exceeds the longest supported delay ({} steps)",
                crate::time::MAX_DELAY_STEPS
            ),
            None,
        );
        return None;
    }
    if hi.is_infinite() {
        ck.error(
            &node.span,
            path,
            "delay distributions must be bounded above",
            Some("use uniform or normal_clipped with a max".into()),
        );
        return None;
    }
    Some(d)
}

/// Reads the `synapse` key of table `t` (the value of `node`).
pub(crate) fn read_synapse(
    t: &[Entry],
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    dt: f64,
    need_weight: bool,
) -> (Option<Dist>, Option<Dist>) {
    let Some(e) = get(t, "synapse") else {
        if need_weight {
            ck.error(
                &node.span,
                path,
                "missing key `synapse`",
                Some("add `synapse = { weight = .., delay = .. }`".into()),
            );
            return (None, None);
        }
        return (Some(Dist::Constant(1.0)), Some(Dist::Constant(dt)));
    };
    let p = join(path, "synapse");
    // Projections take a synapse rule and its parameters too; stimuli do not.
    // The keys depend on the rule; read_dopamine checks its own.
    let rule = match &e.value.kind {
        NodeKind::Table(st) => match get(st, "rule").map(|r| &r.value.kind) {
            Some(NodeKind::Str(r)) => r.as_str(),
            _ => "static",
        },
        _ => "static",
    };
    let allowed: &[&str] = match (path.starts_with("projections"), rule) {
        (false, _) => &["weight", "delay"],
        (true, "stdp_dopamine") => &[],
        (true, "stdp" | "stdp_nn_symm") => STDP_KEYS,
        (true, _) => &["weight", "delay", "rule"],
    };
    let Some(st) = ck.table(&e.value, &p, allowed) else {
        return (None, None);
    };
    let weight = match get(st, "weight") {
        Some(w) => ck.dist(&w.value, &join(&p, "weight")),
        None => Some(Dist::Constant(1.0)),
    };
    let delay = match get(st, "delay") {
        Some(d) => {
            let dp = join(&p, "delay");
            ck.dist(&d.value, &dp)
                .and_then(|dist| check_delay(ck, dist, &d.value, &dp, dt))
        }
        None => Some(Dist::Constant(dt)),
    };
    (weight, delay)
}

fn read_stimulus(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    pops: &[Option<PopulationSpec>],
    dt: f64,
) -> Option<StimulusSpec> {
    let NodeKind::Table(_) = &node.kind else {
        ck.expected(node, path, "a table");
        return None;
    };
    let before = ck.diags.len();
    let t0 = ck.table(node, path, &[])?;
    let kind_node = ck.required(t0, node, path, "kind")?;
    let kind = ck.string(kind_node, &join(path, "kind"))?;
    let specific: &[&str] = match kind {
        "poisson" => &["rate", "synapse"],
        "dc" => &["amplitude", "delay"],
        "step_current" => &["times", "amplitudes", "delay"],
        "spike_times" => &["spike_times", "times", "synapse"],
        other => {
            ck.error(
                &kind_node.span,
                &join(path, "kind"),
                format!("unknown stimulus kind `{other}`"),
                Some(suggest(other, STIMULUS_KINDS)),
            );
            return None;
        }
    };
    let mut allowed = vec!["kind", "targets", "start", "stop"];
    allowed.extend_from_slice(specific);
    let t = ck.table(node, path, &allowed)?;
    let targets = ck
        .required(t, node, path, "targets")
        .and_then(|n| read_selection_list(n, &join(path, "targets"), ck, names, pops));
    let start = get(t, "start").map_or(Some(0.0), |e| {
        grid_time(ck, &e.value, &join(path, "start"), dt)
    });
    let stop = get(t, "stop").map_or(Some(f64::INFINITY), |e| {
        grid_time(ck, &e.value, &join(path, "stop"), dt)
    });
    if let (Some(a), Some(b)) = (start, stop) {
        if b <= a {
            ck.error(
                &node.span,
                path,
                format!("stop ({b} ms) must be after start ({a} ms)"),
                None,
            );
        }
    }
    let mut weight = Some(Dist::Constant(0.0));
    let delay: Option<Dist>;
    let kind = match kind {
        "poisson" => {
            let rate = ck.required(t, node, path, "rate").and_then(|n| {
                let v = ck.finite(n, &join(path, "rate"))?;
                if v < 0.0 {
                    ck.error(
                        &n.span,
                        &join(path, "rate"),
                        format!("must be >= 0 Hz, got {v}"),
                        None,
                    );
                    return None;
                }
                Some(v)
            });
            (weight, delay) = read_synapse(t, node, path, ck, dt, true);
            StimulusKind::Poisson { rate: rate? }
        }
        "dc" => {
            let amplitude = ck
                .required(t, node, path, "amplitude")
                .and_then(|n| ck.finite(n, &join(path, "amplitude")));
            delay = current_delay(t, path, ck, dt);
            StimulusKind::Dc {
                amplitude: amplitude?,
            }
        }
        "step_current" => {
            let times = ck.required(t, node, path, "times").and_then(|n| {
                let p = join(path, "times");
                let v = ck.number_list(n, &p)?;
                check_times(ck, n, &p, &v, dt, false)?;
                Some(v)
            });
            let amps = ck
                .required(t, node, path, "amplitudes")
                .and_then(|n| ck.number_list(n, &join(path, "amplitudes")));
            if let (Some(ts), Some(a)) = (&times, &amps) {
                if ts.len() != a.len() {
                    ck.error(
                        &node.span,
                        path,
                        format!(
                            "`times` has {} entries but `amplitudes` has {}",
                            ts.len(),
                            a.len()
                        ),
                        None,
                    );
                }
            }
            delay = current_delay(t, path, ck, dt);
            StimulusKind::StepCurrent {
                times: times?,
                amplitudes: amps?,
            }
        }
        "spike_times" => {
            (weight, delay) = read_synapse(t, node, path, ck, dt, true);
            let per = get(t, "spike_times");
            let shared = get(t, "times");
            match (per, shared) {
                (Some(_), Some(s)) => {
                    ck.error(&s.key_span, &join(path, "times"), "give either `times` (shared by all targets) or `spike_times` (one list per target), not both", None);
                    None
                }
                (None, None) => {
                    ck.error(&node.span, path, "missing key `spike_times` (one list per target neuron) or `times` (one list for all)", None);
                    None
                }
                (None, Some(s)) => {
                    let p = join(path, "times");
                    ck.number_list(&s.value, &p).and_then(|v| {
                        check_times(ck, &s.value, &p, &v, dt, true)?;
                        Some(StimulusKind::SpikeTimes {
                            per_neuron: vec![v],
                            shared: true,
                        })
                    })
                }
                (Some(per), None) => {
                    let p = join(path, "spike_times");
                    let lists = match &per.value.kind {
                        NodeKind::Array(items) => {
                            let mut lists = Vec::new();
                            let mut ok = true;
                            for (i, item) in items.iter().enumerate() {
                                let ip = format!("{p}[{i}]");
                                match ck.number_list(item, &ip) {
                                    Some(v)
                                        if check_times(ck, item, &ip, &v, dt, true).is_some() =>
                                    {
                                        lists.push(v)
                                    }
                                    _ => ok = false,
                                }
                            }
                            ok.then_some(lists)
                        }
                        _ => {
                            ck.expected(
                                &per.value,
                                &p,
                                "an array with one list of spike times per target neuron",
                            );
                            None
                        }
                    };
                    if let (Some(l), Some(tg)) = (&lists, &targets) {
                        if let Some(n) = selection_size(tg, pops) {
                            if l.len() != n {
                                ck.error(&per.value.span, &p, format!("{} lists given for {n} target neurons", l.len()),
                                    Some("give one list per target neuron, or `times` for one list shared by all".into()));
                            }
                        }
                    }
                    lists.map(|per_neuron| StimulusKind::SpikeTimes {
                        per_neuron,
                        shared: false,
                    })
                }
            }?
        }
        _ => unreachable!("kind checked above"),
    };
    if ck.diags.len() > before {
        return None;
    }
    Some(StimulusSpec {
        kind,
        targets: targets?,
        weight: weight?,
        delay: delay?,
        start: start?,
        stop: stop?,
    })
}

fn current_delay(t: &[Entry], path: &str, ck: &mut Checker<'_>, dt: f64) -> Option<Dist> {
    match get(t, "delay") {
        None => Some(Dist::Constant(dt)),
        Some(e) => {
            let p = join(path, "delay");
            let v = ck.finite(&e.value, &p)?;
            check_delay(ck, Dist::Constant(v), &e.value, &p, dt)
        }
    }
}

fn check_times(
    ck: &mut Checker<'_>,
    node: &Node,
    path: &str,
    times: &[f64],
    dt: f64,
    spikes: bool,
) -> Option<()> {
    // Point at the entry itself where the list is at hand.
    let span = |i: usize| match &node.kind {
        NodeKind::Array(items) => items.get(i).map_or(&node.span, |n| &n.span),
        _ => &node.span,
    };
    for (i, w) in times.windows(2).enumerate() {
        if w[1] < w[0] || (!spikes && w[1] == w[0]) {
            ck.error(
                span(i + 1),
                path,
                format!(
                    "times must increase: entry {} ({} ms) follows {} ms",
                    i + 1,
                    w[1],
                    w[0]
                ),
                None,
            );
            return None;
        }
    }
    for (i, &t) in times.iter().enumerate() {
        let span = span(i);
        let bad_start = if spikes { t <= 0.0 } else { t < 0.0 };
        if bad_start {
            ck.error(
                span,
                &format!("{path}[{i}]"),
                format!(
                    "{t} ms: times must be {}",
                    if spikes {
                        "> 0 (a spike at 0 cannot be emitted)"
                    } else {
                        ">= 0"
                    }
                ),
                None,
            );
            return None;
        }
        if !is_on_grid(t, dt) {
            ck.error(
                span,
                &format!("{path}[{i}]"),
                format!("{t} ms is not a multiple of dt = {dt} ms"),
                None,
            );
            return None;
        }
    }
    Some(())
}

fn read_projection(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    pops: &[Option<PopulationSpec>],
    dt: f64,
) -> Option<ProjectionSpec> {
    let before = ck.diags.len();
    let t = ck.table(node, path, &["from", "to", "connect", "synapse"])?;
    let pop_list = |ck: &mut Checker<'_>, key: &str| -> Option<Vec<usize>> {
        let n = ck.required(t, node, path, key)?;
        let p = join(path, key);
        let sel = read_selection_list(n, &p, ck, names, pops)?;
        if sel.iter().any(|s| s.neurons.is_some()) {
            ck.error(
                &n.span,
                &p,
                "projections connect whole populations",
                Some("name populations only".into()),
            );
            return None;
        }
        // The sources (targets) are the union of the populations; a repeated
        // one would double its neurons and defeat allow_multapses = false.
        for (k, s) in sel.iter().enumerate() {
            if sel[..k].iter().any(|o| o.population == s.population) {
                let item = match &n.kind {
                    NodeKind::Array(items) => &items[k],
                    _ => n,
                };
                ck.error(
                    &item.span,
                    &format!("{p}[{k}]"),
                    format!("population `{}` listed twice", names[s.population]),
                    None,
                );
                return None;
            }
        }
        Some(sel.into_iter().map(|s| s.population).collect())
    };
    let from = pop_list(ck, "from");
    let to = pop_list(ck, "to");
    let n_src = from.as_ref().and_then(|f| {
        f.iter()
            .map(|&i| pops[i].as_ref().map(|p| p.size))
            .sum::<Option<usize>>()
    });
    let n_tgt = to.as_ref().and_then(|f| {
        f.iter()
            .map(|&i| pops[i].as_ref().map(|p| p.size))
            .sum::<Option<usize>>()
    });
    let overlap = match (&from, &to) {
        (Some(f), Some(t)) => f.iter().any(|p| t.contains(p)),
        _ => false,
    };

    let connect = ck.required(t, node, path, "connect");
    let cp = join(path, "connect");
    let mut autapses = true;
    let mut multapses = true;
    let rule = connect.and_then(|c| {
        let ct0 = ck.table(c, &cp, &[])?;
        let rn = ck.required(ct0, c, &cp, "rule")?;
        let rule_name = ck.string(rn, &join(&cp, "rule"))?;
        // NEST's name for the same rule.
        let rule_name = if rule_name == "pairwise_bernoulli" { "fixed_probability" } else { rule_name };
        let extra: &[&str] = match rule_name {
            "all_to_all" | "one_to_one" => &[],
            "fixed_probability" => &["p"],
            "fixed_indegree" => &["indegree"],
            "fixed_outdegree" => &["outdegree"],
            "fixed_total_number" => &["n"],
            other => {
                ck.error(&rn.span, &join(&cp, "rule"), format!("unknown connection rule `{other}`"), Some(suggest(other, RULES)));
                return None;
            }
        };
        let mut allowed = vec!["rule", "allow_autapses", "allow_multapses"];
        allowed.extend_from_slice(extra);
        let ct = ck.table(c, &cp, &allowed)?;
        if let Some(e) = get(ct, "allow_autapses") {
            autapses = ck.boolean(&e.value, &join(&cp, "allow_autapses"))?;
        }
        if let Some(e) = get(ct, "allow_multapses") {
            multapses = ck.boolean(&e.value, &join(&cp, "allow_multapses"))?;
        }
        let count = |ck: &mut Checker<'_>, key: &str| -> Option<(u64, &Node)> {
            let n = ck.required(ct, c, &cp, key)?;
            let v = ck.int(n, &join(&cp, key))?;
            if v < 0 {
                ck.error(&n.span, &join(&cp, key), format!("must be >= 0, got {v}"), None);
                return None;
            }
            Some((v as u64, n))
        };
        let self_pairs = if overlap && !autapses { 1 } else { 0 };
        Some(match rule_name {
            "all_to_all" => ConnectRule::AllToAll,
            "one_to_one" => {
                if let (Some(a), Some(b)) = (n_src, n_tgt) {
                    if a != b {
                        ck.error(&rn.span, &join(&cp, "rule"), format!("one_to_one needs equal sizes, got {a} sources and {b} targets"), None);
                        return None;
                    }
                }
                ConnectRule::OneToOne
            }
            "fixed_probability" => {
                let n = ck.required(ct, c, &cp, "p")?;
                let p = ck.number(n, &join(&cp, "p"))?;
                if !(0.0..=1.0).contains(&p) {
                    ck.error(&n.span, &join(&cp, "p"), format!("a probability must lie in [0, 1], got {p}"), None);
                    return None;
                }
                ConnectRule::FixedProbability { p }
            }
            "fixed_indegree" => {
                let (k, n) = count(ck, "indegree")?;
                if let Some(ns) = n_src {
                    let available = ns - self_pairs;
                    if !multapses && k as usize > available {
                        ck.error(&n.span, &join(&cp, "indegree"), format!("indegree {k} exceeds the {available} available sources and multapses are not allowed"),
                            Some("lower the indegree or set allow_multapses = true".into()));
                        return None;
                    }
                    if ns == 0 || (available == 0 && k > 0) {
                        ck.error(&n.span, &join(&cp, "indegree"), "no source can be drawn (only autapses, which are not allowed)", None);
                        return None;
                    }
                }
                ConnectRule::FixedIndegree { indegree: k }
            }
            "fixed_outdegree" => {
                let (k, n) = count(ck, "outdegree")?;
                if let Some(nt) = n_tgt {
                    let available = nt - self_pairs;
                    if !multapses && k as usize > available {
                        ck.error(&n.span, &join(&cp, "outdegree"), format!("outdegree {k} exceeds the {available} available targets and multapses are not allowed"),
                            Some("lower the outdegree or set allow_multapses = true".into()));
                        return None;
                    }
                    if available == 0 && k > 0 {
                        ck.error(&n.span, &join(&cp, "outdegree"), "no target can be drawn (only autapses, which are not allowed)", None);
                        return None;
                    }
                }
                ConnectRule::FixedOutdegree { outdegree: k }
            }
            "fixed_total_number" => {
                let (k, n) = count(ck, "n")?;
                if let (Some(a), Some(b)) = (n_src, n_tgt) {
                    // Without autapses, a neuron in both the sources and the targets loses its self-pair.
                    let shared: u64 = match (&from, &to) {
                        (Some(f), Some(t)) if !autapses => {
                            f.iter().filter(|p| t.contains(p)).map(|&p| pops[p].as_ref().map_or(0, |s| s.size as u64)).sum()
                        }
                        _ => 0,
                    };
                    let pairs = (a as u64).saturating_mul(b as u64) - shared;
                    if !multapses && k > pairs {
                        ck.error(&n.span, &join(&cp, "n"), format!("{k} connections exceed the {pairs} possible pairs and multapses are not allowed"), None);
                        return None;
                    }
                }
                ConnectRule::FixedTotalNumber { n: k }
            }
            _ => unreachable!("rule checked above"),
        })
    });
    let plasticity = read_plasticity(t, path, ck);
    let dopamine = read_dopamine(t, path, ck, names, dt);
    let (weight, delay) = read_synapse(t, node, path, ck, dt, true);
    if let (Some(Some(d)), Some(w)) = (&dopamine, &weight) {
        let (lo, hi) = w.bounds();
        if lo < d.wmin || hi > d.wmax {
            let e = get(t, "synapse").expect("dopamine read from it");
            ck.error(
                &e.value.span,
                &join(path, "synapse.weight"),
                format!(
                    "weights of a dopamine synapse must lie in [Wmin, Wmax] = [{}, {}]",
                    d.wmin, d.wmax
                ),
                None,
            );
        }
    }
    if let (Some(Some(stdp)), Some(w)) = (&plasticity, &weight) {
        let (lo, hi) = w.bounds();
        let ok = if stdp.wmax > 0.0 {
            lo >= 0.0
        } else {
            hi <= 0.0
        };
        if !ok {
            let e = get(t, "synapse").expect("plasticity read from it");
            ck.error(
                &e.value.span,
                &join(path, "synapse.weight"),
                format!(
                    "weights of a plastic synapse must have the sign of Wmax ({})",
                    stdp.wmax
                ),
                Some(
                    "bound the weight distribution to [0, Wmax] (or [Wmax, 0] for negative Wmax)"
                        .into(),
                ),
            );
        }
    }
    if ck.diags.len() > before {
        return None;
    }
    Some(ProjectionSpec {
        from: from?,
        to: to?,
        rule: rule?,
        allow_autapses: autapses,
        allow_multapses: multapses,
        weight: weight?,
        delay: delay?,
        plasticity: plasticity?,
        dopamine: dopamine?,
    })
}

/// A numeric synapse-rule parameter: `default` when absent, else a finite
/// number that passes `check` (otherwise an error saying it must be `what`).
fn read_param(
    ck: &mut Checker<'_>,
    st: &[Entry],
    path: &str,
    key: &str,
    default: f64,
    check: fn(f64) -> bool,
    what: &str,
) -> Option<f64> {
    match get(st, key) {
        None => Some(default),
        Some(e) => {
            let kp = join(path, key);
            let v = ck.finite(&e.value, &kp)?;
            if !check(v) {
                ck.error(&e.value.span, &kp, format!("must be {what}, got {v}"), None);
                return None;
            }
            Some(v)
        }
    }
}

/// The parameters of `rule = "stdp_dopamine"`; `Some(None)` for other rules.
fn read_dopamine(
    t: &[Entry],
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    dt: f64,
) -> Option<Option<DopamineParams>> {
    let Some(e) = get(t, "synapse") else {
        return Some(None);
    };
    let NodeKind::Table(st) = &e.value.kind else {
        return Some(None);
    };
    if !matches!(get(st, "rule").map(|r| &r.value.kind), Some(NodeKind::Str(r)) if r == "stdp_dopamine")
    {
        return Some(None);
    }
    let p = join(path, "synapse");
    for k in st {
        if !DOPAMINE_KEYS.contains(&k.key.as_str()) {
            ck.error(
                &k.key_span,
                &join(&p, &k.key),
                format!("`{}` is not a parameter of stdp_dopamine", k.key),
                Some(suggest(&k.key, DOPAMINE_KEYS)),
            );
        }
    }
    let mut value = |key: &str, default: f64, check: fn(f64) -> bool, what: &str| {
        read_param(ck, st, &p, key, default, check, what)
    };
    let a_plus = value("A_plus", 1.0, |v| v >= 0.0, ">= 0");
    let a_minus = value("A_minus", 1.5, |v| v >= 0.0, ">= 0");
    let tau_plus = value("tau_plus", 20.0, |v| v > 0.0, "a positive time in ms");
    let tau_c = value("tau_c", 1000.0, |v| v > 0.0, "a positive time in ms");
    let tau_n = value("tau_n", 200.0, |v| v > 0.0, "a positive time in ms");
    // NEST accepts any b; a negative one makes dw/dt = c (n - b) potentiate
    // with c > 0 also without dopamine (a tonic level, as in Izhikevich 2007).
    let b = value("b", 0.0, |_| true, "a number");
    let wmin = value("Wmin", 0.0, |_| true, "a number");
    let wmax = value("Wmax", 200.0, |_| true, "a number");
    let dopamine_delay = value("dopamine_delay", 1.0, |v| v > 0.0, "a positive time in ms");
    let deliver_interval = value(
        "deliver_interval",
        1.0,
        |v| v >= 1.0 && v.fract() == 0.0 && v <= 1e6,
        "a whole number >= 1",
    );
    if let (Some(tc), Some(tn)) = (tau_c, tau_n) {
        if tc == tn {
            let e = get(st, "tau_n")
                .or_else(|| get(st, "tau_c"))
                .map_or(e.value.span.clone(), |x| x.value.span.clone());
            ck.error(&e, &join(&p, "tau_n"), "tau_c and tau_n must differ (the weight's closed-form solution divides by their difference)", None);
            return None;
        }
    }
    if let (Some(lo), Some(hi)) = (wmin, wmax) {
        if lo > hi {
            ck.error(
                &e.value.span,
                &join(&p, "Wmin"),
                format!("Wmin ({lo}) exceeds Wmax ({hi})"),
                None,
            );
            return None;
        }
    }
    if let Some(d) = dopamine_delay {
        if crate::time::round_to_steps(d, dt) < 1 {
            ck.error(
                &e.value.span,
                &join(&p, "dopamine_delay"),
                format!("{d} ms is shorter than one step (dt = {dt} ms)"),
                None,
            );
            return None;
        }
    }
    let source = match get(st, "dopamine") {
        None => {
            ck.error(
                &e.value.span,
                &p,
                "missing key `dopamine`: the population whose spikes release dopamine",
                None,
            );
            None
        }
        Some(d) => {
            let kp = join(&p, "dopamine");
            let name = ck.string(&d.value, &kp)?;
            population_ref(name, &d.value, &kp, ck, names)
        }
    };
    Some(Some(DopamineParams {
        a_plus: a_plus?,
        a_minus: a_minus?,
        tau_plus: tau_plus?,
        tau_c: tau_c?,
        tau_n: tau_n?,
        b: b?,
        wmin: wmin?,
        wmax: wmax?,
        source: source?,
        dopamine_delay: dopamine_delay?,
        deliver_interval: deliver_interval? as u32,
    }))
}

/// The synapse rule of a projection and its parameters (NEST's names and
/// defaults); `Some(None)` for static synapses, `None` on errors.
fn read_plasticity(t: &[Entry], path: &str, ck: &mut Checker<'_>) -> Option<Option<StdpParams>> {
    let Some(e) = get(t, "synapse") else {
        return Some(None);
    };
    let NodeKind::Table(st) = &e.value.kind else {
        return Some(None);
    };
    let p = join(path, "synapse");
    let rule = match get(st, "rule") {
        None => "static",
        Some(r) => ck.string(&r.value, &join(&p, "rule"))?,
    };
    let nearest = match rule {
        "static" | "stdp_dopamine" => return Some(None),
        "stdp" => false,
        "stdp_nn_symm" => true,
        other => {
            let r = get(st, "rule").expect("rule given");
            ck.error(
                &r.value.span,
                &join(&p, "rule"),
                format!("unknown synapse rule `{other}`"),
                Some(suggest(other, SYNAPSE_RULES)),
            );
            return None;
        }
    };
    let mut value = |key: &str, default: f64, check: fn(f64) -> bool, what: &str| {
        read_param(ck, st, &p, key, default, check, what)
    };
    let tau_plus = value("tau_plus", 20.0, |v| v > 0.0, "a positive time in ms");
    let lambda = value("lambda", 0.01, |v| v >= 0.0, ">= 0");
    let alpha = value("alpha", 1.0, |v| v >= 0.0, ">= 0");
    let mu_plus = value(
        "mu_plus",
        1.0,
        |v| v >= 0.0,
        ">= 0 (0 additive, 1 multiplicative)",
    );
    let mu_minus = value(
        "mu_minus",
        1.0,
        |v| v >= 0.0,
        ">= 0 (0 additive, 1 multiplicative)",
    );
    let wmax = value("Wmax", 100.0, |v| v != 0.0, "nonzero");
    Some(Some(StdpParams {
        tau_plus: tau_plus?,
        lambda: lambda?,
        alpha: alpha?,
        mu_plus: mu_plus?,
        mu_minus: mu_minus?,
        wmax: wmax?,
        nearest,
    }))
}

fn read_weight_record(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    n_projections: usize,
    dt: f64,
) -> Option<WeightRecordSpec> {
    let t = ck.table(node, path, &["projection", "interval"])?;
    let pn = ck.required(t, node, path, "projection")?;
    let pp = join(path, "projection");
    let index = ck.int(pn, &pp)?;
    if index < 0 || index as usize >= n_projections {
        ck.error(
            &pn.span,
            &pp,
            format!(
                "no projection {index}: there are {n_projections} (counted from 0 in file order)"
            ),
            None,
        );
        return None;
    }
    let interval = match get(t, "interval") {
        None => f64::INFINITY,
        Some(e) => {
            let ip = join(path, "interval");
            let v = grid_time(ck, &e.value, &ip, dt)?;
            if v <= 0.0 {
                ck.error(
                    &e.value.span,
                    &ip,
                    format!("must be a positive multiple of dt, got {v}"),
                    None,
                );
                return None;
            }
            v
        }
    };
    Some(WeightRecordSpec {
        projection: index as usize,
        interval,
    })
}

fn read_record(
    node: &Node,
    path: &str,
    ck: &mut Checker<'_>,
    names: &[&str],
    pops: &[Option<PopulationSpec>],
    dt: f64,
) -> Option<RecordSpec> {
    let before = ck.diags.len();
    let t = ck.table(
        node,
        path,
        &["population", "neurons", "spikes", "state", "interval"],
    )?;
    let pn = ck.required(t, node, path, "population")?;
    let pp = join(path, "population");
    let name = ck.string(pn, &pp)?;
    let population = population_ref(name, pn, &pp, ck, names)?;
    let spec = pops[population].as_ref();
    let neurons = match get(t, "neurons") {
        None => None,
        Some(e) => read_neuron_indices(&e.value, &join(path, "neurons"), ck, spec.map(|p| p.size)),
    };
    let spikes = match get(t, "spikes") {
        None => true,
        Some(e) => ck.boolean(&e.value, &join(path, "spikes")).unwrap_or(false),
    };
    let mut state = Vec::new();
    if let Some(e) = get(t, "state") {
        let sp = join(path, "state");
        match &e.value.kind {
            NodeKind::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let ip = format!("{sp}[{i}]");
                    if let (Some(v), Some(p)) = (ck.string(item, &ip), spec) {
                        match p.model.state_index(v) {
                            Some(idx) if !state.contains(&idx) => state.push(idx),
                            Some(_) => {
                                ck.error(&item.span, &ip, format!("`{v}` listed twice"), None)
                            }
                            None => {
                                let allowed: Vec<&str> =
                                    p.model.state().iter().map(|s| s.name).collect();
                                ck.error(
                                    &item.span,
                                    &ip,
                                    format!("`{v}` is not a state variable of {}", p.model.name()),
                                    Some(suggest(v, &allowed)),
                                );
                            }
                        }
                    }
                }
            }
            _ => ck.expected(&e.value, &sp, "an array of state variable names"),
        }
    }
    let interval = match get(t, "interval") {
        None => Some(dt),
        Some(e) => {
            let ip = join(path, "interval");
            grid_time(ck, &e.value, &ip, dt).and_then(|v| {
                if v <= 0.0 || v.is_infinite() {
                    ck.error(
                        &e.value.span,
                        &ip,
                        format!("must be a positive multiple of dt, got {v}"),
                        None,
                    );
                    None
                } else {
                    Some(v)
                }
            })
        }
    };
    if !spikes && state.is_empty() {
        ck.error(
            &node.span,
            path,
            "records nothing",
            Some("set `spikes = true` or list `state` variables".into()),
        );
    }
    if ck.diags.len() > before {
        return None;
    }
    Some(RecordSpec {
        selection: NeuronSelection {
            population,
            neurons,
        },
        spikes,
        state,
        interval: interval?,
    })
}
