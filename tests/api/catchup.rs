//! "Nobody ever loses a message": a reader that reconnects again and again while others write
//! (and edit) ends up with every message in its latest state, by `sync {since}` from its last
//! cursor or by `sync {after}` from the highest id it has. On one node, and on two nodes sharing
//! PostgreSQL and Redis (where transactions of both nodes commit at once).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::lifecycle::ask;

const SENDERS: usize = 8;
const MESSAGES_PER_SENDER: usize = 60;
/// Every this many messages, the sender also edits the one it just sent.
const EDIT_EVERY: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Resume {
    Since,
    After,
}

/// id -> (text, seq) of every message the reader holds.
type Seen = BTreeMap<i64, (Value, Value)>;

/// Pages through one sync from `from` until `hasMore` is false; returns where to go on from.
async fn sync_all(ws: &mut WsClient, resume: Resume, from: &Value, seen: &mut Seen) -> Value {
    let mut from = from.clone();
    loop {
        let request = match resume {
            Resume::Since => json!({"type": "sync", "since": from, "limit": 97}),
            Resume::After => json!({"type": "sync", "after": from, "limit": 97}),
        };
        let ack = ask(ws, "sync", request).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        let messages = ack["messages"].as_array().unwrap();
        for m in messages {
            seen.insert(
                m["id"].as_i64().unwrap(),
                (m["text"].clone(), m["seq"].clone()),
            );
        }
        from = match resume {
            Resume::Since => ack["cursor"].clone(),
            Resume::After => match messages.last() {
                Some(last) => last["id"].clone(),
                None => from,
            },
        };
        if ack["hasMore"] == false {
            return from;
        }
    }
}

/// Senders on `nodes` (round robin) write into their direct thread with one reader as fast as
/// their acks come back, editing every third message; the reader reconnects to the nodes in
/// turn and syncs from where its previous sync ended. At the end, what it holds must be what a
/// full sync from the beginning returns, and that must be everything the senders stored.
pub async fn a_reconnecting_reader_misses_nothing(nodes: &[&TestApp], resume: Resume) {
    let reader = register_at(&nodes[0].client, &nodes[0].address, "reader_catchup").await;
    let mut writers = Vec::new();
    for i in 0..SENDERS {
        let node = nodes[i % nodes.len()];
        let sender = register_at(&node.client, &node.address, &format!("sender_{i}")).await;
        let thread = node.direct(&sender, &reader).await;
        let ws = WsClient::connect(&node.ws_url(), &sender.token).await;
        writers.push((ws, thread));
    }
    let writing = tokio::spawn(async move {
        let tasks: Vec<_> = writers
            .into_iter()
            .enumerate()
            .map(|(i, (mut ws, thread))| {
                tokio::spawn(async move {
                    let mut final_texts = BTreeMap::new();
                    for n in 0..MESSAGES_PER_SENDER {
                        let text = format!("s{i} m{n}");
                        let ack = ask(
                            &mut ws,
                            &format!("m{n}"),
                            json!({"type": "send", "threadId": thread, "text": text}),
                        )
                        .await;
                        assert_eq!(ack["type"], "ack", "{ack}");
                        let id = ack["message"]["id"].as_i64().unwrap();
                        let mut text = json!(text);
                        if n % EDIT_EVERY == 0 {
                            let edited = format!("s{i} m{n} edited");
                            let ack = ask(
                                &mut ws,
                                &format!("e{n}"),
                                json!({"type": "edit", "messageId": id, "text": edited}),
                            )
                            .await;
                            assert_eq!(ack["type"], "ack", "{ack}");
                            text = json!(edited);
                        }
                        final_texts.insert(id, text);
                    }
                    final_texts
                })
            })
            .collect();
        let mut all = BTreeMap::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });

    let mut seen = Seen::new();
    let mut from = match resume {
        Resume::Since => json!(""),
        Resume::After => json!(0),
    };
    let mut round = 0;
    while !writing.is_finished() {
        let node = nodes[round % nodes.len()];
        round += 1;
        let mut ws = WsClient::connect(&node.ws_url(), &reader.token).await;
        from = sync_all(&mut ws, resume, &from, &mut seen).await;
        // gone again: whatever is stored meanwhile must come from the next sync
        drop(ws);
    }
    let written = writing.await.unwrap();
    assert!(
        round > 1,
        "the reader should have reconnected while the writers wrote"
    );
    let mut ws = WsClient::connect(&nodes[0].ws_url(), &reader.token).await;
    sync_all(&mut ws, resume, &from, &mut seen).await;

    let start = match resume {
        Resume::Since => json!(""),
        Resume::After => json!(0),
    };
    let mut truth = Seen::new();
    sync_all(&mut ws, resume, &start, &mut truth).await;
    assert_eq!(truth.len(), SENDERS * MESSAGES_PER_SENDER);
    let truth_texts: BTreeMap<i64, Value> = truth
        .iter()
        .map(|(id, (text, _))| (*id, text.clone()))
        .collect();
    assert_eq!(truth_texts, written, "a full sync returns what was stored");
    let missing: Vec<&i64> = truth.keys().filter(|id| !seen.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} messages never reached the reader: {missing:?}",
        missing.len(),
        truth.len()
    );
    if resume == Resume::Since {
        // every change reached it too: each message in its latest state
        let stale: Vec<_> = truth
            .iter()
            .filter(|(id, state)| seen.get(id) != Some(state))
            .map(|(id, _)| id)
            .collect();
        assert!(stale.is_empty(), "stale messages: {stale:?}");
    }
}

