//! Validation errors that point at the file, line, column and key.

use std::fmt;

/// One problem found in a description.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    /// The file (or `<string>`).
    pub file: String,
    /// 1-based line; 0 when the problem has no position.
    pub line: usize,
    /// 1-based column; 0 when the problem has no position.
    pub column: usize,
    /// Dotted key path, e.g. `projections[1].connect.p`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What would be valid, when that can be said.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // No position (e.g. the file could not be read).
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n    help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in a description, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct DescriptionErrors(pub Vec<Diagnostic>);

impl fmt::Display for DescriptionErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {d}")?;
        }
        if self.0.len() > 1 {
            write!(f, "\n{} errors", self.0.len())?;
        }
        Ok(())
    }
}
