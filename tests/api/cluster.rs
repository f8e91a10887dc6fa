//! Several nodes sharing PostgreSQL and Redis. Needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL
//! (`.ci/run` sets both) when the tests are built; without them each test is ignored.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

/// Built only when both variables were set at compile time (build.rs); elsewhere the tests are
/// ignored with the reason, so a run without the services never counts them as passed.
pub(crate) fn cluster_env() -> (String, String) {
    let redis = std::env::var("CHAT_TEST_REDIS_URL").expect("CHAT_TEST_REDIS_URL");
    let db = fresh_database_url().expect("CHAT_TEST_PG_URL");
    (db, redis)
}

pub(crate) async fn node(db: &str, redis: &str, prefix: &str) -> TestApp {
    node_with(db, redis, prefix, |_| {}).await
}

async fn node_with(
    db: &str,
    redis: &str,
    prefix: &str,
    tweak: impl FnOnce(&mut chat_server::config::Config),
) -> TestApp {
    let (db, redis, prefix) = (db.to_owned(), redis.to_owned(), prefix.to_owned());
    let app = spawn_app_with(move |c| {
        tweak(c);
        c.database_url = Some(db);
        c.redis_url = Some(redis);
        c.redis_prefix = prefix;
        // every node of a deployment shares one secret
        c.jwt_secret = Some("cluster-secret-for-tests-32-bytes-long".into());
    })
    .await;
    wait_relay_ready(&app.address).await;
    app
}

/// Reads `per_socket` answers from each socket: how many were acks, how many RATE_LIMITED.
async fn count_answers(sockets: &mut [WsClient], per_socket: usize) -> (usize, usize) {
    let (mut acks, mut limited) = (0, 0);
    for ws in sockets.iter_mut() {
        let mut answered = 0;
        while answered < per_socket {
            let frame = ws.recv().await;
            match frame["type"].as_str() {
                Some("ack") => acks += 1,
                Some("error") if frame["code"] == "RATE_LIMITED" => limited += 1,
                _ => continue,
            }
            answered += 1;
        }
    }
    (acks, limited)
}

/// Waits until the node's /healthz says its relay is `ok` (or is not).
async fn wait_relay_ok(address: &str, ok: bool) {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(res) = client.get(format!("{address}/healthz")).send().await {
            let (_, body) = read(res).await;
            if body["relay"]["ok"] == ok {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the relay of {address} never reported ok = {ok}");
}

async fn wait_relay_ready(address: &str) {
    wait_relay_ok(address, true).await
}

#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn two_nodes_exchange_messages_typing_reads_and_presence() {
    let (db, redis) = cluster_env();
    let prefix = format!("test{}", rand_suffix());
    let n1 = node(&db, &redis, &prefix).await;
    let n2 = node(&db, &redis, &prefix).await;
    let alice = n1.register("alice_n1").await;
    let bob = n2.register("bob_n2xx").await;
    let thread = n1.direct(&alice, &bob).await;
    let mut a = n1.connect(&alice).await;
    let mut b = n2.connect(&bob).await;
    assert_eq!(
        a.recv_type("presence").await,
        json!({"type": "presence", "userId": bob.id, "online": true})
    );

    a.send(json!({"type": "send", "id": 1, "threadId": thread, "text": "across nodes"}))
        .await;
    let ack = a.recv_type("ack").await;
    assert_eq!(b.recv_type("message").await["message"], ack["message"]);
    b.send(json!({"type": "typing", "threadId": thread, "isTyping": true}))
        .await;
    assert_eq!(a.recv_type("typing").await["user"]["id"], bob.id);
    let id = ack["message"]["id"].as_i64().unwrap();
    b.send(json!({"type": "read", "threadId": thread, "messageId": id}))
        .await;
    assert_eq!(
        a.recv_type("read").await,
        json!({"type": "read", "threadId": thread, "userId": bob.id, "messageId": id})
    );
    // a second device of bob on node 1: going offline on node 2 alone is not offline
    let b_other = n1.connect(&bob).await;
    drop(b);
    a.expect_none("presence", Duration::from_millis(500)).await;
    drop(b_other);
    assert_eq!(
        a.recv_type("presence").await,
        json!({"type": "presence", "userId": bob.id, "online": false})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn a_group_spread_over_two_nodes_gets_every_message_once() {
    let (db, redis) = cluster_env();
    let prefix = format!("test{}", rand_suffix());
    let nodes = [
        node(&db, &redis, &prefix).await,
        node(&db, &redis, &prefix).await,
    ];
    const N: usize = 12;
    let mut users = Vec::new();
    for i in 0..N {
        users.push(nodes[i % 2].register(&format!("spread{i:03}")).await);
    }
    let members: Vec<&TestUser> = users[1..].iter().collect();
    let group = nodes[0].group(&users[0], "Spread", &members).await;
    let mut clients = Vec::new();
    for (i, user) in users.iter().enumerate() {
        clients.push(nodes[i % 2].connect(user).await);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                ws.send(json!({"type": "send", "id": i, "threadId": group, "text": format!("from {i}")})).await;
                let mut seen = Vec::new();
                while seen.len() < N {
                    let frame = ws.recv().await;
                    match frame["type"].as_str() {
                        Some("message") | Some("ack") => seen.push(frame["message"]["id"].as_i64().unwrap()),
                        _ => {}
                    }
                }
                ws.expect_none("message", Duration::from_millis(500)).await;
                seen
            })
        })
        .collect();
    let mut expected: Option<Vec<i64>> = None;
    for task in tasks {
        let mut seen = task.await.unwrap();
        seen.sort_unstable();
        let before = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), before, "no duplicates");
        match &expected {
            None => expected = Some(seen),
            Some(e) => assert_eq!(&seen, e, "everyone got the same messages"),
        }
    }
}

