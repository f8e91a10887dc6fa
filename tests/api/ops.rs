//! What an operator relies on: limits, token expiry, shutdown, metrics, logs.

use std::time::Duration;

use chat_server::config::Switch;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::*;

#[tokio::test]
async fn failed_logins_lock_a_user_name_for_the_window() {
    let app = spawn_app_with(|c| c.rate_limits = Switch::On).await;
    app.register("lockme_1").await;
    for i in 0..10 {
        let (status, _) = app
            .post_json(
                "/auth/login",
                &json!({"userName": "lockme_1", "password": format!("Wrong{i}xx1")}),
            )
            .await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let res = app
        .client
        .post(app.url("/auth/login"))
        .json(&json!({"userName": "LockMe_1", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        429,
        "the 11th attempt is refused, even with the right password"
    );
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry));
    let (_, body) = read(res).await;
    assert_eq!(body["code"], "RATE_LIMITED");
    // another user name is not affected
    app.register("other_user").await;
    let (status, _) = app
        .post_json(
            "/auth/login",
            &json!({"userName": "other_user", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn auth_requests_are_limited_per_client_address() {
    let app = spawn_app_with(|c| {
        c.rate_limits = Switch::On;
        c.trust_proxy = true;
    })
    .await;
    // a different unknown name each time, so the per-name lock never applies; the rightmost
    // hop (the trusted proxy appended it) is the client
    let login = |addr: &'static str, i: usize| {
        app.client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", format!("10.0.0.1, {addr}"))
            .json(&json!({"userName": format!("nobody_{i}"), "password": "x"}))
            .send()
    };
    let mut statuses = Vec::new();
    for i in 0..60 {
        statuses.push(login("203.0.113.7", i).await.unwrap().status().as_u16());
    }
    assert!(statuses.iter().all(|&s| s == 401), "{statuses:?}");
    let last = login("203.0.113.7", 60).await.unwrap();
    assert_eq!(last.status().as_u16(), 429);
    assert!(last.headers().contains_key("retry-after"));
    assert_eq!(
        login("198.51.100.9", 61).await.unwrap().status().as_u16(),
        401,
        "another address has its own budget"
    );
}

#[tokio::test]
async fn a_send_flood_is_slowed_but_the_socket_stays() {
    let app = spawn_app_with(|c| c.rate_limits = Switch::On).await;
    let alice = app.register("flooder1").await;
    let bob = app.register("floodee1").await;
    let thread = app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    for i in 0..100 {
        a.send(json!({"type": "send", "id": i, "threadId": thread, "text": "spam"}))
            .await;
    }
    let (mut acks, mut limited) = (0, 0);
    while acks + limited < 100 {
        let frame = a.recv().await;
        match frame["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") if frame["code"] == "RATE_LIMITED" => limited += 1,
            _ => {}
        }
    }
    assert!(acks >= 60, "the burst passes: {acks}");
    assert!(limited > 0, "the flood is slowed");
    a.send(json!({"type": "ping", "id": "still"})).await;
    assert_eq!(a.recv_type("pong").await["id"], "still");
}

#[tokio::test]
async fn an_expiring_token_closes_its_socket_with_4001() {
    let app = spawn_app_with(|c| c.jwt_ttl_secs = 2).await;
    let user = app.register("shortlived").await;
    let mut ws = app.connect(&user).await;
    assert_eq!(ws.closed_with().await, 4001);
    let (status, body) = app.get_as(&user.token, "/auth").await;
    assert_eq!(
        (status, body["message"].clone()),
        (401, json!("Invalid AccessToken"))
    );
    let res = app
        .client
        .get(app.url(&format!("/ws?token={}", user.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        401,
        "an expired token cannot open a socket"
    );
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001_and_keeps_acked_messages() {
    let app = spawn_app().await;
    let alice = app.register("alice_down").await;
    let bob = app.register("bobby_down").await;
    let thread = app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    let mut acked = Vec::new();
    for i in 0..20 {
        a.send(json!({"type": "send", "id": i, "threadId": thread, "text": format!("m{i}")}))
            .await;
        acked.push(a.recv_type("ack").await["message"]["id"].as_i64().unwrap());
    }
    let stopping = tokio::spawn(app.stopper.clone().stop());
    assert_eq!(a.closed_with().await, 1001);
    stopping.await.unwrap();
    let app = restart(app, |_| {}).await;
    let (_, page) = app
        .get_as(
            &alice.token,
            &format!("/threads/{thread}/messages?limit=100"),
        )
        .await;
    let stored: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(stored, acked);
}

#[tokio::test]
async fn metrics_move_with_traffic() {
    let app = spawn_app().await;
    let alice = app.register("alice_met").await;
    let bob = app.register("bobby_met").await;
    let thread = app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    a.send(json!({"type": "send", "id": 1, "threadId": thread, "text": "count me"}))
        .await;
    a.recv_type("ack").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "http_requests_total",
        "http_request_duration_seconds",
        "ws_connections",
        "messages_stored_total",
        "ws_frames_in_total",
        "bcrypt_seconds",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert!(text.contains(r#"route="/auth/register""#));
}

#[tokio::test]
async fn binary_frames_and_garbage_do_not_hurt_other_users() {
    let app = spawn_app().await;
    let alice = app.register("alice_bin").await;
    let bob = app.register("bobby_bin").await;
    let thread = app.direct(&alice, &bob).await;
    let mut attacker = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    for i in 0..50u8 {
        attacker
            .send_raw(WsMessage::Binary(vec![i; 100].into()))
            .await;
        attacker
            .send_raw(WsMessage::Text(format!("{{\"type\":{i}").into()))
            .await;
    }
    b.send(json!({"type": "ping", "id": 1})).await;
    assert_eq!(b.recv_type("pong").await["id"], 1);
    attacker
        .send(json!({"type": "send", "id": "ok", "threadId": thread, "text": "fine"}))
        .await;
    assert_eq!(
        attacker.recv_where(|f| f["type"] == "ack").await["id"],
        "ok"
    );
    assert_eq!(b.recv_type("message").await["message"]["text"], "fine");
}

#[tokio::test]
async fn query_tokens_never_reach_the_log() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", dir.path())
        .env("BCRYPT_COST", "4")
        .env("RUST_LOG", "debug")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut token = String::new();
    for _ in 0..50 {
        let body = json!({"nickName": "Log", "userName": "logged_user", "password": PASSWORD, "confirmPassword": PASSWORD});
        if let Ok(res) = client
            .post(format!("{base}/auth/register"))
            .json(&body)
            .send()
            .await
        {
            token = read(res).await.1["accessToken"]
                .as_str()
                .unwrap()
                .to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!token.is_empty());
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?token={token}"))
            .await
            .unwrap();
    use futures_util::StreamExt;
    ws.next().await.unwrap().unwrap();
    drop(ws);
    let _ = client
        .get(format!("{base}/auth"))
        .bearer_auth(&token)
        .send()
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log.contains("/ws"), "the request itself is logged");
    assert!(!log.contains(&token), "the token must not be logged");
    assert!(!log.contains(PASSWORD), "nor the password");
}

#[tokio::test]
async fn cors_is_same_origin_unless_configured() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/auth/login"))
        .header("origin", "https://evil.example")
        .json(&json!({"userName": "someone_x", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let app = spawn_app_with(|c| c.cors_origins = vec!["https://app.example".into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn check_reports_what_the_node_runs_on() {
    // `--check` on a SQLite file in `data_dir`, without Redis
    let check = |data_dir: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .arg("--check")
            .env("DATA_DIR", data_dir)
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .output()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // --check changes nothing: pending migrations are counted, not run, no file is created
    assert!(
        text.contains("database: sqlite, 0 migrations applied,") && !text.contains(" 0 pending"),
        "{text}"
    );
    assert!(
        !dir.path().join("chat.db").exists(),
        "--check created the database"
    );
    drop(chat_server::db::Db::connect(&dir.path().join("chat.db").to_string_lossy()).unwrap());
    let out = check(dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" 0 pending") && !text.contains("0 migrations applied"),
        "{text}"
    );
    let missing = dir.path().join("not-yet");
    let out = check(&missing);
    assert!(out.status.success());
    assert!(!missing.exists(), "--check created the data dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .arg("--check")
        .env("DATA_DIR", dir.path())
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL  redis"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .env("BIND_ADDR", "nonsense")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BIND_ADDR"),
        "a bad setting is named"
    );
}

#[tokio::test]
async fn connections_per_user_are_capped() {
    let app = spawn_app_with(|c| {
        c.max_connections_per_user = 2;
        c.rate_limits = Switch::On;
    })
    .await;
    let user = app.register("manyconns").await;
    let _one = app.connect(&user).await;
    let _two = app.connect(&user).await;
    let res = app
        .client
        .get(app.url(&format!("/ws?token={}", user.token)))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!((status, body["code"].clone()), (429, json!("RATE_LIMITED")));
    drop(_two);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _again = app.connect(&user).await;

    // a load test with one account: RATE_LIMITS=off lifts the cap with the other limits
    let open = spawn_app_with(|c| c.max_connections_per_user = 2).await;
    let user = open.register("loadtester").await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        sockets.push(open.connect(&user).await);
    }
}

#[tokio::test]
async fn multipart_field_count_is_capped() {
    let app = spawn_app_with(|c| c.max_form_parts = 5).await;
    let form = |n: usize| {
        let mut form = reqwest::multipart::Form::new()
            .text("nickName", "Parts")
            .text("userName", format!("parts{n}x"))
            .text("password", PASSWORD)
            .text("confirmPassword", PASSWORD);
        for i in 4..n {
            form = form.text(format!("extra{i}"), "x");
        }
        form
    };
    let (status, body) = read(
        app.client
            .post(app.url("/auth/register"))
            .multipart(form(5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = read(
        app.client
            .post(app.url("/auth/register"))
            .multipart(form(6))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (400, json!("VALIDATION")));
}
