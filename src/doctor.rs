//! The start-up report (`chat-server --check`, and logged at every start): what this node is
//! running on, and whether each piece it needs is usable.

use std::fmt::Write as _;
use std::time::Duration;

use diesel_migrations::MigrationHarness;

use crate::config::Config;
use crate::db::{Db, DbConn, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

pub struct Report {
    pub lines: Vec<(String, Result<String, String>)>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.lines.iter().all(|(_, r)| r.is_ok())
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (what, result) in &self.lines {
            let _ = match result {
                Ok(detail) => writeln!(out, "ok    {what}: {detail}"),
                Err(detail) => writeln!(out, "FAIL  {what}: {detail}"),
            };
        }
        out
    }
}

fn data_dir(config: &Config) -> Result<String, String> {
    let dir = &config.data_dir;
    // the same owner-only creation as start-up (which warns about a wider one)
    crate::create_private_dir(dir, false).map_err(|e| format!("{}: {e}", dir.display()))?;
    let probe = dir.join(".write-check");
    std::fs::write(&probe, b"ok").map_err(|e| format!("{} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(format!(
        "{} is writable; uploads in {}",
        dir.display(),
        config.upload_dir().display()
    ))
}

fn database(config: &Config) -> Result<String, String> {
    let db = Db::connect(&config.database_url()).map_err(|e| e.to_string())?;
    let mut conn = db.get().map_err(|e| e.to_string())?;
    let counts = match &mut conn {
        DbConn::Sqlite(c) => c
            .applied_migrations()
            .and_then(|a| Ok((a.len(), c.pending_migrations(SQLITE_MIGRATIONS)?.len()))),
        DbConn::Pg(c) => c
            .applied_migrations()
            .and_then(|a| Ok((a.len(), c.pending_migrations(POSTGRES_MIGRATIONS)?.len()))),
    };
    let (applied, pending) = counts.map_err(|e| e.to_string())?;
    Ok(format!(
        "{}, {applied} migrations applied, {pending} pending",
        db.kind()
    ))
}

async fn redis(url: &str) -> Result<String, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(3), ping).await {
        Ok(Ok(_)) => Ok("reachable (multi-node relay on)".into()),
        Ok(Err(e)) => Err(format!("unreachable: {e}")),
        Err(_) => Err("no answer within 3 s".into()),
    }
}

pub async fn check(config: &Config) -> Report {
    let mut lines = vec![(
        "version".to_owned(),
        Ok(env!("CARGO_PKG_VERSION").to_owned()),
    )];
    lines.push(("data dir".into(), data_dir(config)));
    let db_config = config.clone();
    let db = tokio::task::spawn_blocking(move || database(&db_config))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    lines.push(("database".into(), db));
    lines.push((
        "redis".into(),
        match &config.redis_url {
            Some(url) => redis(url).await,
            None => Ok("not configured (single node)".into()),
        },
    ));
    Report { lines }
}
