//! The security review's login, hashing, timeout, address, start-up and name items.

use std::time::Duration;

use chat_server::config::{Config, Switch};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Two tests of one scenario: on the in-memory limits, and on Redis (ignored without it).
macro_rules! on_memory_and_redis {
    ($scenario:ident: $memory:ident, $redis:ident) => {
        #[tokio::test]
        async fn $memory() {
            $scenario(limited_app(false).await.unwrap()).await;
        }

        #[tokio::test]
        #[cfg_attr(not(chat_redis_tests), ignore = "needs CHAT_TEST_REDIS_URL (Redis)")]
        async fn $redis() {
            $scenario(limited_app(true).await.expect("CHAT_TEST_REDIS_URL")).await;
        }
    };
}

/// Limits on, client address from X-Forwarded-For; on Redis (own key prefix) when asked and
/// `CHAT_TEST_REDIS_URL` is set, else `None` for a Redis run without Redis.
async fn limited_app(redis: bool) -> Option<TestApp> {
    let redis_url = if redis {
        Some(std::env::var("CHAT_TEST_REDIS_URL").ok()?)
    } else {
        None
    };
    Some(
        spawn_app_with(move |c: &mut Config| {
            c.rate_limits = Switch::On;
            c.trust_proxy = true;
            if let Some(url) = redis_url {
                c.redis_url = Some(url);
                c.redis_prefix = format!("authhard_{}", rand_suffix());
            }
        })
        .await,
    )
}

/// A login from `addr` (as the trusted proxy's appended hop); status, Retry-After, body.
async fn login_from(
    app: &TestApp,
    addr: &str,
    user_name: &str,
    password: &str,
) -> (u16, Option<u64>, Value) {
    let res = app
        .client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", format!("198.18.0.1, {addr}"))
        .json(&json!({"userName": user_name, "password": password}))
        .send()
        .await
        .unwrap();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let (status, body) = read(res).await;
    (status, retry, body)
}

async fn register_from(app: &TestApp, addr: &str, user_name: &str, password: &str) -> u16 {
    let res = app
        .client
        .post(app.url("/auth/register"))
        .header("x-forwarded-for", addr)
        .json(&json!({"nickName": "Owner", "userName": user_name, "password": password, "confirmPassword": password}))
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

async fn a_stranger_cannot_lock_the_owner_out(app: TestApp) {
    assert_eq!(
        register_from(&app, "192.0.2.200", "owner_1", PASSWORD).await,
        200
    );
    for i in 0..10 {
        let (status, _, body) =
            login_from(&app, "203.0.113.66", "owner_1", &format!("Wrong{i}xx")).await;
        assert_eq!(status, 401, "attempt {i}: {body}");
        assert_eq!(body["message"], "userName or password is incorrect");
    }
    // the stranger's 11th attempt is refused, even with the right password
    let (status, retry, body) = login_from(&app, "203.0.113.66", "OWNER_1", PASSWORD).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("RATE_LIMITED")));
    assert!((1..=900).contains(&retry.unwrap()), "{retry:?}");
    // the owner, from another address, logs in
    let (status, _, body) = login_from(&app, "198.51.100.20", "owner_1", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // and the success reset nothing for the stranger
    let (status, _, _) = login_from(&app, "203.0.113.66", "owner_1", PASSWORD).await;
    assert_eq!(status, 429);
}

on_memory_and_redis!(a_stranger_cannot_lock_the_owner_out: failed_logins_count_per_address_so_a_stranger_cannot_lock_the_owner_out, failed_logins_count_per_address_on_redis_too);

/// Redis configured but away: each node still limits, in its own memory, instead of not at all.
#[tokio::test]
async fn failed_logins_are_counted_in_memory_while_redis_is_away() {
    let app = spawn_app_with(|c: &mut Config| {
        c.rate_limits = Switch::On;
        c.trust_proxy = true;
        // nothing listens on port 1: every Redis call fails at once
        c.redis_url = Some("redis://127.0.0.1:1".into());
    })
    .await;
    a_stranger_cannot_lock_the_owner_out(app).await;
}

