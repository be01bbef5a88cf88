//! The dependency arrows point one way: compositions → facade → domain crates → model. No
//! domain crate depends on a sibling (only `kelvin-model` and the leaf `kelvin-guard` may be
//! used by them); a composition builds on the facade, and the facade never depends on a
//! composition (its examples, benches and tests may).

use std::path::Path;

fn kelvin_deps(manifest: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_deps = t.ends_with("dependencies]");
            continue;
        }
        if in_deps && t.starts_with("kelvin") {
            let name = t.split(['=', '.', ' ']).next().unwrap_or("");
            deps.push(name.to_string());
        }
    }
    deps
}

/// Crates that depend on no Kelvin crate and that the domain crates may use.
const LEAVES: [&str; 2] = ["kelvin-model", "kelvin-guard"];

/// Crates composed over the facade.
const COMPOSITIONS: [&str; 3] = ["kelvin-agent", "kelvin-replay", "kelvin-fleet"];

/// The Kelvin crates a manifest's `[dependencies]` (not dev- or build-) names.
fn normal_kelvin_deps(manifest: &str) -> Vec<String> {
    let start = manifest
        .find("\n[dependencies]")
        .map_or(manifest.len(), |i| i + 1);
    let rest = &manifest[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 2);
    kelvin_deps(&rest[..end])
}

#[test]
fn domain_crates_depend_only_on_the_model_and_the_guards() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let deps = kelvin_deps(&manifest);
        if COMPOSITIONS.contains(&name.as_str()) {
            assert!(
                deps.iter().any(|d| d == "kelvin"),
                "{name} is not over the facade"
            );
            // Its examples and tests may replay a dataset (kelvin-fleet's do), its library not.
            let normal = normal_kelvin_deps(&manifest);
            assert!(
                normal.iter().all(|d| !COMPOSITIONS.contains(&d.as_str())),
                "{name} depends on another composition: {normal:?}"
            );
        } else if LEAVES.contains(&name.as_str()) {
            assert!(deps.is_empty(), "{name} depends on {deps:?}");
        } else {
            assert!(
                deps.iter().all(|d| LEAVES.contains(&d.as_str())),
                "{name} depends on siblings: {deps:?}"
            );
            assert!(
                deps.iter().any(|d| d == "kelvin-model"),
                "{name} does not use the shared model"
            );
        }
        checked += 1;
    }
    assert_eq!(
        checked, 10,
        "six domain crates, the guards and three compositions"
    );
    let root = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    let facade = normal_kelvin_deps(&root.unwrap());
    assert!(
        facade.iter().all(|d| !COMPOSITIONS.contains(&d.as_str())),
        "the facade depends on a composition: {facade:?}"
    );
    assert!(facade.iter().any(|d| d == "kelvin-store"), "{facade:?}");
}

#[test]
fn the_check_itself_sees_dependencies() {
    let m = "[package]\nname = \"x\"\n[dependencies]\nkelvin-model.workspace = true\nkelvin-store = { path = \"..\" }\nserde = \"1\"\n[dev-dependencies]\nkelvin-sim.workspace = true\n";
    assert_eq!(
        kelvin_deps(m),
        ["kelvin-model", "kelvin-store", "kelvin-sim"]
    );
    assert_eq!(normal_kelvin_deps(m), ["kelvin-model", "kelvin-store"]);
}
