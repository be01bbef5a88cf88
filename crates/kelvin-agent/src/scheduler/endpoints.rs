//! The Kubernetes scheduler extender's HTTP verbs over an [`Extender`]: `POST
//! {prefix}/filter` answers an [`ExtenderFilterResult`], `POST {prefix}/prioritize` a
//! [`HostPriority`] list (scores 0..=10).
//!
//! A request Kelvin cannot answer is refused with a 4xx and the reason, never a guess: a body
//! that is not the extender's JSON (400, with serde's line and column), a pod whose requests
//! are not Kubernetes quantities or are absurd (400, naming the container and resource),
//! nodes the fleet does not know (400, naming them; configure the extender `ignorable` to
//! let the scheduler go on without Kelvin then). Filter never passes a node it refused:
//! both answer lists are built from the same per-node answers. Every refused node is in
//! `FailedNodes` with the constraint in words; one that evicting pods could not free (too
//! small for the pod even empty) is in `FailedAndUnresolvableNodes` too, which the scheduler
//! reads first.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::extender::{Answer, AskError, Extender, normalised_scores};
use super::k8s::{
    ExtenderArgs, ExtenderFilterResult, HostPriority, MAX_EXTENDER_PRIORITY, PodRequests,
    pod_requests,
};
use crate::http::{Request, Response};

/// The verbs served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `POST {prefix}/filter`: which nodes the pod may go to.
    Filter,
    /// `POST {prefix}/prioritize`: how much Kelvin prefers each.
    Prioritize,
    /// `GET /watcher[?host=NODE]`: the load-watcher document the Trimaran plugins read.
    Watcher,
    /// `GET {prefix}/peaks`: the PEAKS plugin's power models.
    Peaks,
}

/// The extender's endpoints under a path prefix (`/scheduler` by default).
#[derive(Debug)]
pub struct Endpoints {
    prefix: String,
    extender: Arc<Extender>,
    log: bool,
}

impl Endpoints {
    /// The verbs under `prefix` (no trailing slash: `/scheduler` serves
    /// `/scheduler/filter` and `/scheduler/prioritize`), answered by `extender`; with `log`,
    /// each prioritize writes its choice and breakdown to stderr.
    pub fn new(prefix: &str, extender: Arc<Extender>, log: bool) -> Endpoints {
        Endpoints {
            prefix: prefix.trim_end_matches('/').to_string(),
            extender,
            log,
        }
    }

    /// The extender answering.
    pub fn extender(&self) -> &Arc<Extender> {
        &self.extender
    }

    /// The verb `path` names, if it is one of these endpoints.
    pub fn verb(&self, path: &str) -> Option<Verb> {
        if path == "/watcher" {
            return Some(Verb::Watcher);
        }
        match path.strip_prefix(self.prefix.as_str())? {
            "/filter" => Some(Verb::Filter),
            "/prioritize" => Some(Verb::Prioritize),
            "/peaks" => Some(Verb::Peaks),
            _ => None,
        }
    }

    /// Answers `req` for `verb`.
    pub fn respond(&self, verb: Verb, req: &Request) -> Response {
        let post = matches!(verb, Verb::Filter | Verb::Prioritize);
        let method_ok = if post {
            req.method == "POST"
        } else {
            req.method == "GET" || req.method == "HEAD"
        };
        if !method_ok {
            let want = if post { "POST" } else { "GET" };
            return Response::text(405, format!("this verb takes {want}\n"));
        }
        let out = match verb {
            Verb::Filter => self.filter(&req.body),
            Verb::Prioritize => self.prioritize(&req.body),
            Verb::Watcher => self.watcher(&req.query),
            Verb::Peaks => Ok(Response::json(self.extender.peaks())),
        };
        out.unwrap_or_else(|(status, why)| Response::text(status, format!("{why}\n")))
    }

    /// The load-watcher document, whole or for `?host=NODE`.
    ///
    /// # Errors
    /// 503 before the engine has a closed interval of data; 404 for a host it does not know.
    pub fn watcher(&self, query: &str) -> Result<Response, (u16, String)> {
        let Some(doc) = self.extender.watcher() else {
            return Err((503, "no measurements yet".into()));
        };
        match crate::http::param(query, "host") {
            None => to_json(&doc),
            Some(h) => match doc.for_host(h) {
                Some(one) => to_json(&one),
                None => Err((404, format!("host {h:?} is not measured here"))),
            },
        }
    }

    /// The filter verb on a request body: the result as JSON, or a status and a reason.
    ///
    /// # Errors
    /// 400 for a body, pod or node Kelvin cannot read or does not know; 503 when the
    /// placement worker cannot answer.
    pub fn filter(&self, body: &[u8]) -> Result<Response, (u16, String)> {
        let (args, answers) = self.ask(body)?;
        let names = args.candidate_names();
        let mut out = ExtenderFilterResult::default();
        let mut passed = Vec::new();
        for (name, a) in names.iter().zip(&answers) {
            match a {
                Answer::Fits(_) => passed.push(name.to_string()),
                Answer::Blocked {
                    constraint,
                    unresolvable,
                } => {
                    // Every refused node is in `FailedNodes`; one preemption cannot help is
                    // also in `FailedAndUnresolvableNodes`, which the scheduler reads first.
                    let why = format!("kelvin: {constraint}");
                    if *unresolvable {
                        out.failed_and_unresolvable_nodes
                            .insert(name.to_string(), why.clone());
                    }
                    out.failed_nodes.insert(name.to_string(), why);
                }
            }
        }
        match (&args.node_names, &args.nodes) {
            (Some(_), _) => out.node_names = Some(passed),
            (None, Some(list)) => {
                let keep: std::collections::HashSet<&str> =
                    passed.iter().map(String::as_str).collect();
                out.nodes = Some(list.retain_named(|n| keep.contains(n)));
            }
            (None, None) => out.node_names = Some(Vec::new()),
        }
        to_json(&out)
    }

