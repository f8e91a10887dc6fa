//! chat-server: one process that gives a chat product its backend.
//!
//! Dependencies point one way (`tests/architecture.rs` keeps it so):
//! - faces: [`http`] (actix handlers: parse, call one service method, shape the reply; the
//!   error envelope is built only in [`http::error`]) and [`ws`] (`GET /ws`: admitted before the
//!   upgrade, then one task per socket, [`ws::connection`], on the connection layer
//!   [`ws::transport`]);
//! - services: [`services::accounts`] (register, login, tokens, profiles) and
//!   [`services::chat`] (threads, messages and the group commit, typing, read marks, presence);
//!   they return [`services::Error`], mapped once per face from [`domain::error::ErrorCode`];
//! - infrastructure: [`db`] (SQLite or PostgreSQL, every query in [`db::queries`]),
//!   [`storage`] (uploads), [`limits`], [`registry`] (user -> live connections, bounded
//!   Outboxes), [`relay`] (Redis pub/sub between nodes);
//! - domain types: [`domain`] (ids, error codes, close codes, field rules).
//!
//! A message: [`ws::protocol`] parses `send` -> [`ws::connection`] calls
//! [`services::chat::Chat::send`] -> validated, rate limited, queued on its thread's commit
//! queue -> stored with the others queued meanwhile in one transaction
//! ([`db::queries::insert_messages`]) -> in batch order, the ack on the sender's connection and
//! one shared frame on every other member connection ([`registry::Registry::deliver`]), and on
//! the other nodes through [`relay`] -> each connection task writes its Outbox to its socket.
//! docs/ARCHITECTURE.md draws the tree and says where a new request type, event or table goes.

pub mod admin;
pub mod asyncapi;
pub mod config;
pub mod config_file;
pub mod db;
pub mod doctor;
pub mod domain;
pub mod http;
pub mod limits;
pub mod openapi;
pub mod registry;
pub mod relay;
pub mod services;
mod startup;
pub mod storage;
pub mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol, Request};
use actix_service::{map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{fn_service, AppConfig, Server, ServerHandle, Service};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App};

use crate::config::Config;
use crate::db::Db;
use crate::domain::close::Close;
use crate::http::state::AppState;
use crate::http::stream::HttpStream;
use crate::limits::Limits;
use crate::registry::Registry;
use crate::services::accounts::{jwt, Accounts, AccountsConfig};
use crate::services::chat::Chat;
use crate::storage::Storage;
use startup::{cors, listen, sweep_uploads};
pub use startup::{create_private_dir, StartupError};

pub struct Application {
    server: Server,
    port: u16,
    registry: Arc<Registry>,
    db_kind: &'static str,
}

