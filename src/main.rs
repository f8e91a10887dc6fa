use tracing_subscriber::EnvFilter;

use chat_server::config_file::{self, LoadError};
use chat_server::Application;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let loaded = match config_file::load(std::env::args_os()) {
        Ok(loaded) => loaded,
        Err(LoadError::Clap(e)) => e.exit(),
        Err(LoadError::File(problem)) => {
            eprintln!("chat-server: {problem}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let config = loaded.config.clone();
    // before anything else runs, so a bad setting is the one line the operator sees
    if let Err(problem) = config.validate() {
        eprintln!("chat-server: {problem}");
        return std::process::ExitCode::FAILURE;
    }
    if config.print_config {
        print!("{}", loaded.render());
        return std::process::ExitCode::SUCCESS;
    }
    if let Some(command) = &config.command {
        // synchronous database work, off the async runtime's workers
        let config = config.clone();
        let command = command.clone();
        let outcome =
            tokio::task::spawn_blocking(move || chat_server::admin::run(&config, &command)).await;
        return match outcome {
            Ok(Ok(out)) => {
                print!("{out}");
                std::process::ExitCode::SUCCESS
            }
            Ok(Err(e)) => {
                eprintln!("chat-server: {e}");
                std::process::ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("chat-server: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    // 10,000 sockets need far more descriptors than the usual soft limit of 1,024
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open files"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
    }
    let report = chat_server::doctor::check(&config).await;
    if config.check {
        print!("{}", report.render());
        return if report.ok() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        };
    }
    for line in report.render().lines() {
        tracing::info!("{line}");
    }
    let app = match Application::build(config.clone()).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("chat-server: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        address = %config.bind_addr.ip(),
        port = app.port(),
        database = app.database_kind(),
        data_dir = %config.data_dir.display(),
        "chat-server listening"
    );
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
