//! /asyncapi.json against the frames the server really reads and writes: every frame a
//! `WsClient` of this suite receives is checked against the schema of its type (see
//! `helpers::WsClient::recv_within`), and one session here sends every request type and
//! receives every server frame type, each checked against the document the server serves.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::helpers::{spawn_app, TestApp, WsClient, PASSWORD};

/// One compiled JSON Schema per message of the document, by message name.
pub struct FrameSchemas {
    validators: Vec<(String, jsonschema::Validator)>,
    /// Names of the server frames (`ready`, `ack` ...) and of the requests (`send` ...).
    pub events: BTreeSet<String>,
    pub requests: BTreeSet<String>,
}

impl FrameSchemas {
    pub fn new(doc: &Value) -> FrameSchemas {
        let mut components = doc["components"].clone();
        strict_objects(&mut components);
        let messages = doc["components"]["messages"].as_object().expect("messages");
        let mut validators = Vec::new();
        let (mut events, mut requests) = (BTreeSet::new(), BTreeSet::new());
        for name in messages.keys() {
            // the published payload, by reference; a frame may carry no property it leaves out
            let schema = json!({
                "$ref": format!("#/components/messages/{name}/payload"),
                "unevaluatedProperties": false,
                "components": components,
            });
            let validator = jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| panic!("schema of {name}: {e}"));
            validators.push((name.clone(), validator));
            match name.strip_suffix("Request") {
                Some(kind) => requests.insert(kind.to_owned()),
                None => events.insert(name.clone()),
            };
        }
        FrameSchemas {
            validators,
            events,
            requests,
        }
    }

    fn errors(&self, message: &str, frame: &Value) -> Vec<String> {
        let (_, validator) = self
            .validators
            .iter()
            .find(|(name, _)| name == message)
            .unwrap_or_else(|| panic!("/asyncapi.json has no message {message:?} for {frame}"));
        validator
            .iter_errors(frame)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    fn check(&self, message: &str, frame: &Value) {
        let errors = self.errors(message, frame);
        assert!(
            errors.is_empty(),
            "{frame} breaks the schema of {message:?}: {errors:?}"
        );
    }

    /// A frame the server wrote, checked against the message of its `type`.
    pub fn check_server_frame(&self, frame: &Value) {
        let kind = frame["type"]
            .as_str()
            .unwrap_or_else(|| panic!("no type: {frame}"));
        self.check(kind, frame);
    }

    /// A request this suite sends, checked against the message of its `type`.
    pub fn check_request(&self, frame: &Value) {
        let kind = frame["type"]
            .as_str()
            .unwrap_or_else(|| panic!("no type: {frame}"));
        self.check(&format!("{kind}Request"), frame);
    }
}

/// No undocumented fields in nested objects either: every object schema with `properties`
/// refuses others, except the ones an `allOf` extends (the frame's top-level check covers
/// those through `unevaluatedProperties`).
fn strict_objects(components: &mut Value) {
    let mut extended = BTreeSet::new();
    collect_all_of_refs(components, &mut extended);
    if let Some(Value::Object(schemas)) = components.get_mut("schemas") {
        for (name, schema) in schemas.iter_mut() {
            if schema.get("properties").is_some() && !extended.contains(name) {
                schema["additionalProperties"] = json!(false);
            }
        }
    }
}

fn collect_all_of_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(parts)) = map.get("allOf") {
                for part in parts {
                    if let Some(r) = part["$ref"].as_str() {
                        out.insert(r.rsplit('/').next().unwrap_or_default().to_owned());
                    }
                }
            }
            map.values().for_each(|v| collect_all_of_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_all_of_refs(v, out)),
        _ => {}
    }
}

/// The document as the server builds it at start-up, for the checks of every test's frames.
pub fn schemas() -> &'static FrameSchemas {
    static SCHEMAS: OnceLock<FrameSchemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| FrameSchemas::new(&chat_server::asyncapi::document()))
}

/// A client whose every frame, both ways, goes through the served document's schemas, and that
/// remembers what it saw.
struct Checked<'a> {
    ws: WsClient,
    schemas: &'a FrameSchemas,
    sent: &'a mut BTreeSet<String>,
    seen: &'a mut Vec<Value>,
}

