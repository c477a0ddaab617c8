//! `[parameters]`, `${...}` expressions and command-line overrides (`--set`).
//!
//! Runs on the [`Node`] tree before validation, so that the validator sees
//! plain numbers and reports problems in substituted values at the place
//! where the expression was written:
//!
//! 1. overrides of key paths (`--set run.duration=500`) replace or add nodes;
//! 2. `[parameters]` are evaluated in file order, each from the ones before
//!    it, with overrides of parameters (`--set scale=0.1`) replacing the
//!    written value;
//! 3. every other string that is exactly `${expr}` becomes the number the
//!    expression gives (an integer node when the value is integral, so it is
//!    accepted where an integer is expected), and `${expr}` inside a longer
//!    string is replaced by the number's text.

use super::expr::{self, ExprError};
use super::node::{Entry, Node, NodeKind};
use super::parse::{Checker, suggest};
use std::ops::Range;

/// One `--set KEY=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// A parameter name, or a dotted key path such as `run.duration` or
    /// `projections[0].synapse.weight`.
    pub key: String,
    /// The value as written: an expression for a parameter; a TOML value
    /// (number, string, boolean, array, inline table) for a key path, taken
    /// as a string when it does not parse as one.
    pub value: String,
}

impl std::str::FromStr for Override {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let Some((key, value)) = s.split_once('=') else {
            return Err(format!("`{s}` is not KEY=VALUE"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("`{s}` has no key before `=`"));
        }
        Ok(Self {
            key: key.to_string(),
            value: value.trim().to_string(),
        })
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--set {}={}", self.key, self.value)
    }
}

/// Spans at or above this value stand for override `span.start - OVERRIDE_SPANS`
/// instead of a place in the file.
pub(crate) const OVERRIDE_SPANS: usize = usize::MAX / 2;

/// The parameters after evaluation, in file order.
pub(crate) type Parameters = Vec<(String, f64)>;

/// Applies `overrides` and substitutes parameters in `root`; returns the
/// evaluated parameters. Problems go to `ck`.
pub(crate) fn expand(root: &mut Node, overrides: &[Override], ck: &mut Checker<'_>) -> Parameters {
    let declared: Vec<String> = match &root.kind {
        NodeKind::Table(top) => top
            .iter()
            .find(|e| e.key == "parameters")
            .and_then(|e| match &e.value.kind {
                NodeKind::Table(t) => Some(t.iter().map(|p| p.key.clone()).collect()),
                _ => None,
            })
            .unwrap_or_default(),
        _ => return Vec::new(),
    };
    let mut parameter_overrides: Vec<(usize, &Override)> = Vec::new();
    for (i, o) in overrides.iter().enumerate() {
        let span = OVERRIDE_SPANS + i..OVERRIDE_SPANS + i;
        if declared.contains(&o.key) {
            parameter_overrides.push((i, o));
        } else if o.key.contains('.') || o.key.contains('[') {
            set_path(root, o, span, ck);
        } else {
            let names: Vec<&str> = declared.iter().map(String::as_str).collect();
            let help = if names.is_empty() {
                "the description declares no `[parameters]`; to change any other value give its key path, e.g. `run.duration=500` or `populations.E.size=100`".to_string()
            } else {
                format!(
                    "{}; or give a key path such as `run.duration=500`",
                    suggest(&o.key, &names)
                )
            };
            ck.error(
                &span,
                &o.key,
                format!("unknown parameter `{}`", o.key),
                Some(help),
            );
        }
    }

    let NodeKind::Table(top) = &mut root.kind else {
        return Vec::new();
    };
    let mut scope = Scope::default();
    if let Some(entry) = top.iter_mut().find(|e| e.key == "parameters") {
        match &entry.value.kind {
            NodeKind::Table(items) => {
                for item in items {
                    let path = format!("parameters.{}", item.key);
                    if !valid_parameter_name(&item.key) {
                        ck.error(
                            &item.key_span,
                            &path,
                            format!("`{}` cannot name a parameter", item.key),
                            Some("use letters, digits and `_`, starting with a letter or `_`; not a function name".into()),
                        );
                        continue;
                    }
                    let written = parameter_overrides
                        .iter()
                        .find(|(_, o)| o.key == item.key)
                        .map(|&(i, o)| (o.value.as_str(), OVERRIDE_SPANS + i..OVERRIDE_SPANS + i));
                    let value = match written {
                        Some((text, span)) => {
                            let text = whole_expression(text).unwrap_or(text);
                            evaluate_at(text, &span, &path, &scope, ck)
                        }
                        None => evaluate_node(&item.value, &path, &scope, ck),
                    };
                    match value {
                        Some(v) => scope.values.push((item.key.clone(), v)),
                        None => scope.failed.push(item.key.clone()),
                    }
                }
            }
            _ => ck.error(
                &entry.value.span,
                "parameters",
                format!("expected a table, found {}", entry.value.type_name()),
                Some("write `[parameters]` with `name = value` lines".into()),
            ),
        }
    }
    super::templates::expand(top, &scope, ck);
    for entry in top.iter_mut().filter(|e| e.key != "parameters") {
        let path = entry.key.clone();
        substitute(&mut entry.value, &path, &scope, ck);
    }
    scope.values
}

