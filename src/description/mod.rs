//! Description files: parsing (TOML or JSON), validation and the typed result.
//!
//! Validation walks a span-carrying tree ([`node::Node`]) instead of deriving
//! serde structs, so that it can report every problem at once, each with its
//! file, line, column and key path, and say what would be valid.

pub mod diagnostic;
pub mod expr;
pub mod node;
mod params;
mod parse;
mod protocol;
mod templates;
pub mod types;

pub use diagnostic::{DescriptionErrors, Diagnostic};
pub use params::Override;
pub use protocol::HINDLIMB_DEFAULTS;
pub use types::*;

use node::{LineIndex, SyntaxError};
use std::path::Path;

/// The syntax of a description file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML.
    Toml,
    /// JSON (comments and trailing commas allowed).
    Json,
}

impl Format {
    /// Picks the format from a file's extension: `.json` is JSON, anything else TOML.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Toml,
        }
    }
}

/// Reads and validates a description file.
pub fn load(path: &Path) -> Result<Description, DescriptionErrors> {
    load_with(path, &[])
}

/// Reads a description file, applies `--set` overrides, and validates it.
pub fn load_with(path: &Path, overrides: &[Override]) -> Result<Description, DescriptionErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        DescriptionErrors(vec![Diagnostic {
            file: name.clone(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read the file: {e}"),
            help: None,
        }])
    })?;
    parse_str_with(&text, Format::from_path(path), &name, overrides)
}

/// Parses and validates description text; `name` is used in messages.
pub fn parse_str(text: &str, format: Format, name: &str) -> Result<Description, DescriptionErrors> {
    parse_str_with(text, format, name, &[])
}

/// Parses description text, applies `--set` overrides, and validates it.
pub fn parse_str_with(
    text: &str,
    format: Format,
    name: &str,
    overrides: &[Override],
) -> Result<Description, DescriptionErrors> {
    let index = LineIndex::new(text);
    let root = match format {
        Format::Toml => node::parse_toml(text),
        Format::Json => node::parse_json(text),
    };
    let mut root = root.map_err(|errors| syntax_errors(errors, &index, name))?;
    let mut checker = parse::Checker::new(name, &index).with_overrides(overrides);
    let parameters = params::expand(&mut root, overrides, &mut checker);
    let description = parse::read_description(&root, &mut checker, name).map(|mut d| {
        d.parameters = parameters;
        d
    });
    let mut diags = checker.diags;
    if diags.is_empty() {
        return Ok(description.expect("no diagnostics means a description was read"));
    }
    diags.sort_by_key(|a| (a.line, a.column));
    // A table inherited through `like` is checked once per population that
    // uses it; keep the first of identical reports, which share a position
    // but need not be adjacent.
    let mut unique: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    let mut same_position = 0;
    for d in diags {
        if unique
            .last()
            .is_some_and(|u| (u.line, u.column) != (d.line, d.column))
        {
            same_position = unique.len();
        }
        if !unique[same_position..].contains(&d) {
            unique.push(d);
        }
    }
    let diags = unique;
    Err(DescriptionErrors(diags))
}

fn syntax_errors(errors: Vec<SyntaxError>, index: &LineIndex, name: &str) -> DescriptionErrors {
    DescriptionErrors(
        errors
            .into_iter()
            .map(|e| {
                let (line, column) = e.span.map_or((0, 0), |s| index.line_col(s.start));
                Diagnostic {
                    file: name.to_string(),
                    line,
                    column,
                    path: String::new(),
                    message: format!("syntax error: {}", e.message),
                    help: None,
                }
            })
            .collect(),
    )
}
