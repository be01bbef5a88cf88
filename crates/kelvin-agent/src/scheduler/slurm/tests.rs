//! The readers on outputs captured from Slurm 22.05.8 (Debian 12) — `tests/data/slurm/`, see
//! its README — on hostile input, and the handle's checks and fallbacks with stand-in
//! commands.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use super::*;

macro_rules! data {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/slurm/",
            $name
        ))
    };
}

fn nodes(sinfo: &str) -> Vec<NodeInfo> {
    let parsed = parse_sinfo_json(sinfo).unwrap();
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    parsed.items
}

fn job(jobs: &[Allocation], id: u64) -> &Allocation {
    jobs.iter().find(|j| j.job_id == id).unwrap()
}

fn secs(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| t.as_nanos() / Timestamp::NANOS_PER_SEC)
}

/// A fresh private directory.
fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kelvin-slurm-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn squeue_json_gives_each_job_its_node_cpus_memory_and_gpus() {
    let sinfo = nodes(data!("sinfo.json"));
    assert_eq!(
        sinfo[0],
        NodeInfo {
            name: "n1".into(),
            sockets: 2,
            cores_per_socket: 2,
            threads_per_core: 1,
            cpus: 4,
            weight: 1,
            state: "allocated".into(),
        }
    );
    let parsed = parse_squeue_json(data!("squeue_running.json"), &sinfo).unwrap();
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    let jobs = &parsed.items;
    assert_eq!(jobs.len(), 7);
    let one = job(jobs, 1);
    assert_eq!(
        (one.user.as_str(), one.state.as_str(), one.cpus),
        ("root", "RUNNING", 1)
    );
    assert_eq!(one.admin_comment.as_deref(), Some("kelvin: 12.5 J so far"));
    assert_eq!(secs(one.start), Some(1_796_644_043));
    assert_eq!(one.end, None, "a running job's end_time is a forecast");
    // Socket 0 core 1 and socket 1 core 0 of a 2×2 node are CPUs 1 and 2.
    let two = &job(jobs, 2).nodes[0];
    assert_eq!(
        (two.node.as_str(), two.cpu_ids.as_slice()),
        ("n1", &[1, 2][..])
    );
    assert_eq!((two.gpus, two.gpu_ids.as_slice()), (Some(1), &[0][..]));
    assert_eq!(two.memory_bytes, Some(200 << 20));
    assert_eq!(job(jobs, 2).name, "two cpus");
    assert_eq!(job(jobs, 3).nodes[0].cpu_ids, [3]);
    assert_eq!(job(jobs, 3).nodes[0].memory_bytes, Some(250 << 20));
    let four = &job(jobs, 4).nodes[0];
    assert_eq!(
        (four.node.as_str(), four.cpu_ids.as_slice()),
        ("n2", &[2][..])
    );
    assert_eq!((four.gpus, four.gpu_ids.as_slice()), (Some(2), &[0, 1][..]));
    // The three jobs sharing n1 hold disjoint CPUs.
    let mut n1: Vec<u32> = [1, 2, 3]
        .iter()
        .flat_map(|&id| job(jobs, id).nodes[0].cpu_ids.clone())
        .collect();
    n1.sort_unstable();
    assert_eq!(n1, [0, 1, 2, 3]);
    for pending in [5, 6, 7] {
        let p = job(jobs, pending);
        assert_eq!(
            (p.state.as_str(), p.nodes.len(), p.start),
            ("PENDING", 0, None)
        );
    }
    assert_eq!(job(jobs, 7).cpus, 4);
}

#[test]
fn json_and_text_readers_agree_on_the_same_cluster_state() {
    for (json, text, sinfo) in [
        (
            data!("squeue_running.json"),
            data!("scontrol_running.txt"),
            data!("sinfo.json"),
        ),
        (
            data!("squeue_after.json"),
            data!("scontrol_after.txt"),
            data!("sinfo.json"),
        ),
        (
            data!("squeue_threads.json"),
            data!("scontrol_threads.txt"),
            data!("sinfo_threads.json"),
        ),
    ] {
        let from_json = parse_squeue_json(json, &nodes(sinfo)).unwrap();
        let from_text = parse_scontrol_jobs(text).unwrap();
        assert!(from_json.rejected.is_empty(), "{:?}", from_json.rejected);
        assert!(from_text.rejected.is_empty(), "{:?}", from_text.rejected);
        assert_eq!(from_json.items, from_text.items);
    }
}

