//! Golden wire files round-trip through the types; pod requests follow the scheduler's rule.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use crate::scheduler::quantity::QuantityErrorKind;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/extender")
}

fn golden(name: &str) -> Value {
    let text = std::fs::read_to_string(golden_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Reads the golden file `name` as a `T`, writes it back and requires the same JSON value.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let file = golden(name);
    let typed: T = serde_json::from_value(file.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), file, "{name}");
    typed
}

/// Checks one golden file, given its name.
type Check = fn(&str);

/// Every golden file, and the type it is read as.
const GOLDEN: [(&str, Check); 14] = [
    ("filter-nodes.request.json", |n| {
        drop(round_trip::<ExtenderArgs>(n))
    }),
    ("filter-nodes.response.json", |n| {
        drop(round_trip::<ExtenderFilterResult>(n))
    }),
    ("filter-names.request.json", |n| {
        drop(round_trip::<ExtenderArgs>(n))
    }),
    ("filter-names.response.json", |n| {
        drop(round_trip::<ExtenderFilterResult>(n))
    }),
    ("filter-too-large.request.json", |n| {
        drop(round_trip::<ExtenderArgs>(n))
    }),
    ("filter-too-large.response.json", |n| {
        drop(round_trip::<ExtenderFilterResult>(n))
    }),
    ("prioritize.request.json", |n| {
        drop(round_trip::<ExtenderArgs>(n))
    }),
    ("prioritize.response.json", |n| {
        drop(round_trip::<HostPriorityList>(n))
    }),
    ("bind.request.json", |n| {
        drop(round_trip::<ExtenderBindingArgs>(n))
    }),
    ("bind.response.json", |n| {
        drop(round_trip::<ExtenderBindingResult>(n))
    }),
    ("preempt.request.json", |n| {
        drop(round_trip::<ExtenderPreemptionArgs>(n))
    }),
    ("preempt.response.json", |n| {
        drop(round_trip::<ExtenderPreemptionResult>(n))
    }),
    ("preempt-victims.request.json", |n| {
        drop(round_trip::<ExtenderPreemptionArgs>(n))
    }),
    ("preempt-victims.response.json", |n| {
        drop(round_trip::<ExtenderPreemptionResult>(n))
    }),
];

#[test]
fn every_golden_file_round_trips_exactly() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    let checked: BTreeSet<String> = GOLDEN.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(on_disk, checked, "every golden file needs a case here");
    for (name, check) in GOLDEN {
        check(name);
    }
}

#[test]
fn golden_requests_read_as_the_scheduler_meant() {
    let by_nodes: ExtenderArgs = round_trip("filter-nodes.request.json");
    assert_eq!(by_nodes.node_names, None);
    assert_eq!(by_nodes.candidate_names(), ["node-a", "node-b", "node-c"]);
    assert_eq!(by_nodes.pod.metadata.namespace, "shop");
    let web = pod_requests(&by_nodes.pod).unwrap();
    assert_eq!(
        (web.cpu_cores, web.memory_bytes, web.gpus()),
        (0.5, 256 << 20, 0)
    );

    let by_names: ExtenderArgs = round_trip("filter-names.request.json");
    assert_eq!(by_names.nodes, None);
    assert_eq!(by_names.candidate_names(), ["node-b", "node-c"]);
    let train = pod_requests(&by_names.pod).unwrap();
    assert_eq!((train.cpu_cores, train.memory_bytes), (8.0, 32 << 30));
    assert_eq!(train.nvidia_gpus, 1);
    assert_eq!(by_names.pod.spec.priority, Some(1000));
    assert_eq!(
        by_names.pod.spec.node_selector["nvidia.com/gpu.present"],
        "true"
    );

    let huge: ExtenderArgs = round_trip("filter-too-large.request.json");
    assert_eq!(pod_requests(&huge.pod).unwrap().cpu_cores, 60.0);

    let bind: ExtenderBindingArgs = round_trip("bind.request.json");
    assert_eq!(bind.pod_uid, by_nodes.pod.metadata.uid);
    assert_eq!(bind.node, "node-a");

    let meta: ExtenderPreemptionArgs = round_trip("preempt.request.json");
    assert_eq!(meta.node_name_to_victims, None);
    let victims = meta.node_name_to_meta_victims.unwrap();
    assert_eq!(victims["node-c"].pods.len(), 2);
    assert_eq!(victims["node-c"].num_pdb_violations, 1);

    let whole: ExtenderPreemptionArgs = round_trip("preempt-victims.request.json");
    let victim = &whole.node_name_to_victims.unwrap()["node-c"].pods[0];
    assert_eq!(victim.spec.node_name, "node-c");
    assert_eq!(victim.other["status"]["phase"], "Running");
}

