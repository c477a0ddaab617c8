//! Validates every WGSL kernel in shaders/ with naga, so bad WGSL fails
//! `cargo build` on a machine without a GPU. Includes (`// #include "..."`)
//! are resolved exactly as `engine::gpu::shaders` resolves them at run time.
//!
//! Also embeds the git commit the binary is built from (`RENSHAW_GIT_COMMIT`,
//! `git rev-parse --short HEAD`, and `RENSHAW_GIT_DIRTY`, whether what is
//! built, src/, shaders/, Cargo.toml, Cargo.lock and build.rs, differs from it), which `renshaw bench` writes next to its figures;
//! both are "unknown" when the source is not a git checkout of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        // Read-only: never refresh the index (another build may hold it).
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit and dirty flag, when this crate is the top of a git work tree.
fn git_version() -> (String, String) {
    let unknown = ("unknown".to_string(), "unknown".to_string());
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let Some(top) = git(&["rev-parse", "--show-toplevel"]) else {
        return unknown;
    };
    // A crate vendored inside someone else's repository is not that commit.
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), &manifest) {
        return unknown;
    }
    // Rerun when HEAD moves (commit, checkout). Not on index changes: a
    // `git status` rewrites the index and would rebuild the crate for nothing.
    for (flag, rel) in [("--git-dir", "HEAD"), ("--git-common-dir", "packed-refs")] {
        if let Some(dir) = git(&["rev-parse", flag]) {
            let p = manifest.join(dir).join(rel);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    if let (Some(dir), Some(head)) = (
        git(&["rev-parse", "--git-common-dir"]),
        git(&["symbolic-ref", "-q", "HEAD"]),
    ) {
        let p = manifest.join(dir).join(head);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return unknown;
    };
    let dirty = match git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        "src",
        "shaders",
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
    ]) {
        Some(s) => (!s.is_empty()).to_string(),
        None => "unknown".to_string(),
    };
    (commit, dirty)
}

fn compose(dir: &Path, file: &str, depth: usize) -> String {
    assert!(depth < 8, "include depth exceeded at {file}");
    let text = std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("cannot read shaders/{file}: {e}"));
    let mut out = String::new();
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("// #include \"") {
            let inc = rest.trim_end_matches('"');
            out.push_str(&compose(dir, inc, depth + 1));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn main() {
    let (commit, dirty) = git_version();
    println!("cargo:rustc-env=RENSHAW_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=RENSHAW_GIT_DIRTY={dirty}");
    // The dirty flag follows edits of what goes into the library and the
    // binary (not tests or examples, whose edits would rebuild the crate).
    for path in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let dir = Path::new("shaders");
    println!("cargo:rerun-if-changed=shaders");
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("shaders/ exists")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        println!("cargo:rerun-if-changed=shaders/{name}");
        let source = compose(dir, &name, 0);
        let module = match naga::front::wgsl::parse_str(&source) {
            Ok(m) => m,
            Err(e) => panic!(
                "shaders/{name}: WGSL parse error:\n{}",
                e.emit_to_string(&source)
            ),
        };
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        );
        if let Err(e) = validator.validate(&module) {
            panic!(
                "shaders/{name}: WGSL validation error:\n{}",
                e.emit_to_string(&source)
            );
        }
    }
    for entry in std::fs::read_dir(dir.join("shared")).expect("shaders/shared exists") {
        let p = entry.expect("dir entry").path();
        println!("cargo:rerun-if-changed={}", p.display());
    }
}