#[test]
fn finished_jobs_have_end_times_and_multi_node_jobs_each_node() {
    let jobs = parse_scontrol_jobs(data!("scontrol_after.txt"))
        .unwrap()
        .items;
    assert_eq!(jobs.len(), 7);
    let one = job(&jobs, 1);
    assert!(one.is_finished());
    assert_eq!(
        (secs(one.start), secs(one.end)),
        (Some(1_796_644_043), Some(1_796_644_051))
    );
    let span = job(&jobs, 5);
    assert_eq!((span.state.as_str(), span.end), ("RUNNING", None));
    assert_eq!(
        span.nodes.len(),
        2,
        "Nodes=n[1-2] CPU_IDs=0 is one line for both"
    );
    assert!(span.nodes.iter().all(|n| n.cpu_ids == [0]));
    let seven = job(&jobs, 7);
    assert_eq!(seven.on_node("n1").unwrap().cpu_ids, [1, 2]);
    assert_eq!(seven.on_node("n2").unwrap().cpu_ids, [2, 3]);
}

#[test]
fn threads_make_one_core_two_cpus() {
    let sinfo = nodes(data!("sinfo_threads.json"));
    assert_eq!(sinfo[0].cpus_per_core(), 2);
    let jobs = parse_squeue_json(data!("squeue_threads.json"), &sinfo)
        .unwrap()
        .items;
    let one = &job(&jobs, 1).nodes[0];
    assert_eq!(
        (one.node.as_str(), one.cpu_ids.as_slice(), one.cpus),
        ("n1", &[0, 1][..], Some(2))
    );
    assert_eq!(job(&jobs, 3).nodes[0].cpu_ids, [2]);
}

#[test]
fn jobcomp_keeps_what_squeue_forgets() {
    let parsed = parse_jobcomp(data!("jobcomp.txt"), 0).unwrap();
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    let logged = parsed.items;
    assert_eq!(logged.len(), 6);
    let live = parse_squeue_json(data!("squeue_after.json"), &nodes(data!("sinfo.json")))
        .unwrap()
        .items;
    for done in &logged {
        let seen = job(&live, done.job_id);
        assert_eq!(
            (done.start, done.end),
            (seen.start, seen.end),
            "job {}",
            done.job_id
        );
        assert_eq!(
            (&done.name, &done.state, done.cpus),
            (&seen.name, &seen.state, seen.cpus)
        );
        let names: Vec<&str> = done.nodes.iter().map(|n| n.node.as_str()).collect();
        let live_names: Vec<&str> = seen.nodes.iter().map(|n| n.node.as_str()).collect();
        assert_eq!(names, live_names);
    }
    let two = job(&logged, 2);
    assert_eq!(two.nodes[0].cpus, Some(2));
    assert_eq!(two.nodes[0].memory_bytes, Some(200 << 20));
    assert!(two.nodes[0].cpu_ids.is_empty(), "the log has no CPU ids");
    let seven = job(&logged, 7);
    assert!(
        seven.nodes.iter().all(|n| n.cpus.is_none()),
        "per-node split unknown"
    );
    // The same line in a zone one hour east of UTC ends an hour earlier.
    let east = parse_jobcomp(data!("jobcomp.txt"), 3600).unwrap().items;
    assert_eq!(
        secs(job(&east, 2).end).unwrap() + 3600,
        secs(two.end).unwrap()
    );
    assert!(parse_jobcomp("", 19 * 3600).is_err());
}

#[test]
fn nothing_to_read_is_an_empty_list() {
    let empty = parse_squeue_json(data!("squeue_empty.json"), &[]).unwrap();
    assert_eq!((empty.items.len(), empty.rejected.len()), (0, 0));
    let none = parse_scontrol_jobs("No jobs in the system\n").unwrap();
    assert_eq!((none.items.len(), none.rejected.len()), (0, 0));
    assert!(parse_scontrol_jobs("").unwrap().items.is_empty());
    assert!(parse_jobcomp("\n\n", 0).unwrap().items.is_empty());
}

