//! Client requests: parsed from one text frame into a typed request, or into the error frame
//! that answers it. The wire shapes below also derive `ToSchema`: /asyncapi.json describes the
//! frames from these very types (src/asyncapi.rs), and `Serialize` makes its examples.

use crate::domain::error::ErrorCode;
use crate::domain::ids::{MessageId, ThreadId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    #[schema(value_type = i64)]
    pub thread_id: ThreadId,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub reply_to: Option<MessageId>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditRequest {
    #[schema(value_type = i64)]
    pub message_id: MessageId,
    pub text: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRequest {
    #[schema(value_type = i64)]
    pub message_id: MessageId,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReactRequest {
    #[schema(value_type = i64)]
    pub message_id: MessageId,
    pub emoji: String,
    pub on: bool,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypingRequest {
    #[schema(value_type = i64)]
    pub thread_id: ThreadId,
    pub is_typing: bool,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadRequest {
    #[schema(value_type = i64)]
    pub thread_id: ThreadId,
    #[schema(value_type = i64)]
    pub message_id: MessageId,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRequest {
    #[schema(value_type = i64)]
    pub thread_id: ThreadId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub before: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `sync`: exactly one of `after` (a message id) or `since` (a cursor from `ready` or a sync
/// ack, `""` for the beginning).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub after: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// Where a sync starts: after a message id, or after a change cursor.
#[derive(Debug, PartialEq, Eq)]
pub enum SyncFrom {
    After(MessageId),
    Since(String),
}

#[derive(Debug)]
pub struct SyncRequest {
    pub from: SyncFrom,
    pub limit: Option<i64>,
}

impl TryFrom<SyncFields> for SyncRequest {
    type Error = Refusal;

    fn try_from(fields: SyncFields) -> Result<Self, Refusal> {
        let from = match (fields.after, fields.since) {
            (Some(after), None) => SyncFrom::After(after),
            (None, Some(since)) => SyncFrom::Since(since),
            _ => {
                return Err(refuse(
                    ErrorCode::Validation,
                    "sync takes either after (a message id) or since (a cursor)",
                ))
            }
        };
        Ok(SyncRequest {
            from,
            limit: fields.limit,
        })
    }
}

/// `auth`: a newer access token for this connection (sessions and tokens).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct AuthRequest {
    pub token: String,
}

#[derive(Debug)]
pub enum Request {
    Send(SendRequest),
    Edit(EditRequest),
    Delete(DeleteRequest),
    React(ReactRequest),
    Typing(TypingRequest),
    Read(ReadRequest),
    History(HistoryRequest),
    Sync(SyncRequest),
    Ping,
    Auth(AuthRequest),
}

/// One client frame as it arrives, picked by its `type`; `id` is read apart ([`request_id`]).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RequestFrame {
    /// Stores a message: `ack` with it; `message` to every other connection of every member.
    Send(SendRequest),
    /// Changes a message's text (its sender only): `ack` with it; `messageUpdated` to the others.
    Edit(EditRequest),
    /// Leaves a tombstone (the sender, or a group's owner): `ack`; `messageUpdated` to the others.
    Delete(DeleteRequest),
    /// Adds (`on`) or removes an emoji: `ack` with the message; `messageUpdated` to the others.
    React(ReactRequest),
    /// `typing` to the other members; `ack` when it carried an `id`.
    Typing(TypingRequest),
    /// Moves the read mark (never back): `read` to the members; `ack` when it carried an `id`.
    Read(ReadRequest),
    /// A page of a thread, ascending: `ack` with `messages` and `hasMore`.
    History(HistoryRequest),
    /// Catching up: `ack` with `messages`, `hasMore` (and `cursor` for `since`).
    Sync(SyncFields),
    /// `pong`.
    Ping,
    /// A newer access token of the same user for this connection: `ack`, or `UNAUTHORIZED`.
    Auth(AuthRequest),
    /// Any other `type`: answered `UNKNOWN_TYPE`.
    #[serde(other, skip_serializing)]
    Unknown,
}

impl TryFrom<RequestFrame> for Request {
    /// `None`: an unknown type.
    type Error = Option<Refusal>;

    fn try_from(frame: RequestFrame) -> Result<Self, Option<Refusal>> {
        Ok(match frame {
            RequestFrame::Send(r) => Request::Send(r),
            RequestFrame::Edit(r) => Request::Edit(r),
            RequestFrame::Delete(r) => Request::Delete(r),
            RequestFrame::React(r) => Request::React(r),
            RequestFrame::Typing(r) => Request::Typing(r),
            RequestFrame::Read(r) => Request::Read(r),
            RequestFrame::History(r) => Request::History(r),
            RequestFrame::Sync(fields) => Request::Sync(SyncRequest::try_from(fields)?),
            RequestFrame::Ping => Request::Ping,
            RequestFrame::Auth(r) => Request::Auth(r),
            RequestFrame::Unknown => return Err(None),
        })
    }
}

/// A request that could not be understood: the error frame's code and message.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code: code.as_str(),
        message: message.into(),
    }
}

/// The echoed `id`: a string or a number, else `null`.
fn request_id(object: &serde_json::Map<String, Value>) -> Result<Value, Refusal> {
    match object.get("id") {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(id @ (Value::String(_) | Value::Number(_))) => Ok(id.clone()),
        Some(_) => Err(refuse(
            ErrorCode::Validation,
            "id must be a string or a number",
        )),
    }
}

/// Parses one text frame. The id is returned even when the request is refused, so the error
/// frame can echo it.
pub fn parse(text: &str) -> (Value, Result<Request, Refusal>) {
    let mut object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return (
                Value::Null,
                Err(refuse(
                    ErrorCode::BadJson,
                    "a request must be a JSON object",
                )),
            )
        }
        Err(e) => {
            return (
                Value::Null,
                Err(refuse(ErrorCode::BadJson, format!("malformed JSON: {e}"))),
            )
        }
    };
    let id = match request_id(&object) {
        Ok(id) => id,
        Err(refusal) => return (Value::Null, Err(refusal)),
    };
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => {
            return (
                id,
                Err(refuse(ErrorCode::Validation, "type must be a string")),
            )
        }
        None => return (id, Err(refuse(ErrorCode::Validation, "type is required"))),
    };
    object.remove("id");
    let request = match serde_json::from_value::<RequestFrame>(Value::Object(object)) {
        Ok(frame) => Request::try_from(frame).map_err(|refusal| match refusal {
            Some(refusal) => refusal,
            None => refuse(
                ErrorCode::UnknownType,
                format!("unknown request type {kind:?}"),
            ),
        }),
        Err(e) => Err(refuse(
            ErrorCode::Validation,
            format!("invalid {kind} request: {e}"),
        )),
    };
    (id, request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_id() {
        let (id, res) = parse(r#"{"type":"nope","id":7}"#);
        assert_eq!(id, Value::from(7));
        assert_eq!(res.err().map(|r| r.code), Some("UNKNOWN_TYPE"));
        let (_, res) = parse("{oops");
        assert_eq!(res.err().map(|r| r.code), Some("BAD_JSON"));
        let (_, res) = parse(r#"{"type":"send","threadId":"x","text":"hi"}"#);
        assert_eq!(res.err().map(|r| r.code), Some("VALIDATION"));
        let (_, res) = parse(r#"{"type":5}"#);
        assert_eq!(res.err().map(|r| r.code), Some("VALIDATION"));
    }

    #[test]
    fn sync_takes_after_or_since_but_not_both() {
        let from = |text: &str| match parse(text).1 {
            Ok(Request::Sync(sync)) => Ok(sync.from),
            Ok(_) => Err("not parsed as a sync"),
            Err(refusal) => Err(refusal.code),
        };
        assert_eq!(
            from(r#"{"type":"sync","after":5}"#),
            Ok(SyncFrom::After(MessageId(5)))
        );
        assert_eq!(
            from(r#"{"type":"sync","since":""}"#),
            Ok(SyncFrom::Since(String::new()))
        );
        assert_eq!(
            from(r#"{"type":"sync","after":5,"since":"7"}"#),
            Err("VALIDATION")
        );
        assert_eq!(from(r#"{"type":"sync"}"#), Err("VALIDATION"));
        assert_eq!(from(r#"{"type":"sync","since":7}"#), Err("VALIDATION"));
    }

    #[test]
    fn lifecycle_requests_need_their_fields() {
        let code = |text: &str| parse(text).1.err().map(|r| r.code);
        assert_eq!(code(r#"{"type":"edit","messageId":1,"text":"x"}"#), None);
        assert_eq!(code(r#"{"type":"edit","messageId":1}"#), Some("VALIDATION"));
        assert_eq!(
            code(r#"{"type":"delete","messageId":"1"}"#),
            Some("VALIDATION")
        );
        assert_eq!(
            code(r#"{"type":"react","messageId":1,"emoji":"x","on":true}"#),
            None
        );
        assert_eq!(
            code(r#"{"type":"react","messageId":1,"emoji":"x"}"#),
            Some("VALIDATION")
        );
        assert_eq!(
            code(r#"{"type":"send","threadId":1,"text":"x","replyTo":"a"}"#),
            Some("VALIDATION")
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,20}".prop_map(Value::from),
            prop_oneof![
                Just("send"),
                Just("typing"),
                Just("read"),
                Just("history"),
                Just("sync"),
                Just("edit"),
                Just("delete"),
                Just("react"),
                Just("ping")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("type".to_owned()),
                        Just("id".to_owned()),
                        Just("threadId".to_owned()),
                        Just("text".to_owned()),
                        Just("after".to_owned()),
                        Just("since".to_owned()),
                        Just("messageId".to_owned()),
                        Just("emoji".to_owned()),
                        Just("on".to_owned()),
                        Just("replyTo".to_owned()),
                        Just("limit".to_owned()),
                        "[a-zA-Z]{1,8}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any text: a request or a refusal with a known code, never a panic.
        #[test]
        fn any_text_frame_is_answered(text in ".{0,200}") {
            let (_, result) = parse(&text);
            if let Err(refusal) = result {
                prop_assert!(["BAD_JSON", "UNKNOWN_TYPE", "VALIDATION"].contains(&refusal.code));
            }
        }

        /// Any JSON: the id echoed is a string, a number or null; refusals carry a message.
        #[test]
        fn any_json_frame_is_classified(value in json_value()) {
            let (id, result) = parse(&value.to_string());
            prop_assert!(id.is_null() || id.is_string() || id.is_number());
            match result {
                Ok(_) => prop_assert!(value.get("type").is_some_and(Value::is_string)),
                Err(refusal) => prop_assert!(!refusal.message.is_empty()),
            }
        }
    }
}