fn valid_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !expr::FUNCTIONS.iter().any(|(f, _)| *f == name)
        && name != "pi"
}

/// The text between `${` and `}` when `s` is exactly one such expression.
fn whole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains("${") && !inner.contains('}')).then_some(inner)
}

/// Parameters as far as evaluated, and the names of those that failed (their
/// own problem is reported once; whatever uses them is not reported again).
#[derive(Default, Clone)]
pub(crate) struct Scope {
    values: Parameters,
    failed: Vec<String>,
}

impl Scope {
    /// Gives `name` a value, replacing an outer one of the same name.
    pub(crate) fn set(&mut self, name: &str, value: f64) {
        self.values.retain(|(n, _)| n != name);
        self.failed.retain(|n| n != name);
        self.values.push((name.to_string(), value));
    }

    /// Records that `name` could not be evaluated (its problem is reported).
    pub(crate) fn fail(&mut self, name: &str) {
        self.values.retain(|(n, _)| n != name);
        self.failed.push(name.to_string());
    }
}

/// The value of a parameter as written: a number, or a string holding an
/// expression (with or without `${...}`).
pub(crate) fn evaluate_node(
    node: &Node,
    path: &str,
    scope: &Scope,
    ck: &mut Checker<'_>,
) -> Option<f64> {
    match &node.kind {
        NodeKind::Int(_) | NodeKind::Float(_) => node.as_f64(),
        NodeKind::Str(s) => {
            let text = whole_expression(s).unwrap_or(s);
            evaluate_at(text, &node.span, path, scope, ck)
        }
        _ => {
            ck.error(
                &node.span,
                path,
                format!(
                    "expected a number or an expression, found {}",
                    node.type_name()
                ),
                Some(
                    "write a number, or an expression over earlier parameters such as \"${2 * scale}\""
                        .into(),
                ),
            );
            None
        }
    }
}

fn evaluate_at(
    text: &str,
    span: &Range<usize>,
    path: &str,
    scope: &Scope,
    ck: &mut Checker<'_>,
) -> Option<f64> {
    let lookup = |name: &str| {
        scope
            .values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    };
    let result = expr::evaluate(text, &lookup);
    if let Err(e) = &result {
        let follows_a_failure = e
            .unknown_name
            .as_ref()
            .is_some_and(|n| scope.failed.contains(n));
        if !follows_a_failure {
            report(e.clone(), text, span, path, &scope.values, ck);
        }
        ck.mute(span);
    }
    result.ok()
}

fn report(
    e: ExprError,
    text: &str,
    span: &Range<usize>,
    path: &str,
    parameters: &Parameters,
    ck: &mut Checker<'_>,
) {
    let names: Vec<&str> = parameters.iter().map(|(n, _)| n.as_str()).collect();
    let help = match &e.unknown_name {
        Some(name) if names.is_empty() => Some(format!(
            "declare it in `[parameters]` before use (`{name} = ...`); no parameters are defined at this point"
        )),
        Some(name) if path.starts_with("parameters.") => Some(format!(
            "{} (a parameter can use only those declared before it)",
            suggest(name, &names)
        )),
        Some(name) => Some(suggest(name, &names)),
        None => None,
    };
    ck.error(
        span,
        path,
        format!("in `{text}` at character {}: {}", e.at + 1, e.message),
        help,
    );
}

pub(crate) fn substitute(node: &mut Node, path: &str, scope: &Scope, ck: &mut Checker<'_>) {
    match &mut node.kind {
        NodeKind::Table(entries) => {
            for e in entries {
                let p = format!("{path}.{}", e.key);
                substitute(&mut e.value, &p, scope, ck);
            }
        }
        NodeKind::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{path}[{i}]"), scope, ck);
            }
        }
        NodeKind::Str(s) if s.contains("${") => {
            if let Some(text) = whole_expression(s) {
                let text = text.to_string();
                if let Some(v) = evaluate_at(&text, &node.span, path, scope, ck) {
                    node.kind = if v.fract() == 0.0 && v.abs() < 9.0e15 {
                        NodeKind::Int(v as i64)
                    } else {
                        NodeKind::Float(v)
                    };
                }
            } else {
                let mut out = String::new();
                let mut rest = s.as_str();
                let mut failed = false;
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let Some(len) = rest[start..].find('}') else {
                        ck.error(&node.span, path, "`${` without a closing `}`", None);
                        failed = true;
                        break;
                    };
                    let text = &rest[start + 2..start + len];
                    match evaluate_at(text, &node.span, path, scope, ck) {
                        Some(v) => out.push_str(&format_number(v)),
                        None => failed = true,
                    }
                    rest = &rest[start + len + 1..];
                }
                if !failed {
                    out.push_str(rest);
                    node.kind = NodeKind::Str(out);
                }
            }
        }
        _ => {}
    }
}

