//! Real components started on loopback for the tests, each stopped when dropped, and the
//! agent itself as a child process.

pub(crate) mod agent;
pub(crate) mod ipmi_sim;
pub(crate) mod node_exporter;
pub(crate) mod prometheus;
pub(crate) mod slurm;
pub(crate) mod snmpd;
