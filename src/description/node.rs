//! A format-neutral, span-carrying tree of the values in a description file.
//!
//! TOML and JSON are both parsed into [`Node`]s that remember the byte range
//! they came from, so that validation can report every problem with its line,
//! column and key path no matter which syntax the user wrote.

use std::ops::Range;

/// One value of a description file and where it stands in the text.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Byte range of the value in the source text.
    pub span: Range<usize>,
}

/// The value of a [`Node`].
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A table (TOML) or object (JSON), keys in file order.
    Table(Vec<Entry>),
    /// An array.
    Array(Vec<Node>),
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// JSON `null` or a TOML date, neither of which any key accepts.
    Other(&'static str),
}

/// A key of a table with its own span and its value.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Byte range of the key in the source text.
    pub key_span: Range<usize>,
    /// The value under the key.
    pub value: Node,
}

impl Node {
    /// Names the kind of value, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Table(_) => "a table",
            NodeKind::Array(_) => "an array",
            NodeKind::Str(_) => "a string",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a float",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Other(name) => name,
        }
    }

    /// The value as a number, accepting integers where floats are expected.
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind {
            NodeKind::Int(i) => Some(i as f64),
            NodeKind::Float(f) => Some(f),
            _ => None,
        }
    }
}

/// A syntax error found while parsing, before any validation.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// What the parser said.
    pub message: String,
    /// Where, when the parser knows.
    pub span: Option<Range<usize>>,
}

/// Parses TOML text into a [`Node`] tree. Reports every syntax error the
/// parser can recover from.
pub fn parse_toml(text: &str) -> Result<Node, Vec<SyntaxError>> {
    let (table, errors) = toml::de::DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .into_iter()
            .map(|e| SyntaxError {
                message: e.message().trim().to_string(),
                span: e.span(),
            })
            .collect());
    }
    let span = 0..text.len();
    Ok(Node {
        kind: toml_table(table.into_inner()),
        span,
    })
}

fn toml_table(table: toml::de::DeTable<'_>) -> NodeKind {
    NodeKind::Table(
        table
            .into_iter()
            .map(|(k, v)| Entry {
                key: k.get_ref().to_string(),
                key_span: k.span(),
                value: toml_value(v),
            })
            .collect(),
    )
}

fn toml_value(value: toml::Spanned<toml::de::DeValue<'_>>) -> Node {
    use toml::de::DeValue;
    let span = value.span();
    let kind = match value.into_inner() {
        DeValue::String(s) => NodeKind::Str(s.into_owned()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(v) => NodeKind::Int(v),
            // Only integers beyond i64 land here; every key that takes an
            // integer also rejects such a value, so keep it as a float.
            Err(_) => NodeKind::Float(i.as_str().parse().unwrap_or(f64::INFINITY)),
        },
        DeValue::Float(f) => NodeKind::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => NodeKind::Bool(b),
        DeValue::Datetime(_) => NodeKind::Other("a date"),
        DeValue::Array(a) => NodeKind::Array(a.iter().cloned().map(toml_value).collect()),
        DeValue::Table(t) => toml_table(t),
    };
    Node { kind, span }
}

/// Parses JSON text (comments and trailing commas allowed) into a [`Node`] tree.
pub fn parse_json(text: &str) -> Result<Node, Vec<SyntaxError>> {
    let parsed = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default())
        .map_err(|e| {
            vec![SyntaxError {
                message: e.kind().to_string(),
                span: Some(e.range().start..e.range().end),
            }]
        })?;
    match parsed.value {
        Some(value) => Ok(json_value(value)),
        None => Err(vec![SyntaxError {
            message: "the file holds no JSON value".into(),
            span: None,
        }]),
    }
}

fn json_value(value: jsonc_parser::ast::Value<'_>) -> Node {
    use jsonc_parser::ast::Value;
    let (kind, range) = match value {
        Value::StringLit(s) => (NodeKind::Str(s.value.into_owned()), s.range),
        Value::NumberLit(n) => {
            let kind = match n.value.parse::<i64>() {
                Ok(i) => NodeKind::Int(i),
                Err(_) => NodeKind::Float(n.value.parse().unwrap_or(f64::NAN)),
            };
            (kind, n.range)
        }
        Value::BooleanLit(b) => (NodeKind::Bool(b.value), b.range),
        Value::NullKeyword(n) => (NodeKind::Other("null"), n.range),
        Value::Array(a) => (
            NodeKind::Array(a.elements.into_iter().map(json_value).collect()),
            a.range,
        ),
        Value::Object(o) => {
            let entries = o
                .properties
                .into_iter()
                .map(|p| {
                    let key_range = match &p.name {
                        jsonc_parser::ast::ObjectPropName::String(s) => s.range,
                        jsonc_parser::ast::ObjectPropName::Word(w) => w.range,
                    };
                    Entry {
                        key: p.name.into_string(),
                        key_span: key_range.start..key_range.end,
                        value: json_value(p.value),
                    }
                })
                .collect();
            (NodeKind::Table(entries), o.range)
        }
    };
    Node {
        kind,
        span: range.start..range.end,
    }
}

/// Maps byte offsets to 1-based line and column numbers.
#[derive(Debug, Clone)]
pub struct LineIndex {
    line_starts: Vec<usize>,
    text: String,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            line_starts,
            text: text.to_string(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let column = self.text[start..offset].chars().count() + 1;
        (line + 1, column)
    }
}
