//! Accounts: registration (with an avatar), login, access tokens, login sessions
//! ([`sessions`]: refresh, logout, revocation, password change), profiles and the user
//! directory. Passwords are hashed by [`password::Hasher`] (bcrypt on the blocking pool, with a
//! bounded queue); tokens are [`jwt`] (HS256 only, no leeway). Knows no actix types.

pub mod jwt;
pub mod password;
mod sessions;

use std::net::IpAddr;
use std::sync::Arc;

use crate::db::models::{self, User};
use crate::db::{queries, Db};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::validate;
use crate::limits::Limits;
use crate::registry::Registry;
use crate::relay::RedisRelay;
use crate::services::{Error, Result};
use crate::storage::{sniff_image, Kind, Storage, StoredFile, TempUpload, AVATAR_THUMB_SIDE};

pub const MSG_TOKEN_NOT_FOUND: &str = "AccessToken Not Found";
pub const MSG_INVALID_TOKEN: &str = "Invalid AccessToken";
pub const MSG_USER_NOT_FOUND: &str = "User Not Found";
pub const MSG_USERNAME_NOT_FOUND: &str = "userName not Found";
pub const MSG_WRONG_PASSWORD: &str = "userName or password is incorrect";
pub const MSG_INVALID_REFRESH: &str = "Invalid RefreshToken";

/// The authenticated caller: a valid, unexpired token for a user that exists.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    /// The token's session (`sid`), open when the token was checked.
    pub session: SessionId,
    /// Token expiry, seconds since the epoch: open sockets close when it passes.
    pub expires_at: i64,
}

/// The fields of `POST /auth/register` as sent (each may be missing).
pub struct Registration {
    pub nick_name: Option<String>,
    pub user_name: Option<String>,
    pub password: Option<String>,
    pub confirm_password: Option<String>,
    pub avatar: Option<TempUpload>,
    /// The client's `User-Agent`, shown in the session list.
    pub user_agent: Option<String>,
}

/// A session opened by registration or login.
pub struct LoggedIn {
    pub access_token: String,
    pub refresh_token: String,
    pub user: User,
}

#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    jwt: jwt::Jwt,
    hasher: password::Hasher,
    limits: Arc<Limits>,
    storage: Storage,
    bcrypt_cost: u32,
    /// Where this node's connections are, to close those of an ended session.
    registry: Arc<Registry>,
    /// The other nodes, told of ended sessions so that they close their connections too.
    relay: Option<Arc<RedisRelay>>,
    refresh_ttl_secs: u64,
}

/// What [`Accounts::new`] is built from.
pub struct AccountsConfig {
    pub db: Db,
    pub jwt: jwt::Jwt,
    pub limits: Arc<Limits>,
    pub storage: Storage,
    pub bcrypt_cost: u32,
    pub registry: Arc<Registry>,
    pub relay: Option<Arc<RedisRelay>>,
    pub refresh_ttl_secs: u64,
}

fn required(value: Option<String>, field: &str) -> Result<String> {
    value.ok_or_else(|| Error::Validation(format!("{field} is required")))
}

fn hashing_error(e: password::PasswordError) -> Error {
    match e {
        password::PasswordError::Busy(retry_after) => Error::Unavailable {
            retry_after,
            message: "Too many password checks at once, try again later".into(),
        },
        password::PasswordError::Failed(_) => Error::Internal(format!("bcrypt failed: {e}")),
    }
}

fn avatar_type(upload: &TempUpload) -> Result<(&'static str, &'static str)> {
    sniff_image(&upload.head).ok_or(Error::UnsupportedMediaType(
        "avatar must be a PNG, JPEG, GIF or WebP image",
    ))
}

impl Accounts {
    pub fn new(config: AccountsConfig) -> Accounts {
        Accounts {
            inner: Arc::new(Inner {
                db: config.db,
                jwt: config.jwt,
                hasher: password::Hasher::new(),
                limits: config.limits,
                storage: config.storage,
                bcrypt_cost: config.bcrypt_cost,
                registry: config.registry,
                relay: config.relay,
                refresh_ttl_secs: config.refresh_ttl_secs,
            }),
        }
    }

    /// Register, login and refresh share one budget per client address; asked before a body is read,
    /// so a refused client costs no upload.
    pub async fn admit(&self, client: Option<IpAddr>) -> Result<()> {
        self.inner
            .limits
            .check_auth_request(client)
            .await
            .map_err(|wait| Error::RateLimited(wait.0))
    }

