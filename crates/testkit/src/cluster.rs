//! A Redis Cluster of `redis-server` processes, created with
//! `redis-cli --cluster create`.

use std::fs::File;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Result, TestkitError};
use crate::resp::RespValue;
use crate::server::{Credentials, RedisServer, RedisServerBuilder};
use crate::util::{self, POLL_INTERVAL, TempDir};
use sio_redis_transport::slot::{SLOT_COUNT, key_slot};

/// The program that creates the cluster, looked up on `PATH`.
const REDIS_CLI: &str = "redis-cli";

/// Default of [`RedisClusterBuilder::ready_timeout`]: 30 s.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of [`RedisClusterBuilder::node_timeout`]: 2000 ms.
const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_millis(2000);

/// Lines of each node's log included in [`TestkitError::ClusterNotReady`]
/// when creation fails.
const ERROR_LOG_LINES: usize = 15;

/// Options for [`RedisCluster`]; created by [`RedisCluster::builder`],
/// consumed by [`RedisClusterBuilder::start`].
#[derive(Debug, Clone)]
pub struct RedisClusterBuilder {
    primaries: usize,
    replicas_per_primary: usize,
    node_timeout: Duration,
    ready_timeout: Duration,
    node: RedisServerBuilder,
}

impl Default for RedisClusterBuilder {
    fn default() -> Self {
        RedisClusterBuilder {
            primaries: 3,
            replicas_per_primary: 1,
            node_timeout: DEFAULT_NODE_TIMEOUT,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            node: RedisServerBuilder::default(),
        }
    }
}

impl RedisClusterBuilder {
    /// Number of primaries (each owns an equal share of the 16384 slots).
    /// At least 3 (`redis-cli --cluster create` refuses fewer). Default: 3.
    pub fn primaries(mut self, n: usize) -> Self {
        self.primaries = n;
        self
    }

    /// Number of replicas per primary. Default: 1.
    pub fn replicas_per_primary(mut self, n: usize) -> Self {
        self.replicas_per_primary = n;
        self
    }

    /// `cluster-node-timeout`: how long a node may be unreachable before it
    /// is considered failing (and a replica takes over). Whole milliseconds.
    /// Default: 2000 ms.
    pub fn node_timeout(mut self, timeout: Duration) -> Self {
        self.node_timeout = timeout;
        self
    }

    /// How long [`RedisClusterBuilder::start`] (including `redis-cli`) and
    /// [`RedisCluster::failover`] wait for the cluster to settle. Default: 30 s.
    /// Each node also gets this as its own startup timeout.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Adds one `redis.conf` line to every node; see
    /// [`RedisServerBuilder::config`].
    pub fn config(mut self, line: impl Into<String>) -> Self {
        self.node = self.node.config(line);
        self
    }

