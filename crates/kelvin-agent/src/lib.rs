//! Kelvin's agent: live sources polled on their own schedules into a durable live engine, and
//! what the engine knows sent out as Prometheus metrics, remote write and a bills API.
//!
//! The binary (`kelvin-agent --config FILE`) is [`launch::run_file`]: a thin composition of
//! these modules, which an embedder can reuse one by one — [`config`] (the file), [`sources`]
//! and [`exec`] (polling each kind), [`schedule`] (every source on its own clock),
//! [`agent`] (the engine loop and its snapshot), [`book`] and [`exposition`] (metrics),
//! [`http`] (the endpoints), [`remote_write`] and [`export`] (the fleet layout on a schedule).

pub mod agent;
pub mod book;
pub mod config;
pub mod exec;
pub mod export;
pub mod exposition;
pub mod http;
pub mod launch;
pub mod remote_write;
pub mod schedule;
pub mod scheduler;
pub mod sources;
