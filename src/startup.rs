//! Start-up chores of the wiring: what can stop start-up, the owner-only data dir, the
//! listening socket, CORS, and the sweep of orphaned uploads.

use std::time::Duration;

use actix_web::http::header;

use crate::db::{self, Db};
use crate::relay;
use crate::storage::Storage;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(String),
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot use upload directory {path}: {source}")]
    UploadDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read or create the JWT secret: {0}")]
    Secret(std::io::Error),
    #[error("database: {0}")]
    Database(#[from] db::DbError),
    #[error("REDIS_URL: {0}")]
    Redis(relay::RelayError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// CORS for the listed origins; with none configured the middleware is not mounted at all and
/// browsers keep their same-origin rule.
pub(crate) fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER])
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

/// DATA_DIR holds password hashes and the JWT secret: created owner-only (0700). One that
/// already exists is the operator's choice and left as it is, with a warning (when `warn`) if
/// it is wider.
pub fn create_private_dir(path: &std::path::Path, warn: bool) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mode = meta.permissions().mode() & 0o777;
                if warn && mode & 0o077 != 0 {
                    tracing::warn!(
                        data_dir = %path.display(),
                        mode = format!("{mode:o}"),
                        "DATA_DIR is readable by other users; it holds password hashes and the JWT secret (chmod 700 it)"
                    );
                }
                Ok(())
            }
            _ => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = warn;
        std::fs::create_dir_all(path)
    }
}

/// A deep accept queue: a reconnect storm of thousands must not overflow the usual 128.
const LISTEN_BACKLOG: u32 = 4096;

pub(crate) fn listen(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)?.into_std()
}

/// Deletes uploads no row refers to (see [`Storage::sweep`]) and says how many in the log.
pub(crate) async fn sweep_uploads(storage: &Storage, db: &Db, min_age: Duration) {
    let (storage, db) = (storage.clone(), db.clone());
    let swept = tokio::task::spawn_blocking(move || {
        let mut conn = db.get()?;
        storage.sweep(min_age, |urls| {
            db::queries::referenced_upload_urls(&mut conn, urls)
        })
    })
    .await;
    match swept {
        Ok(Ok(report)) => tracing::info!(
            orphans = report.orphans,
            temporary = report.temporary,
            too_recent = report.too_recent,
            min_age_secs = min_age.as_secs(),
            "upload sweep: deleted {} orphan and {} temporary files",
            report.orphans,
            report.temporary
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "upload sweep stopped: database unavailable"),
        Err(e) => tracing::warn!(error = %e, "upload sweep failed"),
    }
}
