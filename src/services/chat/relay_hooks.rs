//! Events from the other nodes, delivered to this node's connections.

use crate::domain::ids::UserId;
use crate::registry::{Frame, Skip};
use crate::relay::{BoxFuture, Envelope, RelayHooks, Target};

use super::Chat;

/// How often a node looks for sessions ended lately, and how far back each look goes (several
/// periods, so clock skew between nodes and a slow look lose nothing).
const ENDED_SESSIONS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
const ENDED_SESSIONS_LOOKBACK_SECS: i64 = 30;

impl Chat {
    /// Closes (4003), about once a second, this node's sockets of sessions ended lately by
    /// whoever ended them: an operator's command (`chat-server sessions end`, `users disable`),
    /// or another node while Redis was away. Ending a session through the API closes its sockets
    /// at once (this node) and through the relay (the others); this is what makes the rest true.
    pub fn start_ended_session_sweep(&self) {
        let chat = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ENDED_SESSIONS_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if chat.inner.registry.running_tasks() == 0 {
                    continue;
                }
                let since = crate::db::models::now()
                    - chrono::Duration::seconds(ENDED_SESSIONS_LOOKBACK_SECS);
                match chat
                    .db()
                    .run(move |c| crate::db::queries::ended_since(c, since))
                    .await
                {
                    Ok(ended) => {
                        for (user, session) in ended {
                            chat.inner.registry.close_sessions(user, &[session]);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not look for ended sessions"),
                }
            }
        });
    }

    /// Closes (4003) this node's sockets whose session has ended.
    async fn close_ended_sessions(&self) {
        let live = self.inner.registry.live_sessions();
        if live.is_empty() {
            return;
        }
        match self
            .db()
            .run(move |c| crate::db::queries::ended_among(c, &live))
            .await
        {
            Ok(ended) => {
                for (user, session) in ended {
                    self.inner.registry.close_sessions(user, &[session]);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not check sessions after resubscribing"),
        }
    }
}

/// Events from the other nodes, delivered to this node's connections.
impl RelayHooks for Chat {
    fn deliver(&self, envelope: Envelope) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let skip = Skip {
                user: envelope.skip_user,
                conn: envelope.skip_conn,
            };
            let frame = envelope.frame.map(Frame::from);
            match (envelope.target, frame) {
                (Target::ForgetMembers(thread_id), _) => self.member_cache().forget(thread_id),
                (Target::ForgetAll, _) => self.member_cache().clear(),
                (Target::EndSessions(user, sessions), _) => {
                    self.inner.registry.close_sessions(user, &sessions);
                }
                (Target::Users(users), Some(frame)) => {
                    self.inner.registry.deliver(&users, &frame, skip);
                }
                (Target::Thread(thread_id), Some(frame)) => {
                    match self.member_ids(thread_id).await {
                        Ok(members) => {
                            self.inner.registry.deliver(&members, &frame, skip);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, %thread_id, "relay: could not load members")
                        }
                    }
                }
                (_, None) => {}
            }
        })
    }

    fn resubscribed(&self) {
        self.member_cache().clear();
        // Sessions ended elsewhere while the relay was away were announced to no one here.
        let chat = self.clone();
        tokio::spawn(async move { chat.close_ended_sessions().await });
    }

    fn local_users(&self) -> Vec<UserId> {
        self.inner.registry.online_users()
    }

    fn users_gone(&self, users: Vec<UserId>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for user_id in users {
                if self.online_among(&[user_id]).await.is_empty() {
                    self.announce_presence(user_id, false).await;
                }
            }
        })
    }
}
