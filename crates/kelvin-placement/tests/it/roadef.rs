//! The ROADEF/EURO 2012 machine reassignment instances in `../shared/instances` (skipped,
//! saying so, when absent): the checker reproduces the published initial costs, bad input is a
//! typed error, and a short reassignment is feasible and no worse than the start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kelvin_placement::roadef::{
    Model, ReadErrorKind, ReassignOptions, check, find_lower_bound, reassign,
};

fn root() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/instances/machinereassignment_roadef2012");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

fn number(path: &Path) -> u128 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

const SET_A: [&str; 10] = [
    "a1_1", "a1_2", "a1_3", "a1_4", "a1_5", "a2_1", "a2_2", "a2_3", "a2_4", "a2_5",
];

#[test]
fn checker_reproduces_every_initial_cost_of_set_a() {
    let Some(root) = root() else { return };
    for name in SET_A {
        let model = Model::read(&root.join(format!("A/model_{name}.txt"))).unwrap();
        let initial = model
            .read_assignment(&root.join(format!("A/assignment_{name}.sol")))
            .unwrap();
        let report = check(&model, &initial, &initial);
        assert!(report.feasible(), "{name}: {:?}", report.breaches);
        let published =
            number(&root.join(format!("bounds_jaskowski_j12/A/original_cost_{name}.txt")));
        assert_eq!(report.cost.total(), published, "{name}");
    }
    assert_eq!(
        find_lower_bound(&root.join("A/model_a1_1.txt"), &[]).map(|b| b.1),
        Some(44_306_390)
    );
}

/// Set B's models are in an archive: extracted with `tar` (xz) into a temporary directory,
/// skipped, saying so, where `tar` cannot. About 2 s in debug.
#[test]
fn checker_reproduces_every_initial_cost_of_set_b() {
    let Some(root) = root() else { return };
    let dir = std::env::temp_dir().join(format!("kelvin-roadef-b-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xJf")
        .arg(root.join("B_models_and_assignments.tar.xz"))
        .arg("-C")
        .arg(&dir)
        .status();
    if !status.as_ref().is_ok_and(|s| s.success()) {
        eprintln!("skipped: tar could not extract set B ({status:?})");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    for k in [1, 2, 3, 4, 5, 6, 8, 9] {
        let model = Model::read(&dir.join(format!("B/model_b_{k}.txt"))).unwrap();
        let initial = model
            .read_assignment(&dir.join(format!("B/assignment_b_{k}.sol")))
            .unwrap();
        let report = check(&model, &initial, &initial);
        assert!(report.feasible(), "b_{k}");
        let published =
            number(&root.join(format!("bounds_jaskowski_j12/B/original_cost_b_{k:02}.txt")));
        assert_eq!(report.cost.total(), published, "b_{k}");
        let lb = find_lower_bound(
            &dir.join(format!("B/model_b_{k}.txt")),
            &[root.join("bounds_jaskowski_j12")],
        );
        assert!(lb.is_some(), "b_{k}: no bound found");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_short_reassignment_of_a1_2_is_feasible_and_no_worse() {
    let Some(root) = root() else { return };
    let model = Arc::new(Model::read(&root.join("A/model_a1_2.txt")).unwrap());
    let initial = model
        .read_assignment(&root.join("A/assignment_a1_2.sol"))
        .unwrap();
    let out = reassign(
        &model,
        &initial,
        &ReassignOptions::default().with_time_limit_ms(1500),
    )
    .unwrap();
    assert!(out.report.feasible());
    // The checker, not the solver, judges: recompute from the assignment alone.
    let again = check(&model, &initial, &out.assignment);
    assert_eq!(again, out.report);
    assert!(
        out.report.cost.total() < out.initial.cost.total(),
        "no improvement in 1.5 s"
    );
}

const TINY: &str =
    "1  0 1   2  0 0 10 4 0 1  0 1 10 4 1 0   2  1 0  1 0   3  0 3 5  0 3 5  1 2 1   0   1 10 100";

#[test]
fn bad_input_is_a_typed_error_naming_the_place() {
    let ok = Model::parse("tiny", TINY).unwrap();
    assert_eq!(ok.processes.len(), 3);
    // Truncated: the last weight is missing.
    let e = Model::parse("cut", &TINY[..TINY.len() - 4]).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Truncated);
    assert_eq!(e.file, "cut");
    assert!(e.to_string().contains("machine move weight"), "{e}");
    // A count larger than what follows.
    let e = Model::parse("count", "1 0 1 999 0 0 10 4 0").unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::OutOfRange);
    assert!(e.reason.contains("999"), "{e}");
    // A process of a service that does not exist (service index 7 of 2).
    let bad = TINY.replace("1 2 1   0", "7 2 1   0");
    let e = Model::parse("svc", &bad).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::OutOfRange);
    assert!(e.reason.contains("service 7"), "{e}");
    // Not a number, with its line.
    let e = Model::parse("nan", &TINY.replacen("10 4", "\nten 4", 1)).unwrap_err();
    assert_eq!((e.kind, e.line), (ReadErrorKind::NotANumber, 2));
    // Extra values.
    let e = Model::parse("extra", &format!("{TINY} 5")).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::TrailingData);
    // Assignments: wrong length, machine out of range.
    let e = ok.parse_assignment("a.sol", "0 1").unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::LengthMismatch);
    let e = ok.parse_assignment("a.sol", "0 1 2").unwrap_err();
    assert_eq!((e.kind, e.token), (ReadErrorKind::OutOfRange, 3));
    // A model or assignment built by hand is validated before anything indexes it.
    let tiny = Arc::new(ok.clone());
    let opts = ReassignOptions::default().with_time_limit_ms(10);
    assert!(reassign(&tiny, &[0, 1, 5], &opts).is_err());
    assert!(reassign(&tiny, &[0, 1], &opts).is_err());
    let mut broken = ok.clone();
    broken.processes[0].requirement.clear();
    assert!(broken.validate(None).is_err());
    assert!(reassign(&Arc::new(broken), &[0, 1, 0], &opts).is_err());
    // A missing file.
    let e = Model::read(Path::new("/nonexistent/model_x.txt")).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Io);
}
