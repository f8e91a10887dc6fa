//! Presence: who is online on any node, told to their contacts on first open and last close.

use crate::db::queries::{self};
use crate::domain::ids::{ConnId, UserId};
use crate::registry::{ConnHandle, Registered, Skip, Slot};

use super::events::{encode, ServerEvent};
use super::{Chat, Error, Result};

impl Chat {
    /// Which of `users` have a connection on any node.
    pub(super) async fn online_among(&self, users: &[UserId]) -> Vec<UserId> {
        let elsewhere = match &self.inner.relay {
            Some(relay) => relay.online_elsewhere(users).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "presence: relay unavailable, counting this node only");
                Default::default()
            }),
            None => Default::default(),
        };
        users
            .iter()
            .copied()
            .filter(|u| self.inner.registry.is_online(*u) || elsewhere.contains(u))
            .collect()
    }

    pub(super) async fn announce_presence(&self, user_id: UserId, online: bool) {
        match self
            .db()
            .run(move |c| queries::contact_ids(c, user_id))
            .await
        {
            Ok(contacts) => {
                let frame = encode(&ServerEvent::Presence { user_id, online });
                self.emit_to_users(&contacts, &frame, Skip::default());
            }
            Err(e) => tracing::warn!(error = %e, %user_id, "could not load contacts for presence"),
        }
    }

    /// Takes one of the user's connection slots, before the upgrade is answered: the per-user
    /// cap is checked and claimed in one step. The slot is held until the connection ends.
    pub fn admit_connection(&self, user_id: UserId) -> Result<Slot> {
        self.inner
            .registry
            .claim_slot(user_id, self.inner.max_connections_per_user)
            .ok_or(Error::TooManyConnections)
    }

    /// Registers a live connection. On the user's first one (on any node), tells their
    /// contacts they are online. Returns the contacts online now, for the new connection.
    pub async fn connected(&self, user_id: UserId, handle: ConnHandle) -> Vec<UserId> {
        let first_here = self.inner.registry.register(user_id, handle) == Registered::First;
        if first_here {
            let elsewhere = match &self.inner.relay {
                Some(relay) => {
                    if let Err(e) = relay.mark_online(user_id).await {
                        tracing::warn!(error = %e, "presence: relay unavailable");
                    }
                    relay
                        .online_elsewhere(&[user_id])
                        .await
                        .map(|s| s.contains(&user_id))
                        .unwrap_or(false)
                }
                None => false,
            };
            if !elsewhere {
                self.announce_presence(user_id, true).await;
            }
        }
        let contacts = match self
            .db()
            .run(move |c| queries::contact_ids(c, user_id))
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, %user_id, "could not load contacts for presence");
                return Vec::new();
            }
        };
        self.online_among(&contacts).await
    }

    pub async fn disconnected(&self, user_id: UserId, conn_id: ConnId) {
        if !self.inner.registry.unregister(user_id, conn_id) {
            return;
        }
        if let Some(relay) = &self.inner.relay {
            if let Err(e) = relay.mark_offline(user_id).await {
                tracing::warn!(error = %e, "presence: relay unavailable");
            }
        }
        if self.online_among(&[user_id]).await.is_empty() {
            self.announce_presence(user_id, false).await;
        }
    }
}