#[test]
fn a_filter_answer_hands_back_the_passing_nodes_unchanged() {
    let args: ExtenderArgs = round_trip("filter-nodes.request.json");
    let answer: ExtenderFilterResult = round_trip("filter-nodes.response.json");
    let nodes = args.nodes.unwrap();
    let kept = nodes.retain_named(|name| name != "node-b");
    assert_eq!(answer.nodes, Some(kept));
    assert!(answer.failed_nodes.contains_key("node-b"));
}

#[test]
fn go_nulls_and_numbers_are_read() {
    // What a Go extender writes for nil maps and slices.
    let answer: ExtenderFilterResult = serde_json::from_value(json!({
        "Nodes": null, "NodeNames": ["n"], "FailedNodes": null,
        "FailedAndUnresolvableNodes": null, "Error": null}))
    .unwrap();
    assert!(answer.failed_nodes.is_empty() && answer.error.is_empty());
    let result: ExtenderPreemptionResult =
        serde_json::from_value(json!({"NodeNameToMetaVictims": null})).unwrap();
    assert!(result.node_name_to_meta_victims.is_empty());
    // A quantity may arrive as a number.
    let pod: Pod = serde_json::from_value(json!({"spec": {"containers": [{"name": "a",
        "resources": {"requests": {"cpu": 2, "memory": 1.5e9, "nvidia.com/gpu": 1}}}]}}))
    .unwrap();
    let requests = pod_requests(&pod).unwrap();
    assert_eq!(requests.cpu_cores, 2.0);
    assert_eq!(requests.memory_bytes, 1_500_000_000);
    assert_eq!(requests.nvidia_gpus, 1);
    // Anything else in a quantity's place is an error, not a silent zero.
    let bad = serde_json::from_value::<Pod>(json!({"spec": {"containers": [{"name": "a",
        "resources": {"requests": {"cpu": [1]}}}]}}));
    assert!(bad.is_err());
}

#[test]
fn candidates_come_from_names_or_nodes() {
    let args = |nodes: Value, names: Value| -> ExtenderArgs {
        serde_json::from_value(json!({"Pod": {}, "Nodes": nodes, "NodeNames": names})).unwrap()
    };
    let listed = args(
        json!({"items": [{"metadata": {"name": "x"}}, {"metadata": {}}, {"metadata": {"name": "y"}}]}),
        Value::Null,
    );
    assert_eq!(listed.candidate_names(), ["x", "y"]);
    assert_eq!(
        listed.nodes.unwrap().names().collect::<Vec<_>>(),
        [Some("x"), None, Some("y")]
    );
    assert!(args(Value::Null, Value::Null).candidate_names().is_empty());
}

// ---- pod_requests ----

fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({ "spec": spec })).unwrap()
}

fn app(name: &str, requests: Value) -> Value {
    json!({"name": name, "resources": {"requests": requests}})
}

fn sidecar(name: &str, requests: Value) -> Value {
    json!({"name": name, "restartPolicy": "Always", "resources": {"requests": requests}})
}

#[test]
fn an_init_container_larger_than_the_sum_sets_the_request() {
    let p = pod(json!({
        "initContainers": [app("migrate", json!({"cpu": "4", "memory": "1Gi"}))],
        "containers": [app("a", json!({"cpu": "1", "memory": "2Gi"})),
                       app("b", json!({"cpu": "1", "memory": "2Gi"}))]}));
    let r = pod_requests(&p).unwrap();
    // CPU from the init step (4 > 1 + 1), memory from the app containers (4Gi > 1Gi).
    assert_eq!((r.cpu_cores, r.memory_bytes), (4.0, 4 << 30));
}

#[test]
fn sidecars_run_beside_everything_started_after_them() {
    let p = pod(json!({
        "initContainers": [
            app("early", json!({"cpu": "3"})),
            sidecar("proxy", json!({"cpu": "500m"})),
            app("late", json!({"cpu": "2800m"})),
            sidecar("logs", json!({"cpu": "200m"}))],
        "containers": [app("app", json!({"cpu": "1"}))]}));
    // Apps with both sidecars: 1.7. Init peaks: early 3; proxy 0.5; late 2.8 + 0.5 = 3.3;
    // logs 0.7. The maximum is 3.3.
    assert_eq!(pod_requests(&p).unwrap().cpu_cores, 3.3);
    let small_init = pod(json!({
        "initContainers": [sidecar("proxy", json!({"cpu": "500m"})),
                           app("late", json!({"cpu": "1"}))],
        "containers": [app("app", json!({"cpu": "2"}))]}));
    assert_eq!(pod_requests(&small_init).unwrap().cpu_cores, 2.5);
}

#[test]
fn overhead_is_added_last() {
    let p = pod(json!({
        "initContainers": [app("init", json!({"cpu": "2"}))],
        "containers": [app("app", json!({"cpu": "1"}))],
        "overhead": {"cpu": "250m", "memory": "120Mi"}}));
    let r = pod_requests(&p).unwrap();
    assert_eq!((r.cpu_cores, r.memory_bytes), (2.25, 120 << 20));
}

