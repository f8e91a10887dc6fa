//! The `lifecycle` scenario: a fanout whose senders also edit and delete their own messages and
//! react to (and unreact from) the others', in a closed loop. Every member applies each
//! `message` and `messageUpdated` it gets (and, as a sender, each ack of its own changes) by
//! message id, the latest replacing what it had, like a real client. At the end a full
//! `sync {since: ""}` is the truth: every member's live copy must equal it (nothing lost, nothing
//! applied twice, the latest text and reactions everywhere). Then every member reconnects once
//! and syncs from the cursor of its first `ready`, and that copy must equal the truth too.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::api::Account;
use crate::feed::{self, frame_kind, held, Ack, Event, Held, Msg};
use crate::hist::{ms, round3, Hist};
use crate::scenarios::{self, make_group, sleep_secs, usage, usage_line, wait_until, Ctx};
use crate::sys::unix_nanos;
use crate::ws::{self, ctl, Counters, Ws, PHASES};
use crate::{Report, Res};

const SEND: usize = 0;
const EDIT: usize = 1;
const DELETE: usize = 2;
const REACT: usize = 3;
const KINDS: [&str; 4] = ["send", "edit", "delete", "react"];
const EMOJI: [&str; 4] = ["👍", "🎉", "😂", ":shipit:"];
/// Own messages a sender keeps to edit, delete and reply to (the newest), others' to react to.
const POOL: usize = 64;

/// One request in flight.
struct Pending {
    id: u64,
    kind: usize,
    phase: u8,
    at: Instant,
    nanos: u64,
    target: i64,
}

/// What a sender did: every acknowledged change, for the latency join at the end.
#[derive(Default)]
struct ActorOut {
    /// (seq of the change, unix nanos when requested, kind, phase) per acknowledged change.
    changes: Vec<(u64, u64, u8, u8)>,
    acked: [[u64; PHASES]; 4],
    ack_latency: Vec<Hist>,
    sent_ids: Vec<i64>,
    /// Reactions refused with NOT_FOUND: the message was deleted meanwhile (an expected race).
    refused: u64,
    failed: u64,
}

struct Actor {
    thread_id: i64,
    window: usize,
    rng: StdRng,
    pad: String,
    idx: usize,
    next_id: u64,
    in_flight: Vec<Pending>,
    own: VecDeque<i64>,
    others: VecDeque<i64>,
    reacted: HashSet<(i64, usize)>,
    edits: u64,
    done: bool,
    out: ActorOut,
}

