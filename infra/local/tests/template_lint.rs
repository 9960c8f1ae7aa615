//! The deployment template passes cfn-lint (with the serverless rules) with no finding at all.

/// Proves: OPS-1 — least-privilege IAM and lint cleanliness are reviewed in template.yaml; this
/// keeps the lint part true on every run.
#[test]
fn template_passes_cfn_lint() {
    let root = quire_local::emulator::repo_root();
    let out = std::process::Command::new("bash")
        .arg(root.join("infra/lint-template.sh"))
        .output()
        .expect("bash runs the lint script");
    assert!(
        out.status.success(),
        "template lint failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