    /// All or nothing: a refused or failed registration leaves no row and no file.
    pub async fn register(&self, form: Registration) -> Result<LoggedIn> {
        let nick_name = required(form.nick_name, "nickName")?;
        let user_name = required(form.user_name, "userName")?;
        let password = required(form.password, "password")?;
        let confirm = required(form.confirm_password, "confirmPassword")?;
        let nick_name = validate::nick_name(&nick_name).map_err(Error::Validation)?;
        validate::user_name(&user_name).map_err(Error::Validation)?;
        validate::password(&password).map_err(Error::Validation)?;
        if confirm != password {
            return Err(Error::Validation(
                "confirmPassword must match password".into(),
            ));
        }
        let avatar = match form.avatar {
            Some(upload) => Some((avatar_type(&upload)?, upload)),
            None => None,
        };
        let key = user_name.to_ascii_lowercase();
        let lookup_key = key.clone();
        // Refuse a taken name before spending a bcrypt hash on it; the unique index decides races.
        if self
            .inner
            .db
            .run(move |c| queries::find_user_row_by_key(c, &lookup_key))
            .await?
            .is_some()
        {
            return Err(Error::UsernameTaken);
        }
        let hash = self
            .inner
            .hasher
            .hash(password, self.inner.bcrypt_cost)
            .await
            .map_err(hashing_error)?;
        let stored = self.store_avatar(avatar).await?;
        let refresh = sessions::RefreshToken::new();
        let refresh_hash = refresh.hash.clone();
        let user_agent = sessions::user_agent(form.user_agent);
        // The file's fate is settled with the row, inside the blocking task: a client that goes
        // away mid-insert cannot leave a row pointing at a deleted file. The user and their
        // first session are one transaction.
        let inserted = self
            .inner
            .db
            .run(move |c| {
                let avatar_url = stored.as_ref().map(|s| s.url.clone());
                let avatar_thumb_url = stored.as_ref().and_then(|s| s.thumb_url.clone());
                let now = models::now();
                let opened = queries::insert_user_with_session(
                    c,
                    &models::NewUser {
                        user_name: &user_name,
                        user_name_key: &key,
                        nick_name: &nick_name,
                        password_hash: &hash,
                        avatar_url: avatar_url.as_deref(),
                        created_at: now,
                        avatar_thumb_url: avatar_thumb_url.as_deref(),
                    },
                    &refresh_hash,
                    user_agent.as_deref(),
                )?;
                if let Some(file) = stored {
                    file.keep();
                }
                Ok::<_, crate::db::DbError>(opened)
            })
            .await;
        let (user, session) = match inserted {
            Ok(opened) => opened,
            Err(e) if e.is_unique_violation() => return Err(Error::UsernameTaken),
            Err(e) => return Err(e.into()),
        };
        self.logged_in(user, session, refresh)
    }

    /// Both refusals take the same time: an unknown name still costs a (dummy) bcrypt verify.
    pub async fn login(
        &self,
        user_name: Option<String>,
        password: Option<String>,
        client: Option<IpAddr>,
        user_agent: Option<String>,
    ) -> Result<LoggedIn> {
        let user_name = required(user_name, "userName")?;
        let password = required(password, "password")?;
        let hasher = &self.inner.hasher;
        if validate::user_name(&user_name).is_err() {
            // no account can have this name: answered like an unknown one, and not counted, so
            // that arbitrary (up to a megabyte long) names never become lockout keys
            hasher
                .verify_dummy(password, self.inner.bcrypt_cost)
                .await
                .map_err(hashing_error)?;
            return Err(Error::Unauthorized(MSG_USERNAME_NOT_FOUND));
        }
        let key = user_name.to_ascii_lowercase();
        let limits = &self.inner.limits;
        let attempt = limits
            .begin_login(&key, client)
            .await
            .map_err(|wait| Error::RateLimited(wait.0))?;
        match self.check_password(key, password).await {
            Ok(Ok(user)) => {
                limits.release_login(attempt).await;
                self.open_session(user, user_agent).await
            }
            // the attempt stays counted as a failure
            Ok(Err(refusal)) => Err(Error::Unauthorized(refusal)),
            Err(e) => {
                // not judged (hashing saturated, database away): no failure of the client's
                limits.release_login(attempt).await;
                Err(e)
            }
        }
    }