    /// Appends one command-line argument to every node; see
    /// [`RedisServerBuilder::arg`].
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.node = self.node.arg(arg);
        self
    }

    /// Protects every node with `password` (`--requirepass`, and
    /// `--masterauth` so replicas can sync); the kit and `redis-cli`
    /// authenticate with it.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        let password = password.into();
        self.node = self
            .node
            .password(password.clone())
            .arg("--masterauth")
            .arg(password);
        self
    }

    /// The ACL user the kit and `redis-cli` authenticate as; see
    /// [`RedisServerBuilder::credentials`]. Replication credentials
    /// (`masteruser`, `masterauth`) must be configured with
    /// [`RedisClusterBuilder::config`].
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.node = self.node.credentials(user, password);
        self
    }

    /// Starts the nodes, runs `redis-cli --cluster create … --cluster-replicas
    /// R --cluster-yes`, and waits until every node reports
    /// `cluster_state:ok`, knows every node, sees all 16384 slots assigned and
    /// agrees on the primaries and replicas, and every replica's link to its
    /// primary is up.
    ///
    /// # Errors
    ///
    /// * [`TestkitError::InvalidConfig`] for fewer than 3 primaries;
    /// * any error of [`RedisServerBuilder::start`] for a node;
    /// * [`TestkitError::BinaryNotFound`] if `redis-cli` is missing;
    /// * [`TestkitError::ClusterCreate`] if `redis-cli` fails or hangs;
    /// * [`TestkitError::ClusterNotReady`] if the cluster does not settle.
    pub fn start(self) -> Result<RedisCluster> {
        if self.primaries < 3 {
            return Err(TestkitError::InvalidConfig(format!(
                "a Redis Cluster needs at least 3 primaries, got {}",
                self.primaries
            )));
        }
        let node_timeout_ms = u64::try_from(self.node_timeout.as_millis()).unwrap_or(u64::MAX);
        let total = self.primaries * (1 + self.replicas_per_primary);
        let start = Instant::now();
        let dir = TempDir::new("cluster")?;
        let mut nodes = Vec::with_capacity(total);
        for _ in 0..total {
            let node = self
                .node
                .clone()
                .ready_timeout(self.ready_timeout)
                .cluster_node(node_timeout_ms);
            nodes.push(node.start()?);
        }
        let cluster = RedisCluster {
            nodes,
            dir,
            primaries: self.primaries,
            replicas_per_primary: self.replicas_per_primary,
            ready_timeout: self.ready_timeout,
            credentials: self.node.credentials_ref().cloned(),
        };
        cluster.create(start + self.ready_timeout)?;
        cluster.wait_settled(start, start + self.ready_timeout, |_| Ok(()))?;
        Ok(cluster)
    }
}

/// A running Redis Cluster on `127.0.0.1`: by default 3 primaries and 3
/// replicas, each a [`RedisServer`] on its own free port.
///
/// Dropping it kills and reaps every node and removes the temp dirs; if the
/// thread is panicking, each node's log tail is printed first (see
/// [`RedisServer`]), and so is the `redis-cli --cluster create` output.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    dir: TempDir,
    primaries: usize,
    replicas_per_primary: usize,
    ready_timeout: Duration,
    credentials: Option<Credentials>,
}

impl RedisCluster {
    /// Starts a cluster with default options (3 primaries, 1 replica each);
    /// see [`RedisClusterBuilder::start`].
    ///
    /// # Errors
    ///
    /// As for [`RedisClusterBuilder::start`].
    pub fn start() -> Result<RedisCluster> {
        RedisCluster::builder().start()
    }

    /// Options for a cluster.
    pub fn builder() -> RedisClusterBuilder {
        RedisClusterBuilder::default()
    }

    /// Every node, in start order (not by role; see
    /// [`RedisCluster::primaries`]).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Every node, mutably: to stop, kill or restart one.
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// The running nodes whose `ROLE` is `master`, in start order.
    ///
    /// # Errors
    ///
    /// As for [`RedisServer::command`]; [`TestkitError::UnexpectedReply`] if
    /// `ROLE` is refused.
    pub fn primaries(&self) -> Result<Vec<&RedisServer>> {
        self.nodes_with_role("master")
    }

    /// The running nodes whose `ROLE` is `slave`, in start order.
    ///
    /// # Errors
    ///
    /// As for [`RedisCluster::primaries`].
    pub fn replicas(&self) -> Result<Vec<&RedisServer>> {
        self.nodes_with_role("slave")
    }

    /// `redis://127.0.0.1:<port>` of every node, in start order: seed URLs
    /// for a cluster client.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The URL of the first node.
    pub fn seed_url(&self) -> String {
        self.nodes[0].url()
    }

    /// Waits (polling every 20 ms, up to the ready timeout) until the cluster
    /// is healthy again, by the same checks as [`RedisClusterBuilder::start`]:
    /// e.g. after restarting a node with [`RedisCluster::nodes_mut`]. Never
    /// succeeds while a node is stopped (the others flag it as failing).
    ///
    /// # Errors
    ///
    /// [`TestkitError::ClusterNotReady`] with the last unmet condition and
    /// each node's log tail.
    pub fn wait_healthy(&self) -> Result<()> {
        let start = Instant::now();
        self.wait_settled(start, start + self.ready_timeout, |_| Ok(()))
    }