    /// The prioritize verb on a request body: a score per node, 0..=10, higher is better.
    ///
    /// # Errors
    /// As [`Endpoints::filter`].
    pub fn prioritize(&self, body: &[u8]) -> Result<Response, (u16, String)> {
        let (args, answers) = self.ask(body)?;
        let names = args.candidate_names();
        let scores = normalised_scores(&answers, MAX_EXTENDER_PRIORITY);
        if self.log {
            log_choice(&args, &names, &answers, &scores);
        }
        let list: Vec<HostPriority> = names
            .iter()
            .zip(scores)
            .map(|(n, score)| HostPriority {
                host: n.to_string(),
                score,
            })
            .collect();
        to_json(&list)
    }

    /// Reads the request and asks the extender about its pod on its nodes.
    fn ask(&self, body: &[u8]) -> Result<(ExtenderArgs, Vec<Answer>), (u16, String)> {
        let args: ExtenderArgs = serde_json::from_slice(body)
            .map_err(|e| (400, format!("not an ExtenderArgs JSON body: {e}")))?;
        if let Some(list) = &args.nodes
            && args.node_names.is_none()
            && let Some(i) = list.names().position(|n| n.is_none())
        {
            return Err((400, format!("Nodes.items[{i}] has no metadata.name")));
        }
        let requests =
            pod_requests(&args.pod).map_err(|e| (400, format!("pod {}: {e}", pod_name(&args))))?;
        let demand = demand_of(&requests, self.extender.dims());
        let names: Vec<String> = args
            .candidate_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        let answers = self.extender.ask(names, demand).map_err(|e| match e {
            AskError::Unavailable(_) => (503, e.to_string()),
            _ => (400, format!("pod {}: {e}", pod_name(&args))),
        })?;
        Ok((args, answers))
    }
}

/// The maximum request body the verbs read: a `Nodes` list of 5,000 whole node objects runs
/// to tens of megabytes.
pub const MAX_REQUEST_BYTES: usize = 64 << 20;

fn pod_name(args: &ExtenderArgs) -> String {
    let m = &args.pod.metadata;
    match (m.namespace.as_str(), m.name.as_str()) {
        ("", "") => "(unnamed)".into(),
        ("", n) => n.into(),
        (ns, n) => format!("{ns}/{n}"),
    }
}

/// The pod's requests as a demand over the fleet's dimensions (`cpu` cores, `memory_gib`,
/// `gpus`; a dimension Kelvin does not know asks for 0).
pub fn demand_of(r: &PodRequests, dims: &[String]) -> Vec<f64> {
    dims.iter()
        .map(|d| match d.as_str() {
            "cpu" => r.cpu_cores,
            "memory_gib" => r.memory_bytes as f64 / f64::from(1u32 << 30),
            "gpus" => r.gpus() as f64,
            _ => 0.0,
        })
        .collect()
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Response, (u16, String)> {
    serde_json::to_string(v)
        .map(Response::json)
        .map_err(|e| (500, format!("writing the answer: {e}")))
}

/// One line per prioritize: the pod, the preferred node and what placing it there changes,
/// the runner-up, and how many nodes were refused by which constraint.
fn log_choice(args: &ExtenderArgs, names: &[&str], answers: &[Answer], scores: &[i64]) {
    let mut fits: Vec<(usize, f64)> = answers
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Answer::Fits(b) => Some((i, b.score)),
            Answer::Blocked { .. } => None,
        })
        .collect();
    fits.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut refused: BTreeMap<&str, usize> = BTreeMap::new();
    for a in answers {
        if let Answer::Blocked { constraint, .. } = a {
            *refused.entry(constraint.as_str()).or_default() += 1;
        }
    }
    let best = fits.first().and_then(|(i, _)| match &answers[*i] {
        Answer::Fits(b) => Some(format!(
            "{} score {} (+{:.1} W IT, +{:.1} W cooling, +{:.1} gCO2e/h, stranded {:+.3}, \
             objective +{:.3})",
            names[*i], scores[*i], b.it_w, b.cooling_w, b.carbon_g_per_h, b.stranded, b.score
        )),
        Answer::Blocked { .. } => None,
    });
    let runner_up = fits
        .get(1)
        .map(|(i, s)| format!("; runner-up {} (objective +{s:.3})", names[*i]))
        .unwrap_or_default();
    let refused: Vec<String> = refused.iter().map(|(c, n)| format!("{c} on {n}")).collect();
    eprintln!(
        "kelvin-agent: prioritize {}: {}{runner_up}; {} of {} nodes fit{}",
        pod_name(args),
        best.unwrap_or_else(|| "no node fits".into()),
        fits.len(),
        answers.len(),
        if refused.is_empty() {
            String::new()
        } else {
            format!("; refused: {}", refused.join(", "))
        }
    );
}