impl Actor {
    /// The next request: mostly sends (one in five a reply to an own message), edits and
    /// deletes of own messages, reactions toggled on others'. Returns the frame.
    fn next_frame(&mut self, phase: u8) -> String {
        let id = self.next_id;
        self.next_id += 1;
        let nanos = unix_nanos();
        let r = self.rng.gen_range(0..100);
        let (kind, target, frame) = if r < 10 && self.own.len() >= 8 {
            let i = self.rng.gen_range(0..self.own.len());
            let m = self.own.remove(i).unwrap_or_default();
            (
                DELETE,
                m,
                format!(r#"{{"type":"delete","id":{id},"messageId":{m}}}"#),
            )
        } else if r < 30 && !self.own.is_empty() {
            let m = self.own[self.rng.gen_range(0..self.own.len())];
            self.edits += 1;
            let text = format!(
                "b|{}|{}|{phase}|{nanos}|edit {}|{}",
                self.idx, self.edits, self.edits, self.pad
            );
            (
                EDIT,
                m,
                format!(r#"{{"type":"edit","id":{id},"messageId":{m},"text":"{text}"}}"#),
            )
        } else if r < 55 && !self.others.is_empty() {
            let m = self.others[self.rng.gen_range(0..self.others.len())];
            let e = self.rng.gen_range(0..EMOJI.len());
            let on = self.reacted.insert((m, e));
            if !on {
                self.reacted.remove(&(m, e));
            }
            (
                REACT,
                m,
                format!(
                    r#"{{"type":"react","id":{id},"messageId":{m},"emoji":"{}","on":{on}}}"#,
                    EMOJI[e]
                ),
            )
        } else {
            let reply = match self.own.len() {
                n if n > 0 && self.rng.gen_range(0..5) == 0 => {
                    format!(r#","replyTo":{}"#, self.own[self.rng.gen_range(0..n)])
                }
                _ => String::new(),
            };
            let text = format!("b|{}|{id}|{phase}|{nanos}|{}", self.idx, self.pad);
            (
                SEND,
                0,
                format!(
                    r#"{{"type":"send","id":{id},"threadId":{},"text":"{text}"{reply}}}"#,
                    self.thread_id
                ),
            )
        };
        self.in_flight.push(Pending {
            id,
            kind,
            phase,
            at: Instant::now(),
            nanos,
            target,
        });
        frame
    }
}

/// The acknowledged changes at one feed position.
struct SentAt {
    nanos: u64,
    kind: u8,
    phase: u8,
    changes: u64,
}

/// What one connection saw and holds at the end.
#[derive(Default)]
struct MemberOut {
    conn: usize,
    connected: bool,
    ready_cursor: Option<String>,
    state: HashMap<i64, Held>,
    /// (seq, unix nanos) of every event received.
    recv: Vec<(u64, u64)>,
    events: u64,
    /// A `message` for an id already held.
    dup_message: u64,
    /// A `messageUpdated` with the position already held.
    dup_update: u64,
    /// A `messageUpdated` for an id never seen before.
    update_first: u64,
    own_echo: u64,
    errors: u64,
    actor: Option<ActorOut>,
}

struct Member {
    user_id: i64,
    counters: Arc<Counters>,
    out: MemberOut,
    ready: bool,
}

impl Member {
    fn error(&mut self, what: String) {
        self.out.errors += 1;
        self.counters
            .error(format!("conn {}: {what}", self.out.conn));
    }

    fn on_event(&mut self, updated: bool, m: &Msg, actor: &mut Option<Actor>) {
        self.out.events += 1;
        self.counters.delivered.fetch_add(1, Ordering::Relaxed);
        let h = held(m);
        self.out.recv.push((h.seq, unix_nanos()));
        match self.out.state.insert(m.id, h) {
            Some(_) if !updated => self.out.dup_message += 1,
            Some(prev) if prev.seq == h.seq => self.out.dup_update += 1,
            None if updated => self.out.update_first += 1,
            _ => {}
        }
        let own = m.sender.as_ref().map(|s| s.id) == Some(self.user_id);
        if !updated && own {
            // one connection per user: nobody else may get this user's sends back
            self.out.own_echo += 1;
            self.error("got its own message back".into());
        }
        if let Some(a) = actor.as_mut() {
            if !updated && !own {
                a.others.push_back(m.id);
                if a.others.len() > POOL {
                    a.others.pop_front();
                }
            } else if m.deleted {
                a.others.retain(|&x| x != m.id);
            }
        }
    }

    fn on_ack(&mut self, ack: &Ack, actor: &mut Option<Actor>) {
        let Some(a) = actor.as_mut() else {
            return self.error("an ack it did not ask for".into());
        };
        let Some(pos) = a.in_flight.iter().position(|p| Some(p.id) == ack.id) else {
            return self.error(format!("unexpected ack {:?}", ack.id));
        };
        let p = a.in_flight.swap_remove(pos);
        let Some(m) = &ack.message else {
            return self.error(format!("ack {} without the message", p.id));
        };
        let h = held(m);
        self.out.state.insert(m.id, h);
        let phase = usize::from(p.phase).min(PHASES - 1);
        a.out
            .changes
            .push((h.seq, p.nanos, p.kind as u8, phase as u8));
        a.out.acked[p.kind][phase] += 1;
        if phase == usize::from(ctl::MEASURE) {
            a.out.ack_latency[p.kind].record(p.at.elapsed().as_micros() as u64);
        }
        if p.kind == SEND {
            a.out.sent_ids.push(m.id);
            a.own.push_back(m.id);
            if a.own.len() > POOL {
                a.own.pop_front();
            }
        }
        self.counters.acked.fetch_add(1, Ordering::Relaxed);
    }

    fn on_error(&mut self, text: &str, actor: &mut Option<Actor>) {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let pending = actor.as_mut().and_then(|a| {
            let pos = a
                .in_flight
                .iter()
                .position(|p| v["id"].as_u64() == Some(p.id))?;
            Some((a, pos))
        });
        if let Some((a, pos)) = pending {
            let p = a.in_flight.swap_remove(pos);
            if p.kind == REACT && v["code"] == "NOT_FOUND" {
                a.out.refused += 1;
                a.others.retain(|&x| x != p.target);
                return;
            }
            a.out.failed += 1;
        }
        self.error(format!("error frame: {text}"));
    }

    fn on_text(&mut self, text: &str, actor: &mut Option<Actor>) {
        let parsed =
            match frame_kind(text).as_deref() {
                Some("message") => serde_json::from_str::<Event>(text)
                    .map(|e| self.on_event(false, &e.message, actor)),
                Some("messageUpdated") => serde_json::from_str::<Event>(text)
                    .map(|e| self.on_event(true, &e.message, actor)),
                Some("ack") => serde_json::from_str::<Ack>(text).map(|a| self.on_ack(&a, actor)),
                Some("error") => {
                    self.on_error(text, actor);
                    Ok(())
                }
                Some("ready") if !self.ready => {
                    self.ready = true;
                    self.counters.ready.fetch_add(1, Ordering::Relaxed);
                    serde_json::from_str::<Value>(text)
                        .map(|v| self.out.ready_cursor = v["cursor"].as_str().map(str::to_owned))
                }
                _ => {
                    self.counters.other_frames.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
            };
        if let Err(e) = parsed {
            self.error(format!("bad frame from server ({e}): {text}"));
        }
    }
}

/// Serves one member's connection until SHUTDOWN (or the server closes it).
async fn run_member(
    mut ws: Ws,
    mut m: Member,
    mut actor: Option<Actor>,
    mut ctl: watch::Receiver<u8>,
) -> MemberOut {
    let mut shutting_down = false;
    'run: loop {
        if let Some(a) = actor.as_mut() {
            let phase = *ctl.borrow();
            if m.ready && (ctl::WARMUP..=ctl::MEASURE).contains(&phase) {
                let mut fed = false;
                while a.in_flight.len() < a.window {
                    let frame = a.next_frame(phase);
                    if let Err(e) = ws.feed(WsMessage::text(frame)).await {
                        m.error(format!("send: {e}"));
                        break 'run;
                    }
                    fed = true;
                    m.counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                if fed {
                    if let Err(e) = ws.flush().await {
                        m.error(format!("send: {e}"));
                        break 'run;
                    }
                }
            } else if !a.done && a.in_flight.is_empty() && phase >= ctl::STOP {
                a.done = true;
                m.counters.senders_done.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::select! {
            biased;
            changed = ctl.changed() => {
                if changed.is_err() || *ctl.borrow_and_update() >= ctl::SHUTDOWN {
                    shutting_down = true;
                    break;
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => m.on_text(text.as_str(), &mut actor),
                Some(Ok(WsMessage::Close(frame))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    m.counters.closed.fetch_add(1, Ordering::Relaxed);
                    if code == 1013 {
                        m.counters.closed_1013.fetch_add(1, Ordering::Relaxed);
                    }
                    m.error(format!("server closed the connection with code {code}"));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    m.error(e.to_string());
                    break;
                }
                None => {
                    m.error("closed by the server without a close frame".into());
                    break;
                }
            },
        }
    }
    if let Some(a) = actor.as_mut() {
        if !a.done {
            m.counters.senders_done.fetch_add(1, Ordering::Relaxed);
        }
    }
    if shutting_down {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }
    m.out.actor = actor.map(|a| a.out);
    m.out
}

/// Opens every member's connection, one task each; the first `senders` send.
fn launch(
    ctx: &Ctx,
    accounts: &[Account],
    thread_id: i64,
    senders: usize,
    window: usize,
    counters: &Arc<Counters>,
    ctl_rx: &watch::Receiver<u8>,
) -> Vec<JoinHandle<MemberOut>> {
    let gate = Arc::new(Semaphore::new(ctx.args.connect_concurrency.max(1)));
    let pad = "x".repeat(ctx.args.text_bytes.saturating_sub(40).max(1));
    accounts
        .iter()
        .enumerate()
        .map(|(i, account)| {
            let actor = (i < senders).then(|| Actor {
                thread_id,
                window: window.max(1),
                rng: StdRng::seed_from_u64(0x5eed + i as u64),
                pad: pad.clone(),
                idx: i,
                next_id: 0,
                in_flight: Vec::new(),
                own: VecDeque::new(),
                others: VecDeque::new(),
                reacted: HashSet::new(),
                edits: 0,
                done: false,
                out: ActorOut {
                    ack_latency: vec![Hist::default(); KINDS.len()],
                    ..ActorOut::default()
                },
            });
            let member = Member {
                user_id: account.id,
                counters: counters.clone(),
                out: MemberOut {
                    conn: i,
                    connected: true,
                    ..MemberOut::default()
                },
                ready: false,
            };
            let (addr, token) = (ctx.addr.clone(), account.token.clone());
            let (ctl_rx, gate, counters) = (ctl_rx.clone(), gate.clone(), counters.clone());
            tokio::spawn(async move {
                let connected = {
                    let _permit = gate.acquire().await;
                    ws::connect(&addr, &token, 64 * 1024).await
                };
                match connected {
                    Ok(socket) => run_member(socket, member, actor, ctl_rx).await,
                    Err(e) => {
                        counters.connect_failed.fetch_add(1, Ordering::Relaxed);
                        counters.error(format!("conn {i}: {e}"));
                        MemberOut {
                            conn: i,
                            ..MemberOut::default()
                        }
                    }
                }
            })
        })
        .collect()
}

/// How one copy of the thread differs from the truth.
#[derive(Default, Debug, Clone, Copy)]
struct Diff {
    /// In the truth, missing from the copy.
    lost: u64,
    /// Held at an older position than the truth's.
    stale: u64,
    /// Held at the truth's position, but with another state (text, reactions, ...).
    mismatched: u64,
    /// Held, but not in the truth.
    extra: u64,
}

impl Diff {
    fn of(copy: &HashMap<i64, Held>, truth: &HashMap<i64, Held>) -> Diff {
        let mut d = Diff::default();
        for (id, t) in truth {
            match copy.get(id) {
                None => d.lost += 1,
                Some(h) if h.seq != t.seq => d.stale += 1,
                Some(h) if h.state != t.state => d.mismatched += 1,
                Some(_) => {}
            }
        }
        d.extra = copy.keys().filter(|id| !truth.contains_key(id)).count() as u64;
        d
    }

    fn add(&mut self, o: Diff) {
        self.lost += o.lost;
        self.stale += o.stale;
        self.mismatched += o.mismatched;
        self.extra += o.extra;
    }

    fn clean(&self) -> bool {
        self.lost + self.stale + self.mismatched + self.extra == 0
    }

    fn json(&self) -> Value {
        json!({ "lost": self.lost, "stale": self.stale, "mismatched": self.mismatched, "extra": self.extra })
    }
}

/// Prints a progress line every second until aborted.
fn progress(ctx: &Ctx, counters: Arc<Counters>) -> Option<JoinHandle<()>> {
    if ctx.args.quiet {
        return None;
    }
    Some(tokio::spawn(async move {
        let started = Instant::now();
        let mut prev = (0u64, 0u64);
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = (
                Counters::get(&counters.delivered),
                Counters::get(&counters.acked),
            );
            eprintln!(
                "  [lifecycle {:>4.0}s] deliveries/s {:>8} changes/s {:>6} errors {}",
                started.elapsed().as_secs_f64(),
                now.0 - prev.0,
                now.1 - prev.1,
                Counters::get(&counters.errors),
            );
            prev = now;
        }
    }))
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let a = &ctx.args;
    let members = a.members.unwrap_or(200);
    let senders = a.senders.unwrap_or(10).min(members);
    let window = a.window.unwrap_or(4).max(1);
    if members < 2 || senders == 0 {
        return Err("needs --members >= 2 and --senders >= 1".into());
    }
    if a.conns_per_user.is_some_and(|c| c != 1) || a.rate.is_some_and(|r| r > 0.0) {
        return Err("lifecycle runs one connection per user in a closed loop: no --conns-per-user, no --rate".into());
    }
    report.set(
        "config",
        json!({
            "members": members, "senders": senders, "window": window, "users": members,
            "duration_s": a.duration, "warmup_s": a.warmup, "text_bytes": a.text_bytes,
            "mix_pct": { "delete": 10, "edit": 20, "react": 25, "send": 45 },
        }),
    );
    report.line(format!(
        "{members} connections of {members} users in one group, {senders} senders, window {window}, closed loop; each request: 10 % delete own, 20 % edit own, 25 % react on/off to others', else send (1 in 5 a reply)"
    ));
    let (accounts, thread_id) = make_group(ctx, members).await?;
    let counters = Arc::new(Counters::default());
    let (ctl_tx, ctl_rx) = watch::channel(ctl::SETUP);
    ctx.note(format!("  opening {members} WebSockets"));
    let tasks = launch(
        ctx, &accounts, thread_id, senders, window, &counters, &ctl_rx,
    );
    let connect_time = scenarios::wait_all_ready(ctx, &counters, members, Duration::from_secs(120))
        .await
        .inspect_err(|_| {
            let _ = ctl_tx.send(ctl::SHUTDOWN);
        })?;
    report.set("connect_s", round3(connect_time.as_secs_f64()));
    scenarios::settle(&counters, Duration::from_secs(20)).await;
    let p = progress(ctx, counters.clone());

    let _ = ctl_tx.send(ctl::WARMUP);
    sleep_secs(a.warmup).await;
    let s0 = ctx.snap();
    let _ = ctl_tx.send(ctl::MEASURE);
    sleep_secs(a.duration).await;
    let s1 = ctx.snap();
    let _ = ctl_tx.send(ctl::STOP);
    if let Some(p) = p {
        p.abort();
    }

    // drain: every ack back, then every change at every other member
    let drain = Duration::from_secs_f64(a.drain.max(0.0));
    let c = counters.clone();
    if !wait_until(drain, || Counters::get(&c.senders_done) >= senders as u64).await {
        ctx.note("  some requests still unanswered at the end of the drain");
    }
    let recipients = members as u64 - 1;
    let drained = Instant::now();
    wait_until(drain, || {
        Counters::get(&c.delivered) >= Counters::get(&c.acked) * recipients
    })
    .await;
    let drain_s = drained.elapsed().as_secs_f64();

    // the truth: everything, from the beginning of the feed
    let t = Instant::now();
    let owner = accounts.first().ok_or("no users")?;
    let mut sock = ws::connect(&ctx.addr, &owner.token, 256 * 1024).await?;
    feed::ready_cursor(&mut sock).await?;
    let truth = feed::sync_since(&mut sock, "").await?;
    let truth_s = t.elapsed().as_secs_f64();
    let _ = tokio::time::timeout(Duration::from_secs(2), sock.close(None)).await;

    let _ = ctl_tx.send(ctl::SHUTDOWN);
    let mut outs = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(o) = t.await {
            outs.push(o);
        }
    }

    // what the senders did. Two changes of one message stored in one commit batch are both
    // answered (ack and events) with the message as the batch left it, so they share a
    // position: a member then gets that version twice, once per change.
    let mut at_seq: HashMap<u64, SentAt> = HashMap::new();
    let mut acked = [[0u64; PHASES]; 4];
    let mut ack_latency = vec![Hist::default(); KINDS.len()];
    let (mut refused, mut failed) = (0u64, 0u64);
    let mut acked_sends: Vec<i64> = Vec::new();
    let mut total_changes = 0u64;
    for o in &outs {
        let Some(act) = &o.actor else { continue };
        for &(seq, nanos, kind, phase) in &act.changes {
            let e = at_seq.entry(seq).or_insert(SentAt {
                nanos,
                kind,
                phase,
                changes: 0,
            });
            // the earliest request of those that share it: latency is not understated
            if nanos < e.nanos {
                (e.nanos, e.kind, e.phase) = (nanos, kind, phase);
            }
            e.changes += 1;
        }
        for (k, by_phase) in act.acked.iter().enumerate() {
            for (sum, n) in acked[k].iter_mut().zip(by_phase) {
                *sum += n;
            }
            ack_latency[k].merge(&act.ack_latency[k]);
        }
        refused += act.refused;
        failed += act.failed;
        acked_sends.extend_from_slice(&act.sent_ids);
        total_changes += act.changes.len() as u64;
    }
    let shared_positions = at_seq.values().map(|e| e.changes - 1).sum::<u64>();
    let measure = usize::from(ctl::MEASURE);

    // what the members got, against what was done and against the truth
    let mut latency = Hist::default();
    let mut latency_by_kind = vec![Hist::default(); KINDS.len()];
    let (mut measured_events, mut unmatched, mut events) = (0u64, 0u64, 0u64);
    let (mut events_lost, mut duplicated) = (0u64, 0u64);
    let (mut dup_message, mut dup_update, mut update_first, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut live = Diff::default();
    let mut members_differing = 0u64;
    for o in &outs {
        events += o.events;
        dup_message += o.dup_message;
        dup_update += o.dup_update;
        update_first += o.update_first;
        errors += o.errors;
        let d = if o.connected {
            Diff::of(&o.state, &truth.state)
        } else {
            Diff {
                lost: truth.state.len() as u64,
                ..Diff::default()
            }
        };
        members_differing += u64::from(!d.clean());
        live.add(d);
        // events by position: one per change by someone else at that position, no more, no less
        let mut got: HashMap<u64, u64> = HashMap::with_capacity(at_seq.len());
        for &(seq, at) in &o.recv {
            *got.entry(seq).or_default() += 1;
            let Some(e) = at_seq.get(&seq) else {
                unmatched += 1;
                continue;
            };
            if usize::from(e.phase) == measure {
                measured_events += 1;
                let us = at.saturating_sub(e.nanos) / 1000;
                latency.record(us);
                latency_by_kind[usize::from(e.kind)].record(us);
            }
        }
        let mut own: HashMap<u64, u64> = HashMap::new();
        for c in o.actor.iter().flat_map(|a| &a.changes) {
            *own.entry(c.0).or_default() += 1;
        }
        for (seq, e) in &at_seq {
            let expected = e.changes - own.get(seq).copied().unwrap_or(0);
            let n = got.get(seq).copied().unwrap_or(0);
            events_lost += expected.saturating_sub(n);
            duplicated += n.saturating_sub(expected);
        }
    }
    let truth_missing_acked = acked_sends
        .iter()
        .filter(|id| !truth.state.contains_key(id))
        .count() as u64;

    // every member comes back once and syncs from the cursor of its first ready
    ctx.note(format!(
        "  every member reconnects and syncs since its ready cursor ({} messages each)",
        truth.state.len()
    ));
    let t = Instant::now();
    let truth_state = Arc::new(truth.state);
    let resyncs: Vec<Res<(Diff, u64, u64)>> = futures_util::stream::iter(
        outs.iter()
            .filter_map(|o| Some((o.conn, o.ready_cursor.clone()?))),
    )
    .map(|(conn, cursor)| {
        let (addr, truth_state) = (ctx.addr.clone(), truth_state.clone());
        let token = accounts
            .get(conn)
            .map(|a| a.token.clone())
            .unwrap_or_default();
        async move {
            let mut sock = ws::connect(&addr, &token, 256 * 1024).await?;
            feed::ready_cursor(&mut sock).await?;
            let s = feed::sync_since(&mut sock, &cursor).await?;
            let _ = tokio::time::timeout(Duration::from_secs(2), sock.close(None)).await;
            Ok((Diff::of(&s.state, &truth_state), s.dups, s.pages))
        }
    })
    .buffer_unordered(8)
    .collect()
    .await;
    let resync_s = t.elapsed().as_secs_f64();
    let no_cursor = outs.iter().filter(|o| o.ready_cursor.is_none()).count() as u64;
    let (mut resync, mut resync_dups, mut resync_pages, mut resync_failed) =
        (Diff::default(), 0u64, 0u64, 0u64);
    let mut resync_error = None;
    for r in resyncs {
        match r {
            Ok((d, dups, pages)) => {
                resync.add(d);
                resync_dups += dups;
                resync_pages += pages;
            }
            Err(e) => {
                resync_failed += 1;
                resync_error.get_or_insert(e.to_string());
            }
        }
    }

    // the report
    let measure_secs = a.duration;
    let by_kind_measured: Vec<u64> = (0..KINDS.len()).map(|k| acked[k][measure]).collect();
    let changes_measured: u64 = by_kind_measured.iter().sum();
    let deliveries_per_s = measured_events as f64 / measure_secs;
    let changes_per_s = changes_measured as f64 / measure_secs;
    let use_all = usage(&s0, &s1);
    report.set("measured_s", measure_secs);
    report.set("deliveries_per_s", deliveries_per_s.round());
    report.set("changes_per_s", (changes_per_s * 10.0).round() / 10.0);
    report.set(
        "changes_measured",
        json!(KINDS
            .iter()
            .zip(&by_kind_measured)
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect::<serde_json::Map<_, _>>()),
    );
    report.set("latency", latency.summary());
    report.set(
        "latency_by_kind",
        json!(KINDS
            .iter()
            .zip(&latency_by_kind)
            .map(|(k, h)| (k.to_string(), h.summary()))
            .collect::<serde_json::Map<_, _>>()),
    );
    report.set(
        "ack_latency_by_kind",
        json!(KINDS
            .iter()
            .zip(&ack_latency)
            .map(|(k, h)| (k.to_string(), h.summary()))
            .collect::<serde_json::Map<_, _>>()),
    );
    report.set("changes_total", total_changes);
    report.set("events_total", events);
    report.set("reactions_refused_deleted", refused);
    report.set("usage", use_all.clone());
    report.set("drain_s", round3(drain_s));
    report.set(
        "truth",
        json!({
            "messages": truth_state.len(), "pages": truth.pages, "seconds": round3(truth_s),
            "deleted": truth.deleted, "edited": truth.edited, "with_reactions": truth.with_reactions,
            "replies": truth.replies, "dups": truth.dups, "acked_sends_missing": truth_missing_acked,
        }),
    );
    report.set("lost", live.lost + truth_missing_acked);
    report.set("duplicated", duplicated);
    report.set("stale", live.stale);
    report.set("mismatched", live.mismatched);
    report.set("extra", live.extra);
    report.set("events_lost", events_lost);
    report.set(
        "duplicates",
        json!({ "message_twice": dup_message, "same_version_twice": dup_update, "changes_sharing_a_position": shared_positions }),
    );
    report.set("updates_before_message", update_first);
    report.set("events_unmatched", unmatched);
    report.set("members_differing", members_differing);
    report.set(
        "resync",
        json!({
            "members": outs.len() as u64 - no_cursor - resync_failed, "failed": resync_failed,
            "without_ready_cursor": no_cursor, "pages": resync_pages, "seconds": round3(resync_s),
            "dups": resync_dups, "diff": resync.json(),
        }),
    );
    let errors = errors + Counters::get(&counters.connect_failed);
    report.set("errors", errors);
    report.set("failed_requests", failed);
    report.set("closed_1013", Counters::get(&counters.closed_1013));

    report.line(format!(
        "throughput: deliveries/s {deliveries_per_s:.0}, changes/s {changes_per_s:.1} ({}) over {measure_secs:.1} s",
        KINDS
            .iter()
            .zip(&by_kind_measured)
            .map(|(k, n)| format!("{k} {:.1}", *n as f64 / measure_secs))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report.line(format!(
        "change latency (request -> event): {}",
        latency.line()
    ));
    for (k, h) in KINDS.iter().zip(&latency_by_kind) {
        report.line(format!(
            "  {k:<6} p50 {:.2} ms, p99 {:.2} ms ({} events)",
            ms(h.quantile(0.5)),
            ms(h.quantile(0.99)),
            h.summary()["count"]
        ));
    }
    report.line(format!(
        "ack latency (request -> ack): {}",
        KINDS
            .iter()
            .zip(&ack_latency)
            .map(|(k, h)| format!(
                "{k} p50 {:.2} / p99 {:.2} ms",
                ms(h.quantile(0.5)),
                ms(h.quantile(0.99))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report.line(format!(
        "{total_changes} changes acked, {events} events delivered; {refused} reactions refused (message deleted meanwhile)"
    ));
    report.line(format!(
        "{shared_positions} changes shared their position with another change of the same message (stored in one commit batch, both answered with the state the batch left: {dup_update} events repeated a version, expected)"
    ));
    report.line(format!(
        "truth: sync {{since: \"\"}} of {} messages ({} pages) in {truth_s:.3} s: {} deleted, {} edited, {} with reactions, {} replies",
        truth_state.len(),
        truth.pages,
        truth.deleted,
        truth.edited,
        truth.with_reactions,
        truth.replies
    ));
    report.line(format!(
        "live copies vs truth ({} members): lost {}, duplicated {duplicated} (a message event twice: {dup_message}), stale {}, mismatched {}, extra {}; events lost {events_lost}; {members_differing} members differ",
        outs.len(),
        live.lost + truth_missing_acked,
        live.stale,
        live.mismatched,
        live.extra
    ));
    report.line(format!(
        "resync: {} members reconnected and synced since their ready cursor in {resync_s:.1} s ({resync_pages} pages): lost {}, stale {}, mismatched {}, extra {}, dups {resync_dups}, failed {resync_failed}",
        outs.len() as u64 - no_cursor - resync_failed,
        resync.lost,
        resync.stale,
        resync.mismatched,
        resync.extra
    ));
    report.line(format!("usage: {}", usage_line(&use_all)));
    report.line(format!(
        "errors {errors} (1013 closes: {}, failed requests: {failed})",
        Counters::get(&counters.closed_1013)
    ));
    if let Some(e) = counters.first_error() {
        report.line(format!("first error: {e}"));
        report.set("first_error", e);
    }

    if errors > 0 {
        report.problem(format!("{errors} errors"));
    }
    if total_changes == 0 {
        report.problem("no change was acknowledged");
    }
    if live.lost + truth_missing_acked + events_lost > 0 {
        report.problem(format!(
            "lost: {} messages missing from live copies, {truth_missing_acked} acked sends missing from the truth, {events_lost} events never delivered",
            live.lost
        ));
    }
    if duplicated > 0 || dup_message > 0 || truth.dups > 0 {
        report.problem(format!(
            "{duplicated} events beyond one per change, {dup_message} message events for a message already held, {} messages twice in the truth's sync",
            truth.dups
        ));
    }
    if live.stale + live.mismatched + live.extra > 0 {
        report.problem(format!(
            "live copies differ from the truth: {} stale, {} mismatched, {} extra",
            live.stale, live.mismatched, live.extra
        ));
    }
    if !resync.clean() || resync_dups > 0 || resync_failed > 0 || no_cursor > 0 {
        report.problem(format!(
            "resync: {resync:?}, {resync_dups} dups, {resync_failed} failed ({}), {no_cursor} without a ready cursor",
            resync_error.unwrap_or_default()
        ));
    }
    if unmatched > 0 {
        report.problem(format!("{unmatched} events at a position no ack had"));
    }
    Ok(())
}
