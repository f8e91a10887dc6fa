//! One task per WebSocket connection: reads every frame, checks what it receives (per-sender
//! sequence tracking, latency from the send time embedded in the text) and, for senders, keeps
//! up to `window` sends unacknowledged.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::hist::Hist;
use crate::sys::{self, unix_nanos};
use crate::Res;

pub type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// The run's control signal, seen by every connection task. The values 1-3 are also the phase
/// tag written into each message, so latency and throughput are attributed to the phase in
/// which a message was sent.
pub mod ctl {
    pub const SETUP: u8 = 0;
    pub const WARMUP: u8 = 1;
    pub const MEASURE: u8 = 2;
    pub const STORM: u8 = 3;
    /// Senders stop starting new sends and wait for their acks.
    pub const STOP: u8 = 4;
    /// Every connection closes.
    pub const SHUTDOWN: u8 = 5;
}
pub const PHASES: usize = 4;

pub async fn connect(addr: &str, token: &str, read_buffer: usize) -> Res<Ws> {
    let stream = TcpStream::connect(addr).await.map_err(|e| {
        if sys::is_fd_exhaustion(&e) {
            format!("connect {addr}: {e} -- {}", sys::FD_HINT)
        } else {
            format!("connect {addr}: {e}")
        }
    })?;
    stream.set_nodelay(true)?;
    let request = format!("ws://{addr}/ws?token={token}").into_client_request()?;
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(resp) => format!(
                "WebSocket upgrade refused: HTTP {} {}",
                resp.status(),
                resp.body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
            ),
            other => format!("WebSocket handshake: {}", crate::api::error_chain(&other)),
        })?;
    Ok(ws)
}

/// Shared by all connection tasks: cheap atomics read by the coordinator and the progress line.
#[derive(Default)]
pub struct Counters {
    pub ready: AtomicU64,
    pub connect_failed: AtomicU64,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub delivered: AtomicU64,
    pub other_frames: AtomicU64,
    pub errors: AtomicU64,
    pub closed: AtomicU64,
    pub closed_1013: AtomicU64,
    pub senders_done: AtomicU64,
    pub caught_up: AtomicU64,
    /// Connections the server closed with 1013 while the run was still being set up (retried).
    pub setup_1013: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(what);
        }
    }

    pub fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// What one receiver saw of one sender's sequence numbers.
#[derive(Default, Debug)]
pub struct Tracker {
    /// Every sequence number below this one was received.
    next: u64,
    /// Received above `next` (a gap below them: a failed send, or a loss).
    ahead: BTreeSet<u64>,
    highest: Option<u64>,
    pub dups: u64,
    pub reordered: u64,
}

impl Tracker {
    fn observe(&mut self, seq: u64) {
        if seq < self.next || self.ahead.contains(&seq) {
            self.dups += 1;
            return;
        }
        if self.highest.is_some_and(|h| seq < h) {
            self.reordered += 1;
        }
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        if seq == self.next {
            self.next += 1;
            while self.ahead.remove(&self.next) {
                self.next += 1;
            }
        } else {
            self.ahead.insert(seq);
        }
    }

    pub fn received(&self, seq: u64) -> bool {
        seq < self.next || self.ahead.contains(&seq)
    }

    /// Acked sequence numbers this receiver never got.
    pub fn lost(&self, acked: &[bool]) -> u64 {
        let start = (self.next as usize).min(acked.len());
        acked[start..]
            .iter()
            .enumerate()
            .filter(|(i, &a)| a && !self.ahead.contains(&((start + i) as u64)))
            .count() as u64
    }
}

#[derive(Clone, Debug)]
pub struct SenderCfg {
    /// This sender's index in the run (0..senders); also written into each message.
    pub idx: usize,
    pub thread_id: i64,
    /// Most sends in flight (sent, not yet acknowledged).
    pub window: usize,
    /// Messages per second for this sender; 0: closed loop (send when an ack frees the window).
    pub rate: f64,
    /// Stop after this many sends (0: until the run stops).
    pub quota: u64,
    pub text_bytes: usize,
}

#[derive(Clone, Debug)]
pub struct MemberCfg {
    pub conn: usize,
    /// How many senders exist in the run (size of the tracking table).
    pub senders: usize,
    pub sender: Option<SenderCfg>,
    /// A 1013 close before the load starts is not counted as an error: the caller reconnects.
    pub retry_setup_1013: bool,
}