/// A TCP proxy to Redis whose connections can be frozen: they stay open and carry nothing
/// more (a half-open connection, as after a network partition); later connections pass.
async fn freezable_proxy(redis_url: &str) -> (String, tokio::sync::watch::Sender<u32>) {
    let upstream = redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let (freeze, watch) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let (upstream, mut watch) = (upstream.clone(), watch.clone());
            let born = *watch.borrow();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
                    _ = watch.wait_for(|n| *n > born) => {}
                }
                // frozen: hold both ends open, forward nothing
                std::future::pending::<()>().await;
                drop((inbound, outbound));
            });
        }
    });
    (url, freeze)
}

/// A limits connection that stops answering (no error, no close) is given up after its
/// timeout and made afresh: the counts go back to Redis, where the other nodes see them,
/// instead of staying on this node's memory for as long as the dead connection lasts.
#[tokio::test]
#[cfg_attr(not(chat_redis_tests), ignore = "needs CHAT_TEST_REDIS_URL (Redis)")]
async fn a_half_open_redis_connection_is_replaced() {
    let redis_url = std::env::var("CHAT_TEST_REDIS_URL").expect("CHAT_TEST_REDIS_URL");
    let (proxied, freeze) = freezable_proxy(&redis_url).await;
    let prefix = format!("halfopen_{}", rand_suffix());
    let node = |url: String, prefix: String| {
        spawn_app_with(move |c: &mut Config| {
            c.rate_limits = Switch::On;
            c.trust_proxy = true;
            c.redis_url = Some(url);
            c.redis_prefix = prefix;
        })
    };
    let a = node(proxied, prefix.clone()).await;
    let b = node(redis_url, prefix).await;
    // node A's limits connect through the proxy...
    let (status, _, _) = login_from(&a, "198.51.100.1", "ghost_0", "Wrong1xx").await;
    assert_eq!(status, 401);
    // ...which then stops carrying anything on that connection
    freeze.send_modify(|n| *n += 1);
    for i in 0..10 {
        let (status, _, body) = login_from(&a, "203.0.113.9", "ghost_1", "Wrong1xx").await;
        assert_eq!(status, 401, "failure {i}: {body}");
    }
    // the failures reached Redis: node B refuses that address for that name too
    let (status, _, body) = login_from(&b, "203.0.113.9", "ghost_1", "Wrong1xx").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("RATE_LIMITED")));
}

