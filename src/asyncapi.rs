//! The AsyncAPI 3 description of `/ws` served at /asyncapi.json, generated from the types the
//! WebSocket face parses (`ws::protocol::RequestFrame`) and writes (`ServerEvent`): their
//! `utoipa::ToSchema` derives give the JSON Schemas (the same ones /openapi.json uses for
//! `Message`, `Thread` and `User`), and examples are those types' own serializations.

use chrono::NaiveDate;
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::db::models::{Message, Reaction, ReplyPreview, Sender, Thread, User};
use crate::domain::close::Close;
use crate::domain::error::ErrorCode;
use crate::domain::feed::Seq;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::services::chat::events::{Ack, ServerEvent, TypingUser};
use crate::ws::protocol::{
    AuthRequest, DeleteRequest, EditRequest, HistoryRequest, ReactRequest, ReadRequest,
    RequestFrame, SendRequest, SyncFields, TypingRequest,
};

#[derive(OpenApi)]
#[openapi(components(schemas(RequestFrame, ServerEvent)))]
struct FrameSchemas;

const CHANNEL: &str = "ws";

pub fn document() -> Value {
    let generated = serde_json::to_value(FrameSchemas::openapi()).unwrap_or_default();
    let mut schemas = match generated["components"]["schemas"].clone() {
        Value::Object(schemas) => schemas,
        _ => Map::new(),
    };
    let requests = split_union(&mut schemas, "RequestFrame", "RequestFrame");
    let events = split_union(&mut schemas, "ServerEvent", "Event");
    let request_examples = request_examples();
    let event_examples = event_examples();

    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let mut operations = Map::new();
    for (kind, schema_name, description) in &requests {
        let name = format!("{kind}Request");
        let examples = examples_of(&request_examples, kind);
        messages.insert(
            name.clone(),
            message(&name, kind, schema_name, description, examples),
        );
        channel_messages.insert(
            name.clone(),
            json!({"$ref": format!("#/components/messages/{name}")}),
        );
        let replies: &[&str] = if kind == "ping" {
            &["pong", "error"]
        } else {
            &["ack", "error"]
        };
        operations.insert(
            kind.clone(),
            json!({
                "action": "receive",
                "title": format!("{kind} request"),
                "summary": description,
                "channel": {"$ref": format!("#/channels/{CHANNEL}")},
                "messages": [{"$ref": format!("#/channels/{CHANNEL}/messages/{name}")}],
                "reply": {
                    "channel": {"$ref": format!("#/channels/{CHANNEL}")},
                    "messages": replies
                        .iter()
                        .map(|r| json!({"$ref": format!("#/channels/{CHANNEL}/messages/{r}")}))
                        .collect::<Vec<_>>(),
                },
            }),
        );
    }
    let mut pushed = Vec::new();
    for (kind, schema_name, description) in &events {
        let examples = examples_of(&event_examples, kind);
        messages.insert(
            kind.clone(),
            message(kind, kind, schema_name, description, examples),
        );
        channel_messages.insert(
            kind.clone(),
            json!({"$ref": format!("#/components/messages/{kind}")}),
        );
        pushed.push(json!({"$ref": format!("#/channels/{CHANNEL}/messages/{kind}")}));
    }
    operations.insert(
        "serverFrames".into(),
        json!({
            "action": "send",
            "title": "Server frames",
            "summary": "Every frame the server writes: events as they happen, and the replies.",
            "channel": {"$ref": format!("#/channels/{CHANNEL}")},
            "messages": pushed,
        }),
    );

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "chat-server WebSocket",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The real-time face of chat-server: one WebSocket at `GET /ws`. Every \
                frame is one JSON object in a text frame. Requests carry `type` and an optional `id` \
                (a string or a number) that the reply (`ack`, `pong` or `error`) echoes; one \
                connection's requests are answered in the order they arrive. HTTP routes are in \
                /openapi.json; prose and examples in docs/PROTOCOL.md.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "plain": {
                "host": "{host}",
                "protocol": "ws",
                "description": "The server itself (BIND_ADDR)",
                "variables": {"host": {"default": "localhost:8080"}},
                "security": [
                    {"$ref": "#/components/securitySchemes/bearer"},
                    {"$ref": "#/components/securitySchemes/queryToken"}
                ],
            },
            "tls": {
                "host": "{host}",
                "protocol": "wss",
                "description": "Behind a TLS-terminating proxy",
                "variables": {"host": {"default": "chat.example.com"}},
                "security": [
                    {"$ref": "#/components/securitySchemes/bearer"},
                    {"$ref": "#/components/securitySchemes/queryToken"}
                ],
            },
        },
        "channels": {
            CHANNEL: {
                "address": crate::ws::PATH,
                "title": "The chat WebSocket",
                "description": channel_description(),
                "messages": channel_messages,
                "bindings": {"ws": {
                    "method": "GET",
                    "query": {
                        "type": "object",
                        "properties": {"token": {
                            "type": "string",
                            "description": "The access token, for clients (browsers) that cannot set headers"
                        }},
                    },
                    "bindingVersion": "0.1.0",
                }},
                "x-close-codes": Close::ALL
                    .iter()
                    .map(|c| json!({"code": c.code(), "reason": c.text()}))
                    .collect::<Vec<_>>(),
            }
        },
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`Authorization: Bearer <accessToken>` on the upgrade request \
                        (the access token of POST /auth/login, /auth/register or /auth/refresh)",
                },
                "queryToken": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "`?token=<accessToken>` on the upgrade request",
                },
            },
        },
    })
}

