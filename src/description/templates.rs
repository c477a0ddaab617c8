//! `[templates.NAME]` and `[instances.NAME]`: reusable circuit blocks.
//!
//! A template holds populations, stimuli, projections and recorders like a
//! description does, plus `parameters` with defaults. Each instance copies
//! its template's tree with the instance's parameter values substituted and
//! every name of a template population prefixed (`prefix`, by default the
//! instance's name and `_`), then appends the copies to the description's
//! own tables. Names that are not the template's own populations are left as
//! they are, so a template can project onto populations defined outside it,
//! and projections between instances are written at the top level with the
//! prefixed names. This runs on the node tree before validation, like
//! parameters, so the validator checks the expanded description and its
//! messages point at the template's lines.

use super::node::{Entry, Node, NodeKind};
use super::params::{Scope, evaluate_node, substitute};
use super::parse::{Checker, suggest};

const TEMPLATE_KEYS: &[&str] = &[
    "parameters",
    "populations",
    "stimuli",
    "projections",
    "record",
    "record_weights",
    "bodies",
];
const INSTANCE_KEYS: &[&str] = &["template", "prefix", "parameters"];
/// Keys whose values name populations (a name, a list of names, or
/// `{ population = NAME, neurons = [...] }` tables).
const REFERENCE_KEYS: &[&str] = &["from", "to", "targets", "population", "dopamine"];
const ARRAYS: &[&str] = &["stimuli", "projections", "record", "record_weights"];

/// Expands every instance into `top`, removing `templates` and `instances`.
pub(crate) fn expand(top: &mut Vec<Entry>, globals: &Scope, ck: &mut Checker<'_>) {
    let take = |top: &mut Vec<Entry>, key: &str| {
        top.iter().position(|e| e.key == key).map(|i| top.remove(i))
    };
    let templates = take(top, "templates");
    let Some(instances) = take(top, "instances") else {
        if let Some(t) = templates {
            // Templates without instances are checked for their shape only.
            templates_table(&t.value, ck);
        }
        return;
    };
    let Some(templates) = templates else {
        ck.error(
            &instances.key_span,
            "instances",
            "`instances` without `templates`",
            Some("define the blocks to instantiate under `[templates.NAME]`".into()),
        );
        return;
    };
    let defined = templates_table(&templates.value, ck);
    let names: Vec<&str> = defined.iter().map(|e| e.key.as_str()).collect();
    let NodeKind::Table(list) = &instances.value.kind else {
        ck.error(
            &instances.value.span,
            "instances",
            format!("expected a table, found {}", instances.value.type_name()),
            Some("write `[instances.NAME]` with `template = \"...\"`".into()),
        );
        return;
    };
    // Projections of earlier instances come after the description's own, so
    // a template's `record_weights.projection` index moves by this much.
    let mut projections_before = count(top, "projections");
    for inst in list {
        let path = format!("instances.{}", inst.key);
        let Some(fields) = table(&inst.value, &path, INSTANCE_KEYS, ck) else {
            continue;
        };
        let Some(template_name) = fields.iter().find(|e| e.key == "template") else {
            ck.error(
                &inst.key_span,
                &path,
                "missing `template`",
                Some(suggest("", &names)),
            );
            continue;
        };
        let NodeKind::Str(template_name_str) = &template_name.value.kind else {
            ck.error(
                &template_name.value.span,
                &format!("{path}.template"),
                "expected the name of a template",
                None,
            );
            continue;
        };
        let Some(template) = defined.iter().find(|e| e.key == *template_name_str) else {
            ck.error(
                &template_name.value.span,
                &format!("{path}.template"),
                format!("unknown template `{template_name_str}`"),
                Some(suggest(template_name_str, &names)),
            );
            continue;
        };
        let prefix = match fields.iter().find(|e| e.key == "prefix") {
            None => format!("{}_", inst.key),
            Some(e) => match &e.value.kind {
                NodeKind::Str(p) => p.clone(),
                _ => {
                    ck.error(
                        &e.value.span,
                        &format!("{path}.prefix"),
                        "expected a string",
                        None,
                    );
                    continue;
                }
            },
        };
        let NodeKind::Table(body) = &template.value.kind else {
            continue;
        };
        let Some(scope) = instance_scope(body, fields, globals, &path, ck) else {
            continue;
        };
        let locals: Vec<String> = body
            .iter()
            .find(|e| e.key == "populations")
            .and_then(|e| match &e.value.kind {
                NodeKind::Table(t) => Some(t.iter().map(|p| p.key.clone()).collect()),
                _ => None,
            })
            .unwrap_or_default();
        let rename = |name: &str| {
            if locals.iter().any(|l| l == name) {
                format!("{prefix}{name}")
            } else {
                name.to_string()
            }
        };
        let first_projection = projections_before;
        for part in body.iter().filter(|e| e.key != "parameters") {
            let mut copy = part.value.clone();
            substitute(&mut copy, &format!("{path}.{}", part.key), &scope, ck);
            match part.key.as_str() {
                "populations" => {
                    let NodeKind::Table(pops) = copy.kind else {
                        continue;
                    };
                    let Some(target) = table_entry(top, "populations", &part.value) else {
                        continue;
                    };
                    for mut pop in pops {
                        pop.key = rename(&pop.key);
                        if let NodeKind::Table(fields) = &mut pop.value.kind {
                            for f in fields.iter_mut().filter(|f| f.key == "like") {
                                rename_references(&mut f.value, &rename);
                            }
                        }
                        if target.iter().any(|p| p.key == pop.key) {
                            ck.error(
                                &pop.key_span,
                                &format!("{path}.populations.{}", pop.key),
                                format!(
                                    "population `{}` of instance `{}` already exists",
                                    pop.key, inst.key
                                ),
                                Some("give the instance another name or `prefix`".into()),
                            );
                            continue;
                        }
                        target.push(pop);
                    }
                }
                "bodies" => {
                    // Body names are prefixed like population names, and the
                    // populations they drive and read are renamed.
                    let NodeKind::Table(list) = copy.kind else {
                        continue;
                    };
                    let Some(target) = table_entry(top, "bodies", &part.value) else {
                        continue;
                    };
                    for mut body in list {
                        body.key = format!("{prefix}{}", body.key);
                        if let NodeKind::Table(fields) = &mut body.value.kind {
                            rename_body(fields, &rename);
                        }
                        if target.iter().any(|b| b.key == body.key) {
                            ck.error(
                                &body.key_span,
                                &format!("{path}.bodies.{}", body.key),
                                format!(
                                    "body `{}` of instance `{}` already exists",
                                    body.key, inst.key
                                ),
                                Some("give the instance another name or `prefix`".into()),
                            );
                            continue;
                        }
                        target.push(body);
                    }
                }
                key if ARRAYS.contains(&key) => {
                    let NodeKind::Array(items) = copy.kind else {
                        continue;
                    };
                    let n = items.len();
                    let Some(target) = array_entry(top, key, &part.value) else {
                        continue;
                    };
                    for mut item in items {
                        if let NodeKind::Table(fields) = &mut item.kind {
                            rename_in_table(fields, &rename);
                            if key == "record_weights" {
                                shift_projection_index(fields, first_projection);
                            }
                        }
                        target.push(item);
                    }
                    if key == "projections" {
                        projections_before += n;
                    }
                }
                _ => {}
            }
        }
    }
}