async fn a_hundred_failures_from_everywhere_lock_the_name(app: TestApp) {
    assert_eq!(
        register_from(&app, "192.0.2.201", "target_1", PASSWORD).await,
        200
    );
    // 99 failures from 10 addresses (each stays under its own 10, and under 60 a minute)
    for i in 0..99 {
        let addr = format!("203.0.113.{}", i / 10);
        let (status, _, body) = login_from(&app, &addr, "target_1", "Wrong1xx").await;
        assert_eq!(status, 401, "failure {i}: {body}");
    }
    // below the ceiling the owner still gets in, and that resets nothing
    let (status, _, body) = login_from(&app, "198.51.100.1", "target_1", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = login_from(&app, "203.0.113.9", "target_1", "Wrong1xx").await;
    assert_eq!(status, 401, "the 100th failure");
    // now everyone is refused for this name, before any password check
    for addr in ["198.51.100.1", "198.51.100.2", "2001:db8::1"] {
        let (status, retry, body) = login_from(&app, addr, "Target_1", PASSWORD).await;
        assert_eq!(status, 429, "{addr}: {body}");
        assert_eq!(body["code"], "RATE_LIMITED");
        assert!((1..=900).contains(&retry.unwrap()));
    }
    // another name is not affected
    assert_eq!(
        register_from(&app, "192.0.2.202", "bystander", PASSWORD).await,
        200
    );
    let (status, _, _) = login_from(&app, "198.51.100.2", "bystander", PASSWORD).await;
    assert_eq!(status, 200);
}

on_memory_and_redis!(a_hundred_failures_from_everywhere_lock_the_name: a_hundred_failures_from_all_addresses_lock_the_name_for_everyone, a_hundred_failures_lock_the_name_on_redis_too);

/// An unknown name each time, so only the per-address budget of 60 a minute applies.
async fn nobody_login(app: &TestApp, forwarded: &str, i: usize) -> u16 {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"userName": format!("nobody_{i}"), "password": "x"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_rightmost_forwarded_hop_is_the_client_address() {
    let app = limited_app(false).await.unwrap();
    // the client forges a new leftmost hop every time; the proxy's appended hop is the same
    for i in 0..60 {
        let forwarded = format!("10.9.{}.{}, 203.0.113.8", i / 200, i % 200);
        assert_eq!(nobody_login(&app, &forwarded, i).await, 401, "request {i}");
    }
    assert_eq!(
        nobody_login(&app, "10.200.0.1, 203.0.113.8", 60).await,
        429,
        "a forged leftmost hop buys no new budget"
    );
    // several headers: the last hop of the last one (a port is ignored)
    let res = app
        .client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", "198.51.100.77")
        .header("x-forwarded-for", "10.0.0.1, 203.0.113.8:4711")
        .json(&json!({"userName": "nobody_x", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert_eq!(
        nobody_login(&app, "203.0.113.8, 198.51.100.9", 61).await,
        401,
        "another address has its own budget"
    );
}

#[tokio::test]
async fn ipv6_clients_are_limited_per_64() {
    let app = limited_app(false).await.unwrap();
    for i in 0..60 {
        let forwarded = format!("2001:db8:1:2:{:x}::{:x}", i, i + 1);
        assert_eq!(nobody_login(&app, &forwarded, i).await, 401, "request {i}");
    }
    assert_eq!(
        nobody_login(&app, "[2001:db8:1:2:ffff:1:2:3]:443", 60).await,
        429,
        "any address of the same /64 shares the budget"
    );
    assert_eq!(
        nobody_login(&app, "2001:db8:1:3::1", 61).await,
        401,
        "the next /64 is another client"
    );
}

#[tokio::test]
async fn passwords_over_72_bytes_never_match() {
    let app = spawn_app().await;
    let password = format!("Ab1{}", "x".repeat(69));
    assert_eq!(password.len(), 72);
    assert_eq!(register_from(&app, "", "longpass_1", &password).await, 200);
    for longer in [
        format!("{password}y"),
        format!("{password}{}", "z".repeat(500)),
    ] {
        let (status, body) = app
            .post_json(
                "/auth/login",
                &json!({"userName": "longpass_1", "password": longer}),
            )
            .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["message"], "userName or password is incorrect");
        assert_eq!(body["code"], "UNAUTHORIZED");
    }
    let (status, body) = app
        .post_json(
            "/auth/login",
            &json!({"userName": "longpass_1", "password": password}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn saturated_password_hashing_answers_503_at_once_and_recovers() {
    // about 1 s a hash on a quiet core, more on a loaded one: a queue of 40 is minutes of work
    let app = spawn_app_with(|c| {
        c.bcrypt_cost = 14;
        c.rate_limits = Switch::On;
        c.trust_proxy = true;
    })
    .await;
    assert_eq!(
        register_from(&app, "192.0.2.9", "hashed_1", PASSWORD).await,
        200
    );
    let logins = (0..40).map(|i| {
        let app = &app;
        async move {
            // wrong passwords, one address each: neither login limit answers first
            let addr = format!("203.0.113.{i}");
            login_from(app, &addr, "hashed_1", &format!("Wrong{i}xx")).await
        }
    });
    let results = futures_util::future::join_all(logins).await;
    let refused: Vec<_> = results.iter().filter(|(s, _, _)| *s == 503).collect();
    let checked = results.iter().filter(|(s, _, _)| *s == 401).count();
    assert_eq!(refused.len() + checked, 40, "only 401 or 503: {results:?}");
    assert!(checked >= 1, "the queue admits some work");
    assert!(
        refused.len() >= 10,
        "the rest is refused: {}",
        refused.len()
    );
    for (_, retry, body) in refused {
        assert_eq!(body["code"], "UNAVAILABLE", "{body}");
        assert_eq!(body["success"], false);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(retry.is_some_and(|r| r >= 1), "Retry-After: {retry:?}");
    }
    // the server serves again once the queue has drained
    let (status, _, body) = login_from(&app, "198.51.100.3", "hashed_1", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
}

/// Writes a request head announcing `len` body bytes; returns the socket.
async fn post_head(app: &TestApp, len: usize) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let head = format!(
        "POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Everything the server writes until it closes the connection.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut out))
        .await
        .expect("the server answers and closes")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_timeout_and_closed() {
    let app = spawn_app_with(|c| c.http_stall_secs = 2).await;
    let body = br#"{"userName":"nobody_1","password":"x"}"#;
    let mut stream = post_head(&app, body.len()).await;
    // trickles a few bytes, each within the limit, then stops
    for b in &body[..4] {
        stream.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let reply = read_to_close(&mut stream).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    let json_start = reply.find('{').expect("a JSON body");
    let envelope: Value = serde_json::from_str(reply[json_start..].trim()).unwrap();
    assert_eq!(envelope["code"], "TIMEOUT", "{envelope}");
    assert_eq!(envelope["success"], false);
}

#[tokio::test]
async fn a_stalled_head_is_answered_408_timeout_in_the_envelope() {
    let app = spawn_app_with(|c| c.http_stall_secs = 2).await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    // half a request head, then nothing
    stream
        .write_all(b"POST /auth/login HTTP/1.1\r\nhost: x\r\ncontent-ty")
        .await
        .unwrap();
    let reply = read_to_close(&mut stream).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{reply}"
    );
    let json_start = reply.find('{').expect("a JSON body");
    let envelope: Value = serde_json::from_str(reply[json_start..].trim()).unwrap();
    assert_eq!(envelope["code"], "TIMEOUT", "{envelope}");
    assert_eq!(envelope["success"], false);
    // the server keeps serving everyone else
    let healthz = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
}

#[tokio::test]
async fn a_slow_but_steady_body_is_not_cut() {
    let app = spawn_app_with(|c| c.http_stall_secs = 2).await;
    let body = br#"{"userName":"nobody_1","password":"xxxxxxxxx"}"#;
    let mut stream = post_head(&app, body.len()).await;
    // about 8 s in all, four times the stall limit, never 2 s without a byte
    for chunk in body.chunks(6) {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        stream.write_all(chunk).await.unwrap();
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&reply).contains("userName not Found") {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("a reply")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buf[..n]);
    }
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn a_data_dir_the_server_creates_is_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("fresh").join("data");
    let mut config = Config::for_data_dir(&data);
    config.bcrypt_cost = 4;
    config.rate_limits = Switch::Off;
    config.static_dir = static_dir();
    config.database_url = None; // the SQLite files are what this is about
    let app = chat_server::Application::build(config).await.unwrap();
    let port = app.port();
    let stopper = app.stopper();
    tokio::spawn(app.run_until_stopped());
    // a write, so that SQLite has its -wal and -shm files
    register_at(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}"),
        "modes_user",
    )
    .await;
    assert_eq!(mode(&data), 0o700, "DATA_DIR");
    for file in ["chat.db", "chat.db-wal", "chat.db-shm", "jwt_secret"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    stopper.stop().await;
}

#[tokio::test]
async fn a_short_jwt_secret_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .env("BIND_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("DATA_DIR", dir.path())
        .env("JWT_SECRET", "x".repeat(31))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // a server that starts anyway would run forever: give it a while, then stop it
    let mut exited = false;
    for _ in 0..300 {
        if child.try_wait().unwrap().is_some() {
            exited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !exited {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(exited, "start-up must stop");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("JWT_SECRET"), "{stderr}");
    // the library refuses it too; 32 bytes are enough
    let built = chat_server::Application::build(Config {
        jwt_secret: Some("y".repeat(31)),
        ..Config::for_data_dir(dir.path())
    })
    .await;
    assert!(built.is_err());
    let app = spawn_app_with(|c| c.jwt_secret = Some("z".repeat(32))).await;
    app.register("secret_ok").await;
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_wider_data_dir_is_kept_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", dir.path())
        .env("BCRYPT_COST", "4")
        .env_remove("JWT_SECRET")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(up, "the server starts: {log}");
    assert!(
        log.contains("WARN") && log.contains("DATA_DIR is readable by other users"),
        "{log}"
    );
    assert_eq!(mode(dir.path()), 0o755, "left as it is");
    assert_eq!(mode(&dir.path().join("chat.db")), 0o600);
}

#[tokio::test]
async fn bidi_controls_are_refused_in_nick_names() {
    let app = spawn_app().await;
    for nick in ["evil\u{202E}gnp.exe", "\u{2066}x\u{2069}"] {
        let (status, body) = app
            .post_json(
                "/auth/register",
                &json!({"nickName": nick, "userName": "bidi_user", "password": PASSWORD, "confirmPassword": PASSWORD}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("VALIDATION")),
            "{body}"
        );
    }
    // emoji with joiners and variation selectors are fine
    let (status, body) = app
        .post_json(
            "/auth/register",
            &json!({"nickName": "👩‍👩‍👧 ❤\u{FE0F}", "userName": "bidi_user", "password": PASSWORD, "confirmPassword": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["accessToken"].as_str().unwrap();
    let res = app
        .client
        .patch(app.url("/users/me"))
        .bearer_auth(token)
        .json(&json!({"nickName": "a\u{202B}b"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION")),
        "{body}"
    );
}

#[tokio::test]
async fn bidi_controls_are_refused_in_thread_names() {
    let app = spawn_app().await;
    let alice = app.register("bidi_alice").await;
    let bob = app.register("bidi_bobby").await;
    let (status, body) = app
        .post_json_as(
            &alice.token,
            "/threads",
            &json!({"name": "team\u{2067}abc", "memberIds": [bob.id]}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION")),
        "{body}"
    );
    let (status, body) = app
        .post_json_as(
            &alice.token,
            "/threads",
            &json!({"name": "team 🏳️‍🌈", "memberIds": [bob.id]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["thread"]["name"], "team 🏳️‍🌈");
}

/// A name no account can have (here 100 KB long) is answered like an unknown one and never
/// becomes a lockout key: the failures are not counted, so memory does not grow with them.
#[tokio::test]
async fn impossible_user_names_are_not_counted_as_failed_logins() {
    let app = limited_app(false).await.unwrap();
    let huge = "x".repeat(100_000);
    for attempt in 0..12 {
        let (status, _, body) = login_from(&app, "203.0.113.77", &huge, PASSWORD).await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
        assert_eq!(body["message"], "userName not Found");
    }
}

/// Attempts in flight together are counted as they are admitted, not when their password check
/// ends: of thirty wrong passwords sent at once from one address, ten are judged (401) and the
/// rest refused (429), as if they had come one after another.
async fn concurrent_failures_cannot_pass_the_count(app: TestApp) {
    assert_eq!(
        register_from(&app, "192.0.2.210", "racer_01", PASSWORD).await,
        200
    );
    let attempts = (0..30).map(|_| login_from(&app, "203.0.113.90", "racer_01", "Wrong1xx"));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|(status, _, _)| status)
        .collect();
    let judged = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((judged, refused), (10, 20), "{statuses:?}");
    // the right password is refused from there too now, and accepted from elsewhere
    let (status, _, _) = login_from(&app, "203.0.113.90", "racer_01", PASSWORD).await;
    assert_eq!(status, 429);
    let (status, _, body) = login_from(&app, "203.0.113.91", "racer_01", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
}

on_memory_and_redis!(concurrent_failures_cannot_pass_the_count: concurrent_failed_logins_cannot_pass_the_count, concurrent_failed_logins_cannot_pass_the_count_on_redis_too);