    /// The primary that serves hash `slot` (`0..16384`), according to
    /// `CLUSTER SLOTS` on the first running node that answers.
    ///
    /// # Errors
    ///
    /// [`TestkitError::InvalidConfig`] for a slot ≥ 16384;
    /// [`TestkitError::UnexpectedReply`] if no node maps the slot to one of
    /// this cluster's nodes; I/O errors if no node answers.
    pub fn node_for_slot(&self, slot: u16) -> Result<&RedisServer> {
        if slot >= SLOT_COUNT {
            return Err(TestkitError::InvalidConfig(format!(
                "slot {slot} is not below 16384"
            )));
        }
        let mut last_err = None;
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            let reply = match node.command_ok(&["CLUSTER", "SLOTS"]) {
                Ok(reply) => reply,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let port = slot_owner_port(&reply, slot);
            if let Some(found) = port.and_then(|p| self.nodes.iter().find(|n| n.port() == p)) {
                return Ok(found);
            }
            last_err = Some(node.unexpected("CLUSTER SLOTS", &reply));
        }
        Err(last_err.unwrap_or(TestkitError::NotRunning {
            port: self.nodes[0].port(),
        }))
    }

    /// The primary that serves `key`'s slot (see [`crate::key_slot`]).
    ///
    /// # Errors
    ///
    /// As for [`RedisCluster::node_for_slot`].
    pub fn node_for_key(&self, key: &[u8]) -> Result<&RedisServer> {
        self.node_for_slot(key_slot(key))
    }

    /// Promotes the replica `replicas()[replica_index]` with
    /// `CLUSTER FAILOVER`, waits until its `ROLE` is `master`, the old primary's is not, and the cluster
    /// has settled again (same checks as at start), and returns it.
    ///
    /// # Errors
    ///
    /// [`TestkitError::InvalidConfig`] if there is no such replica;
    /// [`TestkitError::UnexpectedReply`] if `CLUSTER FAILOVER` is refused;
    /// [`TestkitError::ClusterNotReady`] if it does not complete within the
    /// ready timeout.
    pub fn failover(&self, replica_index: usize) -> Result<&RedisServer> {
        let replicas = self.replicas()?;
        let Some(replica) = replicas.get(replica_index).copied() else {
            return Err(TestkitError::InvalidConfig(format!(
                "replica index {replica_index} out of range: {} replicas",
                replicas.len()
            )));
        };
        replica.command_ok(&["CLUSTER", "FAILOVER"])?;
        let start = Instant::now();
        self.wait_settled(start, start + self.ready_timeout, |_| {
            match role(replica)?.as_str() {
                "master" => {}
                other => return Err(format!("{}: ROLE is still {other}", replica.addr())),
            }
            // The old primary turns replica a moment after the promotion.
            let primaries = self.primaries().map_err(|e| e.to_string())?.len();
            if primaries == self.primaries {
                Ok(())
            } else {
                Err(format!(
                    "{primaries} nodes report ROLE master, not yet {}",
                    self.primaries
                ))
            }
        })?;
        Ok(replica)
    }

    /// Starts moving hash `slot` from its current primary to `target` (a
    /// primary of this cluster): `CLUSTER SETSLOT <slot> IMPORTING` on the
    /// target, `MIGRATING` on the source, then every key of the slot is moved
    /// with `MIGRATE` (100 keys per command). Keyed commands for keys of the
    /// slot that are already on the target now get `ASK` from the source.
    /// Returns the source. Finish with [`RedisCluster::finish_migration`].
    ///
    /// # Errors
    ///
    /// [`TestkitError::InvalidConfig`] if `target` already serves the slot;
    /// [`TestkitError::UnexpectedReply`] if a command is refused.
    pub fn begin_migration(&self, slot: u16, target: &RedisServer) -> Result<&RedisServer> {
        let source = self.node_for_slot(slot)?;
        if source.port() == target.port() {
            return Err(TestkitError::InvalidConfig(format!(
                "{} already serves slot {slot}",
                target.addr()
            )));
        }
        let ids = MoveIds::of(source, target)?;
        start_move(slot, source, target, &ids)?;
        Ok(source)
    }