    /// The user whose name key and password these are, or the seed's refusal for them. An
    /// unknown name costs a dummy bcrypt verify, so that both refusals take the same time.
    async fn check_password(
        &self,
        key: String,
        password: String,
    ) -> Result<std::result::Result<User, &'static str>> {
        let hasher = &self.inner.hasher;
        let row = self
            .inner
            .db
            .run(move |c| queries::find_user_row_by_key(c, &key))
            .await?;
        let Some(row) = row else {
            hasher
                .verify_dummy(password, self.inner.bcrypt_cost)
                .await
                .map_err(hashing_error)?;
            return Ok(Err(MSG_USERNAME_NOT_FOUND));
        };
        if !hasher
            .verify(password, row.password_hash.clone())
            .await
            .map_err(hashing_error)?
        {
            return Ok(Err(MSG_WRONG_PASSWORD));
        }
        // told only to whoever knows the password
        if row.disabled_at.is_some() {
            return Err(Error::Forbidden("This account is disabled".into()));
        }
        Ok(Ok(models::User::from(row)))
    }

    /// Moves an accepted avatar under its random name and makes its thumbnail; both delete
    /// themselves unless the row commits.
    async fn store_avatar(
        &self,
        avatar: Option<((&'static str, &'static str), TempUpload)>,
    ) -> Result<Option<StoredFile>> {
        let Some(((ext, content_type), upload)) = avatar else {
            return Ok(None);
        };
        let stored = self
            .inner
            .storage
            .persist(upload, Kind::Avatars, ext, content_type)
            .await?;
        let stored = self
            .inner
            .storage
            .describe_image(stored, AVATAR_THUMB_SIDE)
            .await?;
        Ok(Some(stored))
    }

    /// The caller behind a bearer token (`None`: no token was sent), with the seed's messages.
    pub async fn authenticate(&self, token: Option<String>) -> Result<AuthUser> {
        let token = token.ok_or(Error::Unauthorized(MSG_TOKEN_NOT_FOUND))?;
        let claims = self
            .inner
            .jwt
            .verify(&token)
            .map_err(|_| Error::Unauthorized(MSG_INVALID_TOKEN))?;
        let (user, open) = self
            .inner
            .db
            .run(move |c| {
                let Some(user) = queries::find_user(c, claims.user_id)? else {
                    return Ok::<_, crate::db::DbError>((None, false));
                };
                let open = match claims.session {
                    Some(session) => queries::session_is_open(c, claims.user_id, session)?,
                    None => false,
                };
                Ok((Some(user), open))
            })
            .await?;
        let user = user.ok_or(Error::Unauthorized(MSG_USER_NOT_FOUND))?;
        let session = match claims.session {
            // ended (logout, revoked, password changed, a reused refresh token)
            Some(session) if open => session,
            _ => return Err(Error::Unauthorized(MSG_INVALID_TOKEN)),
        };
        Ok(AuthUser {
            user,
            session,
            expires_at: claims.exp,
        })
    }

    pub async fn user(&self, id: UserId) -> Result<User> {
        self.inner
            .db
            .run(move |c| queries::find_user(c, id))
            .await?
            .ok_or_else(|| Error::NotFound("User not found".into()))
    }

    pub async fn search_users(&self, query: String, limit: i64) -> Result<Vec<User>> {
        Ok(self
            .inner
            .db
            .run(move |c| queries::search_users(c, &query, limit))
            .await?)
    }

    /// `PATCH /users/me`: a new nickName and/or avatar; the replaced avatar's file and
    /// thumbnail are deleted.
    pub async fn update_profile(
        &self,
        user_id: UserId,
        nick_name: Option<String>,
        avatar: Option<TempUpload>,
    ) -> Result<User> {
        let nick_name = nick_name
            .map(|n| validate::nick_name(&n).map_err(Error::Validation))
            .transpose()?;
        let avatar = match avatar {
            Some(upload) => Some((avatar_type(&upload)?, upload)),
            None => None,
        };
        let stored = self.store_avatar(avatar).await?;
        // as at registration: the new file is kept or deleted with the row's update
        let updated = self
            .inner
            .db
            .run(move |c| {
                let avatar = stored
                    .as_ref()
                    .map(|s| (s.url.as_str(), s.thumb_url.as_deref()));
                let updated = queries::update_user(c, user_id, nick_name.as_deref(), avatar)?;
                if let (Some(file), Some(_)) = (stored, &updated) {
                    file.keep();
                }
                Ok::<_, crate::db::DbError>(updated)
            })
            .await?
            .ok_or(Error::Unauthorized(MSG_USER_NOT_FOUND))?;
        let (user, replaced) = updated;
        if let Some((old, old_thumb)) = replaced {
            self.inner
                .storage
                .delete_with_thumbnail(&old, old_thumb.as_deref())
                .await;
        }
        Ok(user)
    }
}