/// The templates as a list, each checked to be a table of the allowed keys.
fn templates_table<'n>(node: &'n Node, ck: &mut Checker<'_>) -> Vec<&'n Entry> {
    let Some(list) = table(node, "templates", &[], ck) else {
        return Vec::new();
    };
    list.iter()
        .filter(|t| table(&t.value, &format!("templates.{}", t.key), TEMPLATE_KEYS, ck).is_some())
        .collect()
}

fn table<'n>(
    node: &'n Node,
    path: &str,
    allowed: &[&str],
    ck: &mut Checker<'_>,
) -> Option<&'n [Entry]> {
    let NodeKind::Table(entries) = &node.kind else {
        ck.error(
            &node.span,
            path,
            format!("expected a table, found {}", node.type_name()),
            None,
        );
        return None;
    };
    let mut ok = true;
    for e in entries {
        if !allowed.is_empty() && !allowed.contains(&e.key.as_str()) {
            ck.error(
                &e.key_span,
                &format!("{path}.{}", e.key),
                format!("unknown key `{}`", e.key),
                Some(suggest(&e.key, allowed)),
            );
            ok = false;
        }
    }
    ok.then_some(entries.as_slice())
}

/// The global parameters plus the template's, with the instance's values
/// where it gives them.
fn instance_scope(
    body: &[Entry],
    fields: &[Entry],
    globals: &Scope,
    path: &str,
    ck: &mut Checker<'_>,
) -> Option<Scope> {
    let declared: &[Entry] = body
        .iter()
        .find(|e| e.key == "parameters")
        .and_then(|e| match &e.value.kind {
            NodeKind::Table(t) => Some(t.as_slice()),
            _ => None,
        })
        .unwrap_or(&[]);
    let given: &[Entry] = match fields.iter().find(|e| e.key == "parameters") {
        None => &[],
        Some(e) => match &e.value.kind {
            NodeKind::Table(t) => t,
            _ => {
                ck.error(
                    &e.value.span,
                    &format!("{path}.parameters"),
                    "expected a table of parameter values",
                    None,
                );
                return None;
            }
        },
    };
    let names: Vec<&str> = declared.iter().map(|d| d.key.as_str()).collect();
    let mut ok = true;
    for g in given {
        if !names.contains(&g.key.as_str()) {
            ck.error(
                &g.key_span,
                &format!("{path}.parameters.{}", g.key),
                format!("the template has no parameter `{}`", g.key),
                Some(suggest(&g.key, &names)),
            );
            ok = false;
        }
    }
    let mut scope = globals.clone();
    for d in declared {
        let (node, p) = match given.iter().find(|g| g.key == d.key) {
            Some(g) => (&g.value, format!("{path}.parameters.{}", d.key)),
            None => (&d.value, format!("{path}.template.parameters.{}", d.key)),
        };
        match evaluate_node(node, &p, &scope, ck) {
            Some(v) => scope.set(&d.key, v),
            None => {
                scope.fail(&d.key);
                ok = false;
            }
        }
    }
    ok.then_some(scope)
}

