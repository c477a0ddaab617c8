//! Every TOML example in docs/ is a valid description that runs.

use renshaw::description::{Format, parse_str};
use renshaw::simulation::{Backend, RunOptions, run_description};

#[test]
fn every_toml_block_in_the_docs_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for doc in ["docs/description.md", "README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("```toml\n") {
            let body = &rest[start + 8..];
            let end = body.find("```").expect("closed code block");
            let block = &body[..end];
            let name = format!("{doc} block {checked}");
            let desc =
                parse_str(block, Format::Toml, &name).unwrap_or_else(|e| panic!("{name}:\n{e}"));
            let opts = RunOptions {
                backend: Backend::Cpu,
                threads: Some(2),
                ..Default::default()
            };
            run_description(&desc, &opts, 0.0).unwrap_or_else(|e| panic!("{name}: {e}"));
            checked += 1;
            rest = &body[end + 3..];
        }
    }
    assert!(checked >= 2, "found only {checked} TOML blocks");
}
