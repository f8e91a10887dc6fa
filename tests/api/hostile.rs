//! Hostile clients: raw WebSocket frames written byte by byte, and a kill -9 under load.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::*;

/// A client frame: FIN flag, opcode, masked payload (as RFC 6455 requires of clients).
fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool, rsv: u8) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | (rsv << 4) | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    async fn open(app: &TestApp, token: &str) -> Raw {
        let mut raw = Raw::upgrade(app, token, &[]).await;
        assert_eq!(raw.next_text().await["type"], "ready");
        raw
    }

    /// Writes the upgrade request, with `then` right behind it in the same write, and reads
    /// the 101 reply.
    async fn upgrade(app: &TestApp, token: &str, then: &[u8]) -> Raw {
        Raw::upgrade_at(app.port, token, then).await
    }

    async fn upgrade_at(port: u16, token: &str, then: &[u8]) -> Raw {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut bytes = upgrade_request("GET", &format!("/ws?token={token}"), 13).into_bytes();
        bytes.extend_from_slice(then);
        stream.write_all(&bytes).await.unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
        };
        loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw.buf[..end]).to_string();
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                raw.buf.drain(..end + 4);
                return raw;
            }
            assert!(raw.fill().await, "the handshake reply");
        }
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        let n = tokio::time::timeout(FRAME_TIMEOUT, self.stream.read(&mut chunk))
            .await
            .expect("data in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The next server frame: (opcode, payload). Server frames are never masked.
    async fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let opcode = self.buf[0] & 0x0f;
                let (len, start) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    n if n < 126 => (n as usize, 2),
                    _ => (usize::MAX, 0),
                };
                if len != usize::MAX && self.buf.len() >= start + len {
                    let payload = self.buf[start..start + len].to_vec();
                    self.buf.drain(..start + len);
                    return Some((opcode, payload));
                }
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn next_text(&mut self) -> Value {
        loop {
            let (opcode, payload) = self.next_frame().await.expect("a frame");
            if opcode == 1 {
                return serde_json::from_slice(&payload).unwrap();
            }
            assert_ne!(opcode, 8, "closed: {payload:?}");
        }
    }

    async fn close_code(&mut self) -> u16 {
        while let Some((opcode, payload)) = self.next_frame().await {
            if opcode == 8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
        panic!("no close frame");
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }
}

#[tokio::test]
async fn fragmented_requests_over_many_writes_are_answered() {
    let app = spawn_app().await;
    let user = app.register("raw_frag").await;
    let mut raw = Raw::open(&app, &user.token).await;
    let request = br#"{"type":"ping","id":"fragmented"}"#;
    let mut bytes = frame(false, 1, &request[..10], true, 0);
    bytes.extend(frame(true, 9, b"ping between fragments", true, 0));
    bytes.extend(frame(false, 0, &request[10..20], true, 0));
    bytes.extend(frame(true, 0, &request[20..], true, 0));
    // one byte per TCP write
    for b in bytes {
        raw.write(&[b]).await;
    }
    let mut got_pong_frame = false;
    let reply = loop {
        let (opcode, payload) = raw.next_frame().await.expect("frame");
        match opcode {
            10 => got_pong_frame = payload == b"ping between fragments",
            1 => break serde_json::from_slice::<Value>(&payload).unwrap(),
            _ => {}
        }
    };
    assert!(
        got_pong_frame,
        "the control frame between fragments was answered"
    );
    assert_eq!(reply, json!({"type": "pong", "id": "fragmented"}));
}