#[test]
fn gpus_and_other_resources_are_counted() {
    let p = pod(json!({"containers": [
        app("a", json!({"nvidia.com/gpu": "2", "ephemeral-storage": "1Gi", "example.com/fpga": "1"})),
        app("b", json!({"amd.com/gpu": "1", "nvidia.com/gpu": "1"}))]}));
    let r = pod_requests(&p).unwrap();
    assert_eq!((r.nvidia_gpus, r.amd_gpus, r.gpus()), (3, 1, 4));
    assert_eq!(r.other["ephemeral-storage"], 1 << 30);
    assert_eq!(r.other["example.com/fpga"], 1);
    assert_eq!((r.cpu_cores, r.memory_bytes), (0.0, 0));
}

#[test]
fn missing_resources_count_zero_and_limits_stand_in_for_requests() {
    assert_eq!(
        pod_requests(&Pod::default()).unwrap(),
        PodRequests::default()
    );
    let p = pod(json!({"containers": [
        {"name": "a", "resources": {}},
        {"name": "b", "resources": {"limits": {"cpu": "2", "nvidia.com/gpu": "1"},
                                    "requests": {"cpu": "1"}}}]}));
    let r = pod_requests(&p).unwrap();
    // b's cpu request stays 1; its GPU limit stands in for the missing request.
    assert_eq!((r.cpu_cores, r.nvidia_gpus), (1.0, 1));
}

#[test]
fn pod_level_requests_replace_the_sum_for_cpu_and_memory() {
    let p = pod(json!({
        "resources": {"requests": {"cpu": "3", "nvidia.com/gpu": "9"}, "limits": {"memory": "8Gi"}},
        "containers": [app("a", json!({"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}))],
        "overhead": {"cpu": "100m"}}));
    let r = pod_requests(&p).unwrap();
    assert_eq!(
        (r.cpu_cores, r.memory_bytes, r.nvidia_gpus),
        (3.1, 8 << 30, 1)
    );
}

#[test]
fn quantities_are_summed_exactly_then_rounded_once() {
    let p = pod(json!({"containers": [app("a", json!({"cpu": "0.5m"})),
                                      app("b", json!({"cpu": "0.5m"}))]}));
    assert_eq!(pod_requests(&p).unwrap().cpu_cores, 0.001);
}

fn error_of(spec: Value) -> RequestError {
    pod_requests(&pod(spec)).unwrap_err()
}

#[test]
fn bad_quantities_name_the_container_and_resource() {
    let negative = error_of(json!({"containers": [app("app", json!({"cpu": "-1"}))]}));
    assert_eq!(
        negative.to_string(),
        r#"container "app": request cpu = "-1": negative quantity"#
    );
    let unknown = error_of(json!({"initContainers": [app("setup", json!({"memory": "2GB"}))]}));
    assert!(matches!(
        &unknown,
        RequestError::BadQuantity { kind: QuantityErrorKind::UnknownSuffix(s), .. } if s == "GB"
    ));
    assert!(
        unknown
            .to_string()
            .starts_with(r#"init container "setup": request memory = "2GB""#)
    );
    let from_limit = error_of(json!({"containers": [
        {"name": "app", "resources": {"limits": {"memory": "lots"}}}]}));
    assert!(
        from_limit
            .to_string()
            .starts_with(r#"container "app": limit memory = "lots": bad number"#)
    );
    let overhead = error_of(json!({"containers": [], "overhead": {"cpu": ""}}));
    assert_eq!(
        overhead.to_string(),
        r#"pod overhead: cpu = "": empty quantity"#
    );
}

#[test]
fn fractional_gpus_and_absurd_sizes_are_refused() {
    let half = error_of(json!({"containers": [app("t", json!({"nvidia.com/gpu": "0.5"}))]}));
    assert!(
        matches!(half, RequestError::Fractional { ref resource, .. } if resource == "nvidia.com/gpu")
    );
    let cores = error_of(json!({"containers": [app("t", json!({"cpu": "2M"}))]}));
    assert!(matches!(
        cores,
        RequestError::Absurd {
            limit: "1e6 cores",
            ..
        }
    ));
    let memory = error_of(json!({"containers": [app("t", json!({"memory": "2Ei"}))]}));
    assert_eq!(
        memory.to_string(),
        r#"container "t": request memory = "2Ei": absurd, more than 1 EiB"#
    );
    // Each part under the limit, the sum over it.
    let total = error_of(json!({"containers": [app("a", json!({"cpu": "600k"})),
                                               app("b", json!({"cpu": "600k"}))]}));
    assert!(matches!(
        total,
        RequestError::Absurd {
            place: RequestPlace::Total,
            ..
        }
    ));
    assert_eq!(
        total.to_string(),
        r#"pod total: cpu = "1200k": absurd, more than 1e6 cores"#
    );
    // Exactly at the limit is allowed.
    let at = pod(json!({"containers": [app("a", json!({"cpu": "1M", "memory": "1Ei"}))]}));
    assert_eq!(pod_requests(&at).unwrap().memory_bytes, 1 << 60);
}
