//! Serves the Kubernetes scheduler extender's verbs over a recorded dataset.
//!
//! ```text
//! cargo run --release --example extender -- DATASET [--listen ADDR] [--prefix PATH]
//! ```
//!
//! Replays `DATASET` (a directory in the datasets' format, e.g. `datasets/edge-small`) into
//! an engine — its hosts, running workloads, metrics and captures — builds the fleet the
//! placer sees (the hosts' fitted power curves, their measured power and utilization) and
//! serves, on `ADDR` (default `127.0.0.1:8888`):
//!
//! - `POST /scheduler/filter`: an `ExtenderArgs` JSON body (`Pod`, and `Nodes` or
//!   `NodeNames`) → an `ExtenderFilterResult` (`NodeNames`/`Nodes` that fit, `FailedNodes`
//!   and `FailedAndUnresolvableNodes` with the constraint in words);
//! - `POST /scheduler/prioritize` → a `HostPriorityList` (`Host`, `Score` 0..10, higher is
//!   better: the smallest increase of facility power, carbon, stranded capacity and heat);
//! - `GET /healthz` → `ok`.
//!
//! One line on stdout once listening (`extender: listening on ADDR, N nodes from DATASET`);
//! each prioritize writes its choice and breakdown on stderr. Malformed requests get a 4xx
//! with the reason. Point a kube-scheduler at it with an extender whose `urlPrefix` is
//! `http://ADDR/scheduler`, `filterVerb: filter`, `prioritizeVerb: prioritize` (see
//! docs/scheduler.md), or try it with curl:
//!
//! ```text
//! curl -s -XPOST localhost:8888/scheduler/prioritize -d '{"Pod":{"metadata":{"name":"web"},
//!   "spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"2","memory":"4Gi"}}}]}},
//!   "NodeNames":["edge-01","edge-02"]}'
//! ```
//!
//! Exit codes: 2 for a usage error, 1 for a dataset that cannot be read or replayed, or an
//! address that cannot be bound.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use kelvin::dataset::RecordedDataset;
use kelvin_agent::http::{Request, Response, Routes, serve_routes};
use kelvin_agent::scheduler::{Endpoints, Extender, View};

const USAGE: &str = "usage: extender DATASET [--listen ADDR] [--prefix PATH]";

/// `/healthz` and the scheduler verbs.
struct Served {
    endpoints: Endpoints,
}

impl Routes for Served {
    fn respond(&self, req: &Request) -> Response {
        if let Some(verb) = self.endpoints.verb(&req.path) {
            return self.endpoints.respond(verb, req);
        }
        match req.path.as_str() {
            "/healthz" => Response::text(200, "ok\n"),
            _ => Response::text(404, "not found\n"),
        }
    }

    fn max_body(&self) -> usize {
        kelvin_agent::scheduler::MAX_REQUEST_BYTES
    }
}

fn main() -> ExitCode {
    let mut dataset = None;
    let mut listen = "127.0.0.1:8888".to_string();
    let mut prefix = "/scheduler".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" | "--prefix" => {
                let Some(v) = args.next() else {
                    eprintln!("{a} needs a value\n{USAGE}");
                    return ExitCode::from(2);
                };
                if a == "--listen" {
                    listen = v;
                } else {
                    prefix = v;
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if dataset.is_none() && !a.starts_with("--") => dataset = Some(a),
            _ => {
                eprintln!("unexpected argument {a:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dataset) = dataset else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match serve(&dataset, &listen, &prefix) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("extender: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve(dataset: &str, listen: &str, prefix: &str) -> Result<(), Box<dyn std::error::Error>> {
    let ds = RecordedDataset::load(dataset)?;
    let (engine, _pending) = kelvin_replay::replayed_engine(&ds)?;
    let view = View::from_engine(&engine, None)?;
    let nodes = view.len();
    drop(engine);
    let endpoints = Endpoints::new(prefix, Arc::new(Extender::spawn(view)), true);
    let listener =
        TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    println!("extender: listening on {addr}, {nodes} nodes from {dataset}");
    let routes: Arc<dyn Routes> = Arc::new(Served { endpoints });
    serve_routes(listener, routes, None, Arc::new(AtomicBool::new(false)));
    Ok(())
}