#[tokio::test]
async fn protocol_violations_get_their_close_codes() {
    let app = spawn_app().await;
    let user = app.register("raw_viol").await;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (frame(true, 1, b"{}", true, 0b100), 1002, "reserved bit"),
        (frame(true, 3, b"x", true, 0), 1002, "reserved opcode"),
        (
            frame(true, 1, b"{}", false, 0),
            1002,
            "unmasked client frame",
        ),
        (
            frame(true, 1, &[0x7b, 0xff, 0xfe, 0x7d], true, 0),
            1007,
            "invalid UTF-8",
        ),
        (
            frame(true, 1, &vec![b'a'; 70 * 1024], true, 0),
            1009,
            "over the frame limit",
        ),
        (
            frame(false, 9, b"", true, 0),
            1002,
            "fragmented control frame",
        ),
        (
            frame(true, 0, b"orphan", true, 0),
            1002,
            "continuation without a start",
        ),
    ];
    for (bytes, code, what) in cases {
        let mut raw = Raw::open(&app, &user.token).await;
        raw.write(&bytes).await;
        assert_eq!(raw.close_code().await, code, "{what}");
    }
    // the server keeps serving
    let mut ws = app.connect(&user).await;
    ws.send(json!({"type": "ping", "id": 1})).await;
    assert_eq!(ws.recv_type("pong").await["id"], 1);
}

#[tokio::test]
async fn close_codes_valid_and_invalid_are_handled() {
    let app = spawn_app().await;
    let user = app.register("raw_close").await;
    for code in [1000u16, 1001, 1003, 3000, 4999] {
        let mut raw = Raw::open(&app, &user.token).await;
        raw.write(&frame(true, 8, &code.to_be_bytes(), true, 0))
            .await;
        assert_eq!(raw.close_code().await, code, "a valid close code is echoed");
    }
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
        let mut raw = Raw::open(&app, &user.token).await;
        raw.write(&frame(true, 8, &code.to_be_bytes(), true, 0))
            .await;
        // never echoed back as if it were valid; the server closes (1002) or drops the socket
        while let Some((opcode, payload)) = raw.next_frame().await {
            if opcode == 8 {
                let echoed = u16::from_be_bytes([payload[0], payload[1]]);
                assert_eq!(echoed, 1002, "invalid close code {code}");
                break;
            }
        }
    }
    let mut ws = app.connect(&user).await;
    ws.send(json!({"type": "ping", "id": 2})).await;
    assert_eq!(ws.recv_type("pong").await["id"], 2);
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(dir: &std::path::Path, port: u16) -> Reaped {
    start_server_with(dir, port, "off")
}

