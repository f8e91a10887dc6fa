//! Login sessions: each login or registration opens one; its access tokens carry its id
//! (`sid`) and its refresh token (random, stored as a SHA-256 hash only) renews them. A
//! refresh spends the token it was given; presenting a spent one again ends the session.
//!
//! Ending a session refuses its tokens at once on every node (each authentication reads the
//! session's row) and closes its WebSockets: this node's through the registry, the other
//! nodes' through the relay (`Target::EndSessions`), so a socket costs no check per frame.

use std::net::IpAddr;

use chrono::{Duration, NaiveDateTime};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{hashing_error, required, Accounts, AuthUser, LoggedIn, MSG_INVALID_REFRESH};
use super::{MSG_USER_NOT_FOUND, MSG_WRONG_PASSWORD};
use crate::db::models::{self, SessionInfo, User};
use crate::db::queries::{self, RefreshClock, Refreshed};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::validate;
use crate::relay::{Envelope, Target};
use crate::services::{Error, Result};

/// A `User-Agent` is kept to this many characters.
const MAX_USER_AGENT_CHARS: usize = 200;

/// A new pair for a session, from `POST /auth/refresh`.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// A fresh refresh token (256 random bits, hex) and the hash that is stored of it.
pub(super) struct RefreshToken {
    pub token: String,
    pub hash: String,
}

impl RefreshToken {
    pub fn new() -> RefreshToken {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let hash = hash_token(&token);
        RefreshToken { token, hash }
    }
}

/// A plain SHA-256 is enough for tokens of 256 random bits: nothing to guess or brute-force.
fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The `User-Agent` as sent, cut to [`MAX_USER_AGENT_CHARS`]; blank is none.
pub(super) fn user_agent(sent: Option<String>) -> Option<String> {
    let sent = sent?;
    let trimmed = sent.trim();
    (!trimmed.is_empty()).then(|| trimmed.chars().take(MAX_USER_AGENT_CHARS).collect())
}

fn signing_error(e: super::jwt::TokenError) -> Error {
    Error::Internal(format!("could not sign a token: {e}"))
}

fn secs(secs: u64) -> Duration {
    Duration::seconds(
        i64::try_from(secs)
            .unwrap_or(i64::MAX / 1000)
            .min(i64::MAX / 1000),
    )
}

impl Accounts {
    /// A session that was used (logged in or refreshed) before this holds no token that still
    /// works: neither its refresh token nor its newest access token.
    fn live_after(&self, now: NaiveDateTime) -> NaiveDateTime {
        let longest = self.inner.refresh_ttl_secs.max(self.inner.jwt.ttl_secs());
        now.checked_sub_signed(secs(longest))
            .unwrap_or(NaiveDateTime::MIN)
    }

    pub(super) fn logged_in(
        &self,
        user: User,
        session: SessionId,
        refresh: RefreshToken,
    ) -> Result<LoggedIn> {
        let access_token = self
            .inner
            .jwt
            .issue(user.id, session)
            .map_err(signing_error)?;
        Ok(LoggedIn {
            access_token,
            refresh_token: refresh.token,
            user,
        })
    }

    /// A login's new session.
    pub(super) async fn open_session(
        &self,
        user: User,
        user_agent: Option<String>,
    ) -> Result<LoggedIn> {
        let refresh = RefreshToken::new();
        let hash = refresh.hash.clone();
        let user_agent = self::user_agent(user_agent);
        let user_id = user.id;
        let session = self
            .inner
            .db
            .run(move |c| {
                let now = models::now();
                queries::insert_session(
                    c,
                    &models::NewSession {
                        user_id,
                        refresh_hash: &hash,
                        refresh_issued_at: now,
                        user_agent: user_agent.as_deref(),
                        created_at: now,
                        last_used_at: now,
                    },
                )
            })
            .await?;
        self.logged_in(user, session, refresh)
    }

    /// `POST /auth/refresh`: a new pair for the token's session; the token sent is spent.
    pub async fn refresh(&self, refresh_token: Option<String>) -> Result<Tokens> {
        let presented = required(refresh_token, "refreshToken")?;
        let old_hash = hash_token(&presented);
        let next = RefreshToken::new();
        let new_hash = next.hash.clone();
        let now = models::now();
        let clock = RefreshClock {
            now,
            issued_after: now
                .checked_sub_signed(secs(self.inner.refresh_ttl_secs))
                .unwrap_or(NaiveDateTime::MIN),
        };
        let outcome = self
            .inner
            .db
            .run(move |c| queries::refresh_session(c, &old_hash, &new_hash, clock))
            .await?;
        match outcome {
            Refreshed::Rotated { session, user } => {
                let access_token = self.inner.jwt.issue(user, session).map_err(signing_error)?;
                Ok(Tokens {
                    access_token,
                    refresh_token: next.token,
                })
            }
            Refreshed::Reused {
                session,
                user,
                ended,
            } => {
                tracing::warn!(%user, %session, "a spent refresh token was presented: session ended");
                if ended {
                    self.sessions_ended(user, vec![session]);
                }
                Err(Error::Unauthorized(MSG_INVALID_REFRESH))
            }
            Refreshed::Refused => Err(Error::Unauthorized(MSG_INVALID_REFRESH)),
        }
    }

