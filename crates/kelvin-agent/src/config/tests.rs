//! The configuration's checks: file modes, mistakes named by line or key, defaults.

use std::os::unix::fs::PermissionsExt;

use super::*;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kelvin-config-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_config_or_password_file_other_users_can_read_is_refused_with_the_fix() {
    let d = dir("modes");
    let cfg = d.join("agent.toml");
    write(&cfg, "data_dir = \"data\"\n", 0o644);
    let e = Config::load(&cfg).unwrap_err().to_string();
    assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
    write(&cfg, "data_dir = \"data\"\n", 0o600);
    let c = Config::load(&cfg).unwrap();
    assert_eq!(c.data_dir, d.join("data"), "relative to the file");

    let pw = d.join("bmc.password");
    write(&pw, "s3cret-pw\n", 0o640);
    let text = format!(
        "data_dir = \"x\"\n[[sources]]\nname = \"bmc\"\nkind = \"redfish\"\nurl = \"https://bmc\"\nusername = \"root\"\npassword_file = \"{}\"\n",
        pw.display()
    );
    let c = Config::from_toml_str(&text, "t.toml").unwrap();
    let e = c.sources().unwrap_err().to_string();
    assert!(e.contains("mode 640") && !e.contains("s3cret"), "{e}");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = c.sources().unwrap();
    let shown = format!("{s:?}");
    assert!(
        !shown.contains("s3cret") && shown.contains("***"),
        "{shown}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn mistakes_name_their_line_or_key() {
    let e = Config::from_toml_str("data_dir = \"x\"\nlisten_on = 1\n", "a.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("a.toml:2: unknown field `listen_on`"), "{e}");
    let c = Config::from_toml_str(
        "data_dir = \"x\"\n[[sources]]\nname = \"n\"\nkind = \"ipmitool\"\nurl = \"http://x\"\n",
        "a.toml",
    )
    .unwrap();
    let e = c.sources().unwrap_err().to_string();
    assert_eq!(
        e,
        "sources[0] \"n\".url: does not apply to a ipmitool source"
    );
    let c = Config::from_toml_str(
        "data_dir = \"x\"\n[[sources]]\nname = \"n\"\nkind = \"prometheus\"\n",
        "a.toml",
    )
    .unwrap();
    assert_eq!(
        c.sources().unwrap_err().to_string(),
        "sources[0] \"n\".url: a prometheus source needs it"
    );
    let c = Config::from_toml_str(
        "data_dir = \"x\"\n[[sources]]\nname = \"n\"\nkind = \"modbus\"\n",
        "a.toml",
    )
    .unwrap();
    assert!(
        c.sources()
            .unwrap_err()
            .to_string()
            .contains("is not a kind")
    );
    let e = Config::from_toml_str(
        "data_dir = \"x\"\n[[sources]]\nname = \"n\"\nkind = \"sysfs\"\n[[sources]]\nname = \"n\"\nkind = \"sysfs\"\n",
        "a.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("sources[1].name") && e.contains("unique"), "{e}");
    let c = Config::from_toml_str(
        "data_dir = \"x\"\n[[sources]]\nname = \"n\"\nkind = \"prometheus\"\nurl = \"http://x\"\ninterval_s = 0\n",
        "a.toml",
    )
    .unwrap();
    assert!(c.sources().unwrap_err().to_string().contains("interval_s"));
    let e = Config::from_toml_str("data_dir = \"x\"\npolicy = \"fair\"\n", "a.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("a.toml: policy: \"fair\" is not a policy; one of two_part_tariff, "),
        "{e}"
    );
    let c = Config::from_toml_str("data_dir = \"x\"\npolicy = \"allocation\"\n", "a.toml");
    assert_eq!(c.unwrap().ledger_policy(), kelvin::Policy::Allocation);
}

#[test]
fn the_export_section_is_checked_and_its_root_resolved() {
    let export = |body: &str| {
        Config::from_toml_str(&format!("data_dir = \"x\"\n[export]\n{body}"), "a.toml")
    };
    let e = export("root = \"f\"\nsite = \"../etc\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("a.toml: export.site: "), "{e}");
    assert!(e.contains("\"../etc\""), "{e}");
    let e = export("root = \"f\"\nsite = \"s\"\ninterval_s = 0\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "a.toml: export.interval_s: must be at least 1"
    );
    let e = export("root = \"f\"\n").unwrap_err().to_string();
    assert!(e.contains("missing field `site`"), "{e}");
    let c = export("root = \"fleet\"\nsite = \"dc-1\"\n").unwrap();
    let x = c.export.expect("[export]");
    assert_eq!((x.site.as_str(), x.interval_s), ("dc-1", 3600.0));
    // Relative paths are the configuration file's directory's when it is loaded.
    let d = dir("export-root");
    let path = d.join("agent.toml");
    write(
        &path,
        "data_dir = \"data\"\n[export]\nroot = \"fleet\"\nsite = \"dc-1\"\n",
        0o600,
    );
    let c = Config::load(&path).unwrap();
    assert_eq!(c.export.unwrap().root, d.join("fleet"));
}

#[test]
fn defaults_are_safe_and_the_gap_follows_the_slowest_source() {
    let c = Config::from_toml_str(
        "data_dir = \"x\"\n[[sources]]\nname = \"n\"\nkind = \"sysfs\"\ninterval_s = 20\n",
        "a.toml",
    )
    .unwrap();
    assert!(c.listen.ip().is_loopback());
    assert!(c.api.is_none() && c.remote_write.is_none());
    assert_eq!(c.ledger_policy(), kelvin::Policy::TwoPartTariff);
    assert_eq!(c.max_gap_secs(), 80);
    let s = &c.sources().unwrap()[0];
    assert_eq!(s.schedule.timeout, Duration::from_secs(10));
    assert_eq!(s.schedule.stale_after(), Duration::from_secs(60));
}
