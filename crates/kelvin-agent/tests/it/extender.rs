//! The Kubernetes scheduler extender: the golden requests answered over a fleet, malformed
//! requests refused with a 4xx over real HTTP, and the agent serving the verbs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kelvin::model::EntityId;
use kelvin::placement::fleet::{Host, PowerCurve, PowerDomain, Problem, Rack};
use kelvin_agent::http::{Request, Response, Routes, serve_routes};
use kelvin_agent::scheduler::k8s::{ExtenderArgs, ExtenderFilterResult, HostPriority};
use kelvin_agent::scheduler::{Endpoints, Extender, MAX_REQUEST_BYTES, View};
use proptest::prelude::*;
use serde_json::Value;

use crate::lab::agent::Agent;

fn golden(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/extender")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The golden files' nodes: node-a (16 cores, 64 GiB), node-b and node-c (48 cores,
/// 192 GiB, four GPUs), SPECpower-like curves, node-b and node-c on one PDU.
fn fleet() -> Problem {
    let id = |s: &str| EntityId::new(s).unwrap();
    let small = PowerCurve::try_new([
        58.4, 98.0, 109.0, 118.0, 128.0, 140.0, 153.0, 170.0, 189.0, 205.0, 222.0,
    ])
    .unwrap();
    let gpu = PowerCurve::try_new([
        310.0, 420.0, 470.0, 520.0, 575.0, 630.0, 690.0, 750.0, 810.0, 880.0, 950.0,
    ])
    .unwrap();
    let mut p = Problem::new(vec!["cpu".into(), "memory_gib".into(), "gpus".into()]);
    p.racks.push(Rack::new(id("r1")));
    p.racks.push(Rack::new(id("r2")));
    p.hosts
        .push(Host::new(id("node-a"), 0, vec![16.0, 64.0, 0.0], small).with_awake(true));
    for n in ["node-b", "node-c"] {
        p.hosts
            .push(Host::new(id(n), 1, vec![48.0, 192.0, 4.0], gpu).with_awake(true));
    }
    p.domains.push(PowerDomain {
        id: id("pdu-r2"),
        cap_w: 2_500.0,
        hosts: vec![1, 2],
    });
    p.recirculation = vec![0.0; 4];
    p
}

fn endpoints() -> Endpoints {
    Endpoints::new(
        "/scheduler",
        Arc::new(Extender::spawn(View::from_problem(fleet()))),
        false,
    )
}

fn filter(e: &Endpoints, body: &[u8]) -> ExtenderFilterResult {
    let r = e.filter(body).expect("filter answers");
    serde_json::from_str(&r.body).expect("an ExtenderFilterResult")
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// Filter's answer covers every candidate once: passed, or refused with a reason; never both.
fn partition_holds(args: &ExtenderArgs, out: &ExtenderFilterResult) {
    let passed: Vec<String> = match (&out.node_names, &out.nodes) {
        (Some(n), _) => n.clone(),
        (None, Some(l)) => l.names().flatten().map(str::to_string).collect(),
        _ => panic!("neither Nodes nor NodeNames"),
    };
    for name in args.candidate_names() {
        let refused = out.failed_nodes.contains_key(name);
        assert_ne!(passed.iter().any(|p| p == name), refused, "{name}: {out:?}");
        if out.failed_and_unresolvable_nodes.contains_key(name) {
            assert!(refused, "{name} unresolvable but not in FailedNodes");
        }
    }
    assert!(out.error.is_empty());
}

#[test]
fn golden_requests_are_answered_in_their_wire_shape() {
    let e = endpoints();
    // The web pod (500m, 256Mi) with whole node objects: every node fits, and the objects
    // come back unchanged.
    let req = golden("filter-nodes.request.json");
    let args: ExtenderArgs = serde_json::from_slice(&req).unwrap();
    let raw = e.filter(&req).unwrap().body;
    let shape: Value = serde_json::from_slice(&golden("filter-nodes.response.json")).unwrap();
    assert_eq!(keys(&serde_json::from_str(&raw).unwrap()), keys(&shape));
    let out: ExtenderFilterResult = serde_json::from_str(&raw).unwrap();
    partition_holds(&args, &out);
    assert_eq!(out.nodes.as_ref().unwrap().items, args.nodes.unwrap().items);
    assert!(out.node_names.is_none());

    // The GPU trainer by name, node-a added to its candidates: node-a has no GPU, in both
    // refusal maps.
    let mut v: Value = serde_json::from_slice(&golden("filter-names.request.json")).unwrap();
    v["NodeNames"] = serde_json::json!(["node-a", "node-b", "node-c"]);
    let req = serde_json::to_vec(&v).unwrap();
    let args: ExtenderArgs = serde_json::from_slice(&req).unwrap();
    let out = filter(&e, &req);
    partition_holds(&args, &out);
    assert_eq!(
        out.node_names.as_deref(),
        Some(&["node-b".to_string(), "node-c".into()][..])
    );
    assert_eq!(
        out.failed_nodes["node-a"],
        "kelvin: gpus capacity: asks 1, 0 free of 0"
    );
    assert!(out.failed_and_unresolvable_nodes.contains_key("node-a"));

    // 60 cores fit nowhere: every node refused with a reason, none passed.
    let req = golden("filter-too-large.request.json");
    let args: ExtenderArgs = serde_json::from_slice(&req).unwrap();
    let out = filter(&e, &req);
    partition_holds(&args, &out);
    assert_eq!(out.failed_nodes.len(), args.candidate_names().len());
    assert!(out.failed_nodes.values().all(|r| r.starts_with("kelvin: ")));
    assert_eq!(out.node_names.as_deref(), Some(&[][..]));

    // Prioritize: integers 0..=10 for every candidate, in order, the best at 10.
    let req = golden("prioritize.request.json");
    let args: ExtenderArgs = serde_json::from_slice(&req).unwrap();
    let scores: Vec<HostPriority> =
        serde_json::from_str(&e.prioritize(&req).unwrap().body).unwrap();
    let names: Vec<&str> = scores.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(names, args.candidate_names());
    assert!(scores.iter().all(|h| (0..=10).contains(&h.score)));
    assert_eq!(scores.iter().map(|h| h.score).max(), Some(10));
    let shape: Value = serde_json::from_slice(&golden("prioritize.response.json")).unwrap();
    let ours: Value = serde_json::to_value(&scores).unwrap();
    assert_eq!(keys(&ours[0]), keys(&shape[0]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For any pod size, filter partitions the candidates (never passing a node it refused),
    /// and prioritize gives a node it refused 0 and every score in 0..=10.
    #[test]
    fn filter_and_prioritize_agree_for_any_pod(cpu_m in 0u32..80_000, mem_mi in 0u32..300_000, gpus in 0u32..6) {
        let e = endpoints();
        let body = format!(
            r#"{{"Pod":{{"metadata":{{"name":"p"}},"spec":{{"containers":[{{"name":"c","resources":{{"requests":{{"cpu":"{cpu_m}m","memory":"{mem_mi}Mi","nvidia.com/gpu":"{gpus}"}}}}}}]}}}},"NodeNames":["node-a","node-b","node-c"]}}"#
        );
        let args: ExtenderArgs = serde_json::from_str(&body).unwrap();
        let out = filter(&e, body.as_bytes());
        partition_holds(&args, &out);
        let scores: Vec<HostPriority> = serde_json::from_str(&e.prioritize(body.as_bytes()).unwrap().body).unwrap();
        for h in &scores {
            prop_assert!((0..=10).contains(&h.score));
            if out.failed_nodes.contains_key(&h.host) {
                prop_assert_eq!(h.score, 0, "{} was filtered out", h.host);
            }
        }
    }
}

/// The endpoints and `/healthz` on a loopback listener, as the `extender` example serves them.
struct Served(Endpoints);

impl Routes for Served {
    fn respond(&self, req: &Request) -> Response {
        match self.0.verb(&req.path) {
            Some(v) => self.0.respond(v, req),
            None => Response::text(200, "ok\n"),
        }
    }
    fn max_body(&self) -> usize {
        MAX_REQUEST_BYTES
    }
}

/// Sends raw bytes and reads the whole answer: status and body.
fn exchange(addr: &str, raw: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(raw).expect("send");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, raw.as_bytes())
}

#[test]
fn malformed_requests_get_a_4xx_with_the_reason_and_the_server_goes_on() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let (routes, stop2): (Arc<dyn Routes>, _) = (Arc::new(Served(endpoints())), stop.clone());
    let server = std::thread::spawn(move || serve_routes(listener, routes, None, stop2));
    let pod = |req: &str| {
        format!(
            r#"{{"Pod":{{"metadata":{{"name":"p","namespace":"ns"}},"spec":{{"containers":[{{"name":"app","resources":{{"requests":{req}}}}}]}}}},"NodeNames":["node-a","node-b"]}}"#
        )
    };
    let cases = [
        ("not json", 400, "not an ExtenderArgs JSON body"),
        (r#"{"Pod": 7}"#, 400, "line 1"),
        (&pod(r#"{"cpu":"1e30"}"#), 400, "container \"app\""),
        (&pod(r#"{"memory":"-2Gi"}"#), 400, "memory"),
        (&pod(r#"{"cpu":"two"}"#), 400, "cpu"),
        (&pod(r#"{"nvidia.com/gpu":"0.5"}"#), 400, "nvidia.com/gpu"),
        (
            &pod(r#"{"cpu":"1"}"#).replace("node-b", "node-zz"),
            400,
            "unknown to Kelvin: node-zz",
        ),
    ];
    for (body, status, why) in cases {
        for verb in ["filter", "prioritize"] {
            let (s, b) = post(&addr, &format!("/scheduler/{verb}"), body);
            assert_eq!(s, status, "{verb} {body}: {b}");
            assert!(b.contains(why), "{verb} {body}: {b:?} lacks {why:?}");
            assert!(b.contains("ns/p") || !why.starts_with("container"), "{b}");
        }
    }
    let (s, _) = exchange(&addr, b"GET /scheduler/filter HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(s, 405);
    let chunked = b"POST /scheduler/filter HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(exchange(&addr, chunked).0, 411);
    let huge = format!(
        "POST /scheduler/filter HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        MAX_REQUEST_BYTES + 1
    );
    assert_eq!(exchange(&addr, huge.as_bytes()).0, 413);
    // Still serving, and a good request is answered.
    let (s, b) = post(
        &addr,
        "/scheduler/prioritize",
        &pod(r#"{"cpu":"2","memory":"4Gi"}"#),
    );
    assert_eq!(s, 200, "{b}");
    let scores: Vec<HostPriority> = serde_json::from_str(&b).unwrap();
    assert_eq!(scores.len(), 2);
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
}

#[test]
fn the_agent_serves_the_extender_over_its_inventory() {
    let inventory = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/edge-small/inventory.json")
        .canonicalize()
        .expect("the edge-small inventory");
    let body = format!(
        "inventory = \"{}\"\n[scheduler]\nprefix = \"/k8s\"\n",
        inventory.display()
    );
    let agent = Agent::start("agent-extender", &body);
    let req = r#"{"Pod":{"metadata":{"name":"web","namespace":"shop"},"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"28","memory":"8Gi"}}}]}},"NodeNames":["edge-r1-h1","edge-r1-h2","edge-r1-h3"]}"#;
    let (s, b) = post(&agent.addr, "/k8s/filter", req);
    assert_eq!(s, 200, "{b}\n{}", agent.log());
    let out: ExtenderFilterResult = serde_json::from_str(&b).unwrap();
    // 28 cores do not fit the 24-core host; they fit the 32- and 112-core ones.
    assert_eq!(
        out.node_names.as_deref(),
        Some(&["edge-r1-h2".to_string(), "edge-r1-h3".into()][..])
    );
    assert!(out.failed_and_unresolvable_nodes.contains_key("edge-r1-h1"));
    let (s, b) = post(&agent.addr, "/k8s/prioritize", req);
    assert_eq!(s, 200, "{b}");
    let scores: Vec<HostPriority> = serde_json::from_str(&b).unwrap();
    assert_eq!(scores[0].score, 0);
    assert!(scores.iter().any(|h| h.score == 10));
    assert!(
        agent.log().contains("prioritize shop/web"),
        "{}",
        agent.log()
    );
    // Not under another prefix.
    assert_eq!(post(&agent.addr, "/scheduler/filter", req).0, 404);
}

#[test]
fn the_load_watcher_and_peaks_models_come_from_the_engine() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/edge-small");
    let ds = kelvin::dataset::RecordedDataset::load(&dir).unwrap();
    let mut engine = kelvin::Engine::builder()
        .inventory(ds.inventory.clone())
        .workloads(ds.workloads.iter().filter(|w| w.host.is_some()).cloned())
        .build()
        .unwrap();
    engine
        .ingest(kelvin::Batch::prometheus(
            "metrics.prom",
            ds.metrics.clone(),
        ))
        .unwrap();
    let view = View::from_engine(&engine, None).unwrap();
    let e = Endpoints::new("/scheduler", Arc::new(Extender::spawn(view)), false);
    let get = |path: &str, query: &str| {
        let req = Request {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            ..Request::default()
        };
        e.respond(e.verb(path).expect("a verb"), &req)
    };
    let all = get("/watcher", "");
    assert_eq!(all.status, 200, "{}", all.body);
    let doc: Value = serde_json::from_str(&all.body).unwrap();
    let nodes = doc["data"]["NodeMetricsMap"].as_object().unwrap();
    assert_eq!(nodes.len(), ds.inventory.hosts.len());
    assert_eq!(doc["window"]["duration"], "15m");
    let one: Value = serde_json::from_str(&get("/watcher", "host=edge-r1-h2").body).unwrap();
    let metrics = one["data"]["NodeMetricsMap"]["edge-r1-h2"]["metrics"]
        .as_array()
        .unwrap();
    let ops: Vec<&str> = metrics
        .iter()
        .map(|m| m["operator"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["AVG", "STD", "Latest"]);
    assert!(
        metrics
            .iter()
            .all(|m| (0.0..=100.0).contains(&m["value"].as_f64().unwrap()))
    );
    assert_eq!(get("/watcher", "host=nowhere").status, 404);
    let peaks = get("/scheduler/peaks", "");
    let models = kelvin_agent::scheduler::peaks::parse_peaks_json(&peaks.body).unwrap();
    assert!(!models.is_empty() && models.keys().all(|h| nodes.contains_key(h)));
    // A POST verb refuses GET, a GET verb refuses POST.
    assert_eq!(get("/scheduler/filter", "").status, 405);
    let post = Request {
        method: "POST".into(),
        path: "/watcher".into(),
        ..Request::default()
    };
    assert_eq!(e.respond(e.verb("/watcher").unwrap(), &post).status, 405);
}