/// Moves each variant of the tagged union `union` to a schema of its own, `<Kind><suffix>`, and
/// leaves the union as a `oneOf` of references to them. Returns (kind, schema name, description).
fn split_union(
    schemas: &mut Map<String, Value>,
    union: &str,
    suffix: &str,
) -> Vec<(String, String, String)> {
    let variants = match schemas.get_mut(union).and_then(|u| u.get_mut("oneOf")) {
        Some(Value::Array(variants)) => std::mem::take(variants),
        _ => Vec::new(),
    };
    let mut found = Vec::new();
    let mut refs = Vec::new();
    for variant in variants {
        let Some(kind) = tag_of(&variant) else {
            continue;
        };
        let description = description_of(&variant, schemas);
        let mut upper = kind.clone();
        if let Some(first) = upper.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        let name = format!("{upper}{suffix}");
        refs.push(json!({"$ref": format!("#/components/schemas/{name}")}));
        schemas.insert(name.clone(), variant);
        found.push((kind, name, description));
    }
    if let Some(Value::Object(u)) = schemas.get_mut(union) {
        u.insert("oneOf".into(), Value::Array(refs));
    }
    found
}

/// The `type` a variant's schema pins: `{"properties":{"type":{"enum":[kind]}}}`, at its top or
/// in one of its `allOf` parts.
fn tag_of(variant: &Value) -> Option<String> {
    let direct = variant["properties"]["type"]["enum"][0].as_str();
    let nested = || {
        variant["allOf"]
            .as_array()?
            .iter()
            .find_map(|part| part["properties"]["type"]["enum"][0].as_str())
    };
    direct.or_else(nested).map(str::to_owned)
}

/// The variant's doc comment, else that of the struct it wraps.
fn description_of(variant: &Value, schemas: &Map<String, Value>) -> String {
    let own = variant["description"].as_str();
    let wrapped = || {
        let reference = variant["allOf"]
            .as_array()?
            .iter()
            .find_map(|part| part["$ref"].as_str())?;
        let name = reference.rsplit('/').next()?;
        schemas.get(name)?["description"].as_str()
    };
    own.or_else(wrapped).unwrap_or_default().to_owned()
}

fn message(name: &str, kind: &str, schema: &str, description: &str, examples: Value) -> Value {
    json!({
        "name": name,
        "title": format!("`{kind}`"),
        "summary": description,
        "contentType": "application/json",
        "payload": payload(schema, kind),
        "examples": examples,
    })
}

/// A request's payload: its fields' schema, and the optional `id` the reply echoes.
fn payload(schema: &str, kind: &str) -> Value {
    let reference = json!({"$ref": format!("#/components/schemas/{schema}")});
    if schema.ends_with("RequestFrame") {
        json!({"allOf": [reference, {
            "type": "object",
            "properties": {"id": {
                "description": format!("Echoed by the reply to this `{kind}`"),
                "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/RequestId"}]
            }}
        }]})
    } else {
        reference
    }
}

fn examples_of(all: &[(&str, &str, Value)], kind: &str) -> Value {
    Value::Array(
        all.iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, name, payload)| json!({"name": name, "payload": payload}))
            .collect(),
    )
}