#[derive(Default, Debug)]
pub struct SenderOut {
    pub idx: usize,
    /// By sequence number: acknowledged with a message.
    pub acked: Vec<bool>,
    pub acked_ids: Vec<i64>,
    pub acked_by_phase: [u64; PHASES],
    /// Send -> ack, by the phase the message was sent in.
    pub ack_latency: Vec<Hist>,
    pub failed: u64,
}

#[derive(Default, Debug)]
pub struct MemberReport {
    pub conn: usize,
    pub connected: bool,
    /// Delivery latency by the phase the message was sent in.
    pub latency: Vec<Option<Hist>>,
    pub delivered_by_phase: [u64; PHASES],
    pub delivered: u64,
    pub trackers: Vec<Tracker>,
    pub sender: Option<SenderOut>,
    pub max_msg_id: i64,
    pub errors: u64,
    pub close_code: Option<u16>,
    pub own_echo: u64,
    /// Closed with 1013 during setup: reconnect and run again.
    pub retry: bool,
}

const MSG_PREFIX: &str = r#"{"type":"message","message":{"id":"#;
const TAG: &str = r#""text":"b|"#;

fn leading_i64(s: &str) -> Option<i64> {
    let end = s
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse().ok()
}

/// The bench's tag: `b|<sender>|<seq>|<phase>|<unix nanos>|padding`. `s` starts after `b|`.
fn parse_tag(s: &str) -> Option<(usize, u64, usize, u64)> {
    let mut parts = s.splitn(5, '|');
    let sender = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let phase = parts.next()?.parse().ok()?;
    let nanos = parts.next()?.parse().ok()?;
    Some((sender, seq, phase, nanos))
}

pub fn message_text(idx: usize, seq: u64, phase: u8, pad: &str) -> String {
    format!("b|{idx}|{seq}|{phase}|{}|{pad}", unix_nanos())
}

struct Sender {
    cfg: SenderCfg,
    seq: u64,
    in_flight: VecDeque<(u64, Instant, u8)>,
    credits: usize,
    ticker: Option<tokio::time::Interval>,
    pad: String,
    done: bool,
    out: SenderOut,
}

struct Member {
    cfg: MemberCfg,
    counters: Arc<Counters>,
    report: MemberReport,
    ready: bool,
}

impl Member {
    fn on_message(&mut self, id: i64, tag: Option<(usize, u64, usize, u64)>) {
        self.report.delivered += 1;
        self.counters.delivered.fetch_add(1, Ordering::Relaxed);
        self.report.max_msg_id = self.report.max_msg_id.max(id);
        let Some((sender, seq, phase, nanos)) = tag else {
            return;
        };
        if self.cfg.sender.as_ref().is_some_and(|s| s.idx == sender) {
            // the server must not echo a send to the connection that made it
            self.report.own_echo += 1;
            self.report.errors += 1;
            self.counters
                .error(format!("conn {}: got its own message back", self.cfg.conn));
        }
        let Some(tracker) = self.report.trackers.get_mut(sender) else {
            self.report.errors += 1;
            self.counters
                .error(format!("message from unknown sender {sender}"));
            return;
        };
        tracker.observe(seq);
        let phase = phase.min(PHASES - 1);
        self.report.delivered_by_phase[phase] += 1;
        let latency_us = unix_nanos().saturating_sub(nanos) / 1000;
        self.report.latency[phase]
            .get_or_insert_with(Hist::default)
            .record(latency_us);
    }

