use crate::fleet::{local_context, scratch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_column_is_an_error() {
    let ctx = local_context().await;
    let err = match ctx.sql("SELECT no_such_column FROM readings").await {
        Ok(df) => df.collect().await.unwrap_err(),
        Err(e) => e,
    };
    assert!(err.to_string().contains("no_such_column"), "{err}");
    // A UDAF called with the wrong types or arity is a planning error too.
    for sql in [
        "SELECT kelvin_energy_j(host, value) FROM readings",
        "SELECT kelvin_increase(ts) FROM readings",
        "SELECT kelvin_energy_j(ts, value, INTERVAL '1 month') FROM readings",
    ] {
        let err = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.unwrap_err(),
            Err(e) => e,
        };
        assert!(err.to_string().contains("kelvin_"), "{sql}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_root_is_an_error_naming_the_path() {
    let root = scratch("empty");
    std::fs::create_dir_all(&root).unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    let err = kelvin_fleet::register_tables(&ctx, &root)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&root.join("readings").display().to_string()),
        "{msg}"
    );
    // A table directory without Parquet files is refused too.
    std::fs::create_dir_all(root.join("readings/site=a/date=2026-01-01")).unwrap();
    std::fs::create_dir_all(root.join("bills")).unwrap();
    let err = kelvin_fleet::register_tables(&ctx, &root)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("readings"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}