impl Checked<'_> {
    async fn send(&mut self, frame: Value) {
        self.schemas.check_request(&frame);
        self.sent
            .insert(frame["type"].as_str().unwrap_or_default().to_owned());
        self.ws.send(frame).await;
    }

    async fn recv_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self.ws.recv().await;
            self.schemas.check_server_frame(&frame);
            self.seen.push(frame.clone());
            if pred(&frame) {
                return frame;
            }
        }
    }

    async fn recv_type(&mut self, kind: &str) -> Value {
        self.recv_where(|f| f["type"] == kind).await
    }

    /// The reply to the request with this id.
    async fn reply(&mut self, id: &str) -> Value {
        self.recv_where(|f| f["id"] == id).await
    }
}

async fn patch_as(app: &TestApp, token: &str, path: &str, body: &Value) -> u16 {
    let res = app
        .client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request");
    res.status().as_u16()
}

#[tokio::test]
async fn every_frame_of_a_session_matches_the_served_asyncapi_document() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/asyncapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.expect("JSON");
    assert_eq!(doc["asyncapi"], "3.0.0");
    let schemas = FrameSchemas::new(&doc);

    let alice = app.register("aapi0001").await;
    let bob = app.register("aapi0002").await;
    let carol = app.register("aapi0003").await;
    let direct = app.direct(&alice, &bob).await;
    let group = app.group(&alice, "Docs", &[&bob, &carol]).await;

    let (mut sent, mut seen_a, mut seen_b, mut seen_c) =
        (BTreeSet::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sent_b = BTreeSet::new();
    let mut b = Checked {
        ws: app.connect(&bob).await,
        schemas: &schemas,
        sent: &mut sent_b,
        seen: &mut seen_b,
    };
    let mut sent_c = BTreeSet::new();
    let mut c = Checked {
        ws: app.connect(&carol).await,
        schemas: &schemas,
        sent: &mut sent_c,
        seen: &mut seen_c,
    };
    let mut a = Checked {
        ws: app.connect(&alice).await,
        schemas: &schemas,
        sent: &mut sent,
        seen: &mut seen_a,
    };
    for ready in [&a.ws.ready, &b.ws.ready, &c.ws.ready] {
        schemas.check_server_frame(ready);
    }
    a.seen.push(a.ws.ready.clone());
    let cursor = a.ws.ready["cursor"].clone();
    b.recv_where(|f| f["type"] == "presence" && f["userId"] == alice.id)
        .await;

    a.send(json!({"type": "send", "id": "s1", "threadId": direct, "text": "hello", "clientMsgId": "c-1"}))
        .await;
    let ack = a.reply("s1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let first = ack["message"]["id"].as_i64().expect("message id");
    b.recv_type("message").await;
    a.send(json!({"type": "send", "id": "s2", "threadId": direct, "text": "a reply", "replyTo": first}))
        .await;
    assert_eq!(a.reply("s2").await["message"]["replyTo"]["id"], first);

    a.send(json!({"type": "edit", "id": "e1", "messageId": first, "text": "hello again"}))
        .await;
    assert_eq!(a.reply("e1").await["message"]["text"], "hello again");
    b.recv_type("messageUpdated").await;
    a.send(json!({"type": "react", "id": "r1", "messageId": first, "emoji": "👍", "on": true}))
        .await;
    assert_eq!(a.reply("r1").await["message"]["reactions"][0]["count"], 1);
    b.recv_type("messageUpdated").await;

    a.send(json!({"type": "typing", "id": "t1", "threadId": direct, "isTyping": true}))
        .await;
    assert_eq!(a.reply("t1").await["type"], "ack");
    b.recv_type("typing").await;
    b.send(json!({"type": "read", "id": "rd1", "threadId": direct, "messageId": first}))
        .await;
    assert_eq!(b.reply("rd1").await["type"], "ack");
    a.recv_type("read").await;

    a.send(json!({"type": "history", "id": "h1", "threadId": direct, "limit": 1}))
        .await;
    assert_eq!(a.reply("h1").await["hasMore"], true);
    a.send(json!({"type": "sync", "id": "y1", "since": cursor}))
        .await;
    assert!(a.reply("y1").await["cursor"].is_string());
    a.send(json!({"type": "sync", "id": "y2", "after": 0, "limit": 500}))
        .await;
    assert_eq!(a.reply("y2").await["hasMore"], false);
    a.send(json!({"type": "ping", "id": "p1"})).await;
    assert_eq!(a.reply("p1").await["type"], "pong");

    let (status, login) = app
        .post_json(
            "/auth/login",
            &json!({"userName": alice.user_name, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    a.send(json!({"type": "auth", "id": "au1", "token": login["accessToken"]}))
        .await;
    assert_eq!(a.reply("au1").await["type"], "ack");

    a.send(json!({"type": "delete", "id": "d1", "messageId": first}))
        .await;
    assert_eq!(a.reply("d1").await["message"]["deleted"], true);
    b.recv_type("messageUpdated").await;

    // refusals: an unknown type (sent raw: no schema describes it), a thread that is not there
    a.ws.send(json!({"type": "nope", "id": "x1"})).await;
    assert_eq!(a.reply("x1").await["code"], "UNKNOWN_TYPE");
    a.send(json!({"type": "send", "id": "x2", "threadId": 999_999, "text": "x"}))
        .await;
    assert_eq!(a.reply("x2").await["type"], "error");

    assert_eq!(
        patch_as(
            &app,
            &alice.token,
            &format!("/threads/{group}"),
            &json!({"name": "Specs"})
        )
        .await,
        200
    );
    b.recv_where(|f| f["type"] == "thread" && f["thread"]["name"] == "Specs")
        .await;
    let (status, body) = app
        .delete_as(
            &alice.token,
            &format!("/threads/{group}/members/{}", carol.id),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    c.recv_type("removed").await;
    drop(c);
    drop(b);
    a.recv_where(|f| f["type"] == "presence" && f["userId"] == bob.id && f["online"] == false)
        .await;
    drop(a);

    let all_sent: BTreeSet<String> = sent.union(&sent_b).cloned().collect();
    assert_eq!(all_sent, schemas.requests, "every request type was sent");
    let seen: Vec<&Value> = seen_a.iter().chain(&seen_b).chain(&seen_c).collect();
    let kinds: BTreeSet<String> = seen
        .iter()
        .filter_map(|f| f["type"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        kinds, schemas.events,
        "every server frame type was received"
    );
    let acks: BTreeSet<Vec<&str>> = seen
        .iter()
        .filter(|f| f["type"] == "ack")
        .map(|f| {
            let fields: &Map<String, Value> = f.as_object().expect("object");
            fields.keys().map(String::as_str).collect()
        })
        .collect();
    for shape in [
        vec!["id", "type"],
        vec!["id", "message", "type"],
        vec!["hasMore", "id", "messages", "type"],
        vec!["cursor", "hasMore", "id", "messages", "type"],
    ] {
        assert!(acks.contains(&shape), "an ack with {shape:?}: {acks:?}");
    }
}

/// The schemas are not a formality: frames they must refuse are refused.
#[test]
fn the_schemas_refuse_what_the_server_never_writes() {
    let schemas = schemas();
    let refused = |message: &str, frame: Value| {
        assert!(
            !schemas.errors(message, &frame).is_empty(),
            "{message} accepted {frame}"
        );
    };
    refused("pong", json!({"type": "pong", "id": [1]}));
    refused("presence", json!({"type": "presence", "userId": 1}));
    refused(
        "presence",
        json!({"type": "presence", "userId": 1, "online": true, "extra": 1}),
    );
    refused(
        "error",
        json!({"type": "error", "id": 1, "code": "NOPE", "message": "x"}),
    );
    refused(
        "sendRequest",
        json!({"type": "send", "threadId": "1", "text": "x"}),
    );
    refused(
        "ready",
        json!({"type": "ready", "connectionId": "c", "cursor": "1",
               "user": {"id": 1, "userName": "a", "nickName": "A", "avatarUrl": null,
                        "createdAt": "yesterday"}}),
    );
    schemas.check(
        "presence",
        &json!({"type": "presence", "userId": 1, "online": true}),
    );
}