#[test]
fn scontrol_nodes_agree_with_sinfo_json() {
    let text = parse_scontrol_nodes(data!("scontrol_nodes.txt")).unwrap();
    assert!(text.rejected.is_empty(), "{:?}", text.rejected);
    let json = nodes(data!("sinfo_weights.json"));
    assert_eq!(text.items, json);
    assert_eq!((json[1].name.as_str(), json[1].weight), ("n2", 20));
}

#[test]
fn a_line_break_in_free_text_cannot_forge_an_allocation() {
    // Job 2 and 4 are named "evil\n     Nodes=n9 CPU_IDs=0-3 …", job 3 has the comment
    // "c\nJobId=77"; job 1's name holds a tab and quotes; job 5 is honest.
    let text = parse_scontrol_jobs(data!("scontrol_injection.txt")).unwrap();
    let ids: Vec<u64> = text.items.iter().map(|j| j.job_id).collect();
    assert_eq!(ids, [1, 5]);
    assert_eq!(text.items[0].name, "tab\tname \"q\" é");
    let places: Vec<String> = text.rejected.iter().map(|e| e.to_string()).collect();
    assert_eq!(places.len(), 3, "{places:#?}");
    assert!(
        places[0].starts_with("scontrol show job -d:35: `UserId=` out of Slurm's order"),
        "{}",
        places[0]
    );
    // JSON is immune: the evil job holds CPU 0 of n1, as it really does.
    let json = parse_squeue_json(data!("squeue_injection.json"), &nodes(data!("sinfo.json")))
        .unwrap()
        .items;
    assert_eq!(json.len(), 5);
    let evil = job(&json, 4);
    assert!(evil.name.starts_with("evil\n"));
    assert_eq!((evil.nodes.len(), evil.nodes[0].node.as_str()), (1, "n1"));
    assert_eq!(evil.nodes[0].cpu_ids, [0]);
}

#[test]
fn hostile_json_is_an_error_with_its_place_never_a_panic() {
    let sinfo = nodes(data!("sinfo.json"));
    let real = data!("squeue_running.json");
    let err = parse_squeue_json(&real[..real.len() / 2], &sinfo).unwrap_err();
    assert!(err.to_string().starts_with("squeue --json:"), "{err}");
    assert!(err.to_string().contains("not JSON: EOF"), "{err}");
    let err = parse_squeue_json("garbage", &sinfo).unwrap_err();
    assert_eq!(err.place(), Some(&Place::line("squeue --json", 1)));
    let newer = r#"{"meta":{"plugin":{"type":"openapi/v0.0.40"}},"jobs":[]}"#;
    assert_eq!(
        parse_squeue_json(newer, &sinfo).unwrap_err().to_string(),
        "squeue --json#/meta/plugin/type: openapi/v0.0.40 is not openapi/v0.0.38 (Slurm 22.05), \
         the only JSON shape this reader knows"
    );
    let reported = r#"{"meta":{"plugin":{"type":"openapi/v0.0.38"}},
        "errors":[{"error":"Unable to contact slurm controller","error_number":1}],"jobs":[]}"#;
    let err = parse_squeue_json(reported, &sinfo).unwrap_err();
    assert!(matches!(err, SlurmError::Reported { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("Slurm reports: Unable to contact slurm controller")
    );
}

/// A v0.0.38 answer with one job whose only allocated node is `node`.
fn one_job(job_id: &str, node: &str) -> String {
    format!(
        r#"{{"meta":{{"plugin":{{"type":"openapi/v0.0.38"}}}},"errors":[],"jobs":[
        {{"job_id":{job_id},"job_state":"RUNNING","name":"x","user_name":"u","start_time":1,
          "job_resources":{{"allocated_nodes":[{node}]}}}},
        {{"job_id":2,"job_state":"PENDING"}}]}}"#
    )
}

