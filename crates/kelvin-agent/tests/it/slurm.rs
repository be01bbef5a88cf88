//! Kelvin's Slurm reader and levers against a real Slurm 22.05 on loopback
//! (`lab::slurm`): jobs sharing a node hold disjoint CPUs, ended jobs are kept by the
//! jobcomp log, admin comments land, and node weights steer where the next job runs. Each
//! test skips, saying so, without Slurm, munge or root.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kelvin_agent::exec::ExecError;
use kelvin_agent::scheduler::slurm::{Allocation, SlurmError, parse_scontrol_jobs};

use crate::lab::slurm::{self, wait_until};

/// The jobs with these ids, in that order; panics naming a missing one.
fn pick(jobs: &[Allocation], ids: &[u64]) -> Vec<Allocation> {
    ids.iter()
        .map(|id| {
            jobs.iter()
                .find(|j| j.job_id == *id)
                .unwrap_or_else(|| panic!("job {id} missing from {jobs:#?}"))
                .clone()
        })
        .collect()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn secs(t: Option<kelvin_model::Timestamp>) -> i64 {
    t.expect("a time").as_nanos() / 1_000_000_000
}

#[test]
fn jobs_share_a_node_on_disjoint_cpus_and_the_jobcomp_log_keeps_their_end() {
    let Some(lab) = slurm::start(1) else { return };
    let slurm = lab.slurm();
    let before = now_secs();
    let ids = [
        lab.sbatch(&["-n1", "--wrap", "sleep 15"]),
        lab.sbatch(&[
            "-n2",
            "--gres=gpu:1",
            "-J",
            "two cpus",
            "--wrap",
            "sleep 15",
        ]),
        lab.sbatch(&["-n1", "--mem=250M", "--wrap", "sleep 15"]),
    ];
    for &id in &ids {
        lab.wait_running(id);
    }
    let read = slurm.jobs().unwrap();
    assert!(read.rejected.is_empty(), "{:?}", read.rejected);
    let jobs = pick(&read.items, &ids);
    let mut all_cpus = BTreeSet::new();
    for (job, cpus) in jobs.iter().zip([1u32, 2, 1]) {
        assert_eq!(
            (job.state.as_str(), job.cpus, job.nodes.len()),
            ("RUNNING", cpus, 1)
        );
        let node = &job.nodes[0];
        assert_eq!((node.node.as_str(), node.cpus), ("n1", Some(cpus)));
        assert_eq!(node.cpu_ids.len(), cpus as usize);
        for id in &node.cpu_ids {
            assert!(all_cpus.insert(*id), "CPU {id} held twice: {jobs:#?}");
        }
        let start = secs(job.start);
        assert!((before - 1..=now_secs()).contains(&start), "start {start}");
        assert_eq!(job.end, None);
    }
    assert_eq!(all_cpus.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(
        (jobs[1].name.as_str(), jobs[1].nodes[0].gpus),
        ("two cpus", Some(1))
    );
    assert_eq!(jobs[1].nodes[0].gpu_ids.len(), 1);
    assert_eq!(jobs[2].nodes[0].memory_bytes, Some(250 << 20));
    assert_eq!(
        jobs[0].nodes[0].memory_bytes,
        Some(100 << 20),
        "DefMemPerCPU"
    );

    // The text way reads the same allocations as the JSON way.
    let text = lab
        .run("/usr/bin/scontrol", &["show", "job", "-d"])
        .unwrap();
    let from_text = parse_scontrol_jobs(&text).unwrap();
    assert!(from_text.rejected.is_empty(), "{:?}", from_text.rejected);
    assert_eq!(pick(&from_text.items, &ids), jobs);

    // Kelvin's report lands in the job's admin comment.
    let report = "kelvin: 3.2 J; cpu=1 \"n1\"";
    slurm.set_admin_comment(ids[0], report).unwrap();
    let shown = lab
        .run("/usr/bin/scontrol", &["show", "job", &ids[0].to_string()])
        .unwrap();
    assert!(shown.contains(&format!("AdminComment={report}")), "{shown}");
    let again = pick(&slurm.jobs().unwrap().items, &ids[..1]);
    assert_eq!(again[0].admin_comment.as_deref(), Some(report));

    // Cancelled, they end; the jobcomp log gives the same end times as squeue.
    lab.scancel(&ids);
    let log = lab.jobcomp_path();
    let logged = wait_until(Duration::from_secs(15), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() >= ids.len())
    });
    assert!(logged, "jobcomp log incomplete\n{}", lab.logs());
    let done = slurm.completed(&log, 0).unwrap();
    assert!(done.jobs.rejected.is_empty(), "{:?}", done.jobs.rejected);
    assert_eq!(done.next_offset, std::fs::metadata(&log).unwrap().len());
    let ended = pick(&done.jobs.items, &ids);
    let live = pick(&slurm.jobs().unwrap().items, &ids);
    for ((logged, seen), cpus) in ended.iter().zip(&live).zip([1u32, 2, 1]) {
        assert_eq!(logged.state, "CANCELLED");
        assert_eq!((logged.start, logged.end), (seen.start, seen.end));
        assert!(secs(logged.end) >= secs(logged.start));
        assert_eq!(
            (logged.nodes[0].node.as_str(), logged.nodes[0].cpus),
            ("n1", Some(cpus))
        );
    }
    // Refused by Slurm: a finished job's comment.
    let err = slurm.set_admin_comment(ids[0], "late").unwrap_err();
    match &err {
        SlurmError::Command {
            source: ExecError::Exit { stderr, .. },
            ..
        } => assert!(stderr.contains("already finished"), "{err}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn node_weights_steer_where_the_next_job_lands() {
    let Some(lab) = slurm::start(2) else { return };
    let slurm = lab.slurm();
    let mut landed = Vec::new();
    for (n1, n2) in [(10, 1), (1, 10)] {
        slurm.set_node_weight("n1", n1).unwrap();
        slurm.set_node_weight("n2", n2).unwrap();
        let weights = slurm.node_weights().unwrap();
        assert_eq!(
            weights.into_iter().collect::<Vec<_>>(),
            [("n1".into(), n1), ("n2".into(), n2)]
        );
        let id = lab.sbatch(&["-n1", "--wrap", "sleep 15"]);
        lab.wait_running(id);
        let job = pick(&slurm.jobs().unwrap().items, &[id]).remove(0);
        landed.push(job.nodes[0].node.clone());
    }
    assert_eq!(landed, ["n2", "n1"], "lower weight is preferred");
    for (bad, why) in [
        (slurm.set_node_weight("n9", 1), "Invalid node name"),
        (slurm.set_admin_comment(999_999, "x"), "Invalid job id"),
    ] {
        match bad {
            Err(SlurmError::Command {
                source: ExecError::Exit { stderr, .. },
                ..
            }) => assert!(stderr.contains(why), "{stderr}"),
            other => panic!("{other:?}"),
        }
    }
}
