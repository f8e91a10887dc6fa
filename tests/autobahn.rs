//! WebSocket conformance: the Autobahn TestSuite's fuzzing client (sections 1-7) against the
//! connection layer `/ws` runs (`chat_server::ws::transport`, with the server's default limits),
//! mounted here with an echo handler because Autobahn judges a server by its echoes.
//!
//! Runs when `AUTOBAHN_WSTEST` names a `wstest` command (`.ci/run` sets it to
//! `tests/autobahn/wstest` whenever the machine has Python 2.7); otherwise it says it skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use actix_http::{HttpService, Request, Response};
use actix_web::dev::fn_service;
use chat_server::config::Config;
use chat_server::ws::transport::{self, Ending, Limits, Received, Upgraded};
use serde_json::{json, Value};

async fn echo(req: Request, upgraded: Upgraded, limits: Limits) {
    if transport::verify(&req).is_err() {
        return transport::refuse(upgraded, Response::bad_request()).await;
    }
    let Ok(mut socket) = transport::accept(&req, upgraded, limits).await else {
        return;
    };
    loop {
        match socket.recv().await {
            Received::Text(text) => socket.send_text(text.as_bytes()),
            Received::Binary(bytes) => socket.send_binary(&bytes),
            Received::WantsFrames => {}
            Received::Ended(Ending::ByPeer) => return,
            Received::Ended(Ending::Fail(code)) => return socket.close(code).await,
        }
    }
}

/// Case outcomes Autobahn counts as conformant.
fn passed(result: &Value) -> bool {
    let ok = |field: &str| {
        matches!(
            result[field].as_str(),
            Some("OK" | "NON-STRICT" | "INFORMATIONAL")
        )
    };
    ok("behavior") && ok("behaviorClose")
}

#[tokio::test]
#[cfg_attr(
    not(chat_autobahn_tests),
    ignore = "needs AUTOBAHN_WSTEST=tests/autobahn/wstest (Python 2.7) when built"
)]
async fn autobahn_sections_1_to_7_pass_against_the_connection_layer() {
    let wstest = std::env::var("AUTOBAHN_WSTEST").expect("AUTOBAHN_WSTEST");
    // relative to the crate, like the README's command; wstest runs in a temporary directory
    let wstest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(wstest);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_data_dir(dir.path());
    let limits = chat_server::ws::transport_limits(&config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    // the server's own stack: HTTP/1 hands upgrade requests over with their connection
    let running = actix_server::Server::build()
        .workers(1)
        .disable_signals()
        .listen("autobahn-echo", listener, move || {
            let upgrade = fn_service(move |(req, upgraded): (Request, Upgraded)| async move {
                echo(req, upgraded, limits).await;
                Ok::<(), actix_web::Error>(())
            });
            let plain =
                fn_service(|_: Request| async { Ok::<_, actix_web::Error>(Response::not_found()) });
            HttpService::build().upgrade(upgrade).finish(plain).tcp()
        })
        .expect("listen")
        .run();
    let stopper = running.handle();
    tokio::spawn(running);

    // kept after the run, for reading the report of a failed case
    // AUTOBAHN_CASES="6.5.*,7.13.*" reruns a few cases while fixing them
    let only: Option<Vec<String>> = std::env::var("AUTOBAHN_CASES")
        .ok()
        .map(|list| list.split(',').map(str::to_owned).collect());
    let cases = only.clone().unwrap_or_else(|| {
        ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*"]
            .map(String::from)
            .to_vec()
    });
    let reports = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("autobahn");
    let _ = std::fs::remove_dir_all(&reports);
    let spec = json!({
        "outdir": reports,
        "servers": [{"agent": "chat-server", "url": format!("ws://127.0.0.1:{port}")}],
        "cases": cases,
        "exclude-cases": [],
        "exclude-agent-cases": {}
    });
    let spec_path = dir.path().join("fuzzingclient.json");
    std::fs::write(&spec_path, spec.to_string()).expect("write spec");
    let workdir = dir.path().to_owned();
    // one line per case; kept beside the reports instead of flooding the test output
    std::fs::create_dir_all(&reports).expect("reports dir");
    let log = std::fs::File::create(reports.join("wstest.log")).expect("wstest log");
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&wstest)
            .args(["-m", "fuzzingclient", "-s"])
            .arg(&spec_path)
            .current_dir(workdir)
            .stdout(log)
            .status()
    })
    .await
    .expect("join")
    .expect("run wstest");
    stopper.stop(true).await;
    assert!(status.success(), "wstest failed: {status}");

    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("index.json")).expect("Autobahn's index.json"),
    )
    .expect("index.json is JSON");
    let results: BTreeMap<String, Value> =
        serde_json::from_value(index["chat-server"].clone()).expect("results for our agent");
    if only.is_none() {
        assert!(results.len() >= 240, "only {} cases ran", results.len());
    }
    let failures: Vec<String> = results
        .iter()
        .filter(|(_, result)| !passed(result))
        .map(|(case, result)| {
            format!(
                "{case}: behavior {} close {} (report {})",
                result["behavior"],
                result["behaviorClose"],
                reports
                    .join(result["reportfile"].as_str().unwrap_or("?"))
                    .display()
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} Autobahn cases failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}