#[tokio::test]
async fn a_reconnecting_reader_misses_no_change_by_since_on_one_node() {
    let app = spawn_app().await;
    a_reconnecting_reader_misses_nothing(&[&app], Resume::Since).await;
}

#[tokio::test]
async fn a_reconnecting_reader_misses_no_message_by_after_on_one_node() {
    let app = spawn_app().await;
    a_reconnecting_reader_misses_nothing(&[&app], Resume::After).await;
}

#[tokio::test]
async fn sync_since_pages_changes_once_each_in_change_order() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice_since").await,
        app.register("bob_since").await,
        app.register("carol_since").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let elsewhere = app.direct(&alice, &carol).await;
    let mut ws = app.connect(&alice).await;
    let mut bob_ws = app.connect(&bob).await;
    let start = bob_ws.ready["cursor"].clone();
    assert!(start.is_string(), "{}", bob_ws.ready);
    let mut ids = Vec::new();
    for i in 0..5 {
        let ack = ask(
            &mut ws,
            &format!("{i}"),
            json!({"type": "send", "threadId": thread, "text": format!("t{i}")}),
        )
        .await;
        ids.push(ack["message"]["id"].clone());
    }
    ask(
        &mut ws,
        "x",
        json!({"type": "send", "threadId": elsewhere, "text": "not bob's"}),
    )
    .await;
    // change the first message last: it moves to the end of the feed, and comes once
    ask(
        &mut ws,
        "e",
        json!({"type": "edit", "messageId": ids[0], "text": "t0 again"}),
    )
    .await;
    let page = ask(
        &mut bob_ws,
        "p1",
        json!({"type": "sync", "since": start, "limit": 3}),
    )
    .await;
    let order = |page: &Value| -> Vec<Value> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].clone())
            .collect()
    };
    assert_eq!(order(&page), ids[1..4].to_vec());
    assert_eq!(page["hasMore"], true);
    let rest = ask(
        &mut bob_ws,
        "p2",
        json!({"type": "sync", "since": page["cursor"]}),
    )
    .await;
    assert_eq!(order(&rest), vec![ids[4].clone(), ids[0].clone()]);
    assert_eq!(rest["hasMore"], false);
    assert_eq!(rest["messages"][1]["text"], "t0 again");
    let nothing = ask(
        &mut bob_ws,
        "p3",
        json!({"type": "sync", "since": rest["cursor"]}),
    )
    .await;
    assert_eq!(nothing["messages"], json!([]));
    assert_eq!(nothing["cursor"], rest["cursor"]);
    // a fresh connection's ready cursor is past everything so far
    let fresh = app.connect(&bob).await;
    let from_ready = ask(
        &mut bob_ws,
        "p4",
        json!({"type": "sync", "since": fresh.ready["cursor"]}),
    )
    .await;
    assert_eq!(from_ready["messages"], json!([]));
    // from the beginning: all of bob's, each once
    let all = ask(&mut bob_ws, "p5", json!({"type": "sync", "since": ""})).await;
    assert_eq!(order(&all), [&ids[1..], &ids[..1]].concat());

    for bad in [
        json!({"type": "sync", "since": "not a cursor"}),
        json!({"type": "sync", "since": "99999999999"}),
        json!({"type": "sync", "since": "-1"}),
        json!({"type": "sync", "since": 5}),
        json!({"type": "sync", "since": "", "after": 0}),
        json!({"type": "sync"}),
        json!({"type": "sync", "since": "", "limit": 501}),
    ] {
        let refused = ask(&mut bob_ws, "bad", bad.clone()).await;
        assert_eq!(refused["code"], "VALIDATION", "{bad}: {refused}");
    }
}

#[tokio::test]
async fn the_cursor_survives_a_restart() {
    let app = spawn_app().await;
    let (alice, bob) = (
        app.register("alice_restart").await,
        app.register("bob_restart").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let bob_ws = app.connect(&bob).await;
    let cursor = bob_ws.ready["cursor"].clone();
    let mut ws = app.connect(&alice).await;
    let ack = ask(
        &mut ws,
        "1",
        json!({"type": "send", "threadId": thread, "text": "before the restart"}),
    )
    .await;
    drop((ws, bob_ws));
    let app = restart(app, |_| {}).await;
    let mut bob_ws = WsClient::connect(&app.ws_url(), &bob.token).await;
    let page = ask(&mut bob_ws, "s", json!({"type": "sync", "since": cursor})).await;
    assert_eq!(page["messages"], json!([ack["message"]]));
}

#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn a_reconnecting_reader_misses_no_change_by_since_on_two_nodes() {
    let (db, redis) = crate::cluster::cluster_env();
    let prefix = format!("catchup-since-{}", rand_suffix());
    let a = crate::cluster::node(&db, &redis, &prefix).await;
    let b = crate::cluster::node(&db, &redis, &prefix).await;
    a_reconnecting_reader_misses_nothing(&[&a, &b], Resume::Since).await;
}

#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn a_reconnecting_reader_misses_no_message_by_after_on_two_nodes() {
    let (db, redis) = crate::cluster::cluster_env();
    let prefix = format!("catchup-after-{}", rand_suffix());
    let a = crate::cluster::node(&db, &redis, &prefix).await;
    let b = crate::cluster::node(&db, &redis, &prefix).await;
    a_reconnecting_reader_misses_nothing(&[&a, &b], Resume::After).await;
}
