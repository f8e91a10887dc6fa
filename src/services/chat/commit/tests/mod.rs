//! The group commit, end to end on a real database: batch order, racing retries, refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::db::models::NewUser;
use crate::db::Db;
use crate::domain::ids::ConnId;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::limits::Limits;
use crate::registry::{ConnHandle, Outbox, Registry};
use crate::services::chat::{Chat, SendInput};

/// A chat service on a fresh database: a SQLite file in a temp dir, or a fresh PostgreSQL
/// database when `CHAT_TEST_PG_URL` is set (as the integration suite does).
pub(super) async fn fixture() -> (Chat, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("chat.db").to_string_lossy().into_owned();
    // connecting and migrating are synchronous: off the async worker
    let db = tokio::task::spawn_blocking(move || {
        let url = match std::env::var("CHAT_TEST_PG_URL") {
            Ok(admin) => fresh_pg_database(&admin),
            Err(_) => sqlite,
        };
        Db::connect(&url)
    })
    .await
    .unwrap()
    .unwrap();
    let storage = crate::storage::Storage::open(&dir.path().join("uploads")).unwrap();
    let chat = Chat::new(
        db,
        storage,
        Arc::new(Registry::new()),
        Arc::new(Limits::new(false, None, "").unwrap()),
        1000,
        None,
        None,
    );
    (chat, dir)
}

pub(super) fn fresh_pg_database(admin: &str) -> String {
    use diesel::{Connection, RunQueryDsl};
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "chat_unit_{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut conn = diesel::PgConnection::establish(admin).unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .unwrap();
    let (url, options) = admin.split_once('?').unwrap_or((admin, ""));
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    let options = if options.is_empty() {
        String::new()
    } else {
        format!("?{options}")
    };
    format!("{base}/{name}{options}")
}

pub(super) async fn user(chat: &Chat, name: &'static str) -> UserId {
    chat.db()
        .run(move |c| {
            queries::insert_user(
                c,
                &NewUser {
                    user_name: name,
                    user_name_key: name,
                    nick_name: name,
                    password_hash: "not a hash",
                    avatar_url: None,
                    created_at: chrono::Utc::now().naive_utc(),
                    avatar_thumb_url: None,
                },
            )
        })
        .await
        .unwrap()
        .id
}

pub(super) async fn group(chat: &Chat, owner: UserId, members: &[UserId]) -> ThreadId {
    let members = members.to_vec();
    chat.db()
        .run(move |c| queries::create_group(c, owner, "group", &members))
        .await
        .unwrap()
        .id
}

/// Registers a live connection the way the WebSocket task does, minus the socket.
pub(super) fn connect(chat: &Chat, user_id: UserId, conn_id: u64) -> Arc<Outbox> {
    let outbox = Arc::new(Outbox::new(100_000, usize::MAX));
    chat.registry().register(
        user_id,
        ConnHandle {
            conn_id: ConnId(conn_id),
            outbox: outbox.clone(),
        },
    );
    outbox
}

pub(super) fn origin(user_id: UserId, conn_id: u64, request: Value) -> Option<Origin> {
    Some(Origin {
        user_id,
        conn_id: ConnId(conn_id),
        request_id: request,
    })
}

#[derive(Debug, PartialEq)]
pub(super) enum Seen {
    Ack { request: Value, id: MessageId },
    Message(MessageId),
}

impl Seen {
    fn id(&self) -> MessageId {
        match self {
            Seen::Ack { id, .. } | Seen::Message(id) => *id,
        }
    }
}

/// The `ack` and `message` frames queued on a connection, in queue order.
pub(super) fn seen(outbox: &Outbox) -> Vec<Seen> {
    outbox
        .take_all()
        .iter()
        .map(|frame| {
            let v: Value = serde_json::from_str(frame).unwrap();
            let id = MessageId(v["message"]["id"].as_i64().unwrap());
            match v["type"].as_str() {
                Some("ack") => Seen::Ack {
                    request: v["id"].clone(),
                    id,
                },
                Some("message") => Seen::Message(id),
                other => panic!("unexpected frame {other:?}: {frame}"),
            }
        })
        .collect()
}

pub(super) fn ids(seen: &[Seen]) -> Vec<MessageId> {
    seen.iter().map(Seen::id).collect()
}

pub(super) fn strictly_ascending(ids: &[MessageId]) -> bool {
    ids.windows(2).all(|w| w[0] < w[1])
}

pub(super) fn stripe_of(thread_id: ThreadId) -> usize {
    (thread_id.0.unsigned_abs() as usize) % THREAD_LOCK_STRIPES
}

/// Makes the stripe look busy, so that sends queue up as they do behind a batch in commit,
/// and no committer takes them until [`release`].
pub(super) fn hold(chat: &Chat, stripe: usize) {
    let mut queue = chat.commit_queue(stripe);
    assert!(!queue.committing, "the stripe is idle before the test");
    queue.committing = true;
}

/// Waits until `count` sends are queued on the held stripe; returns their clientMsgIds in
/// queue order (the order the committer will take them).
pub(super) async fn queued(chat: &Chat, stripe: usize, count: usize) -> Vec<Option<String>> {
    let wait = async {
        loop {
            {
                let queue = chat.commit_queue(stripe);
                if queue.pending.len() >= count {
                    return queue
                        .pending
                        .iter()
                        .map(|p| match &p.change {
                            Change::Send(input) => input.client_msg_id.clone(),
                            _ => None,
                        })
                        .collect::<Vec<_>>();
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    // a hang guard only, not a timing assertion
    tokio::time::timeout(Duration::from_secs(120), wait)
        .await
        .expect("the sends never queued up")
}

/// Starts the committer that [`hold`] kept away (`committing` stays set: it is its flag).
pub(super) fn release(chat: &Chat, stripe: usize) {
    let chat = chat.clone();
    tokio::spawn(async move { chat.commit_loop(stripe).await });
}

pub(super) fn text(thread_id: ThreadId, text: &str, client_msg_id: Option<&str>) -> SendInput {
    SendInput {
        thread_id,
        text: Some(text.into()),
        client_msg_id: client_msg_id.map(str::to_owned),
        reply_to: None,
        files: Vec::new(),
    }
}

pub(super) async fn history(chat: &Chat, user_id: UserId, thread_id: ThreadId) -> Vec<Message> {
    chat.history(user_id, thread_id, None, None, Some(100))
        .await
        .unwrap()
        .0
}

mod group_commit;
