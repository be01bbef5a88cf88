//! The agent against real components on loopback: Prometheus servers, node_exporter,
//! OpenIPMI's simulated BMC, snmpd, an HTTPS Redfish service. Each test skips, saying so, when
//! its component is not installed (`.ci/run` installs them).

mod agent;
mod api;
mod export;
mod extender;
mod hostile;
mod kinds;
mod lab;
mod remote_write;
mod slurm;
mod slurm_energy;
mod sources;
