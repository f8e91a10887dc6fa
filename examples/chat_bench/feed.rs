//! The change feed as a client sees it: message objects parsed to what a client keeps of them
//! (a fingerprint of their state and their feed position), `ready.cursor`, and `sync {since}`
//! page by page.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::ws::Ws;
use crate::Res;

/// A message object: only the fields whose latest value every member must agree on. The
/// reply preview is left out on purpose: it shows the replied message "as it is now", so a
/// live copy keeps the preview of when it arrived while a sync shows today's.
#[derive(Deserialize)]
pub struct Msg<'a> {
    pub id: i64,
    #[serde(default)]
    pub sender: Option<SenderRef>,
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(rename = "editedAt", borrow, default)]
    pub edited_at: Option<Cow<'a, str>>,
    #[serde(rename = "replyTo", default)]
    pub reply_to: Option<IdRef>,
    #[serde(borrow, default)]
    pub reactions: Vec<Reaction<'a>>,
    #[serde(borrow)]
    pub seq: Cow<'a, str>,
}

#[derive(Deserialize)]
pub struct SenderRef {
    pub id: i64,
}

#[derive(Deserialize)]
pub struct IdRef {
    pub id: i64,
}

#[derive(Deserialize)]
pub struct Reaction<'a> {
    #[serde(borrow)]
    pub emoji: Cow<'a, str>,
    pub count: u64,
    #[serde(rename = "userIds")]
    pub user_ids: Vec<i64>,
}

/// `message` and `messageUpdated`.
#[derive(Deserialize)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub message: Msg<'a>,
}

/// Every `ack` the bench asks for: of a change (`message`) or of a sync (`messages`). The bench
/// numbers its requests, so `id` is a number.
#[derive(Deserialize)]
pub struct Ack<'a> {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(borrow, default)]
    pub message: Option<Msg<'a>>,
    #[serde(borrow, default)]
    pub messages: Option<Vec<Msg<'a>>>,
    #[serde(rename = "hasMore", default)]
    pub has_more: bool,
    #[serde(borrow, default)]
    pub cursor: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ReadyFrame {
    #[serde(default)]
    cursor: Option<String>,
}

/// A frame's `type`: read off the front when the server put it first (it does), else parsed.
pub fn frame_kind(text: &str) -> Option<Cow<'_, str>> {
    if let Some(rest) = text.strip_prefix(r#"{"type":""#) {
        if let Some(end) = rest.find('"') {
            return Some(Cow::Borrowed(&rest[..end]));
        }
    }
    serde_json::from_str::<Kind>(text).ok().map(|k| k.kind)
}

/// What a client holds of one message: its feed position and a fingerprint of its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// `seq`, hashed: the bench only compares positions, as the contract says.
    pub seq: u64,
    pub state: u64,
}

pub fn seq_key(seq: &str) -> u64 {
    let mut h = DefaultHasher::new();
    seq.hash(&mut h);
    h.finish()
}

pub fn held(m: &Msg) -> Held {
    let mut h = DefaultHasher::new();
    m.text.as_deref().hash(&mut h);
    m.deleted.hash(&mut h);
    m.edited_at.as_deref().hash(&mut h);
    m.reply_to.as_ref().map(|r| r.id).hash(&mut h);
    m.reactions.len().hash(&mut h);
    for r in &m.reactions {
        r.emoji.as_ref().hash(&mut h);
        r.count.hash(&mut h);
        r.user_ids.hash(&mut h);
    }
    Held {
        seq: seq_key(&m.seq),
        state: h.finish(),
    }
}

/// Reads frames until `ready`; returns its cursor (None from a server without the feed).
pub async fn ready_cursor(ws: &mut Ws) -> Res<Option<String>> {
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) => {
                let t = t.as_str();
                if frame_kind(t).as_deref() == Some("ready") {
                    return Ok(serde_json::from_str::<ReadyFrame>(t)?.cursor);
                }
            }
            Some(Ok(WsMessage::Close(f))) => {
                return Err(format!("closed before ready: {f:?}").into())
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err("closed before ready".into()),
        }
    }
}

/// A whole `sync {since}`: every message by id, as the pages left it.
#[derive(Default)]
pub struct Synced {
    pub state: HashMap<i64, Held>,
    /// Messages that came a second time (in a later page).
    pub dups: u64,
    pub messages: u64,
    pub pages: u64,
    pub deleted: u64,
    pub edited: u64,
    pub with_reactions: u64,
    pub replies: u64,
    pub cursor: String,
}

/// The request id of the bench's syncs (its change requests count up from 0).
const SYNC_ID: u64 = 1 << 60;

/// `sync {since}` page by page (500 each) until `hasMore` is false, skipping live frames.
pub async fn sync_since(ws: &mut Ws, since: &str) -> Res<Synced> {
    let mut out = Synced {
        cursor: since.to_owned(),
        ..Synced::default()
    };
    loop {
        let req = serde_json::json!({
            "type": "sync", "id": SYNC_ID, "since": out.cursor, "limit": 500,
        });
        ws.send(WsMessage::text(req.to_string())).await?;
        let has_more = loop {
            let text = match ws.next().await {
                Some(Ok(WsMessage::Text(t))) => t,
                Some(Ok(WsMessage::Close(f))) => {
                    return Err(format!("closed during sync: {f:?}").into())
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => return Err("closed during sync".into()),
            };
            let text = text.as_str();
            match frame_kind(text).as_deref() {
                Some("ack") => {}
                Some("error") => return Err(format!("sync: {text}").into()),
                _ => continue,
            }
            let ack: Ack = serde_json::from_str(text)?;
            if ack.id != Some(SYNC_ID) {
                continue;
            }
            for m in ack.messages.as_deref().unwrap_or_default() {
                out.messages += 1;
                if out.state.insert(m.id, held(m)).is_some() {
                    out.dups += 1;
                }
                out.deleted += u64::from(m.deleted);
                out.edited += u64::from(m.edited_at.is_some());
                out.with_reactions += u64::from(!m.reactions.is_empty());
                out.replies += u64::from(m.reply_to.is_some());
            }
            out.cursor = ack
                .cursor
                .ok_or("a sync {since} answer without a cursor")?
                .into_owned();
            break ack.has_more;
        };
        out.pages += 1;
        if !has_more {
            return Ok(out);
        }
    }
}
