//! Validates every WGSL kernel in shaders/ with naga, so bad WGSL fails
//! `cargo build` on a machine without a GPU. Includes (`// #include "..."`)
//! are resolved exactly as `engine::gpu::shaders` resolves them at run time.

use std::path::Path;

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
