//! Edit, delete, react, reply, one message, `around`: every rule of the contract's "Message
//! lifecycle", over WebSocket and HTTP, and who hears of each change.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const QUIET: Duration = Duration::from_millis(400);

/// An HTTP call with a bearer token and an optional JSON body.
pub async fn call(
    app: &TestApp,
    method: Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    read(req.send().await.expect("request")).await
}

/// Sends a WebSocket request and returns its answer (the ack or the error with its id).
pub async fn ask(ws: &mut WsClient, id: &str, mut frame: Value) -> Value {
    frame["id"] = json!(id);
    ws.send(frame).await;
    ws.recv_where(|f| f["id"] == id && (f["type"] == "ack" || f["type"] == "error"))
        .await
}

pub async fn send_text(ws: &mut WsClient, thread: i64, text: &str) -> Value {
    let ack = ask(
        ws,
        &format!("send-{text}"),
        json!({"type": "send", "threadId": thread, "text": text}),
    )
    .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ack["message"].clone()
}

fn updated(frame: &Value, id: &Value) -> bool {
    frame["type"] == "messageUpdated" && frame["message"]["id"] == *id
}

#[tokio::test]
async fn an_edit_reaches_every_other_connection_and_the_sender_alone_may_edit() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice_edit").await,
        app.register("bob_edit").await,
        app.register("carol_edit").await,
    );
    let thread = app.group(&alice, "edits", &[&bob]).await;
    let mut phone = app.connect(&alice).await;
    let mut laptop = app.connect(&alice).await;
    let mut bob_ws = app.connect(&bob).await;
    let mut stranger = app.connect(&carol).await;

    let sent = send_text(&mut phone, thread, "helo").await;
    assert_eq!(sent["editedAt"], Value::Null);
    assert_eq!(sent["deleted"], false);
    assert_eq!(sent["replyTo"], Value::Null);
    assert_eq!(sent["reactions"], json!([]));
    assert!(sent["seq"].is_string(), "{sent}");
    let id = sent["id"].clone();

    let ack = ask(
        &mut phone,
        "e1",
        json!({"type": "edit", "messageId": id, "text": "hello"}),
    )
    .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["message"]["text"], "hello");
    assert!(ack["message"]["editedAt"].is_string());
    assert_ne!(ack["message"]["seq"], sent["seq"]);
    for ws in [&mut laptop, &mut bob_ws] {
        let event = ws.recv_where(|f| updated(f, &id)).await;
        assert_eq!(event["message"], ack["message"]);
    }
    phone.expect_none("messageUpdated", QUIET).await;
    stranger.expect_none("messageUpdated", QUIET).await;

    // the same text again: acked, no event, editedAt kept
    let again = ask(
        &mut phone,
        "e2",
        json!({"type": "edit", "messageId": id, "text": "hello"}),
    )
    .await;
    assert_eq!(again["message"], ack["message"]);
    bob_ws.expect_none("messageUpdated", QUIET).await;

    // bob may not edit alice's message; carol cannot even see it
    let refused = ask(
        &mut bob_ws,
        "e3",
        json!({"type": "edit", "messageId": id, "text": "mine now"}),
    )
    .await;
    assert_eq!(refused["code"], "FORBIDDEN", "{refused}");
    let hidden = ask(
        &mut stranger,
        "e4",
        json!({"type": "edit", "messageId": id, "text": "x"}),
    )
    .await;
    assert_eq!(hidden["code"], "NOT_FOUND", "{hidden}");
    let unknown = ask(
        &mut phone,
        "e5",
        json!({"type": "edit", "messageId": 987654, "text": "x"}),
    )
    .await;
    assert_eq!(unknown["code"], "NOT_FOUND");

    // HTTP: the same rules with the envelope's codes
    let path = format!("/threads/{thread}/messages/{id}");
    let (status, body) = call(
        &app,
        Method::PATCH,
        &bob.token,
        &path,
        Some(json!({"text": "x"})),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (403, json!("FORBIDDEN")));
    let (status, _) = call(
        &app,
        Method::PATCH,
        &carol.token,
        &path,
        Some(json!({"text": "x"})),
    )
    .await;
    assert_eq!(status, 403, "a non-member is refused on the thread first");
    let (status, body) = call(
        &app,
        Method::PATCH,
        &alice.token,
        &path,
        Some(json!({"text": "hello, HTTP"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"]["text"], "hello, HTTP");
    // from HTTP, every connection hears of it, the editor's own sockets too
    for ws in [&mut phone, &mut laptop, &mut bob_ws] {
        let event = ws.recv_where(|f| updated(f, &id)).await;
        assert_eq!(event["message"]["text"], "hello, HTTP");
    }
    let (status, body) = call(&app, Method::GET, &bob.token, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["message"]["text"], "hello, HTTP");
}

#[tokio::test]
async fn edits_follow_the_text_rules_on_both_sides_of_the_bounds() {
    let app = spawn_app().await;
    let (alice, bob) = (
        app.register("alice_rules").await,
        app.register("bob_rules").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let mut ws = app.connect(&alice).await;
    let id = send_text(&mut ws, thread, "first").await["id"].clone();
    let longest = "é".repeat(4000);
    let ack = ask(
        &mut ws,
        "a",
        json!({"type": "edit", "messageId": id, "text": longest}),
    )
    .await;
    assert_eq!(ack["type"], "ack", "4000 code points are fine");
    for bad in [
        "é".repeat(4001),
        "   ".to_owned(),
        "nul\u{0}".to_owned(),
        String::new(),
    ] {
        let refused = ask(
            &mut ws,
            "b",
            json!({"type": "edit", "messageId": id, "text": bad}),
        )
        .await;
        assert_eq!(refused["code"], "VALIDATION", "{refused}");
    }
    let refused = ask(&mut ws, "c", json!({"type": "edit", "messageId": id})).await;
    assert_eq!(refused["code"], "VALIDATION");
    let (status, _) = call(
        &app,
        Method::PATCH,
        &alice.token,
        &format!("/threads/{thread}/messages/{id}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &app,
        Method::PATCH,
        &alice.token,
        &format!("/threads/{thread}/messages/424242"),
        Some(json!({"text": "x"})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_deleted_message_is_a_tombstone_everywhere_and_its_files_are_gone() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice_del").await,
        app.register("bob_del").await,
        app.register("carol_del").await,
    );
    let thread = app.group(&alice, "deletes", &[&bob, &carol]).await;
    let mut bob_ws = app.connect(&bob).await;
    let cursor = bob_ws.ready["cursor"].as_str().unwrap().to_owned();

    // bob posts a file with a caption over HTTP
    let form = reqwest::multipart::Form::new()
        .text("text", "see file")
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(b"secret report".to_vec()).file_name("r.txt"),
        );
    let res = app
        .client
        .post(app.url(&format!("/threads/{thread}/messages")))
        .bearer_auth(&bob.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 201, "{body}");
    let message = body["message"].clone();
    let id = message["id"].clone();
    let url = message["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = app
        .data_dir
        .path()
        .join("uploads")
        .join(url.trim_start_matches("/uploads/"));
    assert!(file.exists());
    let mut alice_ws = app.connect(&alice).await;
    ask(
        &mut alice_ws,
        "r",
        json!({"type": "react", "messageId": id, "emoji": "👍", "on": true}),
    )
    .await;

    // carol is a member but neither the sender nor the owner
    let mut carol_ws = app.connect(&carol).await;
    let refused = ask(
        &mut carol_ws,
        "d0",
        json!({"type": "delete", "messageId": id}),
    )
    .await;
    assert_eq!(refused["code"], "FORBIDDEN", "{refused}");
    let (status, _) = call(
        &app,
        Method::DELETE,
        &carol.token,
        &format!("/threads/{thread}/messages/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 403);

    // the group's owner may delete anyone's message
    let ack = ask(
        &mut alice_ws,
        "d1",
        json!({"type": "delete", "messageId": id}),
    )
    .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let tomb = ack["message"].clone();
    assert_eq!(tomb["deleted"], true);
    assert_eq!(tomb["text"], Value::Null);
    assert_eq!(tomb["attachments"], json!([]));
    assert_eq!(tomb["reactions"], json!([]));
    assert_eq!(tomb["replyTo"], Value::Null);
    let tombstone_event = |f: &Value| updated(f, &id) && f["message"]["deleted"] == true;
    let event = bob_ws.recv_where(tombstone_event).await;
    assert_eq!(event["message"], tomb);
    let event = carol_ws.recv_where(tombstone_event).await;
    assert_eq!(event["message"]["deleted"], true);

    // the file is gone from disk and its URL answers 404
    let mut gone = false;
    for _ in 0..50 {
        if !file.exists() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the attachment file is still on disk");
    let res = app
        .client
        .get(app.url(&url))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);

    // deleting again succeeds and changes nothing
    let again = ask(
        &mut bob_ws,
        "d2",
        json!({"type": "delete", "messageId": id}),
    )
    .await;
    assert_eq!(again["message"], tomb);
    alice_ws.expect_none("messageUpdated", QUIET).await;
    let (status, body) = call(
        &app,
        Method::DELETE,
        &bob.token,
        &format!("/threads/{thread}/messages/{id}"),
        None,
    )
    .await;
    assert_eq!((status, body["message"].clone()), (200, tomb.clone()));

    // a tombstone cannot be edited or reacted to
    let refused = ask(
        &mut bob_ws,
        "d3",
        json!({"type": "edit", "messageId": id, "text": "back"}),
    )
    .await;
    assert_eq!(refused["code"], "NOT_FOUND");
    let refused = ask(
        &mut bob_ws,
        "d4",
        json!({"type": "react", "messageId": id, "emoji": "x", "on": true}),
    )
    .await;
    assert_eq!(refused["code"], "NOT_FOUND");

    // tombstone in history, in one-message reads, in both syncs, and as lastMessage
    let (_, page) = app
        .get_as(&bob.token, &format!("/threads/{thread}/messages"))
        .await;
    assert_eq!(page["messages"][0], tomb);
    let (_, one) = app
        .get_as(&bob.token, &format!("/threads/{thread}/messages/{id}"))
        .await;
    assert_eq!(one["message"], tomb);
    let after = ask(&mut bob_ws, "s1", json!({"type": "sync", "after": 0})).await;
    assert_eq!(after["messages"][0], tomb);
    let since = ask(&mut bob_ws, "s2", json!({"type": "sync", "since": cursor})).await;
    assert_eq!(since["messages"], json!([tomb]));
    let (_, thread_view) = app
        .get_as(&alice.token, &format!("/threads/{thread}"))
        .await;
    assert_eq!(thread_view["thread"]["lastMessage"], tomb);
    assert_eq!(
        thread_view["thread"]["unreadCount"], 0,
        "a deleted message is not unread"
    );
}

#[tokio::test]
async fn reactions_keep_first_use_order_and_their_bounds() {
    let app = spawn_app().await;
    let (alice, bob) = (
        app.register("alice_react").await,
        app.register("bob_react").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let mut alice_ws = app.connect(&alice).await;
    let mut bob_ws = app.connect(&bob).await;
    let id = send_text(&mut alice_ws, thread, "react to me").await["id"].clone();
    let react =
        |emoji: &str, on: bool| json!({"type": "react", "messageId": id, "emoji": emoji, "on": on});

    let ack = ask(&mut bob_ws, "1", react("👍", true)).await;
    assert_eq!(
        ack["message"]["reactions"],
        json!([{"emoji": "👍", "count": 1, "userIds": [bob.id]}])
    );
    let event = alice_ws.recv_where(|f| updated(f, &id)).await;
    assert_eq!(event["message"], ack["message"]);
    ask(&mut alice_ws, "2", react(":shipit:", true)).await;
    let ack = ask(&mut alice_ws, "3", react("👍", true)).await;
    assert_eq!(
        ack["message"]["reactions"],
        json!([
            {"emoji": "👍", "count": 2, "userIds": [bob.id, alice.id]},
            {"emoji": ":shipit:", "count": 1, "userIds": [alice.id]},
        ])
    );
    // twice on, or off when absent: acked, unchanged, no event
    for _ in 0..2 {
        bob_ws.recv_type("messageUpdated").await;
    }
    let twice = ask(&mut bob_ws, "4", react("👍", true)).await;
    assert_eq!(twice["message"], ack["message"]);
    let absent = ask(&mut bob_ws, "5", react(":shipit:", false)).await;
    assert_eq!(absent["message"], ack["message"]);
    alice_ws.expect_none("messageUpdated", QUIET).await;

    // the emoji's first reactor leaves, another stays: it keeps its place
    let ack = ask(&mut bob_ws, "6", react("👍", false)).await;
    assert_eq!(
        ack["message"]["reactions"],
        json!([
            {"emoji": "👍", "count": 1, "userIds": [alice.id]},
            {"emoji": ":shipit:", "count": 1, "userIds": [alice.id]},
        ])
    );
    // an emoji whose last reactor leaves disappears; used again, it goes to the end
    let ack = ask(&mut alice_ws, "7", react("👍", false)).await;
    assert_eq!(
        ack["message"]["reactions"],
        json!([{"emoji": ":shipit:", "count": 1, "userIds": [alice.id]}])
    );
    let ack = ask(&mut bob_ws, "8", react("👍", true)).await;
    assert_eq!(ack["message"]["reactions"][1]["emoji"], "👍");

    // 32 bytes are fine, 33 are not; no whitespace or control characters
    let ok32 = "🎉".repeat(8);
    assert_eq!(ok32.len(), 32);
    assert_eq!(
        ask(&mut bob_ws, "9", react(&ok32, true)).await["type"],
        "ack"
    );
    let too_long = format!("{ok32}x");
    for bad in [too_long.as_str(), "", "a b", "tab\t", "nbsp\u{a0}", "\u{7}"] {
        let refused = ask(&mut bob_ws, "10", react(bad, true)).await;
        assert_eq!(refused["code"], "VALIDATION", "{bad:?}: {refused}");
    }

    // 50 distinct emoji at most (3 used so far)
    for i in 0..47 {
        let ack = ask(&mut bob_ws, "11", react(&format!(":e{i}:"), true)).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let refused = ask(&mut alice_ws, "12", react(":one-too-many:", true)).await;
    assert_eq!(refused["code"], "VALIDATION", "{refused}");
    // an emoji already there may still gain reactors
    let ack = ask(&mut alice_ws, "13", react(":e0:", true)).await;
    assert_eq!(ack["message"]["reactions"].as_array().unwrap().len(), 50);

    // HTTP: PUT and DELETE with a percent-encoded emoji, slash and plus included
    let emoji = "a/b+%";
    let path = format!(
        "/threads/{thread}/messages/{id}/reactions/{}",
        "a%2Fb%2B%25"
    );
    let (status, body) = call(
        &app,
        Method::DELETE,
        &bob.token,
        &format!("/threads/{thread}/messages/{id}/reactions/%3Ae1%3A"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&app, Method::PUT, &alice.token, &path, None).await;
    assert_eq!(status, 200, "{body}");
    let found = body["message"]["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["emoji"] == emoji);
    assert!(found, "{body}");
    let (status, body) = call(&app, Method::DELETE, &alice.token, &path, None).await;
    assert_eq!(status, 200);
    assert!(!body["message"]["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["emoji"] == emoji));
    let (status, _) = call(
        &app,
        Method::PUT,
        &alice.token,
        &format!("/threads/{thread}/messages/{id}/reactions/a%20b"),
        None,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn replies_carry_a_preview_of_the_message_they_answer() {
    let app = spawn_app().await;
    let (alice, bob) = (
        app.register("alice_reply").await,
        app.register("bob_reply").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let other = app.group(&alice, "elsewhere", &[&bob]).await;
    let mut ws = app.connect(&alice).await;
    let long = "ü".repeat(250);
    let original = send_text(&mut ws, thread, &long).await;
    let elsewhere = send_text(&mut ws, other, "other thread").await;

    let ack = ask(
        &mut ws,
        "r1",
        json!({"type": "send", "threadId": thread, "text": "answer", "replyTo": original["id"]}),
    )
    .await;
    let reply = ack["message"].clone();
    assert_eq!(reply["replyTo"]["id"], original["id"]);
    assert_eq!(reply["replyTo"]["sender"]["id"], alice.id);
    assert_eq!(reply["replyTo"]["text"], "ü".repeat(200));
    assert_eq!(reply["replyTo"]["deleted"], false);

    // into another thread, or unknown: VALIDATION
    for bad in [elsewhere["id"].clone(), json!(999_999)] {
        let refused = ask(
            &mut ws,
            "r2",
            json!({"type": "send", "threadId": thread, "text": "x", "replyTo": bad}),
        )
        .await;
        assert_eq!(refused["code"], "VALIDATION", "{refused}");
    }
    // over HTTP too, as JSON and as a form field
    let (status, body) = app
        .post_json_as(
            &bob.token,
            &format!("/threads/{thread}/messages"),
            &json!({"text": "http answer", "replyTo": original["id"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["message"]["replyTo"]["id"], original["id"]);
    let (status, _) = app
        .post_json_as(
            &bob.token,
            &format!("/threads/{thread}/messages"),
            &json!({"text": "bad", "replyTo": elsewhere["id"]}),
        )
        .await;
    assert_eq!(status, 400);

    // the replied message deleted: the preview says so, and nobody can reply to it any more
    ask(
        &mut ws,
        "r3",
        json!({"type": "delete", "messageId": original["id"]}),
    )
    .await;
    let (_, one) = app
        .get_as(
            &bob.token,
            &format!("/threads/{thread}/messages/{}", reply["id"]),
        )
        .await;
    assert_eq!(one["message"]["replyTo"]["deleted"], true);
    assert_eq!(one["message"]["replyTo"]["text"], Value::Null);
    let refused = ask(
        &mut ws,
        "r4",
        json!({"type": "send", "threadId": thread, "text": "x", "replyTo": original["id"]}),
    )
    .await;
    assert_eq!(refused["code"], "VALIDATION");
}

#[tokio::test]
async fn a_page_around_a_message_and_one_message_by_id() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice_around").await,
        app.register("bob_around").await,
        app.register("carol_around").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let other = app.direct(&alice, &carol).await;
    let mut ws = app.connect(&alice).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            send_text(&mut ws, thread, &format!("m{i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let page = |around: i64, limit: i64| {
        format!("/threads/{thread}/messages?around={around}&limit={limit}")
    };
    let got = |body: &Value| -> Vec<i64> {
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    };
    let (status, body) = app.get_as(&bob.token, &page(ids[5], 5)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(got(&body), ids[3..8].to_vec());
    assert_eq!(
        (body["hasMore"].clone(), body["hasMoreAfter"].clone()),
        (json!(true), json!(true))
    );
    let (_, body) = app.get_as(&bob.token, &page(ids[1], 6)).await;
    assert_eq!(got(&body), ids[0..4].to_vec());
    assert_eq!(
        (body["hasMore"].clone(), body["hasMoreAfter"].clone()),
        (json!(false), json!(true))
    );
    let (_, body) = app.get_as(&bob.token, &page(ids[8], 4)).await;
    assert_eq!(got(&body), ids[6..10].to_vec());
    assert_eq!(
        (body["hasMore"].clone(), body["hasMoreAfter"].clone()),
        (json!(true), json!(false))
    );
    let (_, body) = app.get_as(&bob.token, &page(ids[0], 1)).await;
    assert_eq!(got(&body), vec![ids[0]]);
    assert_eq!(
        (body["hasMore"].clone(), body["hasMoreAfter"].clone()),
        (json!(false), json!(true))
    );

    let (status, _) = app
        .get_as(
            &bob.token,
            &format!("{}&before={}", page(ids[5], 5), ids[9]),
        )
        .await;
    assert_eq!(status, 400, "around excludes before");
    let (status, _) = app.get_as(&bob.token, &page(999_999, 5)).await;
    assert_eq!(status, 404);
    let (status, _) = app.get_as(&carol.token, &page(ids[5], 5)).await;
    assert_eq!(status, 403);

    // one message: 404 in another thread (even one the caller is in), 403 for a non-member
    let (status, body) = app
        .get_as(
            &bob.token,
            &format!("/threads/{thread}/messages/{}", ids[2]),
        )
        .await;
    assert_eq!(
        (status, body["message"]["text"].clone()),
        (200, json!("m2"))
    );
    let (status, _) = app
        .get_as(
            &alice.token,
            &format!("/threads/{other}/messages/{}", ids[2]),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .get_as(
            &carol.token,
            &format!("/threads/{thread}/messages/{}", ids[2]),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (403, json!("FORBIDDEN")));
}

#[tokio::test]
async fn a_removed_member_hears_of_no_change_and_cannot_make_one() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice_gone").await,
        app.register("bob_gone").await,
        app.register("carol_gone").await,
    );
    let thread = app.group(&alice, "leavers", &[&bob, &carol]).await;
    let mut alice_ws = app.connect(&alice).await;
    let mut carol_ws = app.connect(&carol).await;
    let id = send_text(&mut alice_ws, thread, "before carol left").await["id"].clone();
    let (status, _) = app
        .delete_as(
            &alice.token,
            &format!("/threads/{thread}/members/{}", carol.id),
        )
        .await;
    assert_eq!(status, 200);
    carol_ws.recv_type("removed").await;
    ask(
        &mut alice_ws,
        "1",
        json!({"type": "edit", "messageId": id, "text": "after carol left"}),
    )
    .await;
    carol_ws.expect_none("messageUpdated", QUIET).await;
    let refused = ask(
        &mut carol_ws,
        "2",
        json!({"type": "react", "messageId": id, "emoji": "👀", "on": true}),
    )
    .await;
    assert_eq!(refused["code"], "NOT_FOUND");
}

#[tokio::test]
async fn any_method_on_a_path_no_route_has_is_the_json_404() {
    let app = spawn_app().await;
    let alice = app.register("alice_noroute").await;
    for (method, path) in [
        (Method::PUT, "/nowhere"),
        (Method::DELETE, "/threads/1/messages/1/reactions/"),
        (Method::POST, "/index.html"),
        (Method::PATCH, "/threads/1/messages"),
    ] {
        let (status, body) = call(&app, method.clone(), &alice.token, path, None).await;
        let expected = if path == "/threads/1/messages" {
            405
        } else {
            404
        };
        assert_eq!(status, expected, "{method} {path}: {body}");
        assert_eq!(body["success"], false, "{method} {path}: {body}");
    }
    let res = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200, "the page is still served");
}