struct ChildNode {
    child: Child,
    address: String,
    port: u16,
}

/// A child process killed when the test ends, pass or fail.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_process(
    db: &str,
    redis: &str,
    prefix: &str,
    data_dir: &std::path::Path,
    secret: &str,
) -> ChildNode {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", data_dir)
        .env("DATABASE_URL", db)
        .env("REDIS_URL", redis)
        .env("REDIS_PREFIX", prefix)
        .env("JWT_SECRET", secret)
        .env("RATE_LIMITS", "off")
        .env("BCRYPT_COST", "4")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chat-server");
    ChildNode {
        child,
        address: format!("http://127.0.0.1:{port}"),
        port,
    }
}

/// Node 2 is SIGKILLed mid-conversation: node 1 keeps serving, node 2's user reconnects to
/// node 1 and syncs everything, and presence turns offline once node 2's heartbeat expires.
#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn a_killed_node_loses_nothing_and_its_users_go_offline() {
    let (db, redis) = cluster_env();
    let prefix = format!("test{}", rand_suffix());
    let secret = "cluster-secret-for-tests-32-bytes-long";
    let dir = tempfile::tempdir().unwrap();
    let n1 = spawn_process(&db, &redis, &prefix, dir.path(), secret);
    let mut n2 = spawn_process(&db, &redis, &prefix, dir.path(), secret);
    for n in [&n1, &n2] {
        wait_relay_ready(&n.address).await;
    }
    let client = reqwest::Client::new();
    let alice = register_at(&client, &n1.address, "alice_kill").await;
    let bob = register_at(&client, &n2.address, "bob_killxx").await;
    let (_, body) = read(
        client
            .post(format!("{}/threads", n1.address))
            .bearer_auth(&alice.token)
            .json(&json!({"userId": bob.id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let thread = body["thread"]["id"].as_i64().unwrap();
    let mut a = WsClient::connect(&format!("ws://127.0.0.1:{}/ws", n1.port), &alice.token).await;
    let mut b = WsClient::connect(&format!("ws://127.0.0.1:{}/ws", n2.port), &bob.token).await;
    a.recv_where(|f| f["type"] == "presence" && f["online"] == true)
        .await;
    let mut sent = Vec::new();
    for i in 0..3 {
        a.send(json!({"type": "send", "id": i, "threadId": thread, "text": format!("before {i}")}))
            .await;
        sent.push(a.recv_type("ack").await["message"]["id"].as_i64().unwrap());
        b.recv_type("message").await;
    }
    let last_seen_by_bob = *sent.last().unwrap();
    n2.child.kill().unwrap();
    n2.child.wait().unwrap();
    for i in 0..3 {
        a.send(
            json!({"type": "send", "id": 10 + i, "threadId": thread, "text": format!("after {i}")}),
        )
        .await;
        sent.push(a.recv_type("ack").await["message"]["id"].as_i64().unwrap());
    }
    // within the node TTL (15 s) plus a heartbeat (5 s)
    let offline = loop {
        let frame = a.recv_within(Duration::from_secs(30)).await;
        if frame["type"] == "presence" && frame["userId"] == bob.id {
            break frame;
        }
    };
    assert_eq!(offline["online"], false);
    let mut b = WsClient::connect(&format!("ws://127.0.0.1:{}/ws", n1.port), &bob.token).await;
    b.send(json!({"type": "sync", "id": "s", "after": last_seen_by_bob}))
        .await;
    let page = b.recv_type("ack").await;
    let got: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m: &Value| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, sent[3..].to_vec());
    drop(n1);
}

/// Redis restarted during traffic: delivery across nodes resumes by itself.
#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn delivery_resumes_after_redis_restarts() {
    let (db, _) = cluster_env();
    let port = free_port();
    let start_redis = || {
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server")
    };
    let mut redis = Reaped(start_redis());
    let url = format!("redis://127.0.0.1:{port}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let prefix = format!("test{}", rand_suffix());
    let n1 = node(&db, &url, &prefix).await;
    let n2 = node(&db, &url, &prefix).await;
    let alice = n1.register("alice_redis").await;
    let bob = n2.register("bob_redisx").await;
    let thread = n1.direct(&alice, &bob).await;
    let mut a = n1.connect(&alice).await;
    let mut b = n2.connect(&bob).await;
    a.send(json!({"type": "send", "id": 1, "threadId": thread, "text": "one"}))
        .await;
    a.recv_type("ack").await;
    b.recv_type("message").await;

    redis.0.kill().unwrap();
    redis.0.wait().unwrap();
    // while Redis is down the node keeps serving its own connections and storing messages
    a.send(json!({"type": "send", "id": 2, "threadId": thread, "text": "during the outage"}))
        .await;
    let during = a.recv_type("ack").await["message"]["id"].as_i64().unwrap();
    let _redis = Reaped(start_redis());
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_relay_ready(&n1.address).await;
    wait_relay_ready(&n2.address).await;
    a.send(json!({"type": "send", "id": 3, "threadId": thread, "text": "after"}))
        .await;
    let after = a.recv_type("ack").await;
    let got = b
        .recv_where(|f| f["type"] == "message" && f["message"]["text"] == "after")
        .await;
    assert_eq!(got["message"], after["message"]);
    b.send(json!({"type": "sync", "id": "s", "after": during - 1}))
        .await;
    let page = b.recv_type("ack").await;
    assert_eq!(
        page["messages"][0]["id"], during,
        "what the relay missed is in sync"
    );
    drop(redis);
}

/// Rate limits hold across nodes: failures and sends on two nodes count against one budget.
#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn rate_limits_hold_across_nodes() {
    let (db, redis) = cluster_env();
    let prefix = format!("test{}", rand_suffix());
    let on = |c: &mut chat_server::config::Config| c.rate_limits = chat_server::config::Switch::On;
    let n1 = node_with(&db, &redis, &prefix, on).await;
    let n2 = node_with(&db, &redis, &prefix, on).await;
    let alice = n1.register("alice_lim").await;
    let bob = n2.register("bob_limxx").await;
    for i in 0..10 {
        let node = if i % 2 == 0 { &n1 } else { &n2 };
        let (status, _) = node
            .post_json(
                "/auth/login",
                &json!({"userName": "alice_lim", "password": format!("Wrong{i}aa1")}),
            )
            .await;
        assert_eq!(status, 401);
    }
    for node in [&n1, &n2] {
        let (status, body) = node
            .post_json(
                "/auth/login",
                &json!({"userName": "alice_lim", "password": PASSWORD}),
            )
            .await;
        assert_eq!((status, body["code"].clone()), (429, json!("RATE_LIMITED")));
    }

    let thread = n1.direct(&alice, &bob).await;
    let mut sockets = [n1.connect(&alice).await, n2.connect(&alice).await];
    for (n, ws) in sockets.iter_mut().enumerate() {
        for i in 0..50 {
            ws.send(
                json!({"type": "send", "id": format!("{n}-{i}"), "threadId": thread, "text": "x"}),
            )
            .await;
        }
    }
    let (acks, limited) = count_answers(&mut sockets, 50).await;
    assert!(
        acks < 80,
        "one bucket of 60 (plus refill) for both nodes, got {acks} acks"
    );
    assert!(limited > 20, "{limited}");
}

#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn typing_to_future_thread_ids_does_not_stop_their_delivery_on_any_node() {
    let (db, redis) = cluster_env();
    let prefix = format!("test{}", rand_suffix());
    let n1 = node(&db, &redis, &prefix).await;
    let n2 = node(&db, &redis, &prefix).await;
    naming_future_thread_ids_spoils_nothing(&n1, &n2, &[&n1, &n2], "fn").await;
}