impl Application {
    /// Wires everything and binds the listener; tests call this with port 0.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let _ = http::service::prometheus();
        config.validate().map_err(StartupError::Config)?;
        create_private_dir(&config.data_dir, true).map_err(|source| StartupError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let upload_dir = config.upload_dir();
        let storage = Storage::open(&upload_dir).map_err(|source| StartupError::UploadDir {
            path: upload_dir.display().to_string(),
            source,
        })?;
        let secret = jwt::load_or_create_secret(config.jwt_secret.as_deref(), &config.data_dir)
            .map_err(StartupError::Secret)?;
        let jwt = jwt::Jwt::new(&secret, config.jwt_ttl_secs);
        let url = config.database_url();
        let db = tokio::task::spawn_blocking(move || Db::connect(&url))
            .await
            .map_err(|e| StartupError::Database(db::DbError::Blocking(e.to_string())))??;
        let db_kind = db.kind();
        let min_age = Duration::from_secs(config.upload_sweep_min_age_secs);
        sweep_uploads(&storage, &db, min_age).await;
        if !min_age.is_zero() {
            // what a crash just before this start left is too young now: judge it once it is not
            let (storage, db) = (storage.clone(), db.clone());
            tokio::spawn(async move {
                tokio::time::sleep(min_age).await;
                sweep_uploads(&storage, &db, min_age).await;
            });
        }
        let registry = Arc::new(Registry::new());
        let relay = match &config.redis_url {
            Some(url) => Some(
                relay::RedisRelay::new(url, &config.redis_prefix).map_err(StartupError::Redis)?,
            ),
            None => None,
        };
        let limits = Limits::new(
            config.rate_limits_enabled(),
            config.redis_url.as_deref(),
            &config.redis_prefix,
        );
        let limits = Arc::new(limits.map_err(|e| StartupError::Redis(e.into()))?);
        let accounts = Accounts::new(AccountsConfig {
            db: db.clone(),
            jwt,
            limits: limits.clone(),
            storage: storage.clone(),
            bcrypt_cost: config.bcrypt_cost,
            registry: registry.clone(),
            relay: relay.clone(),
            refresh_ttl_secs: config.refresh_ttl_secs,
        });
        let chat = Chat::new(
            db,
            storage.clone(),
            registry.clone(),
            limits,
            config.max_thread_members,
            // the per-user cap is a rate limit like the others: `RATE_LIMITS=off` lifts it
            config
                .rate_limits_enabled()
                .then(|| usize::try_from(config.max_connections_per_user).unwrap_or(usize::MAX)),
            relay,
        );
        chat.start_ended_session_sweep();
        let config = Arc::new(config);
        let state = web::Data::new(AppState {
            config: config.clone(),
            storage,
            accounts,
            chat,
            openapi_json: serde_json::to_string(&openapi::document()).unwrap_or_default(),
            asyncapi_json: serde_json::to_string(&asyncapi::document()).unwrap_or_default(),
        });

        let static_dir = config.static_dir.clone();
        let stall = Duration::from_secs(config.http_stall_secs);
        let cors_origins = config.cors_origins.clone();
        let app_state = state.clone();
        let app = move || {
            let mut default_headers = DefaultHeaders::new();
            for header in http::DEFAULT_HEADERS {
                default_headers = default_headers.add(header);
            }
            App::new()
                .app_data(app_state.clone())
                .configure(http::extractor_configs)
                // innermost, so the 408 it makes of a stalled body gets the headers and metrics
                .wrap_fn(move |mut req, srv| {
                    let stalled = http::stall::guard(&mut req, stall);
                    let call = srv.call(req);
                    async move {
                        let response = call.await?;
                        Ok::<_, actix_web::Error>(http::stall::answer(response, stalled.get()))
                    }
                })
                .wrap(actix_web::middleware::Condition::new(
                    !cors_origins.is_empty(),
                    cors(&cors_origins),
                ))
                .wrap(default_headers)
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let method = req.method().clone();
                    let path = req.path().to_owned();
                    let call = srv.call(req);
                    async move {
                        let response = call.await?;
                        let route = response.request().match_pattern();
                        let route = route.as_deref().unwrap_or("unmatched");
                        let status = response.status().as_u16();
                        http::record_request(&method, &path, route, status, started);
                        Ok::<_, actix_web::Error>(response)
                    }
                })
                .configure(|cfg| {
                    let mut routes = http::route_table();
                    routes.extend(ws::route_table());
                    http::register(cfg, routes)
                })
                .service(
                    // only reads: any other method on a path no route has is our JSON 404,
                    // not the files service's plain-text 405
                    actix_files::Files::new("/", &static_dir)
                        .index_file("index.html")
                        .guard(
                            actix_web::guard::Any(actix_web::guard::Get())
                                .or(actix_web::guard::Head()),
                        )
                        .default_handler(web::to(http::not_found)),
                )
                .default_service(web::to(http::not_found))
        };
        let listener = listen(config.bind_addr).map_err(|source| StartupError::Bind {
            addr: config.bind_addr.to_string(),
            source,
        })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.bind_addr.to_string(),
            source,
        })?;
        let mut server = actix_server::Server::build()
            .disable_signals()
            .shutdown_timeout(10);
        if let Some(workers) = config.workers {
            server = server.workers(workers.max(1));
        }
        // What actix-web's `HttpServer` builds, plus the upgrade service: WebSocket upgrades
        // leave the HTTP dispatcher with their socket (see `ws`); each connection's stream is an
        // `HttpStream`, which puts actix-http's own 408 for a stalled head in our envelope.
        let server = server
            .listen("chat-server", listener, move || {
                let state = state.clone();
                let upgrade = fn_service(
                    move |(req, upgraded): (Request, ws::transport::Upgraded<HttpStream>)| {
                        let state = state.clone();
                        async move {
                            ws::serve_upgrade(state, req, upgraded).await;
                            Ok::<(), actix_web::Error>(())
                        }
                    },
                );
                let app = app().into_factory().map_err(|err| err.error_response());
                let http = HttpService::build()
                    .client_request_timeout(stall)
                    .local_addr(local_addr)
                    .upgrade(upgrade)
                    .finish(map_config(app, move |_| AppConfig::default()));
                fn_service(|tcp: tokio::net::TcpStream| async move {
                    let _ = tcp.set_nodelay(true);
                    let peer = tcp.peer_addr().ok();
                    Ok::<_, DispatchError>((HttpStream::new(tcp), Protocol::Http1, peer))
                })
                .and_then(http)
            })
            .map_err(|source| StartupError::Bind {
                addr: config.bind_addr.to_string(),
                source,
            })?;
        let port = local_addr.port();
        let server = server.run();
        Ok(Application {
            server,
            port,
            registry,
            db_kind,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn database_kind(&self) -> &'static str {
        self.db_kind
    }

    /// A handle that stops the server the way SIGTERM does.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            handle: self.server.handle(),
            registry: self.registry.clone(),
        }
    }

    /// Serves until stopped. SIGTERM or Ctrl-C: close every WebSocket with 1001 after flushing
    /// its queue, finish in-flight requests, then return; a second signal exits at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopper = self.stopper();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: closing WebSockets and finishing requests");
            let graceful = stopper.stop();
            tokio::spawn(graceful);
            wait_for_signal().await;
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        });
        self.server.await
    }
}

#[derive(Clone)]
pub struct Stopper {
    handle: ServerHandle,
    registry: Arc<Registry>,
}

impl Stopper {
    pub async fn stop(self) {
        self.registry.close_all(Close::GoingAway);
        // let connection tasks flush and send their close frames (bounded by their own timeout)
        for _ in 0..250 {
            if self.registry.running_tasks() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.handle.stop(true).await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