    /// `POST /auth/logout`: ends the caller's session.
    pub async fn logout(&self, auth: &AuthUser) -> Result<()> {
        let (user, session) = (auth.user.id, auth.session);
        let ended = self
            .inner
            .db
            .run(move |c| queries::end_session(c, user, session, models::now()))
            .await?;
        if !ended {
            // ended meanwhile by another request: the token is no good any more either
            return Err(Error::Unauthorized(super::MSG_INVALID_TOKEN));
        }
        self.sessions_ended(user, vec![session]);
        Ok(())
    }

    /// `GET /auth/sessions`: the caller's live sessions, newest first.
    pub async fn sessions(&self, auth: &AuthUser) -> Result<Vec<SessionInfo>> {
        let (user, current) = (auth.user.id, auth.session);
        let live_after = self.live_after(models::now());
        let rows = self
            .inner
            .db
            .run(move |c| queries::live_sessions(c, user, live_after))
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| SessionInfo {
                id: row.id,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                user_agent: row.user_agent,
                current: row.id == current,
            })
            .collect())
    }

    /// `DELETE /auth/sessions/{id}`: ends one of the caller's sessions (the current one too).
    pub async fn end_session(&self, auth: &AuthUser, id: &str) -> Result<()> {
        let not_found = || Error::NotFound("Session not found".into());
        let session = SessionId(id.parse().map_err(|_| not_found())?);
        let user = auth.user.id;
        let live_after = self.live_after(models::now());
        let ended = self
            .inner
            .db
            .run(move |c| {
                // only a session the list would show: an expired one is "not found" as well
                let live = queries::live_sessions(c, user, live_after)?;
                if !live.iter().any(|row| row.id == session) {
                    return Ok::<_, crate::db::DbError>(false);
                }
                queries::end_session(c, user, session, models::now())
            })
            .await?;
        if !ended {
            return Err(not_found());
        }
        self.sessions_ended(user, vec![session]);
        Ok(())
    }

    /// `DELETE /auth/sessions`: ends every session of the caller but the current one.
    pub async fn end_other_sessions(&self, auth: &AuthUser) -> Result<usize> {
        let (user, keep) = (auth.user.id, auth.session);
        let now = models::now();
        let live_after = self.live_after(now);
        let ended = self
            .inner
            .db
            .run(move |c| queries::end_other_sessions(c, user, keep, live_after, now))
            .await?;
        let count = ended.len();
        self.sessions_ended(user, ended);
        Ok(count)
    }

    /// `POST /auth/password`: checks the current password (as a login does, counted by the
    /// same failed-login limits), stores the new one and ends every other session.
    pub async fn change_password(
        &self,
        auth: &AuthUser,
        current_password: Option<String>,
        password: Option<String>,
        confirm_password: Option<String>,
        client: Option<IpAddr>,
    ) -> Result<()> {
        let current = required(current_password, "currentPassword")?;
        let password = required(password, "password")?;
        let confirm = required(confirm_password, "confirmPassword")?;
        validate::password(&password).map_err(Error::Validation)?;
        if confirm != password {
            return Err(Error::Validation(
                "confirmPassword must match password".into(),
            ));
        }
        let key = auth.user.user_name.to_ascii_lowercase();
        let limits = &self.inner.limits;
        let attempt = limits
            .begin_login(&key, client)
            .await
            .map_err(|wait| Error::RateLimited(wait.0))?;
        match self.check_password(key, current).await {
            Ok(Ok(user)) if user.id == auth.user.id => limits.release_login(attempt).await,
            // the attempt stays counted as a failure
            Ok(Ok(_)) | Ok(Err(MSG_WRONG_PASSWORD)) => {
                return Err(Error::Unauthorized(MSG_WRONG_PASSWORD))
            }
            Ok(Err(_)) => {
                limits.release_login(attempt).await;
                return Err(Error::Unauthorized(MSG_USER_NOT_FOUND));
            }
            Err(e) => {
                limits.release_login(attempt).await;
                return Err(e);
            }
        }
        let hash = self
            .inner
            .hasher
            .hash(password, self.inner.bcrypt_cost)
            .await
            .map_err(hashing_error)?;
        let (user, keep) = (auth.user.id, auth.session);
        let now = models::now();
        let live_after = self.live_after(now);
        let ended = self
            .inner
            .db
            .run(move |c| queries::change_password(c, user, &hash, keep, live_after, now))
            .await?;
        self.sessions_ended(user, ended);
        Ok(())
    }

    /// Whether a session is still open: for a connection that took a token before its
    /// registry entry carried the session, to catch an end that came in between.
    pub async fn session_is_open(&self, user: UserId, session: SessionId) -> Result<bool> {
        Ok(self
            .inner
            .db
            .run(move |c| queries::session_is_open(c, user, session))
            .await?)
    }

    /// After the database says they ended: closes the sessions' sockets here (4003) and tells
    /// the other nodes to close theirs.
    fn sessions_ended(&self, user: UserId, sessions: Vec<SessionId>) {
        if sessions.is_empty() {
            return;
        }
        self.inner.registry.close_sessions(user, &sessions);
        if let Some(relay) = &self.inner.relay {
            relay.publish(&Envelope {
                node: relay.node_id.clone(),
                target: Target::EndSessions(user, sessions),
                skip_user: None,
                skip_conn: None,
                frame: None,
            });
        }
    }
}