fn channel_description() -> String {
    let mut text = String::from(
        "Authenticate the upgrade with `Authorization: Bearer <accessToken>` or `?token=`; without \
         a valid token the answer is HTTP 401 and no socket. `ready` is the first frame. \
         An `error` frame's `code` is one of: ",
    );
    let codes: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| format!("`{}`", c.as_str()))
        .collect();
    text.push_str(&codes.join(", "));
    text.push_str(". The server closes the socket with (`x-close-codes`): ");
    let closes: Vec<String> = Close::ALL
        .iter()
        .map(|c| format!("{} ({})", c.code(), c.text()))
        .collect();
    text.push_str(&closes.join(", "));
    text.push('.');
    text
}

/// A request frame as a client writes it: the serialized request, with an `id`.
fn request(frame: RequestFrame, id: Value) -> Value {
    let mut value = serde_json::to_value(frame).unwrap_or_default();
    if let Value::Object(fields) = &mut value {
        fields.insert("id".into(), id);
    }
    value
}

fn request_examples() -> Vec<(&'static str, &'static str, Value)> {
    let thread_id = ThreadId(1);
    let message_id = MessageId(7);
    vec![
        (
            "send",
            "a reply",
            request(
                RequestFrame::Send(SendRequest {
                    thread_id,
                    text: "hello".into(),
                    client_msg_id: Some("c-1".into()),
                    reply_to: Some(MessageId(5)),
                }),
                json!(1),
            ),
        ),
        (
            "edit",
            "new text",
            request(
                RequestFrame::Edit(EditRequest {
                    message_id,
                    text: "hello again".into(),
                }),
                json!(2),
            ),
        ),
        (
            "delete",
            "delete",
            request(
                RequestFrame::Delete(DeleteRequest { message_id }),
                json!("d-1"),
            ),
        ),
        (
            "react",
            "thumbs up",
            request(
                RequestFrame::React(ReactRequest {
                    message_id,
                    emoji: "👍".into(),
                    on: true,
                }),
                json!(3),
            ),
        ),
        (
            "typing",
            "typing",
            request(
                RequestFrame::Typing(TypingRequest {
                    thread_id,
                    is_typing: true,
                }),
                Value::Null,
            ),
        ),
        (
            "read",
            "read up to a message",
            request(
                RequestFrame::Read(ReadRequest {
                    thread_id,
                    message_id,
                }),
                json!(4),
            ),
        ),
        (
            "history",
            "the page before a message",
            request(
                RequestFrame::History(HistoryRequest {
                    thread_id,
                    before: Some(message_id),
                    limit: Some(50),
                }),
                json!(5),
            ),
        ),
        (
            "sync",
            "since a cursor",
            request(
                RequestFrame::Sync(SyncFields {
                    after: None,
                    since: Some("1042".into()),
                    limit: None,
                }),
                json!(6),
            ),
        ),
        (
            "sync",
            "after a message id",
            request(
                RequestFrame::Sync(SyncFields {
                    after: Some(message_id),
                    since: None,
                    limit: Some(500),
                }),
                json!(7),
            ),
        ),
        ("ping", "ping", request(RequestFrame::Ping, json!(8))),
        (
            "auth",
            "a refreshed token",
            request(
                RequestFrame::Auth(AuthRequest {
                    token: "eyJhbGciOiJIUzI1NiJ9.…".into(),
                }),
                json!(9),
            ),
        ),
    ]
}