/// A TCP proxy to Redis that the test can cut (every connection dropped, new ones refused) and
/// restore: a relay that misses events for as long as the test needs, deterministically.
struct CuttableProxy {
    url: String,
    cut: tokio::sync::watch::Sender<bool>,
}

async fn cuttable_proxy(redis_url: &str) -> CuttableProxy {
    let upstream = redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let (cut, watch) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if *watch.borrow() {
                continue; // dropped: refused while cut
            }
            let (upstream, mut watch) = (upstream.clone(), watch.clone());
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = watch.wait_for(|cut| *cut) => {}
                }
            });
        }
    });
    CuttableProxy { url, cut }
}

async fn wait_relay_down(address: &str) {
    wait_relay_ok(address, false).await
}

#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn membership_changes_missed_during_a_relay_outage_are_not_served_from_cache() {
    let (db, redis) = cluster_env();
    let prefix = format!("test{}", rand_suffix());
    let proxy = cuttable_proxy(&redis).await;
    let n1 = node(&db, &redis, &prefix).await;
    let n2 = node(&db, &proxy.url, &prefix).await;
    let alice = n1.register("alice_cut").await;
    let bob = n2.register("bobby_cut").await;
    let carol = n2.register("carol_cut").await;
    let group = n1.group(&alice, "Outage", &[&bob]).await;
    let mut a = n1.connect(&alice).await;
    let mut b = n2.connect(&bob).await;
    let mut c = n2.connect(&carol).await;
    // node 2 resolves the group's members for this message, and caches them
    a.send(json!({"type": "send", "id": 1, "threadId": group, "text": "before"}))
        .await;
    a.recv_type("ack").await;
    assert_eq!(b.recv_type("message").await["message"]["text"], "before");

    proxy.cut.send_replace(true);
    wait_relay_down(&n2.address).await;
    // node 1 changes the members; node 2 cannot hear its invalidations
    let (status, _) = n1
        .post_json_as(
            &alice.token,
            &format!("/threads/{group}/members"),
            &json!({"userId": carol.id}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = n1
        .delete_as(
            &alice.token,
            &format!("/threads/{group}/members/{}", bob.id),
        )
        .await;
    assert_eq!(status, 200);
    proxy.cut.send_replace(false);
    wait_relay_ready(&n2.address).await;

    a.send(json!({"type": "send", "id": 2, "threadId": group, "text": "after"}))
        .await;
    a.recv_type("ack").await;
    assert_eq!(
        c.recv_type("message").await["message"]["text"],
        "after",
        "the added member gets it"
    );
    b.expect_none("message", Duration::from_millis(1000)).await;
}

#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn large_reads_share_one_bucket_across_nodes() {
    let (db, redis) = cluster_env();
    let prefix = format!("test{}", rand_suffix());
    let on = |c: &mut chat_server::config::Config| c.rate_limits = chat_server::config::Switch::On;
    let n1 = node_with(&db, &redis, &prefix, on).await;
    let n2 = node_with(&db, &redis, &prefix, on).await;
    let alice = n1.register("alice_rdlim").await;
    let bob = n2.register("bob_rdlimx").await;
    let thread = n1.direct(&alice, &bob).await;
    let mut sockets = [n1.connect(&alice).await, n2.connect(&alice).await];
    for (n, ws) in sockets.iter_mut().enumerate() {
        for i in 0..25 {
            ws.send(json!({"type": "history", "id": format!("{n}-{i}"), "threadId": thread}))
                .await;
        }
    }
    let (acks, limited) = count_answers(&mut sockets, 25).await;
    assert!(
        acks < 40,
        "one bucket of 20 (plus refill) for both nodes, got {acks} acks"
    );
    assert!(limited > 0, "{limited}");
}