    fn on_text(&mut self, text: &str, sender: &mut Option<Sender>) {
        if let Some(rest) = text.strip_prefix(MSG_PREFIX) {
            // the hot path: no JSON parse for a delivered message
            let id = leading_i64(rest).unwrap_or(0);
            let tag = rest
                .find(TAG)
                .and_then(|i| parse_tag(&rest[i + TAG.len()..]));
            return self.on_message(id, tag);
        }
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.report.errors += 1;
                return self.counters.error(format!("bad JSON from server: {e}"));
            }
        };
        match v["type"].as_str() {
            Some("ready") if !self.ready => {
                self.ready = true;
                self.counters.ready.fetch_add(1, Ordering::Relaxed);
            }
            Some("message") => {
                let m = &v["message"];
                let tag = m["text"]
                    .as_str()
                    .and_then(|t| t.strip_prefix("b|"))
                    .and_then(parse_tag);
                self.on_message(m["id"].as_i64().unwrap_or(0), tag);
            }
            Some("ack") if v.get("message").is_some() => {
                let Some(s) = sender.as_mut() else {
                    self.counters.other_frames.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let seq = v["id"].as_u64();
                let Some(pos) = s.in_flight.iter().position(|(q, _, _)| Some(*q) == seq) else {
                    self.report.errors += 1;
                    return self.counters.error(format!("unexpected ack {}", v["id"]));
                };
                let Some((seq, at, phase)) = s.in_flight.remove(pos) else {
                    return;
                };
                let msg_id = v["message"]["id"].as_i64().unwrap_or(0);
                self.report.max_msg_id = self.report.max_msg_id.max(msg_id);
                if let Some(slot) = s.out.acked.get_mut(seq as usize) {
                    *slot = true;
                }
                s.out.acked_ids.push(msg_id);
                s.out.acked_by_phase[usize::from(phase).min(PHASES - 1)] += 1;
                if let Some(h) = s.out.ack_latency.get_mut(usize::from(phase)) {
                    h.record(at.elapsed().as_micros() as u64);
                }
                self.counters.acked.fetch_add(1, Ordering::Relaxed);
            }
            Some("error") => {
                self.report.errors += 1;
                if let Some(s) = sender.as_mut() {
                    let seq = v["id"].as_u64();
                    if let Some(pos) = s.in_flight.iter().position(|(q, _, _)| Some(*q) == seq) {
                        s.in_flight.remove(pos);
                        s.out.failed += 1;
                    }
                }
                self.counters.error(format!("error frame: {text}"));
            }
            _ => {
                self.counters.other_frames.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Serves one connection until `ctl` says SHUTDOWN (or the server closes it).
pub async fn run_member(
    mut ws: Ws,
    cfg: MemberCfg,
    counters: Arc<Counters>,
    mut ctl: watch::Receiver<u8>,
) -> MemberReport {
    let mut sender = cfg.sender.clone().map(|s| {
        let ticker = (s.rate > 0.0).then(|| {
            let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / s.rate));
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        Sender {
            seq: 0,
            in_flight: VecDeque::new(),
            credits: 0,
            ticker,
            pad: "x".repeat(s.text_bytes.saturating_sub(40).max(1)),
            done: false,
            out: SenderOut {
                idx: s.idx,
                ack_latency: vec![Hist::default(); PHASES],
                ..SenderOut::default()
            },
            cfg: s,
        }
    });
    let mut m = Member {
        report: MemberReport {
            conn: cfg.conn,
            connected: true,
            latency: vec![None; PHASES],
            trackers: (0..cfg.senders).map(|_| Tracker::default()).collect(),
            ..MemberReport::default()
        },
        cfg,
        counters,
        ready: false,
    };
    let mut shutting_down = false;
    let mut no_ticker: Option<tokio::time::Interval> = None;
    'run: loop {
        if let Some(s) = sender.as_mut() {
            let phase = *ctl.borrow();
            let quota_left = s.cfg.quota == 0 || s.seq < s.cfg.quota;
            if m.ready && (ctl::WARMUP..=ctl::STORM).contains(&phase) && quota_left {
                let mut fed = false;
                while s.in_flight.len() < s.cfg.window
                    && (s.cfg.rate <= 0.0 || s.credits > 0)
                    && (s.cfg.quota == 0 || s.seq < s.cfg.quota)
                {
                    let text = message_text(s.cfg.idx, s.seq, phase, &s.pad);
                    let frame = format!(
                        r#"{{"type":"send","id":{},"threadId":{},"text":"{text}"}}"#,
                        s.seq, s.cfg.thread_id
                    );
                    if let Err(e) = ws.feed(Message::text(frame)).await {
                        m.report.errors += 1;
                        m.counters.error(format!("send: {e}"));
                        break 'run;
                    }
                    fed = true;
                    s.in_flight.push_back((s.seq, Instant::now(), phase));
                    s.out.acked.push(false);
                    s.seq += 1;
                    s.credits = s.credits.saturating_sub(1);
                    m.counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                if fed {
                    if let Err(e) = ws.flush().await {
                        m.report.errors += 1;
                        m.counters.error(format!("send: {e}"));
                        break 'run;
                    }
                }
            } else if !s.done
                && s.in_flight.is_empty()
                && (phase >= ctl::STOP || (s.cfg.quota > 0 && s.seq >= s.cfg.quota))
            {
                s.done = true;
                m.counters.senders_done.fetch_add(1, Ordering::Relaxed);
            }
        }
        let ticker = match sender.as_mut() {
            Some(s) => &mut s.ticker,
            None => &mut no_ticker,
        };
        tokio::select! {
            biased;
            changed = ctl.changed() => {
                if changed.is_err() || *ctl.borrow_and_update() >= ctl::SHUTDOWN {
                    shutting_down = true;
                    break;
                }
            }
            frame = ws.next() => match frame {
                None => {
                    m.report.errors += 1;
                    m.counters.error(format!("conn {}: closed by the server without a close frame", m.cfg.conn));
                    break;
                }
                Some(Err(e)) => {
                    m.report.errors += 1;
                    m.counters.error(format!("conn {}: {e}", m.cfg.conn));
                    break;
                }
                Some(Ok(Message::Text(text))) => m.on_text(text.as_str(), &mut sender),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    m.report.close_code = Some(code);
                    if code == 1013 && m.cfg.retry_setup_1013 && *ctl.borrow() == ctl::SETUP {
                        m.counters.setup_1013.fetch_add(1, Ordering::Relaxed);
                        if m.ready {
                            m.counters.ready.fetch_sub(1, Ordering::Relaxed);
                        }
                        m.report.retry = true;
                        break;
                    }
                    m.report.errors += 1;
                    m.counters.closed.fetch_add(1, Ordering::Relaxed);
                    if code == 1013 {
                        m.counters.closed_1013.fetch_add(1, Ordering::Relaxed);
                    }
                    m.counters.error(format!("conn {}: server closed the connection with code {code}", m.cfg.conn));
                    break;
                }
                Some(Ok(Message::Binary(_))) => {
                    m.report.errors += 1;
                    m.counters.error("binary frame from server".into());
                }
                Some(Ok(_)) => {}
            },
            () = tick(ticker) => {
                if let Some(s) = sender.as_mut() {
                    s.credits = (s.credits + 1).min(s.cfg.window);
                }
            }
        }
    }
    if let Some(s) = sender.as_mut() {
        if !s.done {
            m.counters.senders_done.fetch_add(1, Ordering::Relaxed);
        }
    }
    if shutting_down {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }
    m.report.sender = sender.map(|s| s.out);
    m.report
}

/// A client coming back: connects, waits for `ready`, then `sync`s from `after` page by page
/// until `hasMore` is false, and stays connected until SHUTDOWN. Like a real client, it
/// reconnects (after a short random backoff) when the server closes it with 1013 and syncs on
/// from the last message it got; every such close still counts as an error.
#[derive(Default, Debug, Clone)]
pub struct ResyncReport {
    pub ready_after: Option<Duration>,
    pub caught_up_after: Option<Duration>,
    pub messages: u64,
    pub pages: u64,
    pub out_of_order: u64,
    pub kicked_1013: u64,
    pub attempts: u64,
    pub error: Option<String>,
}

enum Attempt {
    /// SHUTDOWN while connected.
    Done,
    /// Closed with 1013: come back.
    Kicked,
    Failed(String),
}

pub async fn run_resync(
    addr: String,
    token: String,
    after: i64,
    t0: Instant,
    counters: Arc<Counters>,
    mut ctl: watch::Receiver<u8>,
) -> ResyncReport {
    use rand::Rng;
    let mut r = ResyncReport::default();
    let mut last = after;
    loop {
        r.attempts += 1;
        let ws = match connect(&addr, &token, 16 * 1024).await {
            Ok(ws) => ws,
            Err(e) => {
                counters.connect_failed.fetch_add(1, Ordering::Relaxed);
                counters.error(e.to_string());
                r.error = Some(e.to_string());
                return r;
            }
        };
        match resync_once(ws, &mut r, &mut last, t0, &counters, &mut ctl).await {
            Attempt::Done => return r,
            Attempt::Failed(e) => {
                counters.closed.fetch_add(1, Ordering::Relaxed);
                counters.error(e.clone());
                r.error = Some(e);
                return r;
            }
            Attempt::Kicked => {
                r.kicked_1013 += 1;
                counters.closed_1013.fetch_add(1, Ordering::Relaxed);
                counters.error("server closed the connection with code 1013".into());
                if r.attempts >= 20 || *ctl.borrow() >= ctl::SHUTDOWN {
                    counters.closed.fetch_add(1, Ordering::Relaxed);
                    r.error = Some(format!("closed with 1013 {} times", r.kicked_1013));
                    return r;
                }
                let backoff =
                    100 * (1u64 << r.attempts.min(4)) + rand::thread_rng().gen_range(0..250);
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
        }
    }
}

async fn resync_once(
    mut ws: Ws,
    r: &mut ResyncReport,
    last: &mut i64,
    t0: Instant,
    counters: &Counters,
    ctl: &mut watch::Receiver<u8>,
) -> Attempt {
    let mut ready = false;
    loop {
        tokio::select! {
            changed = ctl.changed() => {
                if changed.is_err() || *ctl.borrow_and_update() >= ctl::SHUTDOWN {
                    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                    return Attempt::Done;
                }
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(f))) => {
                        let code = f.map_or(1005, |f| u16::from(f.code));
                        if code == 1013 {
                            return Attempt::Kicked;
                        }
                        return Attempt::Failed(format!("server closed the connection with code {code}"));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Attempt::Failed(e.to_string()),
                    None => return Attempt::Failed("closed without a close frame".into()),
                };
                let text = text.as_str();
                if text.starts_with(r#"{"type":"presence""#) {
                    counters.other_frames.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let Ok(v) = serde_json::from_str::<Value>(text) else { continue };
                match v["type"].as_str() {
                    Some("ready") if !ready => {
                        ready = true;
                        if r.ready_after.is_none() {
                            counters.ready.fetch_add(1, Ordering::Relaxed);
                        }
                        r.ready_after = Some(t0.elapsed());
                    }
                    Some("ack") if v["id"].as_str() == Some("sync") => {
                        for m in v["messages"].as_array().map_or(&[][..], Vec::as_slice) {
                            let id = m["id"].as_i64().unwrap_or(0);
                            if id <= *last {
                                r.out_of_order += 1;
                            }
                            *last = (*last).max(id);
                            r.messages += 1;
                        }
                        r.pages += 1;
                        if v["hasMore"].as_bool() != Some(true) {
                            if r.caught_up_after.is_none() {
                                r.caught_up_after = Some(t0.elapsed());
                                counters.caught_up.fetch_add(1, Ordering::Relaxed);
                            }
                            continue;
                        }
                    }
                    Some("error") => return Attempt::Failed(format!("error frame: {text}")),
                    // live traffic: none is sent in this scenario
                    Some("message") => continue,
                    _ => {
                        counters.other_frames.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
                // ready, or a page with more behind it: ask for the next page
                if r.caught_up_after.is_none() {
                    let req = format!(r#"{{"type":"sync","id":"sync","after":{last},"limit":500}}"#);
                    if let Err(e) = ws.send(Message::text(req)).await {
                        return Attempt::Failed(e.to_string());
                    }
                }
            }
        }
    }
}

/// Sends one request on a connection of its own and waits for the reply with `id`, skipping
/// every other frame. Returns the reply.
pub async fn request(ws: &mut Ws, id: &str, body: String) -> Res<Value> {
    ws.send(Message::text(body)).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let t = t.as_str();
                if t.starts_with(MSG_PREFIX) || t.starts_with(r#"{"type":"presence""#) {
                    continue;
                }
                let v: Value = serde_json::from_str(t)?;
                if v["id"].as_str() == Some(id) {
                    if v["type"] == "error" {
                        return Err(format!("request {id}: {t}").into());
                    }
                    return Ok(v);
                }
            }
            Some(Ok(Message::Close(f))) => {
                return Err(format!("connection closed: {f:?}").into());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err("connection closed".into()),
        }
    }
}

/// Waits for the `ready` frame on a fresh connection.
pub async fn wait_ready(ws: &mut Ws) -> Res<()> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str().starts_with(r#"{"type":"ready""#) => {
                return Ok(())
            }
            Some(Ok(Message::Close(f))) => return Err(format!("closed before ready: {f:?}").into()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err("closed before ready".into()),
        }
    }
}