fn start_server_with(dir: &std::path::Path, port: u16, rate_limits: &str) -> Reaped {
    Reaped(
        Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("DATA_DIR", dir)
            .env("BCRYPT_COST", "4")
            .env("RATE_LIMITS", rate_limits)
            .env("RUST_LOG", "warn")
            // one node, restarted at once after a kill: sweep its leftovers without waiting
            .env("UPLOAD_SWEEP_MIN_AGE_SECS", "0")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn wait_up(base: &str) {
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not start");
}

/// SIGKILL in the middle of a load of sends and uploads: after a restart every acked message
/// is there once, and no half-written upload is on disk or referenced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_under_load_loses_no_acked_message() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(dir.path(), port);
    wait_up(&base).await;
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    for name in ["killer_a", "killer_b"] {
        let user = register_at(&client, &base, name).await;
        users.push((user.id, user.token));
    }
    let (_, body) = read(
        client
            .post(format!("{base}/threads"))
            .bearer_auth(&users[0].1)
            .json(&json!({"userId": users[1].0}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let thread = body["thread"]["id"].as_i64().unwrap();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let mut tasks = Vec::new();
    for (user_id, token) in users.clone() {
        let acked = acked.clone();
        let url = format!("ws://127.0.0.1:{port}/ws");
        tasks.push(tokio::spawn(async move {
            let mut ws = WsClient::connect(&url, &token).await;
            for i in 0.. {
                let sent = futures_util::SinkExt::send(
                    &mut ws.socket,
                    tokio_tungstenite::tungstenite::Message::Text(
                        json!({"type": "send", "id": i, "threadId": thread, "text": format!("load {i}"), "clientMsgId": format!("{user_id}-{i}")}).to_string().into(),
                    ),
                )
                .await;
                if sent.is_err() {
                    return;
                }
                loop {
                    match tokio::time::timeout(Duration::from_secs(5), futures_util::StreamExt::next(&mut ws.socket)).await {
                        Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                            let v: Value = serde_json::from_str(&t).unwrap();
                            if v["type"] == "ack" {
                                acked.lock().unwrap().push(v["message"]["id"].as_i64().unwrap());
                                break;
                            }
                        }
                        Ok(Some(Ok(_))) => {}
                        _ => return,
                    }
                }
            }
        }));
    }
    // uploads in flight too: a large attachment is being written when the kill lands
    let uploader = {
        let client = client.clone();
        let url = format!("{base}/threads/{thread}/messages");
        let token = users[0].1.clone();
        tokio::spawn(async move {
            loop {
                let form = reqwest::multipart::Form::new().text("text", "file").part(
                    "attachments",
                    reqwest::multipart::Part::bytes(vec![7u8; 4 * 1024 * 1024])
                        .file_name("big.bin"),
                );
                if client
                    .post(&url)
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let _ = uploader.await;
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 10, "the load ran: {} acks", acked.len());

    let _server = start_server(dir.path(), port);
    wait_up(&base).await;
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let (_, page) = read(
            client
                .get(format!(
                    "{base}/threads/{thread}/messages?after={after}&limit=100"
                ))
                .bearer_auth(&users[0].1)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let messages = page["messages"].as_array().unwrap().clone();
        for m in &messages {
            stored.push((
                m["id"].as_i64().unwrap(),
                m["clientMsgId"].clone(),
                m["attachments"].clone(),
            ));
        }
        after = stored.last().map_or(after, |s| s.0);
        if page["hasMore"] != true {
            break;
        }
    }
    let ids: HashSet<i64> = stored.iter().map(|s| s.0).collect();
    for id in &acked {
        assert!(ids.contains(id), "acked message {id} survived the kill");
    }
    let client_ids: Vec<&Value> = stored
        .iter()
        .map(|s| &s.1)
        .filter(|c| !c.is_null())
        .collect();
    let unique: HashSet<String> = client_ids.iter().map(|c| c.to_string()).collect();
    assert_eq!(unique.len(), client_ids.len(), "nothing stored twice");
    for (_, _, files) in &stored {
        for file in files.as_array().unwrap() {
            let res = client
                .get(format!("{base}{}", file["url"].as_str().unwrap()))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200, "a referenced upload exists");
            assert_eq!(
                res.bytes().await.unwrap().len(),
                4 * 1024 * 1024,
                "and is whole"
            );
        }
    }
    let leftovers = std::fs::read_dir(dir.path().join("uploads/tmp"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "half-written uploads are swept at start-up");
}

/// Resident memory of a process, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

/// Writes sends, garbage text, binary and oversized frames as fast as the server takes them and
/// never reads; reconnects whenever the server drops it. Goes on until `done` is set and at
/// least `budget` bytes are written. Returns (bytes written, connections).
async fn flood(
    url: String,
    token: String,
    thread: i64,
    budget: usize,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (usize, usize) {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let junk = "x".repeat(16 * 1024);
    let (mut written, mut connections) = (0usize, 0usize);
    let mut i = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let more = |written: usize| {
        (written < budget || !done.load(std::sync::atomic::Ordering::Relaxed))
            && tokio::time::Instant::now() < deadline
    };
    while more(written) {
        let mut request = url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        connections += 1;
        while more(written) {
            i += 1;
            let message = match i % 4 {
                0 => WsMessage::Text(
                    json!({"type": "send", "threadId": thread, "text": format!("flood {i}")})
                        .to_string()
                        .into(),
                ),
                1 => WsMessage::Text(format!("{{\"type\":\"send\",\"text\":\"{junk}").into()),
                2 if i % 20_000 == 2 => WsMessage::Binary(vec![7u8; 70 * 1024].into()),
                2 => WsMessage::Binary(junk.clone().into_bytes().into()),
                _ => WsMessage::Text(format!("[{i}, \"not a request\"]").into()),
            };
            let len = match &message {
                WsMessage::Text(t) => t.len(),
                WsMessage::Binary(b) => b.len(),
                _ => 0,
            };
            let sent = tokio::time::timeout(Duration::from_secs(2), socket.send(message)).await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
            written += len;
        }
    }
    (written, connections)
}

/// One client floods sends and garbage frames (and never reads its socket) while twenty others
/// chat in a group with it: every chatter's message reaches every other chatter, and the
/// server's memory stays bounded (the flood is far larger than the memory it may add).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_beside_twenty_chatters_neither_stops_them_nor_grows_memory() {
    const CHATTERS: usize = 20;
    const EACH: usize = 5;
    const FLOOD_BYTES: usize = 256 * 1024 * 1024;
    const MEMORY_BOUND_KIB: u64 = 48 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // the real limits: the flooder is slowed, as it would be in production
    let server = start_server_with(dir.path(), port, "on");
    wait_up(&base).await;
    let client = reqwest::Client::new();
    let flooder = register_at(&client, &base, "flooder").await;
    let mut chatters = Vec::new();
    for n in 0..CHATTERS {
        chatters.push(register_at(&client, &base, &format!("chatter_{n}")).await);
    }
    let member_ids: Vec<i64> = chatters
        .iter()
        .skip(1)
        .map(|u| u.id)
        .chain([flooder.id])
        .collect();
    let (status, body) = read(
        client
            .post(format!("{base}/threads"))
            .bearer_auth(&chatters[0].token)
            .json(&json!({"name": "floodplain", "memberIds": member_ids}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let thread = body["thread"]["id"].as_i64().unwrap();
    let ws_url = format!("ws://127.0.0.1:{port}/ws");
    let mut sockets = Vec::new();
    for user in &chatters {
        sockets.push(WsClient::connect(&ws_url, &user.token).await);
    }
    let rss_before = rss_kib(server.0.id());

    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooding = tokio::spawn(flood(
        ws_url.clone(),
        flooder.token.clone(),
        thread,
        FLOOD_BYTES,
        done.clone(),
    ));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
    let sampler = {
        let peak = peak.clone();
        let pid = server.0.id();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let chatting: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(n, mut ws)| {
            let ids: HashSet<i64> = chatters.iter().map(|u| u.id).collect();
            tokio::spawn(async move {
                for k in 0..EACH {
                    ws.send(json!({"type": "send", "threadId": thread, "text": format!("chatter {n} says {k}")}))
                        .await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // every message of every other chatter arrives; the flooder's may come between
                let mut heard = HashSet::new();
                while heard.len() < (CHATTERS - 1) * EACH {
                    let frame = ws.recv_within(Duration::from_secs(15)).await;
                    if frame["type"] == "message" {
                        let message = &frame["message"];
                        let sender = message["sender"]["id"].as_i64().unwrap();
                        let text = message["text"].as_str().unwrap().to_owned();
                        if ids.contains(&sender) && !text.starts_with(&format!("chatter {n} ")) {
                            heard.insert(text);
                        }
                    }
                }
                heard.len()
            })
        })
        .collect();
    for chatter in chatting {
        assert_eq!(chatter.await.unwrap(), (CHATTERS - 1) * EACH);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (flooded, connections) = flooding.await.unwrap();
    sampler.abort();
    let growth = peak.load(std::sync::atomic::Ordering::Relaxed) - rss_before;
    eprintln!(
        "flood: {} MiB in {connections} connections; server RSS {rss_before} KiB, peak +{growth} KiB",
        flooded / (1024 * 1024)
    );
    assert!(
        flooded as u64 > 4 * MEMORY_BOUND_KIB * 1024,
        "the flood ({flooded} bytes) must dwarf the memory bound to prove it"
    );
    assert!(
        growth < MEMORY_BOUND_KIB,
        "server memory grew by {growth} KiB under the flood"
    );
    // and the server still serves newcomers
    let mut late = WsClient::connect(&ws_url, &chatters[0].token).await;
    late.send(json!({"type": "ping", "id": "after"})).await;
    assert_eq!(
        late.recv_where(|f| f["type"] == "pong").await["id"],
        "after"
    );
}

/// Started with a soft limit of 256 open files, the server raises it to the hard limit itself
/// (10,000 sockets need descriptors; nobody should have to remember `ulimit -n`).
#[tokio::test]
async fn the_server_raises_its_own_open_files_limit() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Reaped(
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -S -n 256 && exec \"$0\"")
            .arg(env!("CARGO_BIN_EXE_chat-server"))
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("DATA_DIR", dir.path())
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_up(&base).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.0.id())).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_ne!(soft, "256", "{line}");
    assert_eq!(soft, hard, "{line}");
}

/// A WebSocket upgrade request, as a browser would write it.
fn upgrade_request(method: &str, target: &str, version: u8) -> String {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
}

/// The raw reply to one upgrade request: (status, lower-cased head, JSON body). Refusals end
/// the connection, so the reply is everything until EOF.
async fn upgrade_reply(port: u16, method: &str, target: &str, version: u8) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = upgrade_request(method, target, version);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(FRAME_TIMEOUT, stream.read_to_end(&mut reply))
        .await
        .expect("the refusal ends the connection")
        .unwrap();
    let reply = String::from_utf8(reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("a complete reply");
    let status = head[9..12].parse().unwrap();
    (
        status,
        head.to_lowercase(),
        serde_json::from_str(body).unwrap(),
    )
}

/// Upgrade requests are admitted outside the router (the connection leaves the HTTP layer), so
/// every refusal is checked here on the wire: the contract's envelope, its status and headers.
#[tokio::test]
async fn refused_upgrades_get_the_envelope_and_a_closed_connection() {
    let app = spawn_app_with(|c| {
        c.max_connections_per_user = 1;
        c.rate_limits = chat_server::config::Switch::On;
    })
    .await;
    let user = app.register("refusedup").await;
    let token = &user.token;
    let cases = [
        ("GET", "/ws".to_owned(), 13, 401, "UNAUTHORIZED"),
        (
            "GET",
            "/ws?token=forged.token.here".to_owned(),
            13,
            401,
            "UNAUTHORIZED",
        ),
        (
            "GET",
            format!("/nowhere?token={token}"),
            13,
            404,
            "NOT_FOUND",
        ),
        (
            "POST",
            format!("/ws?token={token}"),
            13,
            405,
            "METHOD_NOT_ALLOWED",
        ),
        ("GET", format!("/ws?token={token}"), 8, 400, "VALIDATION"),
    ];
    for (method, target, version, status, code) in cases {
        let (got, head, body) = upgrade_reply(app.port, method, &target, version).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{method} {target}: {body}"
        );
        assert_eq!(body["success"], false);
        assert!(head.contains("connection: close"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        if status == 405 {
            assert!(head.contains("allow: get"), "{head}");
        }
    }
    let (_, _, body) = upgrade_reply(app.port, "GET", "/ws", 13).await;
    assert_eq!(body["message"], "AccessToken Not Found");
    let (_, _, body) = upgrade_reply(app.port, "GET", "/ws?token=forged.token.here", 13).await;
    assert_eq!(body["message"], "Invalid AccessToken");

    let _only = Raw::open(&app, token).await;
    let (status, head, body) =
        upgrade_reply(app.port, "GET", &format!("/ws?token={token}"), 13).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("RATE_LIMITED")));
    assert!(head.contains("retry-after:"), "{head}");
}

/// A client may write its first frames right behind the handshake, before the 101 arrives:
/// those bytes are read with the request and must not be lost when the socket changes hands.
#[tokio::test]
async fn frames_written_right_behind_the_handshake_are_served() {
    let app = spawn_app().await;
    let user = app.register("eagerclnt").await;
    let ping = frame(true, 1, br#"{"type":"ping","id":"early"}"#, true, 0);
    let mut raw = Raw::upgrade(&app, &user.token, &ping).await;
    assert_eq!(raw.next_text().await["type"], "ready");
    let pong = raw.next_text().await;
    assert_eq!(
        (pong["type"].as_str(), pong["id"].as_str()),
        (Some("pong"), Some("early"))
    );
}

/// A server process with the test settings plus `env`, on SQLite.
fn start_server_env(dir: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Reaped {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
    command
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", dir)
        .env("BCRYPT_COST", "4")
        .env("RATE_LIMITS", "off")
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    Reaped(command.spawn().unwrap())
}

/// Samples a process's resident memory every 50 ms; the highest value seen.
fn rss_peak_sampler(
    pid: u32,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicU64>,
    tokio::task::JoinHandle<()>,
) {
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rss_kib(pid)));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    (peak, sampler)
}

/// Pings written as fast as the server takes them by a client that never reads: the server
/// answers only the latest unanswered one, stops reading once its output backs up, and closes
/// the stalled connection (1013), so its memory stays bounded; other clients are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_that_never_reads_neither_grows_memory_nor_stops_others() {
    const FLOOD_BYTES: usize = 256 * 1024 * 1024;
    const MEMORY_BOUND_KIB: u64 = 32 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start_server_env(dir.path(), port, &[("WS_IDLE_SECS", "3")]);
    wait_up(&base).await;
    let client = reqwest::Client::new();
    let flooder = register_at(&client, &base, "pingflooder").await;
    let other = register_at(&client, &base, "bystander").await;
    let rss_before = rss_kib(server.0.id());
    let (peak, sampler) = rss_peak_sampler(server.0.id());

    let mut raw = Raw::upgrade_at(port, &flooder.token, &[]).await;
    let ping = frame(true, 0x9, &[b'p'; 125], true, 0);
    let batch: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 512)
        .collect();
    let mut written = 0usize;
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    // written until the server drops the connection (a write fails), the budget is spent, or
    // time is up; a write that cannot finish only means the server stopped reading
    while written < FLOOD_BYTES && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), raw.stream.write_all(&batch)).await {
            Ok(Ok(())) => written += batch.len(),
            Ok(Err(_)) => {
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    sampler.abort();
    let growth = peak.load(std::sync::atomic::Ordering::Relaxed) - rss_before;
    eprintln!(
        "ping flood: {} MiB written; server RSS {rss_before} KiB, peak +{growth} KiB",
        written / (1024 * 1024)
    );
    assert!(
        growth < MEMORY_BOUND_KIB,
        "server memory grew by {growth} KiB under a ping flood of {written} bytes"
    );
    assert!(closed, "the stalled flooding connection was never closed");
    let mut ws = WsClient::connect(&format!("ws://127.0.0.1:{port}/ws"), &other.token).await;
    ws.send(json!({"type": "ping", "id": "still here"})).await;
    assert_eq!(ws.recv_type("pong").await["id"], "still here");
}

/// A client that asks for many large `history` replies and never reads: the queue is bounded
/// in bytes (WS_QUEUE_BYTES), so it is closed as a slow consumer (1013) long before its 1024
/// frames are queued, and the server's memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_replies_never_read_close_the_connection_within_the_byte_bound() {
    const REQUESTS: usize = 60;
    const MEMORY_BOUND_KIB: u64 = 48 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start_server_env(dir.path(), port, &[]);
    wait_up(&base).await;
    let client = reqwest::Client::new();
    let reader = register_at(&client, &base, "bigreader").await;
    let friend = register_at(&client, &base, "bigwriter").await;
    let (status, body) = read(
        client
            .post(format!("{base}/threads"))
            .bearer_auth(&reader.token)
            .json(&json!({"userId": friend.id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let thread = body["thread"]["id"].as_i64().unwrap();
    // 100 messages of 4000 four-byte code points: each history page is about 1.6 MB
    let text = "\u{1F600}".repeat(4000);
    for _ in 0..100 {
        let (status, body) = read(
            client
                .post(format!("{base}/threads/{thread}/messages"))
                .bearer_auth(&friend.token)
                .json(&json!({"text": text}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let rss_before = rss_kib(server.0.id());
    let (peak, sampler) = rss_peak_sampler(server.0.id());

    let requests: Vec<u8> = (0..REQUESTS)
        .flat_map(|i| {
            let request = json!({"type": "history", "id": i, "threadId": thread, "limit": 100});
            frame(true, 0x1, request.to_string().as_bytes(), true, 0)
        })
        .collect();
    let mut raw = Raw::upgrade_at(port, &reader.token, &requests).await;
    // give the server time to answer all of them into a socket that is not read
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut acks = 0;
    let code = loop {
        let (opcode, payload) = raw.next_frame().await.expect("a close frame");
        match opcode {
            8 => break u16::from_be_bytes([payload[0], payload[1]]),
            1 => {
                let frame: Value = serde_json::from_slice(&payload).unwrap();
                if frame["type"] == "ack" {
                    acks += 1;
                }
            }
            _ => {}
        }
    };
    sampler.abort();
    let growth = peak.load(std::sync::atomic::Ordering::Relaxed) - rss_before;
    eprintln!("{acks} of {REQUESTS} large replies delivered; server RSS {rss_before} KiB, peak +{growth} KiB");
    assert_eq!(code, 1013, "a slow consumer");
    assert!(acks < REQUESTS, "the queue held every reply");
    assert!(
        growth < MEMORY_BOUND_KIB,
        "server memory grew by {growth} KiB for {REQUESTS} unread replies"
    );
}

/// The per-user connection cap is claimed at admission in one step: many simultaneous upgrades
/// of one user get exactly as many 101s as the cap allows, and 429 for the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upgrades_of_one_user_never_exceed_the_cap() {
    const CAP: usize = 3;
    const ATTEMPTS: usize = 100;
    let app = spawn_app_with(|c| {
        c.max_connections_per_user = CAP as u64;
        c.rate_limits = chat_server::config::Switch::On;
    })
    .await;
    let port = app.port;
    // a few rounds, one user each: the race before the fix did not overshoot every time
    let (mut request, mut open) = (String::new(), Vec::new());
    for round in 0..10 {
        let user = app.register(&format!("capped_user{round}")).await;
        request = upgrade_request("GET", &format!("/ws?token={}", user.token), 13);
        // every request leaves at once, once every connection is open: they race as hard as can be
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(ATTEMPTS));
        let attempts: Vec<_> = (0..ATTEMPTS)
            .map(|_| {
                let request = request.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                    barrier.wait().await;
                    stream.write_all(request.as_bytes()).await.unwrap();
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        let n = tokio::time::timeout(FRAME_TIMEOUT, stream.read(&mut byte))
                            .await
                            .expect("a reply in time")
                            .unwrap();
                        assert_eq!(n, 1, "the reply ended early");
                        head.push(byte[0]);
                    }
                    let status: u16 = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
                    // kept open, so every admitted connection still holds its slot at the count
                    (status, stream)
                })
            })
            .collect();
        let mut statuses = Vec::new();
        // the earlier rounds' connections are closed: another user's, they do not count here
        open.clear();
        for attempt in attempts {
            let (status, stream) = attempt.await.unwrap();
            statuses.push(status);
            open.push(stream);
        }
        let switched = statuses.iter().filter(|&&s| s == 101).count();
        let refused = statuses.iter().filter(|&&s| s == 429).count();
        assert_eq!(switched, CAP, "101s: {statuses:?}");
        assert_eq!(refused, ATTEMPTS - CAP, "the rest are 429: {statuses:?}");
    }
    // and a slot is given back when its connection ends
    drop(open);
    let mut admitted = false;
    for _ in 0..100 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        if &head[9..12] == b"101" {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(admitted, "the slots of closed connections are given back");
}