#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn edits_reactions_and_deletes_reach_members_on_the_other_node() {
    use crate::lifecycle::ask;
    let (db, redis) = cluster_env();
    let prefix = format!("lifecycle-{}", rand_suffix());
    let a = node(&db, &redis, &prefix).await;
    let b = node(&db, &redis, &prefix).await;
    let alice = register_at(&a.client, &a.address, "alice_nodes").await;
    let bob = register_at(&b.client, &b.address, "bob_nodes").await;
    let thread = a.direct(&alice, &bob).await;
    let mut alice_ws = WsClient::connect(&a.ws_url(), &alice.token).await;
    let mut alice_other = WsClient::connect(&b.ws_url(), &alice.token).await;
    let mut bob_ws = WsClient::connect(&b.ws_url(), &bob.token).await;
    let sent = ask(
        &mut alice_ws,
        "1",
        json!({"type": "send", "threadId": thread, "text": "across"}),
    )
    .await;
    let id = sent["message"]["id"].clone();
    let is_update = |f: &Value, key: &str, want: &Value| {
        f["type"] == "messageUpdated" && f["message"]["id"] == id && f["message"][key] == *want
    };
    let edit = ask(
        &mut alice_ws,
        "2",
        json!({"type": "edit", "messageId": id, "text": "across, edited"}),
    )
    .await;
    assert_eq!(edit["type"], "ack", "{edit}");
    let want = json!("across, edited");
    for ws in [&mut bob_ws, &mut alice_other] {
        let event = ws.recv_where(|f| is_update(f, "text", &want)).await;
        assert_eq!(event["message"], edit["message"]);
    }
    let react = ask(
        &mut bob_ws,
        "3",
        json!({"type": "react", "messageId": id, "emoji": "🚀", "on": true}),
    )
    .await;
    let want = react["message"]["reactions"].clone();
    alice_ws
        .recv_where(|f| is_update(f, "reactions", &want))
        .await;
    let (status, _) = a
        .delete_as(&alice.token, &format!("/threads/{thread}/messages/{id}"))
        .await;
    assert_eq!(status, 200);
    for ws in [&mut bob_ws, &mut alice_other, &mut alice_ws] {
        ws.recv_where(|f| is_update(f, "deleted", &json!(true)))
            .await;
    }
}

#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn a_session_ended_during_a_relay_outage_closes_its_sockets_once_the_relay_is_back() {
    let (db, redis) = cluster_env();
    let prefix = format!("test{}", rand_suffix());
    let proxy = cuttable_proxy(&redis).await;
    let n1 = node(&db, &redis, &prefix).await;
    let n2 = node(&db, &proxy.url, &prefix).await;
    let bob = n1.register("bobby_outage").await;
    let mut on_n2 = WsClient::connect(&n2.ws_url(), &bob.token).await;
    proxy.cut.send_replace(true);
    wait_relay_down(&n2.address).await;
    // node 1 ends the session; node 2 cannot hear it
    let (status, _) = n1
        .post_json_as(&bob.token, "/auth/logout", &json!({}))
        .await;
    assert_eq!(status, 200);
    proxy.cut.send_replace(false);
    wait_relay_ready(&n2.address).await;
    assert_eq!(on_n2.closed_with().await, 4003);
}