fn rename_in_table(fields: &mut [Entry], rename: &impl Fn(&str) -> String) {
    for f in fields.iter_mut() {
        if REFERENCE_KEYS.contains(&f.key.as_str()) {
            rename_references(&mut f.value, rename);
        } else if let NodeKind::Table(inner) = &mut f.value.kind {
            // `synapse = { dopamine = "DA", ... }`.
            rename_in_table(inner, rename);
        }
    }
}

fn rename_body(fields: &mut [Entry], rename: &impl Fn(&str) -> String) {
    for f in fields.iter_mut() {
        match (f.key.as_str(), &mut f.value.kind) {
            ("flexor" | "extensor", _) => rename_references(&mut f.value, rename),
            ("cue", NodeKind::Table(inner)) => rename_in_table(inner, rename),
            ("afferents", NodeKind::Array(items)) => {
                for item in items {
                    if let NodeKind::Table(inner) = &mut item.kind {
                        rename_in_table(inner, rename);
                    }
                }
            }
            _ => {}
        }
    }
}

fn rename_references(node: &mut Node, rename: &impl Fn(&str) -> String) {
    match &mut node.kind {
        NodeKind::Str(s) => *s = rename(s),
        NodeKind::Array(items) => items.iter_mut().for_each(|n| rename_references(n, rename)),
        NodeKind::Table(fields) => {
            for f in fields.iter_mut().filter(|f| f.key == "population") {
                rename_references(&mut f.value, rename);
            }
        }
        _ => {}
    }
}

fn shift_projection_index(fields: &mut [Entry], by: usize) {
    for f in fields.iter_mut().filter(|f| f.key == "projection") {
        if let NodeKind::Int(i) = &mut f.value.kind {
            *i += by as i64;
        }
    }
}

fn count(top: &[Entry], key: &str) -> usize {
    top.iter()
        .find(|e| e.key == key)
        .map_or(0, |e| match &e.value.kind {
            NodeKind::Array(a) => a.len(),
            _ => 0,
        })
}

/// The entries of top-level table `key`, created (spanning `like`) if
/// missing; `None` when the description's own `key` is not a table (the
/// validator reports that).
fn table_entry<'t>(top: &'t mut Vec<Entry>, key: &str, like: &Node) -> Option<&'t mut Vec<Entry>> {
    let i = top.iter().position(|e| e.key == key).unwrap_or_else(|| {
        top.push(Entry {
            key: key.to_string(),
            key_span: like.span.clone(),
            value: Node {
                kind: NodeKind::Table(Vec::new()),
                span: like.span.clone(),
            },
        });
        top.len() - 1
    });
    match &mut top[i].value.kind {
        NodeKind::Table(t) => Some(t),
        _ => None,
    }
}

/// The items of top-level array `key`, created if missing; `None` when the
/// description's own `key` is not an array.
fn array_entry<'t>(top: &'t mut Vec<Entry>, key: &str, like: &Node) -> Option<&'t mut Vec<Node>> {
    let i = top.iter().position(|e| e.key == key).unwrap_or_else(|| {
        top.push(Entry {
            key: key.to_string(),
            key_span: like.span.clone(),
            value: Node {
                kind: NodeKind::Array(Vec::new()),
                span: like.span.clone(),
            },
        });
        top.len() - 1
    });
    match &mut top[i].value.kind {
        NodeKind::Array(a) => Some(a),
        _ => None,
    }
}
