//! Presence across nodes: each node keeps the set of users it has online and a heartbeat key
//! with a TTL, so the users of a node that died turn offline once its heartbeat expires.

use std::collections::HashSet;
use std::sync::Arc;

use redis::AsyncCommands;

use super::{RedisRelay, RelayHooks, Result, HEARTBEAT_EVERY, NODE_TTL_SECS};
use crate::domain::ids::UserId;

impl RedisRelay {
    /// Keeps this node's heartbeat alive and sweeps nodes whose heartbeat expired.
    pub(super) async fn heartbeat(self: Arc<Self>, hooks: Arc<dyn RelayHooks>) {
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        loop {
            tick.tick().await;
            self.settle_lost_invalidations().await;
            if let Err(e) = self.beat().await {
                tracing::warn!(error = %e, "relay heartbeat failed");
                continue;
            }
            // Redis keeps nothing across a restart: put this node's online users back
            let local = hooks.local_users();
            if !matches!(self.online_count_matches(local.len()).await, Ok(true)) {
                if let Err(e) = self.restore_online(local).await {
                    tracing::warn!(error = %e, "relay could not restore online users");
                }
            }
            match self.sweep_dead_nodes().await {
                Ok(users) if !users.is_empty() => hooks.users_gone(users).await,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "relay sweep failed"),
            }
        }
    }

    async fn beat(&self) -> Result<()> {
        let (nodes, alive, node) = (
            self.nodes_key(),
            self.alive_key(&self.node_id),
            self.node_id.clone(),
        );
        self.run(|mut c| async move {
            redis::pipe()
                .sadd(&nodes, &node)
                .ignore()
                .set_ex(&alive, 1, NODE_TTL_SECS)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Claims each dead node (one node wins the SREM) and returns the users it had online.
    async fn sweep_dead_nodes(&self) -> Result<Vec<UserId>> {
        let nodes_key = self.nodes_key();
        let nodes: Vec<String> = self
            .run(|mut c| async move { c.smembers(nodes_key).await })
            .await?;
        let mut orphaned = Vec::new();
        for node in nodes.into_iter().filter(|n| *n != self.node_id) {
            let alive_key = self.alive_key(&node);
            let alive: bool = self
                .run(|mut c| async move { c.exists(alive_key).await })
                .await?;
            if alive {
                continue;
            }
            let nodes_key = self.nodes_key();
            let n = node.clone();
            let claimed: i64 = self
                .run(|mut c| async move { c.srem(nodes_key, n).await })
                .await?;
            if claimed == 1 {
                let online_key = self.online_key(&node);
                let users: Vec<UserId> = self
                    .run(|mut c| async move {
                        let users: Vec<i64> = c.smembers(&online_key).await?;
                        let _: i64 = c.del(&online_key).await?;
                        Ok(users.into_iter().map(UserId).collect::<Vec<_>>())
                    })
                    .await?;
                tracing::info!(node = %node, users = users.len(), "node expired; its users are offline");
                orphaned.extend(users);
            }
        }
        Ok(orphaned)
    }

    /// Records that this node has `user_id` online.
    pub async fn mark_online(&self, user_id: UserId) -> Result<()> {
        let key = self.online_key(&self.node_id);
        self.run(|mut c| async move { c.sadd::<_, _, i64>(key, user_id.0).await })
            .await
            .map(|_| ())
    }

    pub async fn mark_offline(&self, user_id: UserId) -> Result<()> {
        let key = self.online_key(&self.node_id);
        self.run(|mut c| async move { c.srem::<_, _, i64>(key, user_id.0).await })
            .await
            .map(|_| ())
    }

    /// Which of `users` are online on some other live node.
    pub async fn online_elsewhere(&self, users: &[UserId]) -> Result<HashSet<UserId>> {
        let mut online = HashSet::new();
        if users.is_empty() {
            return Ok(online);
        }
        let nodes_key = self.nodes_key();
        let nodes: Vec<String> = self
            .run(|mut c| async move { c.smembers(nodes_key).await })
            .await?;
        for node in nodes.into_iter().filter(|n| *n != self.node_id) {
            let key = self.online_key(&node);
            let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
            let flags: Vec<bool> = self
                .run(|mut c| async move {
                    redis::cmd("SMISMEMBER")
                        .arg(key)
                        .arg(ids)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            online.extend(
                users
                    .iter()
                    .zip(flags)
                    .filter(|(_, on)| *on)
                    .map(|(u, _)| *u),
            );
        }
        Ok(online)
    }

    /// Rewrites this node's online set (after Redis lost its data, e.g. a restart).
    pub async fn restore_online(&self, users: Vec<UserId>) -> Result<()> {
        let key = self.online_key(&self.node_id);
        self.run(|mut c| async move {
            let mut pipe = redis::pipe();
            pipe.atomic().del(&key).ignore();
            if !users.is_empty() {
                pipe.sadd(&key, users.iter().map(|u| u.0).collect::<Vec<i64>>())
                    .ignore();
            }
            pipe.query_async::<()>(&mut c).await
        })
        .await
    }

    pub async fn online_count_matches(&self, local: usize) -> Result<bool> {
        let key = self.online_key(&self.node_id);
        let n: usize = self.run(|mut c| async move { c.scard(key).await }).await?;
        Ok(n == local)
    }
}
