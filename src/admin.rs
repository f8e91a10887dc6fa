//! `chat-server users ...` and `chat-server sessions ...`: what an operator does without SQL.
//! Each command is one transaction against the configured database; running nodes find the
//! sessions it ended within about a second and close their sockets (4003).

use std::fmt::Write as _;

use rand::distributions::{Alphanumeric, DistString};

use crate::config::{AdminCommand, Config, SessionsCommand, UsersCommand};
use crate::db::models::now;
use crate::db::{queries, Db, DbError};
use crate::domain::ids::SessionId;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    #[error("hashing the new password failed: {0}")]
    Hash(String),
}

/// Runs one command; what it prints on success.
pub fn run(config: &Config, command: &AdminCommand) -> Result<String, AdminError> {
    let db = Db::connect(&config.database_url())?;
    let mut conn = db.get()?;
    let mut out = String::new();
    match command {
        AdminCommand::Users(UsersCommand::List) => {
            let _ = writeln!(out, "id\tuserName\tnickName\tcreatedAt\tdisabledAt");
            for (user, disabled_at) in queries::list_users(&mut conn)? {
                let disabled = disabled_at.map_or("-".to_owned(), |t| t.and_utc().to_rfc3339());
                let _ = writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{disabled}",
                    user.id,
                    user.user_name,
                    user.nick_name,
                    user.created_at.and_utc().to_rfc3339()
                );
            }
        }
        AdminCommand::Users(UsersCommand::Disable { user_name }) => {
            queries::set_disabled(&mut conn, &key(user_name), Some(now()))?
                .ok_or_else(|| AdminError::NoSuchUser(user_name.clone()))?;
            let _ = writeln!(out, "disabled {user_name}; every session of theirs ended");
        }
        AdminCommand::Users(UsersCommand::Enable { user_name }) => {
            queries::set_disabled(&mut conn, &key(user_name), None)?
                .ok_or_else(|| AdminError::NoSuchUser(user_name.clone()))?;
            let _ = writeln!(out, "enabled {user_name}");
        }
        AdminCommand::Users(UsersCommand::ResetPassword { user_name }) => {
            let user = queries::find_user_row_by_key(&mut conn, &key(user_name))?
                .ok_or_else(|| AdminError::NoSuchUser(user_name.clone()))?;
            let password = new_password();
            let hash = bcrypt::hash(&password, config.bcrypt_cost)
                .map_err(|e| AdminError::Hash(e.to_string()))?;
            // SessionId(0) is no session: every one of theirs ends
            queries::change_password(
                &mut conn,
                user.id,
                &hash,
                SessionId(0),
                chrono::DateTime::UNIX_EPOCH.naive_utc(),
                now(),
            )?;
            let _ = writeln!(
                out,
                "new password for {user_name}: {password}\n(every session of theirs ended)"
            );
        }
        AdminCommand::Sessions(SessionsCommand::End { user_name }) => {
            let user = queries::find_user_row_by_key(&mut conn, &key(user_name))?
                .ok_or_else(|| AdminError::NoSuchUser(user_name.clone()))?;
            let ended = queries::end_other_sessions(
                &mut conn,
                user.id,
                SessionId(0),
                chrono::DateTime::UNIX_EPOCH.naive_utc(),
                now(),
            )?;
            let _ = writeln!(
                out,
                "ended the sessions of {user_name} ({} in use lately)",
                ended.len()
            );
        }
    }
    Ok(out)
}

fn key(user_name: &str) -> String {
    user_name.to_ascii_lowercase()
}

/// 20 random letters and digits, with the classes the password rules ask for.
fn new_password() -> String {
    loop {
        let candidate = Alphanumeric.sample_string(&mut rand::thread_rng(), 20);
        if crate::domain::validate::password(&candidate).is_ok() {
            return candidate;
        }
    }
}