    /// Ends a migration started with [`RedisCluster::begin_migration`]:
    /// `CLUSTER SETSLOT <slot> NODE <target>` on the target, then on the
    /// source, then on every other primary, and waits until every running
    /// node's `CLUSTER SLOTS` names the target (polling every 20 ms, up to the
    /// ready timeout).
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnexpectedReply`] if a command is refused;
    /// [`TestkitError::ClusterNotReady`] if the nodes do not agree in time.
    pub fn finish_migration(
        &self,
        slot: u16,
        source: &RedisServer,
        target: &RedisServer,
    ) -> Result<()> {
        let target_id = node_id(target)?;
        assign_slot(slot, source, target, &target_id, &self.primaries()?)?;
        self.wait_owner(std::slice::from_ref(&slot), target)
    }

    /// Moves hash `slot` to `target`: [`RedisCluster::begin_migration`] then
    /// [`RedisCluster::finish_migration`].
    ///
    /// # Errors
    ///
    /// As for those two.
    pub fn migrate_slot(&self, slot: u16, target: &RedisServer) -> Result<()> {
        let source = self.begin_migration(slot, target)?;
        self.finish_migration(slot, source, target)
    }

    /// Moves every slot of `slots` from `source` to `target` (both primaries
    /// of this cluster) the way `redis-cli --cluster reshard` does: one slot
    /// after the other, each with the steps of
    /// [`RedisCluster::begin_migration`] (`IMPORTING` on the target,
    /// `MIGRATING` on the source, its keys moved with `MIGRATE`) then the
    /// `SETSLOT <slot> NODE <target>` of [`RedisCluster::finish_migration`]
    /// (target, source, every other primary), without waiting in between.
    /// Once the last slot is assigned, waits until every running node's
    /// `CLUSTER SLOTS` names the target for all of them (polling every 20 ms,
    /// up to the ready timeout).
    ///
    /// # Errors
    ///
    /// [`TestkitError::InvalidConfig`] if `slots` is empty, reaches 16384, or
    /// holds a slot that `source`'s `CLUSTER SLOTS` does not assign to
    /// `source`, or if source and target are one node (checked before
    /// anything moves);
    /// [`TestkitError::UnexpectedReply`] if a command is refused (the slots
    /// before it have moved);
    /// [`TestkitError::ClusterNotReady`] if the nodes do not agree in time.
    pub fn migrate_slots(
        &self,
        slots: std::ops::RangeInclusive<u16>,
        source: &RedisServer,
        target: &RedisServer,
    ) -> Result<()> {
        if slots.is_empty() || *slots.end() >= SLOT_COUNT {
            return Err(TestkitError::InvalidConfig(format!(
                "slots {slots:?}: not a range of slots below 16384"
            )));
        }
        if source.port() == target.port() {
            return Err(TestkitError::InvalidConfig(format!(
                "source and target are the same node {}",
                source.addr()
            )));
        }
        let map = source.command_ok(&["CLUSTER", "SLOTS"])?;
        if let Some(slot) = slots
            .clone()
            .find(|s| slot_owner_port(&map, *s) != Some(source.port()))
        {
            return Err(TestkitError::InvalidConfig(format!(
                "{} does not serve slot {slot}",
                source.addr()
            )));
        }
        let ids = MoveIds::of(source, target)?;
        let primaries = self.primaries()?;
        for slot in slots.clone() {
            start_move(slot, source, target, &ids)?;
            assign_slot(slot, source, target, &ids.target, &primaries)?;
        }
        self.wait_owner(&slots.collect::<Vec<_>>(), target)
    }

    /// Waits (polling every 20 ms, up to the ready timeout) until the cluster
    /// is settled and every running node's `CLUSTER SLOTS` names `target` for
    /// each of `slots`.
    fn wait_owner(&self, slots: &[u16], target: &RedisServer) -> Result<()> {
        let start = Instant::now();
        self.wait_settled(start, start + self.ready_timeout, |_| {
            for node in self.nodes.iter().filter(|n| n.is_running()) {
                let reply = node
                    .command_ok(&["CLUSTER", "SLOTS"])
                    .map_err(|e| e.to_string())?;
                if let Some(slot) = slots
                    .iter()
                    .find(|s| slot_owner_port(&reply, **s) != Some(target.port()))
                {
                    return Err(format!(
                        "{} does not name the new owner of slot {slot} yet",
                        node.addr()
                    ));
                }
            }
            Ok(())
        })
    }

    /// [`RedisServer::kill_clients`] on every running node; returns the total
    /// number of connections closed.
    ///
    /// # Errors
    ///
    /// As for [`RedisServer::kill_clients`].
    pub fn kill_clients(&self) -> Result<u64> {
        let mut total = 0;
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            total += node.kill_clients()?;
        }
        Ok(total)
    }

    /// Every node's [`RedisServer::logs`], each under a header with its port,
    /// then the `redis-cli --cluster create` output.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out.push_str(&format!(
                "===== redis-server 127.0.0.1:{} =====\n",
                node.port()
            ));
            out.push_str(&node.logs());
        }
        out.push_str("===== redis-cli --cluster create =====\n");
        out.push_str(&self.create_output());
        out
    }

    fn create_log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("cluster-create.log")
    }

    fn create_output(&self) -> String {
        util::read_lossy(&self.create_log_path())
    }

    /// Runs `redis-cli --cluster create`, killing it at `deadline`.
    fn create(&self, deadline: Instant) -> Result<()> {
        let path = self.create_log_path();
        let out = File::create(&path).map_err(|source| TestkitError::TempDir {
            path: path.clone(),
            source,
        })?;
        let err = out
            .try_clone()
            .map_err(|source| TestkitError::TempDir { path, source })?;
        let mut cmd = Command::new(REDIS_CLI);
        cmd.args(["--cluster", "create"])
            .args(self.nodes.iter().map(|n| n.addr().to_string()))
            .args([
                "--cluster-replicas",
                &self.replicas_per_primary.to_string(),
                "--cluster-yes",
            ])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(c) = &self.credentials {
            cmd.env("REDISCLI_AUTH", &c.password);
            if let Some(user) = &c.user {
                cmd.args(["--user", user]);
            }
        }
        let mut child = cmd.spawn().map_err(|e| util::spawn_error(REDIS_CLI, e))?;
        let pid = child.id();
        let status = util::wait_until(&mut child, deadline);
        let status = match status {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => status.to_string(),
            Ok(None) => {
                util::kill_and_reap(&mut child);
                "did not finish before the ready timeout; killed".to_owned()
            }
            Err(source) => {
                util::kill_and_reap(&mut child);
                return Err(TestkitError::Process {
                    pid,
                    action: "wait for",
                    source,
                });
            }
        };
        Err(TestkitError::ClusterCreate {
            status,
            output: self.create_output(),
        })
    }

    fn nodes_with_role(&self, wanted: &str) -> Result<Vec<&RedisServer>> {
        let mut found = Vec::new();
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            let reply = node.command_ok(&["ROLE"])?;
            let kind = reply
                .as_array()
                .and_then(|a| a.first())
                .and_then(RespValue::as_str);
            match kind {
                Some(kind) if kind == wanted => found.push(node),
                Some(_) => {}
                None => return Err(node.unexpected("ROLE", &reply)),
            }
        }
        Ok(found)
    }

    /// Polls every 20 ms until [`RedisCluster::settled`] and `extra` both
    /// hold, or `deadline` passes.
    fn wait_settled(
        &self,
        start: Instant,
        deadline: Instant,
        extra: impl Fn(&RedisCluster) -> Result<(), String>,
    ) -> Result<()> {
        loop {
            let detail = match self.settled().and_then(|()| extra(self)) {
                Ok(()) => return Ok(()),
                Err(detail) => detail,
            };
            if Instant::now() >= deadline {
                let mut detail = detail;
                for node in &self.nodes {
                    detail.push_str(&format!(
                        "\n--- 127.0.0.1:{} log tail ---\n{}",
                        node.port(),
                        node.log_tail(ERROR_LOG_LINES)
                    ));
                }
                return Err(TestkitError::ClusterNotReady {
                    waited_ms: util::elapsed_ms(start),
                    detail,
                });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// `Ok` if every running node reports `cluster_state:ok`, knows every
    /// node, sees all slots assigned, lists the expected number of healthy
    /// primaries and replicas in `CLUSTER NODES`, and (for a replica) has its
    /// link to the primary up. Otherwise the first unmet condition.
    fn settled(&self) -> Result<(), String> {
        let total = self.nodes.len();
        let want_replicas = self.primaries * self.replicas_per_primary;
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            let addr = node.addr();
            let info = text_reply(node, &["CLUSTER", "INFO"])?;
            for (field, want) in [
                ("cluster_state", "ok".to_owned()),
                ("cluster_known_nodes", total.to_string()),
                ("cluster_slots_assigned", SLOT_COUNT.to_string()),
            ] {
                let got = info_field(&info, field).unwrap_or("<missing>");
                if got != want {
                    return Err(format!("{addr}: {field}:{got}, want {want}"));
                }
            }
            let view = text_reply(node, &["CLUSTER", "NODES"])?;
            let (mut primaries, mut replicas) = (0, 0);
            for line in view.lines().filter(|l| !l.trim().is_empty()) {
                let flags = line.split(' ').nth(2).unwrap_or("");
                let unhealthy = flags
                    .split(',')
                    .any(|f| matches!(f, "fail" | "fail?" | "handshake" | "noaddr"));
                if unhealthy {
                    return Err(format!(
                        "{addr}: CLUSTER NODES has an unhealthy node: {line}"
                    ));
                }
                if flags.split(',').any(|f| f == "master") {
                    primaries += 1;
                } else if flags.split(',').any(|f| f == "slave") {
                    replicas += 1;
                }
            }
            if (primaries, replicas) != (self.primaries, want_replicas) {
                return Err(format!(
                    "{addr}: CLUSTER NODES lists {primaries} primaries and {replicas} replicas, \
                     want {} and {want_replicas}",
                    self.primaries
                ));
            }
            let reply = node
                .command_ok(&["ROLE"])
                .map_err(|e| format!("{addr}: ROLE: {e}"))?;
            let items = reply.as_array().unwrap_or_default();
            if items.first().and_then(RespValue::as_str) == Some("slave") {
                let state = items
                    .get(3)
                    .and_then(RespValue::as_str)
                    .unwrap_or("<missing>");
                if state != "connected" {
                    return Err(format!("{addr}: replica link state is {state}"));
                }
            }
        }
        Ok(())
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "===== redis-cli --cluster create output =====\n{}",
                util::tail(&self.create_output(), crate::server::PANIC_LOG_LINES)
            );
        }
        // The nodes print their own logs and are killed by their own Drop.
    }
}

/// The first element of `ROLE`: `master`, `slave` or `sentinel`.
fn role(node: &RedisServer) -> Result<String, String> {
    let reply = node
        .command_ok(&["ROLE"])
        .map_err(|e| format!("{}: ROLE: {e}", node.addr()))?;
    reply
        .as_array()
        .and_then(|a| a.first())
        .and_then(RespValue::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{}: ROLE reply {reply:?}", node.addr()))
}

/// Runs a command whose reply is a text blob (`CLUSTER INFO`, `CLUSTER NODES`).
fn text_reply(node: &RedisServer, args: &[&str]) -> Result<String, String> {
    let addr = node.addr();
    let reply = node
        .command_ok(args)
        .map_err(|e| format!("{addr}: {}: {e}", args.join(" ")))?;
    reply
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{addr}: {}: reply {reply:?}", args.join(" ")))
}

/// The value of `field:` in an `INFO`-style text.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
}

/// The port of the primary that `CLUSTER SLOTS` assigns `slot` to.
fn slot_owner_port(reply: &RespValue, slot: u16) -> Option<u16> {
    reply.as_array()?.iter().find_map(|range| {
        let range = range.as_array()?;
        let (lo, hi) = (range.first()?.as_int()?, range.get(1)?.as_int()?);
        if !(lo..=hi).contains(&i64::from(slot)) {
            return None;
        }
        let primary = range.get(2)?.as_array()?;
        u16::try_from(primary.get(1)?.as_int()?).ok()
    })
}

/// The node ids of a slot move's source and target.
struct MoveIds {
    source: String,
    target: String,
}

impl MoveIds {
    fn of(source: &RedisServer, target: &RedisServer) -> Result<MoveIds> {
        Ok(MoveIds {
            source: node_id(source)?,
            target: node_id(target)?,
        })
    }
}

/// The first half of one slot's move: `CLUSTER SETSLOT <slot> IMPORTING` on
/// the target, `MIGRATING` on the source, then every key of the slot moved
/// with `MIGRATE` (100 keys per command).
fn start_move(slot: u16, source: &RedisServer, target: &RedisServer, ids: &MoveIds) -> Result<()> {
    let slot_text = slot.to_string();
    target.command_ok(&["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &ids.source])?;
    source.command_ok(&["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &ids.target])?;
    let port = target.port().to_string();
    loop {
        let keys = source.command_ok(&["CLUSTER", "GETKEYSINSLOT", &slot_text, "100"])?;
        let keys: Vec<String> = keys
            .as_array()
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        args.extend(keys.iter().map(String::as_str));
        source.command_ok(&args)?;
    }
}

/// The second half of one slot's move: `CLUSTER SETSLOT <slot> NODE
/// <target>` on the target, then on the source, then on every other primary
/// of `primaries` (as `redis-cli` does).
fn assign_slot(
    slot: u16,
    source: &RedisServer,
    target: &RedisServer,
    target_id: &str,
    primaries: &[&RedisServer],
) -> Result<()> {
    let slot_text = slot.to_string();
    let setslot = ["CLUSTER", "SETSLOT", &slot_text, "NODE", target_id];
    target.command_ok(&setslot)?;
    source.command_ok(&setslot)?;
    for node in primaries {
        if node.port() != target.port() && node.port() != source.port() {
            node.command_ok(&setslot)?;
        }
    }
    Ok(())
}

/// `CLUSTER MYID` of a node.
fn node_id(node: &RedisServer) -> Result<String> {
    let reply = node.command_ok(&["CLUSTER", "MYID"])?;
    match reply.as_str() {
        Some(id) => Ok(id.to_owned()),
        None => Err(node.unexpected("CLUSTER MYID", &reply)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields() {
        let info = "cluster_state:ok\r\ncluster_slots_assigned:16384\r\n";
        assert_eq!(info_field(info, "cluster_state"), Some("ok"));
        assert_eq!(info_field(info, "cluster_slots_assigned"), Some("16384"));
        assert_eq!(info_field(info, "cluster_size"), None);
    }

    #[test]
    fn slot_owner() {
        let node = |port| {
            RespValue::Array(vec![
                RespValue::Bulk(b"127.0.0.1".to_vec()),
                RespValue::Integer(port),
                RespValue::Bulk(b"id".to_vec()),
            ])
        };
        let reply = RespValue::Array(vec![
            RespValue::Array(vec![
                RespValue::Integer(0),
                RespValue::Integer(5460),
                node(7000),
            ]),
            RespValue::Array(vec![
                RespValue::Integer(5461),
                RespValue::Integer(16383),
                node(7001),
                node(7004),
            ]),
        ]);
        assert_eq!(slot_owner_port(&reply, 0), Some(7000));
        assert_eq!(slot_owner_port(&reply, 5461), Some(7001));
        assert_eq!(slot_owner_port(&reply, 16383), Some(7001));
    }

    #[test]
    fn fewer_than_three_primaries_is_refused() {
        let err = RedisCluster::builder().primaries(2).start().unwrap_err();
        assert!(matches!(err, TestkitError::InvalidConfig(_)), "{err}");
    }
}
