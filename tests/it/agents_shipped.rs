//! Every agent file shipped in `agents/` validates, and a broken one is reported field by field.

use crate::support::TempDir;
use std::path::Path;
use voxgate::agent_file;

#[test]
fn every_shipped_agent_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents");
    let specs = agent_file::load_all(&dir).unwrap_or_else(|error| panic!("{error}"));
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"clinic-receptionist"), "{names:?}");
    assert!(names.contains(&"support"), "{names:?}");
    let support = specs
        .iter()
        .find(|s| s.name == "support")
        .expect("support agent");
    assert!(
        support.knowledge.is_some(),
        "the support agent has a knowledge base"
    );
    let clinic = specs
        .iter()
        .find(|s| s.name == "clinic-receptionist")
        .expect("clinic agent");
    assert!(
        clinic.tools.iter().any(|t| t.name.contains("book")),
        "the clinic books through a tool"
    );
}

#[test]
fn a_broken_agent_file_reports_every_problem_with_file_and_field() {
    let dir = TempDir::new();
    std::fs::write(
        dir.path.join("desk.toml"),
        "name = \"front\"\ninstructions = \"\"\nknowledge = { path = \"desk/kb\" }\n[latency]\nstall_ms = 1\n",
    )
    .expect("write");
    std::fs::write(
        dir.path.join("typo.toml"),
        "instructions = \"x\"\ngreting = \"hi\"\n",
    )
    .expect("write");
    let error = agent_file::load_all(&dir.path).expect_err("invalid files");
    let text = error.to_string();
    for want in [
        "desk.toml: name",
        "desk.toml: instructions",
        "desk.toml: latency.stall_ms",
        "desk.toml: knowledge.path",
        "typo.toml",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
}
