use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::*;

#[tokio::test]
async fn refused_without_a_valid_token_and_accepted_with_query_token() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/ws")).send().await.unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["message"].clone()),
        (401, json!("AccessToken Not Found"))
    );
    let user = app.register("wsquery").await;
    let url = format!("{}?token={}", app.ws_url(), user.token);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("query token accepted");
    use futures_util::StreamExt;
    let first = socket.next().await.unwrap().unwrap();
    let first: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(first["type"], "ready");
    assert_eq!(first["user"]["id"], user.id);
    assert!(first["connectionId"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
}

#[tokio::test]
async fn send_acks_the_sender_and_reaches_every_other_connection_once() {
    let app = spawn_app().await;
    let alice = app.register("alice_ws").await;
    let bob = app.register("bob_wsxx").await;
    let thread = app.direct(&alice, &bob).await;
    let mut a1 = app.connect(&alice).await;
    let mut a2 = app.connect(&alice).await;
    let mut b1 = app.connect(&bob).await;
    a1.send(json!({"type": "send", "id": "r1", "threadId": thread, "text": "  hi\tBob\n😀 ", "clientMsgId": "c-1"})).await;
    let ack = a1.recv_type("ack").await;
    assert_eq!(ack["id"], "r1");
    let message = ack["message"].clone();
    assert_eq!(message["text"], "  hi\tBob\n😀 ", "stored exactly as sent");
    assert_eq!(message["threadId"], thread);
    assert_eq!(message["sender"]["id"], alice.id);
    assert_eq!(message["clientMsgId"], "c-1");
    assert!(message["sender"].get("password").is_none());
    for client in [&mut a2, &mut b1] {
        let event = client.recv_type("message").await;
        assert_eq!(event["message"], message);
    }
    a1.expect_none("message", Duration::from_millis(300)).await;

    // a retry with the same clientMsgId: the original, not stored or delivered twice
    a1.send(json!({"type": "send", "id": "r2", "threadId": thread, "text": "different", "clientMsgId": "c-1"})).await;
    let again = a1.recv_type("ack").await;
    assert_eq!(again["id"], "r2");
    assert_eq!(again["message"], message);
    b1.expect_none("message", Duration::from_millis(300)).await;
    let (_, page) = app
        .get_as(&bob.token, &format!("/threads/{thread}/messages"))
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
}

/// The same clientMsgId from several connections at once: their sends usually share one group
/// commit, where the later ones fail on the unique index inside their own savepoints. One
/// message is stored, every sender is acked with it, a message sent beside them is stored too,
/// and the other member gets each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_retries_store_one_message_and_spoil_nothing_beside_them() {
    let app = spawn_app().await;
    let alice = app.register("alice_race").await;
    let bob = app.register("bob_racexx").await;
    let carol = app.register("carol_race").await;
    let thread = app.group(&alice, "Race", &[&bob, &carol]).await;
    let mut senders = Vec::new();
    for _ in 0..6 {
        senders.push(app.connect(&alice).await);
    }
    let mut other = app.connect(&carol).await;
    let mut watcher = app.connect(&bob).await;
    for round in 0..5 {
        let cmid = format!("race-{round}");
        for (i, ws) in senders.iter_mut().enumerate() {
            ws.send(json!({"type": "send", "id": i, "threadId": thread, "text": "once", "clientMsgId": cmid})).await;
        }
        other
            .send(json!({"type": "send", "id": "beside", "threadId": thread, "text": "beside"}))
            .await;
        let mut ids = std::collections::HashSet::new();
        for ws in senders.iter_mut() {
            let ack = ws.recv_type("ack").await;
            assert_eq!(ack["message"]["clientMsgId"], cmid.as_str());
            ids.insert(ack["message"]["id"].as_i64().unwrap());
        }
        assert_eq!(ids.len(), 1, "one message for one clientMsgId: {ids:?}");
        let beside = other.recv_type("ack").await["message"]["id"]
            .as_i64()
            .unwrap();
        // everything for bob was queued before his pong
        watcher.send(json!({"type": "ping", "id": round})).await;
        let mut seen = Vec::new();
        loop {
            let frame = watcher.recv().await;
            match frame["type"].as_str() {
                Some("message") => seen.push(frame["message"]["id"].as_i64().unwrap()),
                Some("pong") => break,
                _ => {}
            }
        }
        seen.sort_unstable();
        let mut expected: Vec<i64> = ids.into_iter().chain([beside]).collect();
        expected.sort_unstable();
        assert_eq!(seen, expected, "round {round}");
    }
    let (_, page) = app
        .get_as(&bob.token, &format!("/threads/{thread}/messages?limit=100"))
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn every_error_code_and_the_connection_stays_usable() {
    let app = spawn_app().await;
    let alice = app.register("alice_err").await;
    let bob = app.register("bob_errxx").await;
    let carol = app.register("carol_err").await;
    let private = app.direct(&bob, &carol).await;
    let mine = app.direct(&alice, &bob).await;
    let mut ws = app.connect(&alice).await;
    let cases: Vec<(WsMessage, &str, Value)> = vec![
        (WsMessage::Text("{nope".into()), "BAD_JSON", Value::Null),
        (WsMessage::Text("[1,2]".into()), "BAD_JSON", Value::Null),
        (
            WsMessage::Text(r#"{"type":"dance","id":1}"#.into()),
            "UNKNOWN_TYPE",
            json!(1),
        ),
        (
            WsMessage::Text(r#"{"id":2}"#.into()),
            "VALIDATION",
            json!(2),
        ),
        (
            WsMessage::Text(r#"{"type":7,"id":3}"#.into()),
            "VALIDATION",
            json!(3),
        ),
        (
            WsMessage::Text(
                format!(r#"{{"type":"send","id":"s","threadId":"{mine}","text":"x"}}"#).into(),
            ),
            "VALIDATION",
            json!("s"),
        ),
        (
            WsMessage::Text(format!(r#"{{"type":"send","id":4,"threadId":{mine}}}"#).into()),
            "VALIDATION",
            json!(4),
        ),
        (
            WsMessage::Text(
                format!(r#"{{"type":"send","id":5,"threadId":{mine},"text":"   "}}"#).into(),
            ),
            "VALIDATION",
            json!(5),
        ),
        (
            WsMessage::Text(
                format!(r#"{{"type":"send","id":6,"threadId":{mine},"text":"a\u0000b"}}"#).into(),
            ),
            "VALIDATION",
            json!(6),
        ),
        (
            WsMessage::Text(
                format!(
                    r#"{{"type":"send","id":7,"threadId":{mine},"text":"{}"}}"#,
                    "x".repeat(4001)
                )
                .into(),
            ),
            "VALIDATION",
            json!(7),
        ),
        (
            WsMessage::Text(
                format!(r#"{{"type":"send","id":8,"threadId":{private},"text":"hi"}}"#).into(),
            ),
            "NOT_MEMBER",
            json!(8),
        ),
        (
            WsMessage::Text(r#"{"type":"send","id":9,"threadId":999999,"text":"hi"}"#.into()),
            "NOT_FOUND",
            json!(9),
        ),
        (
            WsMessage::Text(format!(r#"{{"type":"history","id":10,"threadId":{private}}}"#).into()),
            "NOT_MEMBER",
            json!(10),
        ),
        (
            WsMessage::Text(
                format!(r#"{{"type":"history","id":11,"threadId":{mine},"limit":101}}"#).into(),
            ),
            "VALIDATION",
            json!(11),
        ),
        (
            WsMessage::Text(r#"{"type":"sync","id":12,"after":0,"limit":501}"#.into()),
            "VALIDATION",
            json!(12),
        ),
        (
            WsMessage::Text(
                format!(r#"{{"type":"typing","id":13,"threadId":{private},"isTyping":true}}"#)
                    .into(),
            ),
            "NOT_MEMBER",
            json!(13),
        ),
        (
            WsMessage::Text(
                format!(r#"{{"type":"read","id":14,"threadId":{mine},"messageId":123456}}"#).into(),
            ),
            "NOT_FOUND",
            json!(14),
        ),
        (
            WsMessage::Binary(vec![1u8, 2, 3].into()),
            "BAD_FRAME",
            Value::Null,
        ),
    ];
    for (frame, code, id) in cases {
        let shown = format!("{frame:?}");
        ws.send_raw(frame).await;
        let error = ws.recv_type("error").await;
        assert_eq!(error["code"], code, "{shown}: {error}");
        assert_eq!(error["id"], id, "{shown}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    ws.send(json!({"type": "send", "id": "ok", "threadId": mine, "text": "still here", "clientMsgId": "e1"})).await;
    assert_eq!(ws.recv_type("ack").await["message"]["text"], "still here");
    ws.send(json!({"type": "ping", "id": "p"})).await;
    assert_eq!(
        ws.recv_type("pong").await,
        json!({"type": "pong", "id": "p"})
    );
}

#[tokio::test]
async fn oversized_frame_closes_with_1009() {
    let app = spawn_app_with(|c| c.max_frame_bytes = 1024).await;
    let user = app.register("bigframe").await;
    let mut ws = app.connect(&user).await;
    ws.send(json!({"type": "ping", "id": "x".repeat(2000)}))
        .await;
    assert_eq!(ws.closed_with().await, 1009);
}

#[tokio::test]
async fn typing_and_read_marks_reach_the_others() {
    let app = spawn_app().await;
    let alice = app.register("alice_typ").await;
    let bob = app.register("bob_typxx").await;
    let thread = app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    a.send(json!({"type": "typing", "threadId": thread, "isTyping": true}))
        .await;
    let typing = b.recv_type("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "threadId": thread, "user": {"id": alice.id, "nickName": "Nick alice_typ"}, "isTyping": true})
    );
    a.expect_none("typing", Duration::from_millis(200)).await;

    a.send(json!({"type": "send", "id": 1, "threadId": thread, "text": "one"}))
        .await;
    let first = a.recv_type("ack").await["message"]["id"].as_i64().unwrap();
    a.send(json!({"type": "send", "id": 2, "threadId": thread, "text": "two"}))
        .await;
    let second = a.recv_type("ack").await["message"]["id"].as_i64().unwrap();
    let (_, threads) = app.get_as(&bob.token, "/threads").await;
    assert_eq!(threads["threads"][0]["unreadCount"], 2);

    b.send(json!({"type": "read", "threadId": thread, "messageId": first}))
        .await;
    let read = a.recv_type("read").await;
    assert_eq!(
        read,
        json!({"type": "read", "threadId": thread, "userId": bob.id, "messageId": first})
    );
    let (_, threads) = app.get_as(&bob.token, "/threads").await;
    assert_eq!(threads["threads"][0]["unreadCount"], 1);
    b.send(json!({"type": "read", "id": "r", "threadId": thread, "messageId": second}))
        .await;
    assert_eq!(b.recv_type("ack").await["id"], "r");
    let (_, threads) = app.get_as(&bob.token, "/threads").await;
    assert_eq!(threads["threads"][0]["unreadCount"], 0);
    // read marks never move back
    b.send(json!({"type": "read", "threadId": thread, "messageId": first}))
        .await;
    a.recv_type("read").await;
    a.recv_type("read").await;
    let (_, threads) = app.get_as(&bob.token, "/threads").await;
    assert_eq!(threads["threads"][0]["unreadCount"], 0);
}

#[tokio::test]
async fn history_pages_and_sync_after_reconnect() {
    let app = spawn_app().await;
    let alice = app.register("alice_his").await;
    let bob = app.register("bob_hisxx").await;
    let thread = app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        a.send(json!({"type": "send", "id": i, "threadId": thread, "text": format!("m{i}")}))
            .await;
        ids.push(a.recv_type("ack").await["message"]["id"].as_i64().unwrap());
    }
    a.send(json!({"type": "history", "id": "h", "threadId": thread, "limit": 2}))
        .await;
    let page = a.recv_type("ack").await;
    let got: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[3..].to_vec());
    assert_eq!(page["hasMore"], true);
    a.send(
        json!({"type": "history", "id": "h2", "threadId": thread, "before": ids[3], "limit": 3}),
    )
    .await;
    let page = a.recv_type("ack").await;
    let got: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[..3].to_vec());
    assert_eq!(page["hasMore"], false);

    // bob was offline for all of it: sync returns exactly the missed messages, in pages
    let mut b = app.connect(&bob).await;
    b.send(json!({"type": "sync", "id": "s1", "after": ids[0], "limit": 3}))
        .await;
    let page = b.recv_type("ack").await;
    let got: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        (got, page["hasMore"].clone()),
        (ids[1..4].to_vec(), json!(true))
    );
    b.send(json!({"type": "sync", "id": "s2", "after": ids[3]}))
        .await;
    let page = b.recv_type("ack").await;
    let got: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!((got, page["hasMore"].clone()), (vec![ids[4]], json!(false)));
}

#[tokio::test]
async fn presence_on_first_open_and_last_close() {
    let app = spawn_app().await;
    let alice = app.register("alice_pre").await;
    let bob = app.register("bob_prexx").await;
    app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    let b1 = app.connect(&bob).await;
    assert_eq!(
        a.recv_type("presence").await,
        json!({"type": "presence", "userId": bob.id, "online": true})
    );
    let b2 = app.connect(&bob).await;
    a.expect_none("presence", Duration::from_millis(300)).await;
    drop(b1);
    a.expect_none("presence", Duration::from_millis(300)).await;
    drop(b2);
    assert_eq!(
        a.recv_type("presence").await,
        json!({"type": "presence", "userId": bob.id, "online": false})
    );
}

#[tokio::test]
async fn added_members_get_a_thread_event() {
    let app = spawn_app().await;
    let owner = app.register("owner_thr").await;
    let bob = app.register("bob_thrxx").await;
    let carol = app.register("carol_thr").await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;
    let group = app.group(&owner, "Team", &[&bob]).await;
    let event = b.recv_type("thread").await;
    assert_eq!(event["thread"]["id"], group);
    assert_eq!(event["thread"]["name"], "Team");
    let (status, _) = app
        .post_json_as(
            &owner.token,
            &format!("/threads/{group}/members"),
            &json!({"userId": carol.id}),
        )
        .await;
    assert_eq!(status, 200);
    let event = c.recv_type("thread").await;
    assert_eq!(event["thread"]["members"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn http_posts_are_delivered_like_sends() {
    let app = spawn_app().await;
    let alice = app.register("alice_http").await;
    let bob = app.register("bob_httpx").await;
    let thread = app.direct(&alice, &bob).await;
    let mut b = app.connect(&bob).await;
    let mut a = app.connect(&alice).await;
    let (status, body) = app
        .post_json_as(
            &alice.token,
            &format!("/threads/{thread}/messages"),
            &json!({"text": "via http", "clientMsgId": "h1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(b.recv_type("message").await["message"], body["message"]);
    assert_eq!(a.recv_type("message").await["message"], body["message"]);
    let (status, again) = app
        .post_json_as(
            &alice.token,
            &format!("/threads/{thread}/messages"),
            &json!({"text": "via http", "clientMsgId": "h1"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["message"], body["message"]);
    b.expect_none("message", Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_1013_and_others_are_unaffected() {
    let app = spawn_app_with(|c| c.ws_queue_frames = 4).await;
    let alice = app.register("alice_slo").await;
    let bob = app.register("bob_sloxx").await;
    let thread = app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    // bob connects and never reads; his socket buffers fill, then his queue
    let mut slow = app.connect(&bob).await;
    // 16 KB frames: enough to fill the loopback socket buffers on both sides
    let text = "😀".repeat(4000);
    for i in 0..1000 {
        a.send(json!({"type": "send", "id": i, "threadId": thread, "text": text}))
            .await;
        a.recv_type("ack").await;
    }
    assert_eq!(slow.closed_with().await, 1013);
    a.send(json!({"type": "ping", "id": "alive"})).await;
    assert_eq!(a.recv_type("pong").await["id"], "alive");
}

/// A client that asks for big replies and never reads them stalls its own socket with no event
/// arriving to overflow its queue; it is still closed once nothing moves for `WS_IDLE_SECS`.
#[tokio::test]
async fn a_socket_that_takes_no_bytes_is_closed_even_without_new_events() {
    let app = spawn_app_with(|c| {
        c.ws_idle_secs = 2;
        c.ws_ping_secs = 1;
    })
    .await;
    let alice = app.register("alice_stall").await;
    let bob = app.register("bob_stall").await;
    let thread = app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    let text = "😀".repeat(4000);
    for i in 0..30 {
        a.send(json!({"type": "send", "id": i, "threadId": thread, "text": text}))
            .await;
        a.recv_type("ack").await;
    }
    let mut stalled = app.connect(&bob).await;
    a.recv_where(|f| f["type"] == "presence" && f["online"] == true)
        .await;
    // ~0.5 MB per reply: far more than the socket buffers and actix's queue hold
    for i in 0..200 {
        stalled
            .send(json!({"type": "history", "id": i, "threadId": thread, "limit": 100}))
            .await;
    }
    let went_offline = async {
        loop {
            let frame = a.recv().await;
            if frame["type"] == "presence" && frame["userId"] == bob.id {
                return frame;
            }
        }
    };
    let frame = tokio::time::timeout(Duration::from_secs(40), went_offline)
        .await
        .expect("the stalled socket is closed");
    assert_eq!(frame["online"], false, "{frame}");
    drop(stalled);
    a.send(json!({"type": "ping", "id": "alive"})).await;
    assert_eq!(a.recv_type("pong").await["id"], "alive");
}

/// 200 connections in one group, each sending: everyone gets every message exactly once and in
/// ascending id order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crowd_of_200_gets_every_message_once_in_order() {
    const N: usize = 200;
    let app = spawn_app().await;
    let mut users = Vec::new();
    for i in 0..N {
        users.push(app.register(&format!("crowd{i:04}")).await);
    }
    let members: Vec<&TestUser> = users[1..].iter().collect();
    let group = app.group(&users[0], "Crowd", &members).await;
    let mut clients = Vec::new();
    for user in &users {
        clients.push(app.connect(user).await);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                ws.send(json!({"type": "send", "id": i, "threadId": group, "text": format!("hello from {i}")})).await;
                let mut seen: Vec<i64> = Vec::new();
                let mut own = None;
                while seen.len() < N {
                    let frame = ws.recv().await;
                    let id = match frame["type"].as_str() {
                        Some("message") => frame["message"]["id"].as_i64().unwrap(),
                        Some("ack") => {
                            let id = frame["message"]["id"].as_i64().unwrap();
                            own = Some(id);
                            id
                        }
                        _ => continue,
                    };
                    seen.push(id);
                }
                (seen, own)
            })
        })
        .collect();
    let mut all: HashMap<i64, usize> = HashMap::new();
    for task in tasks {
        let (seen, own) = task.await.unwrap();
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "ascending and without duplicates: {seen:?}"
        );
        assert!(own.is_some_and(|id| seen.contains(&id)));
        for id in seen {
            *all.entry(id).or_default() += 1;
        }
    }
    assert_eq!(all.len(), N);
    assert!(all.values().all(|&count| count == N));
}

#[tokio::test]
async fn new_contacts_learn_presence_and_members_hear_of_changes() {
    let app = spawn_app().await;
    let alice = app.register("alice_new").await;
    let bob = app.register("bobby_new").await;
    let carol = app.register("carol_new").await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;
    // no shared thread yet: no presence; then a direct thread makes them contacts
    app.direct(&alice, &bob).await;
    assert_eq!(
        a.recv_type("thread").await["thread"]["isGroup"],
        false,
        "the creator's devices hear of it too"
    );
    assert_eq!(
        a.recv_type("presence").await,
        json!({"type": "presence", "userId": bob.id, "online": true})
    );
    assert_eq!(
        b.recv_type("presence").await,
        json!({"type": "presence", "userId": alice.id, "online": true})
    );

    let group = app.group(&alice, "Trio", &[&bob]).await;
    let (status, _) = app
        .post_json_as(
            &alice.token,
            &format!("/threads/{group}/members"),
            &json!({"userId": carol.id}),
        )
        .await;
    assert_eq!(status, 200);
    // bob heard of the group when it was made, then of its new member list
    let of_group = |f: &Value| f["type"] == "thread" && f["thread"]["id"] == group;
    let created = b.recv_where(of_group).await;
    assert_eq!(created["thread"]["members"].as_array().unwrap().len(), 2);
    let changed = b.recv_where(of_group).await;
    assert_eq!(changed["thread"]["id"], group);
    assert_eq!(changed["thread"]["members"].as_array().unwrap().len(), 3);
    assert_eq!(c.recv_type("thread").await["thread"]["id"], group);
    let (status, _) = app
        .delete_as(
            &alice.token,
            &format!("/threads/{group}/members/{}", carol.id),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        c.recv_type("removed").await,
        json!({"type": "removed", "threadId": group})
    );
    let changed = b.recv_where(of_group).await;
    assert_eq!(changed["thread"]["members"].as_array().unwrap().len(), 2);
    c.expect_none("thread", Duration::from_millis(300)).await;
}

#[tokio::test]
async fn threads_carry_every_members_read_mark() {
    let app = spawn_app().await;
    let alice = app.register("alice_rm").await;
    let bob = app.register("bobby_rm").await;
    let thread = app.direct(&alice, &bob).await;
    let (_, body) = app
        .post_json_as(
            &alice.token,
            &format!("/threads/{thread}/messages"),
            &json!({"text": "read me"}),
        )
        .await;
    let id = body["message"]["id"].as_i64().unwrap();
    let mut b = app.connect(&bob).await;
    b.send(json!({"type": "read", "id": 1, "threadId": thread, "messageId": id}))
        .await;
    b.recv_type("ack").await;
    let (_, body) = app
        .get_as(&alice.token, &format!("/threads/{thread}"))
        .await;
    assert_eq!(body["thread"]["readMarks"][bob.id.to_string()], id);
    assert_eq!(body["thread"]["readMarks"][alice.id.to_string()], 0);
}

#[tokio::test]
async fn members_hear_of_adds_removals_leaves_and_renames() {
    let app = spawn_app().await;
    let alice = app.register("alice_ev").await;
    let bob = app.register("bobby_ev").await;
    let carol = app.register("carol_ev").await;
    let group = app.group(&alice, "Events", &[&bob, &carol]).await;
    let (_, body) = app
        .post_json_as(
            &bob.token,
            &format!("/threads/{group}/messages"),
            &json!({"text": "unread for alice and carol"}),
        )
        .await;
    let message_id = body["message"]["id"].as_i64().unwrap();
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;
    let is_group = |f: &Value| f["type"] == "thread" && f["thread"]["id"] == group;

    let res = app
        .client
        .patch(app.url(&format!("/threads/{group}")))
        .bearer_auth(&alice.token)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for (ws, unread) in [(&mut a, 1), (&mut b, 0), (&mut c, 1)] {
        let event = ws.recv_where(is_group).await;
        assert_eq!(event["thread"]["name"], "Renamed");
        // each member sees the thread as theirs
        assert_eq!(event["thread"]["unreadCount"], unread, "{event}");
    }

    // carol leaves: she gets `removed` and no `thread`; the others the new member list
    let (status, _) = app
        .delete_as(
            &carol.token,
            &format!("/threads/{group}/members/{}", carol.id),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        c.recv_where(|f| f["type"] == "removed" || f["type"] == "thread")
            .await,
        json!({"type": "removed", "threadId": group})
    );
    for ws in [&mut a, &mut b] {
        let event = ws.recv_where(is_group).await;
        let members: Vec<i64> = event["thread"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        assert_eq!(members, vec![alice.id, bob.id]);
    }
    c.expect_none("thread", Duration::from_millis(300)).await;

    // the owner removes bob
    let (status, _) = app
        .delete_as(
            &alice.token,
            &format!("/threads/{group}/members/{}", bob.id),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        b.recv_where(|f| f["type"] == "removed" || f["type"] == "thread")
            .await,
        json!({"type": "removed", "threadId": group})
    );
    let event = a.recv_where(is_group).await;
    assert_eq!(event["thread"]["members"].as_array().unwrap().len(), 1);
    assert_eq!(event["thread"]["lastReadMessageId"], 0);
    let _ = message_id;
}

#[tokio::test]
async fn typing_to_future_thread_ids_does_not_stop_their_delivery() {
    let app = spawn_app().await;
    naming_future_thread_ids_spoils_nothing(&app, &app, &[&app], "fu").await;
}

#[tokio::test]
async fn large_reads_are_rate_limited_after_the_burst() {
    const REQUESTS: usize = 150;
    let app = spawn_app_with(|c| c.rate_limits = chat_server::config::Switch::On).await;
    let alice = app.register("alice_reads").await;
    let bob = app.register("bob_reads").await;
    let thread = app.direct(&alice, &bob).await;

    let mut ws = app.connect(&alice).await;
    for i in 0..REQUESTS {
        let request = if i % 2 == 0 {
            json!({"type": "history", "id": i, "threadId": thread})
        } else {
            json!({"type": "sync", "id": i, "after": 0})
        };
        ws.send(request).await;
    }
    let (mut acks, mut limited) = (0, 0);
    for _ in 0..REQUESTS {
        let frame = ws
            .recv_where(|f| f["type"] == "ack" || f["type"] == "error")
            .await;
        match (frame["type"].as_str(), frame["code"].as_str()) {
            (Some("ack"), _) => acks += 1,
            (Some("error"), Some("RATE_LIMITED")) => {
                assert!(frame["id"].is_number(), "{frame}");
                limited += 1;
            }
            _ => panic!("unexpected reply {frame}"),
        }
    }
    assert!(acks >= 20, "the burst is served: {acks}");
    assert!(limited > 0, "nothing was limited in {REQUESTS} requests");
    ws.send(json!({"type": "ping", "id": "kept"})).await;
    assert_eq!(
        ws.recv_type("pong").await["id"],
        "kept",
        "the connection stays open"
    );

    // the same bucket for pages over HTTP: bob's is full, so his burst passes and then stops
    let path = format!("/threads/{thread}/messages");
    let pages = futures_util::future::join_all((0..60).map(|_| {
        app.client
            .get(app.url(&path))
            .bearer_auth(&bob.token)
            .send()
    }))
    .await;
    let mut statuses = Vec::new();
    for page in pages {
        let page = page.unwrap();
        let retry_after = page.headers().get("retry-after").cloned();
        let (status, body) = read(page).await;
        if status == 429 {
            assert_eq!(body["code"], "RATE_LIMITED", "{body}");
            let secs: u64 = retry_after
                .expect("Retry-After")
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(secs >= 1);
        } else {
            assert_eq!(status, 200, "{body}");
        }
        statuses.push(status);
    }
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert!(ok >= 20, "the burst is served: {statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// Browsers pass the token as a subprotocol (`["chat", "bearer.<token>"]`), so that it is not in
/// the URL they print when a connection fails; the 101 names `chat`, or the browser drops it.
#[tokio::test]
async fn token_as_a_subprotocol_is_accepted_and_chat_is_named() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = spawn_app().await;
    let user = app.register("wsproto").await;
    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("chat, bearer.{}", user.token).parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("subprotocol token accepted");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("chat")
    );
    let first = socket.next().await.unwrap().unwrap();
    let first: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(
        (first["type"].clone(), first["user"]["id"].clone()),
        (json!("ready"), json!(user.id))
    );

    // a wrong token there is refused like any other
    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "chat, bearer.not-a-token".parse().unwrap(),
    );
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
}