#[test]
fn hostile_json_jobs_are_rejected_with_their_place_and_the_rest_kept() {
    let sinfo = nodes(data!("sinfo.json"));
    let node = |sockets: &str| format!(r#"{{"nodename":"n1","sockets":{sockets}}}"#);
    let ok = node(r#"{"1":{"cores":{"1":"allocated_and_in_use"}}}"#);
    let cases = [
        (one_job("1", &ok), None),
        (
            one_job("-1", &ok),
            Some("job_id: expected a whole number, found -1"),
        ),
        (
            one_job("1e300", &ok),
            Some("job_id: expected a whole number"),
        ),
        (
            one_job("99999999999", &ok),
            Some("job_id: 99999999999 is over 4294967295"),
        ),
        (
            one_job("1", &node(r#"{"2":{"cores":{"0":"allocated"}}}"#)),
            Some("socket \"2\" is not below the node's 2"),
        ),
        (
            one_job("1", &node(r#"{"0":{"cores":{"4000000000":"allocated"}}}"#)),
            Some("core \"4000000000\""),
        ),
        (
            one_job("1", &node(r#"{"0":{"cores":[]}}"#)),
            Some("sockets.0.cores: expected an object, found a list"),
        ),
        (
            one_job("1", r#"{"nodename":"n9"}"#),
            Some("node n9 is not in the node list"),
        ),
        (
            one_job("1", &format!("{ok},{ok}")),
            Some("node n1 is allocated twice"),
        ),
    ];
    for (doc, want) in cases {
        let parsed = parse_squeue_json(&doc, &sinfo).unwrap();
        assert!(
            parsed.items.iter().any(|j| j.job_id == 2),
            "the other job stays"
        );
        match want {
            None => {
                assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
                assert_eq!(job(&parsed.items, 1).nodes[0].cpu_ids, [3]);
            }
            Some(reason) => {
                let msg = parsed.rejected[0].to_string();
                assert!(msg.starts_with("squeue --json#/jobs/0: "), "{msg}");
                assert!(msg.contains(reason), "{msg} lacks {reason}");
            }
        }
    }
}

#[test]
fn threads_past_the_budget_are_refused() {
    // A node claiming 65 536 CPUs per core: one allocated core expands to 65 536 ids; a
    // document full of them stops at the budget instead of filling memory.
    let huge = NodeInfo {
        name: "n1".into(),
        sockets: 1,
        cores_per_socket: 1,
        threads_per_core: MAX_CPUS_PER_NODE,
        cpus: MAX_CPUS_PER_NODE,
        weight: 1,
        state: "idle".into(),
    };
    let node = r#"{"nodename":"n1","sockets":{"0":{"cores":{"0":"allocated"}}}}"#;
    let jobs: Vec<String> = (1..=200)
        .map(|i| {
            format!(
                r#"{{"job_id":{i},"job_state":"RUNNING","job_resources":{{"allocated_nodes":[{node}]}}}}"#
            )
        })
        .collect();
    let doc = format!(
        r#"{{"meta":{{"plugin":{{"type":"openapi/v0.0.38"}}}},"jobs":[{}]}}"#,
        jobs.join(",")
    );
    let parsed = parse_squeue_json(&doc, &[huge]).unwrap();
    assert_eq!(parsed.items.len(), (MAX_EXPANDED / 65_536) as usize);
    assert!(
        parsed.rejected[0]
            .to_string()
            .contains("expands past the 8388608")
    );
}

/// A minimal `scontrol show job -d` record with one per-node line.
fn record(detail: &str) -> String {
    format!(
        "JobId=9 JobName=j\n   UserId=u(1) GroupId=g(1)\n   JobState=RUNNING Reason=None\n   \
         StartTime=2026-12-07T11:47:23 EndTime=Unknown\n   NodeList=n[1-2]\n   \
         NumNodes=2 NumCPUs=2\n   JOB_GRES=(null)\n{detail}\n   MinCPUsNode=1\n"
    )
}

#[test]
fn hostile_scontrol_records_are_rejected_with_their_line() {
    let cases = [
        ("     Nodes=n[1-2] CPU_IDs=0 Mem=0 GRES=", None),
        (
            "     Nodes=n[1-4000000000] CPU_IDs=0 Mem=0 GRES=",
            Some(":8: hostlist \"n[1-4000000000]\" names more than 131072 hosts"),
        ),
        (
            "     Nodes=n1 CPU_IDs=0-4000000000 Mem=0 GRES=",
            Some(":8: id 4000000000 is past the 65536"),
        ),
        (
            "     Nodes=n1 CPU_IDs=3-1 Mem=0 GRES=",
            Some(":8: range \"3-1\" runs backwards"),
        ),
        (
            "     Nodes=n3 CPU_IDs=0 Mem=0 GRES=",
            Some(":8: node n3 is not in NodeList"),
        ),
        (
            "     Nodes=n1 CPU_IDs=0 Mem=99999999999999999999 GRES=",
            Some(":8: 99999999999999999999 is over"),
        ),
        (
            "     Nodes=n1 CPU_IDs=0 Mem=1 GRES=gpu(IDX:0",
            Some(":8: unclosed GRES detail"),
        ),
        (
            "     Nodes=n[1 CPU_IDs=0 Mem=1 GRES=",
            Some(":8: unclosed bracket"),
        ),
    ];
    for (detail, want) in cases {
        let parsed = parse_scontrol_jobs(&record(detail)).unwrap();
        match want {
            None => {
                assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
                assert_eq!(parsed.items[0].nodes.len(), 2);
                assert_eq!(
                    parsed.items[0].nodes[1].memory_bytes, None,
                    "Mem=0: not tracked"
                );
            }
            Some(reason) => {
                assert!(parsed.items.is_empty());
                let msg = parsed.rejected[0].to_string();
                assert!(msg.starts_with("scontrol show job -d:"), "{msg}");
                assert!(msg.contains(reason), "{msg} lacks {reason}");
            }
        }
    }
    let no_state = record("").replace("   JobState=RUNNING Reason=None\n", "");
    let msg = parse_scontrol_jobs(&no_state).unwrap().rejected[0].to_string();
    assert_eq!(msg, "scontrol show job -d:1: no `JobState=` line");
    let err = parse_scontrol_jobs("Hello\nJobId=1\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "scontrol show job -d:1: expected a `JobId=…` record, found \"Hello\""
    );
    // Two records with one id: one is forged, neither is believed.
    let twice = format!("{}\n{}", record(""), record(""));
    let parsed = parse_scontrol_jobs(&twice).unwrap();
    assert!(parsed.items.is_empty());
    assert!(
        parsed.rejected[0]
            .to_string()
            .contains("job 9 is printed twice")
    );
}

#[test]
fn expansions_past_the_budget_are_refused_not_allocated() {
    let detail = "     Nodes=n[1-100000] CPU_IDs=0-65535 Mem=0 GRES=";
    let text = record(detail).replace("NodeList=n[1-2]", "NodeList=n[1-100000]");
    let parsed = parse_scontrol_jobs(&text).unwrap();
    assert!(parsed.items.is_empty());
    assert!(
        parsed.rejected[0].to_string().contains("expands past"),
        "{:?}",
        parsed.rejected
    );
}

#[test]
fn jobcomp_lines_that_mimic_fields_are_rejected_and_the_rest_kept() {
    let real = data!("jobcomp.txt").lines().next().unwrap();
    let forged = real.replace(
        "Name=wrap ",
        "Name=x JobState=COMPLETED Partition=p TimeLimit=1 StartTime=2026-01-01T00:00:00 \
         EndTime=2026-01-01T00:00:01 NodeList=n9 NodeCnt=1 ProcCnt=64 WorkDir=/ ",
    );
    let text = format!("{forged}\ngarbage\n{real}\nJobId=5 UserId=u GroupId=g Name=\n");
    let parsed = parse_jobcomp(&text, 0).unwrap();
    assert_eq!(parsed.items.len(), 1);
    assert_eq!(parsed.items[0].job_id, 3);
    let msgs: Vec<String> = parsed.rejected.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        msgs,
        [
            "jobcomp:1: `JobState` fields appear twice: a free-text field mimics them",
            "jobcomp:2: not a jobcomp/filetxt line (JobId= UserId= GroupId= Name=)",
            "jobcomp:4: no `JobState= … ProcCnt= WorkDir=` fields",
        ]
    );
    // A name with spaces and `=` that does not mimic the fields is kept as it is.
    let spaced = real.replace("Name=wrap ", "Name=a b=c ");
    assert_eq!(parse_jobcomp(&spaced, 0).unwrap().items[0].name, "a b=c");
}

#[test]
fn times_gres_and_memory_read_as_slurm_writes_them() {
    use super::text::{parse_gres, parse_time};
    let t = parse_time("2026-12-07T11:47:23", 0).unwrap().unwrap();
    assert_eq!(t.to_rfc3339(), "2026-12-07T11:47:23Z");
    assert_eq!(
        parse_time("2026-12-07T11:47:23", -5 * 3600)
            .unwrap()
            .unwrap()
            .to_rfc3339(),
        "2026-12-07T16:47:23Z"
    );
    assert_eq!(
        parse_time("1796644043", 0).unwrap(),
        Some(Timestamp::from_secs(1_796_644_043))
    );
    for none in ["Unknown", "None", "N/A", "", "0"] {
        assert_eq!(parse_time(none, 0).unwrap(), None);
    }
    for bad in [
        "2026-02-30T00:00:00",
        "yesterday",
        "99999999999999",
        "2026-12-07 11:47:23",
    ] {
        assert!(parse_time(bad, 0).is_err(), "{bad}");
    }
    let mut b = Budget::new(1000);
    assert_eq!(parse_gres("", &mut b).unwrap(), (0, vec![]));
    assert_eq!(
        parse_gres("gpu:2(IDX:0-1)", &mut b).unwrap(),
        (2, vec![0, 1])
    );
    assert_eq!(
        parse_gres(
            "gpu:a100:1(IDX:0),gpu:v100:2(IDX:2,5),mps:50(0/100)",
            &mut b
        )
        .unwrap(),
        (3, vec![0, 2, 5])
    );
    assert_eq!(parse_gres("gpu:1(IDX:N/A)", &mut b).unwrap(), (1, vec![]));
    assert!(parse_gres("gpu(IDX:0)", &mut b).is_err());
    assert!(parse_gres("gpu:1(IDX:0))", &mut b).is_err());
}

#[test]
fn hostlists_and_id_lists() {
    assert_eq!(expand_hostlist("").unwrap(), Vec::<String>::new());
    assert_eq!(
        expand_hostlist("r[1-2]n[1,3]-ib,login").unwrap(),
        ["r1n1-ib", "r1n3-ib", "r2n1-ib", "r2n3-ib", "login"]
    );
    for bad in [
        "n[1-2",
        "n]",
        "n[[1]]",
        "n,,m",
        "n[]",
        "n[a-b]",
        "n[3-1]",
        "a b",
        "n[1-2]x[1-100000]",
    ] {
        let err = expand_hostlist(bad).unwrap_err();
        assert!(
            matches!(
                err,
                SlurmError::InvalidInput {
                    argument: "hostlist",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    assert!(compress_hostlist(&["a,b"]).is_err());
    assert!(compress_hostlist(&[""]).is_err());
    assert_eq!(
        compress_hostlist(&["n00", "n007", "n1", "n0"]).unwrap(),
        "n[0-1],n00,n007"
    );
    assert_eq!(parse_id_list("").unwrap(), Vec::<u32>::new());
    for bad in ["-1", "1-", "a", "1--2", "65536", "0-99999999999"] {
        assert!(parse_id_list(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_handle_refuses_what_it_will_not_send() {
    // A bin directory with no commands: anything actually run would be a Command error.
    let slurm = Slurm::new().with_bin_dir("/nonexistent-kelvin-slurm");
    let refused = |r: Result<(), SlurmError>| match r {
        Err(SlurmError::InvalidInput { argument, .. }) => argument,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(slurm.set_admin_comment(7, "a\nJobId=8")), "text");
    assert_eq!(refused(slurm.set_admin_comment(7, "a\rb")), "text");
    assert_eq!(
        refused(slurm.set_admin_comment(7, &"x".repeat(1025))),
        "text"
    );
    assert_eq!(refused(slurm.set_admin_comment(0, "x")), "job_id");
    assert_eq!(refused(slurm.set_admin_comment(1 << 33, "x")), "job_id");
    assert_eq!(refused(slurm.set_node_weight("n1 Weight=0", 1)), "node");
    assert_eq!(refused(slurm.set_node_weight("", 1)), "node");
    assert_eq!(
        refused(slurm.set_node_weight("n1", MAX_WEIGHT + 1)),
        "weight"
    );
    let ran = slurm.set_admin_comment(7, &"x".repeat(1024)).unwrap_err();
    assert!(
        matches!(&ran, SlurmError::Command { command, .. } if command == "scontrol update JobId=7 AdminComment=…"),
        "{ran}"
    );
}

/// Writes an executable shell script `name` into `dir`.
fn script(dir: &std::path::Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    // Written aside and renamed into place, so no writer ever holds the executed file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[test]
fn jobs_fall_back_to_scontrol_text_only_when_json_is_unavailable() {
    let dir = temp_dir("fallback");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/slurm");
    script(&dir, "sinfo", &format!("cat {data}/sinfo.json"));
    script(
        &dir,
        "scontrol",
        &format!("cat {data}/scontrol_running.txt"),
    );
    let slurm = Slurm::new().with_bin_dir(&dir);
    // JSON works: read from it (a newer squeue would have said so).
    script(&dir, "squeue", &format!("cat {data}/squeue_running.json"));
    let json = slurm.jobs().unwrap();
    // squeue refuses --json (built without it): the text way gives the same jobs.
    script(
        &dir,
        "squeue",
        "echo 'squeue: unrecognized option --json' >&2; exit 1",
    );
    assert_eq!(slurm.jobs().unwrap(), json);
    // Another OpenAPI version: the text way too.
    script(
        &dir,
        "squeue",
        r#"echo '{"meta":{"plugin":{"type":"openapi/v0.0.40"}}}'"#,
    );
    assert_eq!(slurm.jobs().unwrap(), json);
    // A hung controller: no second wait through scontrol.
    script(&dir, "squeue", "sleep 5");
    let err = slurm
        .clone()
        .with_timeout(std::time::Duration::from_millis(200))
        .jobs()
        .unwrap_err();
    assert!(
        matches!(&err, SlurmError::Command { source: ExecError::Timeout { .. }, command } if command == "squeue --json"),
        "{err}"
    );
    // Weights are read back from sinfo, the environment passed.
    script(
        &dir,
        "sinfo",
        "test \"$TZ\" = UTC && test \"$SLURM_CONF\" = /x/slurm.conf && cat $0.json",
    );
    std::fs::copy(format!("{data}/sinfo_weights.json"), dir.join("sinfo.json")).unwrap();
    let weights = slurm
        .clone()
        .with_conf("/x/slurm.conf")
        .node_weights()
        .unwrap();
    assert_eq!(
        weights.into_iter().collect::<Vec<_>>(),
        [("n1".to_string(), 1), ("n2".to_string(), 20)]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn completed_reads_whole_lines_and_resumes_where_it_stopped() {
    let dir = temp_dir("jobcomp");
    let path = dir.join("jobcomp.txt");
    let lines: Vec<&str> = data!("jobcomp.txt").lines().collect();
    let partial = &lines[1][..40];
    std::fs::write(&path, format!("{}\n{partial}", lines[0])).unwrap();
    let slurm = Slurm::new();
    let first = slurm.completed(&path, 0).unwrap();
    assert_eq!(first.jobs.items.len(), 1);
    assert_eq!(first.next_offset, lines[0].len() as u64 + 1);
    std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let second = slurm.completed(&path, first.next_offset).unwrap();
    assert_eq!(second.jobs.items[0].job_id, 4);
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(second.next_offset, len);
    // Rotated: shorter than the offset, read from the start.
    std::fs::write(&path, format!("{}\n", lines[2])).unwrap();
    let rotated = slurm.completed(&path, len).unwrap();
    assert_eq!(rotated.jobs.items[0].job_id, 2);
    // A line longer than the limit is skipped, saying so.
    std::fs::write(&path, "x".repeat(100)).unwrap();
    let small = slurm
        .clone()
        .with_max_output_bytes(10)
        .completed(&path, 0)
        .unwrap();
    assert_eq!(small.next_offset, 10);
    assert!(
        small.jobs.rejected[0]
            .to_string()
            .contains("a line longer than 10 bytes")
    );
    let missing = slurm.completed(&dir.join("none"), 0).unwrap_err();
    assert!(matches!(missing, SlurmError::Io { .. }), "{missing}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Host names as Slurm clusters spell them: a prefix and a number, sometimes zero-padded.
fn host_name() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[a-z]{1,3}", 0u64..2000).prop_map(|(p, n)| format!("{p}{n}")),
        ("[a-z]{1,3}", 0u64..200, 2usize..5).prop_map(|(p, n, w)| format!("{p}{n:0w$}")),
        "[a-z][a-z.-]{0,5}[a-z]",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn compressed_hostlists_expand_to_the_same_hosts(names in prop::collection::vec(host_name(), 0..40)) {
        let list = compress_hostlist(&names).unwrap();
        let back = expand_hostlist(&list).unwrap();
        let mut want: Vec<String> = names.clone();
        want.sort();
        want.dedup();
        let mut got = back.clone();
        got.sort();
        prop_assert_eq!(&got, &want, "{}", list);
        got.dedup();
        prop_assert_eq!(got.len(), back.len(), "duplicates in {:?}", back);
    }

    #[test]
    fn bracketed_ranges_expand_in_order(
        prefix in "[a-z]{1,4}",
        ranges in prop::collection::vec((0u64..500, 0u64..20, 1usize..4), 1..6),
    ) {
        let spec: Vec<String> = ranges
            .iter()
            .map(|&(lo, len, w)| format!("{lo:0w$}-{:0w$}", lo + len))
            .collect();
        let list = format!("{prefix}[{}]", spec.join(","));
        let want: Vec<String> = ranges
            .iter()
            .flat_map(|&(lo, len, w)| (lo..=lo + len).map(move |i| format!("{i:0w$}")))
            .map(|n| format!("{prefix}{n}"))
            .collect();
        prop_assert_eq!(expand_hostlist(&list).unwrap(), want);
    }

    #[test]
    fn id_lists_round_trip(ids in prop::collection::vec(0u32..MAX_CPUS_PER_NODE, 0..200)) {
        let text = format_id_list(&ids);
        let mut want = ids.clone();
        want.sort_unstable();
        want.dedup();
        prop_assert_eq!(parse_id_list(&text).unwrap(), want);
    }

    #[test]
    fn readers_never_panic_on_arbitrary_text(text in "\\PC{0,400}", cut in 0usize..4000) {
        let _ = parse_scontrol_jobs(&text);
        let _ = parse_scontrol_nodes(&text);
        let _ = parse_jobcomp(&text, 0);
        let _ = expand_hostlist(&text);
        let _ = parse_id_list(&text);
        // Real documents cut anywhere, and mangled.
        let real = data!("scontrol_running.txt");
        let at = (0..=cut.min(real.len())).rev().find(|&i| real.is_char_boundary(i)).unwrap_or(0);
        let mangled = format!("{}{text}{}", &real[..at], &real[at..]);
        let _ = parse_scontrol_jobs(&mangled);
        let json = data!("squeue_running.json");
        let at = cut.min(json.len());
        let _ = parse_squeue_json(&format!("{}{text}{}", &json[..at], &json[at..]), &[]);
        let comp = data!("jobcomp.txt");
        let at = (0..=cut.min(comp.len())).rev().find(|&i| comp.is_char_boundary(i)).unwrap_or(0);
        let _ = parse_jobcomp(&format!("{}{text}{}", &comp[..at], &comp[at..]), 0);
    }
}
