use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use datafusion::prelude::ParquetReadOptions;

use crate::fleet::{ENERGY_SQL, TENANT_SQL, fleet, local_context, rows, scratch};
use crate::udafs::write_counter;

/// A loopback port `p` such that `p` and `p + 1` were both free a moment ago.
fn free_port_pair() -> u16 {
    loop {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_executors_give_the_local_rows() {
    let fleet = fleet();
    let scheduler_addr = loopback(free_port_pair());
    let scheduler = kelvin_fleet::start_scheduler(kelvin_fleet::scheduler_config(scheduler_addr))
        .await
        .unwrap();
    let work = scratch("executors");
    let mut executors = Vec::new();
    for k in 0..2 {
        let dir = work.join(format!("executor-{k}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg =
            kelvin_fleet::executor_config(scheduler_addr, loopback(free_port_pair()), &dir);
        cfg.vcores = 2;
        executors.push(tokio::spawn(kelvin_fleet::run_executor(cfg)));
    }
    let t0 = Instant::now();
    while scheduler.executors().await.len() < 2 {
        for e in &executors {
            assert!(!e.is_finished(), "an executor stopped while starting");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "executors did not register"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(scheduler.executors().await.len(), 2);

    let remote = kelvin_fleet::remote_context(&scheduler_addr.to_string(), &fleet.root)
        .await
        .unwrap();
    let local = local_context().await;
    for sql in [ENERGY_SQL, TENANT_SQL] {
        let want = rows(&local, sql).await;
        assert!(!want.is_empty(), "{sql}");
        assert_eq!(rows(&remote, sql).await, want, "{sql}");
    }
    // A counter split over two files, alternate samples in each: the executors' partial
    // states hold interleaved subsets, shuffled to the final aggregate.
    let counter = work.join("counter");
    write_counter(&counter);
    let url = format!("{}/", counter.display());
    for ctx in [&local, &remote] {
        ctx.register_parquet("c", &url, ParquetReadOptions::default())
            .await
            .unwrap();
    }
    let sql = "SELECT entity, kelvin_increase(ts, value), kelvin_energy_j(ts, value) FROM c GROUP BY entity";
    let got = rows(&remote, sql).await;
    assert_eq!(got, rows(&local, sql).await);
    assert_eq!(got[0][1], "10800.0");

    for e in &executors {
        e.abort();
    }
    scheduler.abort();
    std::fs::remove_dir_all(&work).unwrap();
}