/// Integral values without a decimal point (`3`, not `3.0`), others as Rust's
/// shortest round-trip form.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// One step of a key path: a table key, or an index into an array.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn parse_path(key: &str) -> Option<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            steps.push(Step::Key(name));
        } else if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index = rest.get(1..close)?.parse().ok()?;
            steps.push(Step::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    (!steps.is_empty()).then_some(steps)
}

/// Replaces (or adds) the value at an override's key path.
fn set_path(root: &mut Node, o: &Override, span: Range<usize>, ck: &mut Checker<'_>) {
    let Some(steps) = parse_path(&o.key) else {
        ck.error(
            &span,
            &o.key,
            format!("`{}` is not a key path", o.key),
            Some("write keys joined by `.`, with `[i]` for the i-th table of an array, e.g. `projections[0].synapse.weight`".into()),
        );
        return;
    };
    let value = parse_value(&o.value, &span);
    let mut node = root;
    let mut walked = String::new();
    for (k, step) in steps.iter().enumerate() {
        let last = k + 1 == steps.len();
        match step {
            Step::Key(key) => {
                let here = walked.clone();
                walked = if walked.is_empty() {
                    key.to_string()
                } else {
                    format!("{walked}.{key}")
                };
                let found = node.type_name();
                let NodeKind::Table(entries) = &mut node.kind else {
                    ck.error(
                        &span,
                        &o.key,
                        format!("`{here}` is {found}, not a table"),
                        None,
                    );
                    return;
                };
                let i = match entries.iter().position(|e| e.key == *key) {
                    Some(i) => i,
                    None if steps[k + 1..].iter().any(|s| matches!(s, Step::Index(_))) => {
                        ck.error(
                            &span,
                            &o.key,
                            format!("the description has no `{walked}` to index into"),
                            None,
                        );
                        return;
                    }
                    None => {
                        // A missing key is added, so that a default can be overridden;
                        // the validator then says whether the key is allowed there.
                        let fresh = if last {
                            value.clone()
                        } else {
                            Node {
                                kind: NodeKind::Table(Vec::new()),
                                span: span.clone(),
                            }
                        };
                        entries.push(Entry {
                            key: key.to_string(),
                            key_span: span.clone(),
                            value: fresh,
                        });
                        entries.len() - 1
                    }
                };
                node = &mut entries[i].value;
            }
            Step::Index(index) => {
                let found = node.type_name();
                let NodeKind::Array(items) = &mut node.kind else {
                    ck.error(
                        &span,
                        &o.key,
                        format!("`{walked}` is {found}, not an array"),
                        None,
                    );
                    return;
                };
                let n = items.len();
                let Some(item) = items.get_mut(*index) else {
                    ck.error(
                        &span,
                        &o.key,
                        format!("`{walked}` has {n} entries; there is no [{index}]"),
                        None,
                    );
                    return;
                };
                walked = format!("{walked}[{index}]");
                node = item;
            }
        }
        if last {
            *node = value.clone();
        }
    }
}

/// A `--set` value as a node: a TOML value when it parses as one, else a string.
fn parse_value(text: &str, span: &Range<usize>) -> Node {
    let parsed = super::node::parse_toml(&format!("v = {text}"))
        .ok()
        .and_then(|root| match root.kind {
            NodeKind::Table(mut entries) if entries.len() == 1 => Some(entries.remove(0).value),
            _ => None,
        });
    let mut node = parsed.unwrap_or(Node {
        kind: NodeKind::Str(text.to_string()),
        span: 0..0,
    });
    respan(&mut node, span);
    node
}

fn respan(node: &mut Node, span: &Range<usize>) {
    node.span = span.clone();
    match &mut node.kind {
        NodeKind::Table(entries) => {
            for e in entries {
                e.key_span = span.clone();
                respan(&mut e.value, span);
            }
        }
        NodeKind::Array(items) => items.iter_mut().for_each(|n| respan(n, span)),
        _ => {}
    }
}
