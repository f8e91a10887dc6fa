//! The start-up report (`chat-server --check`, and logged at every start): what this node is
//! running on, and whether each piece it needs is usable.

use std::fmt::Write as _;
use std::time::Duration;

use diesel::migration::MigrationSource;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::EmbeddedMigrations;

use crate::config::Config;
use crate::db::{Db, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

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

/// Says whether the data dir is usable without creating it: the server creates it (0700) at
/// start-up, and `--check` must leave the machine as it found it.
fn data_dir(config: &Config) -> Result<String, String> {
    let dir = &config.data_dir;
    let uploads = config.upload_dir();
    if !dir.exists() {
        let parent = dir
            .ancestors()
            .skip(1)
            .find(|p| p.exists())
            .ok_or_else(|| format!("{}: no existing parent directory", dir.display()))?;
        let writable = std::fs::metadata(parent)
            .map(|m| !m.permissions().readonly())
            .unwrap_or(false);
        return if writable {
            Ok(format!(
                "{} does not exist yet and will be created; uploads in {}",
                dir.display(),
                uploads.display()
            ))
        } else {
            Err(format!(
                "{} does not exist and {} is not writable",
                dir.display(),
                parent.display()
            ))
        };
    }
    let probe = dir.join(".write-check");
    std::fs::write(&probe, b"ok").map_err(|e| format!("{} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(format!(
        "{} is writable; uploads in {}",
        dir.display(),
        uploads.display()
    ))
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// The versions recorded as applied, read with plain queries: diesel's own
/// `applied_migrations` creates its bookkeeping table first, which `--check` must not do.
fn applied_versions<C>(conn: &mut C, table_exists_sql: &str) -> Result<Vec<String>, String>
where
    C: diesel::connection::LoadConnection,
    C::Backend: diesel::backend::Backend,
    AppliedVersion: diesel::deserialize::QueryableByName<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, AppliedVersion>,
{
    use diesel::RunQueryDsl;
    let exists = diesel::sql_query(table_exists_sql)
        .load::<AppliedVersion>(conn)
        .map_err(|e| e.to_string())?;
    if exists.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
        .load::<AppliedVersion>(conn)
        .map(|rows| rows.into_iter().map(|r| r.version).collect())
        .map_err(|e| e.to_string())
}

fn pending_of<DB: diesel::backend::Backend>(
    source: &EmbeddedMigrations,
    applied: &[String],
) -> Result<usize, String> {
    let all = MigrationSource::<DB>::migrations(source).map_err(|e| e.to_string())?;
    Ok(all
        .iter()
        .filter(|m| !applied.contains(&m.name().version().to_string()))
        .count())
}

/// Counts applied and pending migrations without running any (the server runs them when it
/// starts); a SQLite file that does not exist yet is not created.
fn database(config: &Config) -> Result<String, String> {
    let url = config.database_url();
    let (kind, applied, pending) = if Db::is_postgres_url(&url) {
        let mut conn = PgConnection::establish(&url).map_err(|e| e.to_string())?;
        let applied = applied_versions(
            &mut conn,
            "SELECT 'x' AS version WHERE to_regclass('__diesel_schema_migrations') IS NOT NULL",
        )?;
        let pending = pending_of::<diesel::pg::Pg>(&POSTGRES_MIGRATIONS, &applied)?;
        ("postgres", applied.len(), pending)
    } else {
        let path = Db::sqlite_path(&url);
        let applied = if std::path::Path::new(path).exists() {
            let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
            applied_versions(
                &mut conn,
                "SELECT name AS version FROM sqlite_master \
                 WHERE type = 'table' AND name = '__diesel_schema_migrations'",
            )?
        } else {
            Vec::new()
        };
        let pending = pending_of::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS, &applied)?;
        ("sqlite", applied.len(), pending)
    };
    Ok(format!(
        "{kind}, {applied} migrations applied, {pending} pending"
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
