use std::collections::BTreeMap;

use crate::fleet::{TENANT_SQL, fleet, local_context, rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_energy_from_bills_equals_the_live_books() {
    let fleet = fleet();
    let ctx = local_context().await;
    let got: BTreeMap<String, i128> = rows(&ctx, TENANT_SQL)
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect();
    assert!(got.len() > 1, "several tenants: {got:?}");
    // Tenants the books know with no energy may have no rows, or rows of 0.
    let nonzero = |m: &BTreeMap<String, i128>| -> BTreeMap<String, i128> {
        m.iter()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    assert_eq!(nonzero(&got), nonzero(&fleet.tenant_uj));
    assert!(
        got.keys().all(|t| fleet.tenant_uj.contains_key(t)),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sites_are_partitions_of_both_tables() {
    let ctx = local_context().await;
    for table in ["readings", "bills"] {
        let sql = format!("SELECT DISTINCT site FROM {table}");
        let sites: Vec<String> = rows(&ctx, &sql)
            .await
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect();
        assert_eq!(sites, crate::fleet::SITES, "{table}");
    }
    // A filter on the partition column reads one site only.
    let sql = "SELECT count(*) FROM readings WHERE site = 'edge-small'";
    let n: usize = rows(&ctx, sql).await[0][0].parse().unwrap();
    let want: usize = fleet()
        .series
        .iter()
        .filter(|s| s.site == "edge-small")
        .map(|s| s.ts.len())
        .sum();
    assert_eq!(n, want);
}