fn event_examples() -> Vec<(&'static str, &'static str, Value)> {
    let at = NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_milli_opt(6, 14, 23, 520))
        .unwrap_or_default();
    let alice = User {
        id: UserId(1),
        user_name: "alice01".into(),
        nick_name: "Alice".into(),
        avatar_url: None,
        avatar_thumb_url: None,
        created_at: at,
    };
    let bob = User {
        id: UserId(2),
        user_name: "bob0001".into(),
        nick_name: "Bob".into(),
        avatar_url: None,
        avatar_thumb_url: None,
        created_at: at,
    };
    let sender = |u: &User| Sender {
        id: u.id,
        user_name: u.user_name.clone(),
        nick_name: u.nick_name.clone(),
        avatar_url: u.avatar_url.clone(),
    };
    let message = Message {
        id: MessageId(7),
        thread_id: ThreadId(1),
        sender: sender(&alice),
        text: Some("hello".into()),
        attachments: Vec::new(),
        client_msg_id: Some("c-1".into()),
        created_at: at,
        edited_at: None,
        deleted: false,
        reply_to: Some(ReplyPreview {
            id: MessageId(5),
            sender: sender(&bob),
            text: Some("report?".into()),
            deleted: false,
        }),
        reactions: vec![Reaction {
            emoji: "👍".into(),
            count: 1,
            user_ids: vec![bob.id],
        }],
        seq: Seq(1042),
    };
    let edited = Message {
        text: Some("hello again".into()),
        edited_at: Some(at),
        seq: Seq(1043),
        ..message.clone()
    };
    let thread = Thread {
        id: ThreadId(1),
        is_group: false,
        name: None,
        owner_id: None,
        members: vec![alice.clone(), bob.clone()],
        last_message: Some(message.clone()),
        unread_count: 1,
        last_read_message_id: MessageId(5),
        read_marks: [(alice.id, MessageId(7)), (bob.id, MessageId(5))]
            .into_iter()
            .collect(),
        updated_at: at,
    };
    let id = json!(1);
    let event = |e: ServerEvent| serde_json::to_value(e).unwrap_or_default();
    vec![
        (
            "ready",
            "ready",
            event(ServerEvent::Ready {
                user: &alice,
                connection_id: "13788e8100000001",
                cursor: Seq(1042),
            }),
        ),
        (
            "message",
            "a new message",
            event(ServerEvent::Message { message: &message }),
        ),
        (
            "messageUpdated",
            "an edit",
            event(ServerEvent::MessageUpdated { message: &edited }),
        ),
        (
            "typing",
            "Bob is typing",
            event(ServerEvent::Typing {
                thread_id: ThreadId(1),
                user: TypingUser {
                    id: bob.id,
                    nick_name: &bob.nick_name,
                },
                is_typing: true,
            }),
        ),
        (
            "read",
            "Bob read up to 7",
            event(ServerEvent::Read {
                thread_id: ThreadId(1),
                user_id: bob.id,
                message_id: MessageId(7),
            }),
        ),
        (
            "presence",
            "Bob came online",
            event(ServerEvent::Presence {
                user_id: bob.id,
                online: true,
            }),
        ),
        (
            "thread",
            "a thread",
            event(ServerEvent::Thread { thread: &thread }),
        ),
        (
            "removed",
            "removed from a group",
            event(ServerEvent::Removed {
                thread_id: ThreadId(5),
            }),
        ),
        ("pong", "pong", event(ServerEvent::Pong { id: &id })),
        (
            "ack",
            "to send, edit, delete, react",
            event(ServerEvent::Ack(Ack {
                message: Some(&message),
                ..Ack::empty(&id)
            })),
        ),
        (
            "ack",
            "to history, sync {after}",
            event(ServerEvent::Ack(Ack {
                messages: Some(std::slice::from_ref(&message)),
                has_more: Some(false),
                ..Ack::empty(&id)
            })),
        ),
        (
            "ack",
            "to sync {since}",
            event(ServerEvent::Ack(Ack {
                messages: Some(std::slice::from_ref(&edited)),
                has_more: Some(false),
                cursor: Some(Seq(1043)),
                ..Ack::empty(&id)
            })),
        ),
        (
            "ack",
            "to typing, read (with an id), auth",
            event(ServerEvent::Ack(Ack::empty(&id))),
        ),
        (
            "error",
            "not a member",
            event(ServerEvent::Error {
                id: &id,
                code: ErrorCode::NotMember.as_str(),
                message: "You are not a member of this thread",
            }),
        ),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_type_is_a_message_with_an_example() {
        let doc = document();
        let messages = doc["components"]["messages"].as_object().unwrap();
        for kind in [
            "ready",
            "message",
            "messageUpdated",
            "typing",
            "read",
            "presence",
            "thread",
            "removed",
            "pong",
            "ack",
            "error",
        ] {
            assert!(messages.contains_key(kind), "{kind} is described");
        }
        for kind in [
            "send", "edit", "delete", "react", "typing", "read", "history", "sync", "ping", "auth",
        ] {
            assert!(
                messages.contains_key(&format!("{kind}Request")),
                "{kind} is described"
            );
        }
        for (name, message) in messages {
            let examples = message["examples"].as_array().unwrap();
            assert!(!examples.is_empty(), "{name} has an example");
        }
        let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        if let Ok(path) = std::env::var("ASYNCAPI_DUMP") {
            std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        }
    }

    /// Each request example is a frame `parse` accepts as that very type.
    #[test]
    fn request_examples_parse() {
        for (kind, _, example) in request_examples() {
            let (_, parsed) = crate::ws::protocol::parse(&example.to_string());
            assert!(parsed.is_ok(), "{kind}: {example}");
        }
    }
}
