//! The benchmark scenarios, one file each; `broadcast` is the engine that `pipe`,
//! `fanout` and `latency` share.

pub(crate) mod all;
pub(crate) mod broadcast;
pub(crate) mod fanout;
pub(crate) mod latency;
pub(crate) mod memory;
pub(crate) mod pipe;
pub(crate) mod raw;
pub(crate) mod rooms;

use std::time::Duration;

use crate::backend::Setup;
use crate::peers::{Cluster, ClusterSpec, Impl, Programs};

/// What every scenario needs to start peers.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    pub(crate) programs: Programs,
    /// How long each peer may take to print READY.
    pub(crate) ready_timeout: Duration,
}

impl Env {
    /// Starts a cluster of `nodes` as `setup` says (adapter, kind of Redis).
    pub(crate) async fn cluster(&self, nodes: &[Impl], setup: Setup) -> Result<Cluster, String> {
        let spec = ClusterSpec {
            nodes: nodes.to_vec(),
            setup,
            ready_timeout: self.ready_timeout,
        };
        Cluster::start(&spec, &self.programs).await
    }
}

/// The default warm-up: a tenth of the run, at most 1 000 broadcasts.
pub(crate) fn default_warmup(count: u64) -> u64 {
    (count / 10).min(1000)
}

/// `rust0 → rust1`-style names of a cluster's nodes.
pub(crate) fn node_names(cluster: &Cluster) -> Vec<String> {
    cluster.nodes.iter().map(|n| n.id.clone()).collect()
}
