//! Reading a run directory back (`renshaw compare`, `renshaw plot`): its
//! `summary.json` and `.npy` files, with errors that name the file.

use super::npy;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// What can go wrong reading a run directory.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The directory does not exist.
    #[error("{0}: no such directory (give the output directory of `renshaw run`)")]
    NoDirectory(PathBuf),
    /// It has no summary.
    #[error("{0}: not found; is the directory the output of `renshaw run`?")]
    NoSummary(PathBuf),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The summary is not one `renshaw run` writes.
    #[error("{path}: not a renshaw summary: {message}")]
    BadSummary {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads the part of `dir/summary.json` that `T` describes.
pub fn read_summary<T: DeserializeOwned>(dir: &Path) -> Result<T, RunDirError> {
    if !dir.is_dir() {
        return Err(RunDirError::NoDirectory(dir.to_path_buf()));
    }
    let path = dir.join("summary.json");
    if !path.is_file() {
        return Err(RunDirError::NoSummary(path));
    }
    let text = std::fs::read_to_string(&path).map_err(|source| RunDirError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| RunDirError::BadSummary {
        path,
        message: e.to_string(),
    })
}

/// Reads a 1-D `.npy` file of float64 or uint32 as f64.
pub fn read_values(path: &Path) -> Result<Vec<f64>, RunDirError> {
    npy::read_f64(path)
        .map(|(_, values)| values)
        .map_err(|source| RunDirError::Read {
            path: path.to_path_buf(),
            source,
        })
}
