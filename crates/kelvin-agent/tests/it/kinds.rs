//! Source kinds read through the agent's own `Source` (as its workers poll them), and the
//! inventory it builds.

use std::path::Path;

use kelvin_agent::config::Config;
use kelvin_agent::sources::{Polled, Source};

use crate::lab::prometheus::temp_dir;

fn shared(rel: &str) -> Option<std::path::PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: ../shared/{rel} is not beside the checkout");
        None
    }
}

#[test]
fn a_sysfs_source_reads_a_tree_as_its_entity() {
    let Some(root) = shared("corpus/ingest/kepler") else {
        return;
    };
    let cfg = Config::from_toml_str(
        &format!(
            "data_dir = \"x\"\n[[sources]]\nname = \"local\"\nkind = \"sysfs\"\nentity = \"node-k\"\npath = \"{}\"\n",
            root.display()
        ),
        "t.toml",
    )
    .expect("config");
    let spec = cfg.sources().expect("sources").remove(0);
    let dir = temp_dir("kinds-sysfs");
    let polled = Source::new(spec, dir.clone())
        .expect("source")
        .poll()
        .expect("poll");
    let Some(Polled::Decoded(b)) = polled.first() else {
        panic!("a sysfs poll is decoded here: {polled:?}");
    };
    assert!(!b.readings.is_empty(), "no readings");
    // The host's own sensors (hwmon, RAPL) are the entity's; cgroups and processes name
    // their workloads.
    let host = b
        .readings
        .iter()
        .filter(|r| r.entity.as_str() == "node-k")
        .count();
    assert!(
        host > 0,
        "{:?}",
        b.readings
            .iter()
            .map(|r| r.entity.as_str())
            .collect::<std::collections::BTreeSet<_>>()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_program_fails_the_poll_with_its_reason() {
    let cfg = Config::from_toml_str(
        "data_dir = \"x\"\n[[sources]]\nname = \"c\"\nkind = \"command\"\ncommand = [\"/nonexistent/kelvin-tool\"]\nretries = 0\n",
        "t.toml",
    )
    .expect("config");
    let spec = cfg.sources().expect("sources").remove(0);
    let dir = temp_dir("kinds-cmd");
    let e = Source::new(spec, dir.clone())
        .expect("source")
        .poll()
        .unwrap_err();
    assert!(e.message.contains("kelvin-tool"), "{}", e.message);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_inventory_file_and_discovered_entities_make_the_hosts() {
    let dir = temp_dir("kinds-inv");
    let inv = r#"{"sites":[{"id":"s"}],"rooms":[{"id":"r","site":"s"}],"racks":[{"id":"k","room":"r"}],
        "hosts":[{"id":"h1","rack":"k","capacity":{"cpu_cores":32,"memory_bytes":1000000000}}]}"#;
    std::fs::write(dir.join("inventory.json"), inv).expect("inventory");
    let cfg = Config::from_toml_str(
        &format!(
            "data_dir = \"x\"\ninventory = \"{}\"\n[[sources]]\nname = \"a\"\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:1/\"\nentity = \"h1\"\n[[sources]]\nname = \"b\"\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:1/\"\nentity = \"h2\"\n",
            dir.join("inventory.json").display()
        ),
        "t.toml",
    )
    .expect("config");
    let specs = cfg.sources().expect("sources");
    let inv = kelvin_agent::agent::inventory(&cfg, &specs).expect("inventory");
    let ids: Vec<&str> = inv.hosts.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["h1", "h2"]);
    assert_eq!(
        inv.hosts[0].capacity.cpu_cores, 32.0,
        "the file's capacity is kept"
    );
    assert!(
        inv.hosts[1].capacity.cpu_cores >= 1.0,
        "a discovered host gets this machine's"
    );
    std::fs::write(dir.join("inventory.json"), "{not json").expect("inventory");
    let e = kelvin_agent::agent::inventory(&cfg, &specs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("inventory.json"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
