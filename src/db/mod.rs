//! The database behind one small pool type: SQLite (default, built in) or PostgreSQL by URL.
//!
//! Queries are written once as generic diesel code inside [`with_conn!`], which expands them for
//! each backend; nothing outside this module knows which one is in use.

pub mod models;
pub mod queries;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("blocking task failed: {0}")]
    Blocking(String),
    #[error("batch write failed: {0}")]
    Batch(String),
}

impl DbError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// A pooled connection of either backend; use it through [`with_conn!`].
pub enum DbConn {
    Sqlite(PooledConnection<ConnectionManager<SqliteConnection>>),
    Pg(PooledConnection<ConnectionManager<PgConnection>>),
}

/// Runs `$body` with `$c` bound to the concrete `&mut` connection of whichever backend is in use.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(pooled) => {
                let $c: &mut ::diesel::sqlite::SqliteConnection = &mut *pooled;
                $body
            }
            $crate::db::DbConn::Pg(pooled) => {
                let $c: &mut ::diesel::pg::PgConnection = &mut *pooled;
                $body
            }
        }
    };
}

/// Runs `$body` in a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`)
/// so that concurrent writers wait on `busy_timeout` instead of failing with SQLITE_BUSY.
#[macro_export]
macro_rules! write_tx {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(pooled) => {
                let conn: &mut ::diesel::sqlite::SqliteConnection = &mut *pooled;
                conn.immediate_transaction(|$c| $body)
            }
            $crate::db::DbConn::Pg(pooled) => {
                let conn: &mut ::diesel::pg::PgConnection = &mut *pooled;
                ::diesel::Connection::transaction(conn, |$c| $body)
            }
        }
    };
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // synchronous=FULL keeps "acked means on disk" true even across power loss; WAL (set
        // once in `connect`) lets readers run beside the writer.
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Creates a missing SQLite file owner-only (0600) before SQLite opens it: it holds password
/// hashes, and SQLite gives its -wal and -shm files the database file's mode.
fn create_private_file(path: &str) -> std::io::Result<()> {
    if path.is_empty() || path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[derive(Clone)]
pub enum Db {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Pg(Pool<ConnectionManager<PgConnection>>),
}

impl Db {
    /// Connects, applies pending migrations, and returns the pool.
    pub fn connect(url: &str) -> Result<Db, DbError> {
        let db = if Db::is_postgres_url(url) {
            let pool = Pool::builder()
                .max_size(16)
                .connection_timeout(Duration::from_secs(10))
                .build(ConnectionManager::<PgConnection>::new(url))?;
            Db::Pg(pool)
        } else {
            let path = Db::sqlite_path(url);
            create_private_file(path)
                .map_err(|e| DbError::Migration(format!("cannot create {path}: {e}")))?;
            // WAL is a property of the file: set it once, before the pool opens its connections.
            let mut first = <SqliteConnection as diesel::Connection>::establish(path)
                .map_err(|e| DbError::Migration(format!("cannot open {path}: {e}")))?;
            first.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
            drop(first);
            let pool = Pool::builder()
                .max_size(8)
                .connection_timeout(Duration::from_secs(10))
                .connection_customizer(Box::new(SqlitePragmas))
                .build(ConnectionManager::<SqliteConnection>::new(path))?;
            Db::Sqlite(pool)
        };
        let mut conn = db.get()?;
        let result = match &mut conn {
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
            DbConn::Pg(c) => {
                // Nodes starting together must not migrate at once: one waits for the other.
                c.batch_execute("SELECT pg_advisory_lock(7242001)")?;
                let migrated = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
                c.batch_execute("SELECT pg_advisory_unlock(7242001)")?;
                migrated
            }
        };
        result.map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(db)
    }

    /// The file of a SQLite `DATABASE_URL` (a path, or `sqlite://` and a path).
    pub fn sqlite_path(url: &str) -> &str {
        url.strip_prefix("sqlite://").unwrap_or(url)
    }

    pub fn is_postgres_url(url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Pg(_) => "postgres",
        }
    }

    pub fn connections_in_use(&self) -> u32 {
        let state = match self {
            Db::Sqlite(p) => p.state(),
            Db::Pg(p) => p.state(),
        };
        state.connections - state.idle_connections
    }

    pub fn get(&self) -> Result<DbConn, DbError> {
        Ok(match self {
            Db::Sqlite(p) => DbConn::Sqlite(p.get()?),
            Db::Pg(p) => DbConn::Pg(p.get()?),
        })
    }

    /// Runs synchronous database work on the blocking pool, never on an async worker.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            work(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::Blocking(e.to_string())))?
    }
}
