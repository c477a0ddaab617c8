//! Streaming `.npy` writer: the header is rewritten after every append, so
//! the file on disk is a valid array of everything written so far, even if
//! the process dies mid-run.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Element types written to `.npy`.
pub trait NpyElement: Copy {
    /// NumPy's `descr` string.
    const DESCR: &'static str;
    /// Little-endian bytes.
    fn write_le(self, out: &mut Vec<u8>);
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for u32 {
    const DESCR: &'static str = "<u4";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Fixed header size: room for any shape we write, and 64-byte aligned data.
const HEADER_LEN: usize = 128;

/// An `.npy` file of shape `(rows, columns...)` that grows by rows.
#[derive(Debug)]
pub struct NpyWriter<T: NpyElement> {
    file: File,
    path: PathBuf,
    rows: u64,
    row_shape: Vec<usize>,
    buf: Vec<u8>,
    _t: std::marker::PhantomData<T>,
}

impl<T: NpyElement> NpyWriter<T> {
    /// Creates the file; each row has shape `row_shape` (empty for 1-D).
    pub fn create(path: &Path, row_shape: &[usize]) -> std::io::Result<Self> {
        let file = File::create(path)?;
        let mut w = Self {
            file,
            path: path.to_path_buf(),
            rows: 0,
            row_shape: row_shape.to_vec(),
            buf: Vec::new(),
            _t: std::marker::PhantomData,
        };
        w.write_header()?;
        Ok(w)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_header(&mut self) -> std::io::Result<()> {
        let mut shape = format!("({}", self.rows);
        if self.row_shape.is_empty() {
            shape.push(',');
        }
        for d in &self.row_shape {
            shape.push_str(&format!(", {d}"));
        }
        shape.push(')');
        let dict = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            T::DESCR
        );
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(b"\x93NUMPY\x01\x00");
        let len = (HEADER_LEN - 10) as u16;
        header.extend_from_slice(&len.to_le_bytes());
        header.extend_from_slice(dict.as_bytes());
        if header.len() >= HEADER_LEN {
            return Err(std::io::Error::other("npy header too long"));
        }
        header.resize(HEADER_LEN - 1, b' ');
        header.push(b'\n');
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&header)?;
        self.file.seek(SeekFrom::End(0))?;
        Ok(())
    }

    /// Appends rows (`values.len()` must be a multiple of the row size).
    pub fn append(&mut self, values: &[T]) -> std::io::Result<()> {
        let row: usize = self.row_shape.iter().product::<usize>().max(1);
        self.buf.clear();
        for &v in values {
            v.write_le(&mut self.buf);
        }
        self.file.write_all(&self.buf)?;
        self.rows += (values.len() / row) as u64;
        self.write_header()
    }

    /// Flushes to disk.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes a whole 1-D array at once.
pub fn write_array<T: NpyElement>(path: &Path, values: &[T]) -> std::io::Result<()> {
    let mut w = NpyWriter::<T>::create(path, &[])?;
    w.append(values)?;
    w.flush()
}

/// Reads a 1-D or 2-D little-endian `.npy` of f64 or u32 as f64 (for tests and tools).
pub fn read_f64(path: &Path) -> std::io::Result<(Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(path)?;
    let bad = |m: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {m}", path.display()),
        )
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy file"));
    }
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).map_err(|_| bad("bad header"))?;
    let descr = header
        .split("'descr': '")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .ok_or_else(|| bad("no descr"))?;
    let shape_str = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let shape: Vec<usize> = shape_str
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let data = &bytes[10 + hlen..];
    let values = match descr {
        "<f8" => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        "<f4" => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64)
            .collect(),
        "<u4" => data
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")) as f64)
            .collect(),
        other => return Err(bad(&format!("unsupported dtype {other}"))),
    };
    Ok((shape, values))
}
