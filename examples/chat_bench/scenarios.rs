//! The scenarios: setup (users, thread, connections), the timed load, and what is reported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::api::{self, Account, Api};
use crate::hist::{ms, round3, Hist};
use crate::sys::{self, ProcSample};
use crate::ws::{self, ctl, Counters, MemberCfg, MemberReport, SenderCfg, PHASES};
use crate::{Args, Report, Res, Scenario};

pub struct Ctx {
    pub args: Args,
    pub api: Api,
    /// host:port of the server.
    pub addr: String,
    pub prefix: String,
}

/// Resource use at one moment: the server's, the bench's own, the machine's.
pub struct Snap {
    server: Option<ProcSample>,
    client: Option<ProcSample>,
    machine: Option<(u64, u64)>,
}

impl Ctx {
    pub fn snap(&self) -> Snap {
        Snap {
            server: self
                .args
                .server_pid
                .and_then(|p| sys::sample(&p.to_string())),
            client: sys::sample("self"),
            machine: sys::machine(),
        }
    }

    pub fn note(&self, s: impl AsRef<str>) {
        if !self.args.quiet {
            eprintln!("{}", s.as_ref());
        }
    }
}

fn mib(kib: u64) -> f64 {
    round3(kib as f64 / 1024.0)
}

/// CPU use between two snapshots (100 % = one core) and the server's memory at the end.
pub fn usage(a: &Snap, b: &Snap) -> Value {
    let mut v = serde_json::Map::new();
    if let (Some(x), Some(y)) = (&a.server, &b.server) {
        v.insert("server_cpu_pct".into(), round1(sys::cpu_pct(x, y)).into());
        v.insert("server_rss_mib".into(), mib(y.rss_kib).into());
        v.insert("server_hwm_mib".into(), mib(y.hwm_kib).into());
        v.insert("server_threads".into(), y.threads.into());
    }
    if let (Some(x), Some(y)) = (&a.client, &b.client) {
        v.insert("client_cpu_pct".into(), round1(sys::cpu_pct(x, y)).into());
        v.insert("client_rss_mib".into(), mib(y.rss_kib).into());
    }
    if let (Some(x), Some(y)) = (a.machine, b.machine) {
        v.insert(
            "machine_busy_pct".into(),
            round1(sys::machine_busy_pct(x, y)).into(),
        );
    }
    Value::Object(v)
}

pub fn usage_line(u: &Value) -> String {
    let mut s = String::new();
    if let Some(c) = u["server_cpu_pct"].as_f64() {
        s.push_str(&format!(
            "server CPU {c:.0}% of one core, RSS {} MiB (peak {} MiB, {} threads); ",
            u["server_rss_mib"], u["server_hwm_mib"], u["server_threads"]
        ));
    } else {
        s.push_str("server CPU/RSS: not sampled (no --server-pid); ");
    }
    if let Some(c) = u["client_cpu_pct"].as_f64() {
        s.push_str(&format!("bench CPU {c:.0}%; "));
    }
    if let Some(m) = u["machine_busy_pct"].as_f64() {
        s.push_str(&format!(
            "machine {m:.0}% busy ({} cores)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ));
    }
    s
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub async fn run(args: Args, report: &mut Report) -> Res<()> {
    let url = reqwest::Url::parse(&args.url).map_err(|e| format!("--url {}: {e}", args.url))?;
    let host = url.host_str().ok_or("--url has no host")?;
    let port = url.port_or_known_default().ok_or("--url has no port")?;
    let addr = format!("{host}:{port}");
    let api = Api::new(&args.url)?;
    api.healthz().await?;
    let want_fds = (args.members.unwrap_or(10_000) as u64) * 2 + 1024;
    let fds = sys::raise_nofile(want_fds);
    let ctx = Ctx {
        prefix: api::random_prefix(),
        args,
        api,
        addr,
    };
    ctx.note(format!(
        "chat-bench {}: server {}, user prefix {}, open-file limit {fds}",
        ctx.args.scenario.name(),
        ctx.args.url,
        ctx.prefix
    ));
    report.set("url", ctx.args.url.clone());
    report.set("user_prefix", ctx.prefix.clone());
    match ctx.args.scenario {
        Scenario::Fanout | Scenario::Crowd | Scenario::LoginStorm => group_load(&ctx, report).await,
        Scenario::Idle => idle(&ctx, report).await,
        Scenario::ReconnectStorm => reconnect_storm(&ctx, report).await,
        Scenario::CatchUp => catch_up(&ctx, report).await,
        Scenario::Lifecycle => crate::lifecycle::run(&ctx, report).await,
    }
}

// ---------------------------------------------------------------- connection fleets

/// Connections closed with 1013 while setting up are reopened this many times at most.
const SETUP_ATTEMPTS: u64 = 5;

struct Fleet {
    counters: Arc<Counters>,
    ctl: watch::Sender<u8>,
    tasks: Vec<JoinHandle<MemberReport>>,
    n: usize,
    senders: usize,
}

/// Opens `n` connections, connection `i` as `accounts[i % len]`; the first `senders.len()`
/// connections send. Each connection is one task.
fn launch(
    ctx: &Ctx,
    accounts: &[Account],
    n: usize,
    senders: Vec<SenderCfg>,
    read_buffer: usize,
) -> Fleet {
    let counters = Arc::new(Counters::default());
    let (ctl_tx, ctl_rx) = watch::channel(ctl::SETUP);
    let gate = Arc::new(Semaphore::new(ctx.args.connect_concurrency.max(1)));
    let n_senders = senders.len();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let account = &accounts[i % accounts.len()];
        let cfg = MemberCfg {
            conn: i,
            senders: n_senders,
            sender: senders.get(i).cloned(),
            retry_setup_1013: true,
        };
        let (addr, token) = (ctx.addr.clone(), account.token.clone());
        let (counters, ctl_rx, gate) = (counters.clone(), ctl_rx.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let mut attempt = 0u64;
            loop {
                let connected = {
                    let _permit = gate.acquire().await;
                    ws::connect(&addr, &token, read_buffer).await
                };
                let report = match connected {
                    Ok(socket) => {
                        let cfg = MemberCfg {
                            retry_setup_1013: attempt + 1 < SETUP_ATTEMPTS,
                            ..cfg.clone()
                        };
                        ws::run_member(socket, cfg, counters.clone(), ctl_rx.clone()).await
                    }
                    Err(e) => {
                        counters.connect_failed.fetch_add(1, Ordering::Relaxed);
                        counters.error(format!("conn {i}: {e}"));
                        return MemberReport {
                            conn: i,
                            ..MemberReport::default()
                        };
                    }
                };
                attempt += 1;
                if !report.retry || attempt >= SETUP_ATTEMPTS {
                    return report;
                }
                // kicked as a slow consumer while everyone was connecting: come back shortly
                tokio::time::sleep(Duration::from_millis(100 + (i as u64 * 37) % 400)).await;
            }
        }));
    }
    Fleet {
        counters,
        ctl: ctl_tx,
        tasks,
        n,
        senders: n_senders,
    }
}

/// Waits until every connection has its `ready` frame.
async fn all_ready(ctx: &Ctx, fleet: &Fleet, timeout: Duration) -> Res<Duration> {
    wait_all_ready(ctx, &fleet.counters, fleet.n, timeout).await
}

/// Waits until `n` connections counted in `c` have their `ready` frame.
pub async fn wait_all_ready(ctx: &Ctx, c: &Counters, n: usize, timeout: Duration) -> Res<Duration> {
    let started = Instant::now();
    let mut last_note = Instant::now();
    loop {
        let ready = Counters::get(&c.ready) as usize;
        if ready >= n {
            return Ok(started.elapsed());
        }
        if Counters::get(&c.connect_failed) > 0 || Counters::get(&c.closed) > 0 {
            return Err(format!(
                "{} of {} connections failed (first: {})",
                Counters::get(&c.connect_failed) + Counters::get(&c.closed),
                n,
                c.first_error().unwrap_or_default()
            )
            .into());
        }
        if started.elapsed() > timeout {
            return Err(
                format!("only {ready} of {} connections ready after {timeout:?}", n).into(),
            );
        }
        if last_note.elapsed() >= Duration::from_secs(2) {
            last_note = Instant::now();
            ctx.note(format!("  {ready}/{} connections ready", n));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the presence events that connecting caused to die down.
pub async fn settle(counters: &Counters, most: Duration) {
    let started = Instant::now();
    let mut last = (u64::MAX, u64::MAX);
    let mut quiet_since = Instant::now();
    while started.elapsed() < most {
        let now = (
            Counters::get(&counters.other_frames),
            Counters::get(&counters.delivered),
        );
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_millis(500) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_until(most: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < most {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// Stops the senders, waits for their acks and for every acknowledged message to reach every
/// other connection (at most --drain seconds each), then closes every connection.
async fn finish(ctx: &Ctx, fleet: Fleet) -> Vec<MemberReport> {
    let drain = Duration::from_secs_f64(ctx.args.drain.max(0.0));
    let _ = fleet.ctl.send(ctl::STOP);
    let c = fleet.counters.clone();
    let senders = fleet.senders as u64;
    if !wait_until(drain, || Counters::get(&c.senders_done) >= senders).await {
        ctx.note("  some sends still unacknowledged at the end of the drain");
    }
    let recipients = fleet.n.saturating_sub(1) as u64;
    wait_until(drain, || {
        Counters::get(&c.delivered) >= Counters::get(&c.acked) * recipients
    })
    .await;
    let _ = fleet.ctl.send(ctl::SHUTDOWN);
    let mut reports = Vec::with_capacity(fleet.tasks.len());
    for t in fleet.tasks {
        if let Ok(r) = t.await {
            reports.push(r);
        }
    }
    reports
}

/// Prints a progress line every second until aborted.
fn progress(ctx: &Ctx, label: &'static str, counters: Arc<Counters>) -> Option<JoinHandle<()>> {
    if ctx.args.quiet {
        return None;
    }
    let pid = ctx.args.server_pid.map(|p| p.to_string());
    Some(tokio::spawn(async move {
        let started = Instant::now();
        let mut prev = (0u64, 0u64, pid.as_deref().and_then(sys::sample));
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let delivered = Counters::get(&counters.delivered);
            let acked = Counters::get(&counters.acked);
            let server = pid.as_deref().and_then(sys::sample);
            let server_note = match (&prev.2, &server) {
                (Some(a), Some(b)) => format!(
                    " | server CPU {:.0}% RSS {:.0} MiB",
                    sys::cpu_pct(a, b),
                    b.rss_kib as f64 / 1024.0
                ),
                _ => String::new(),
            };
            eprintln!(
                "  [{label} {:>4.0}s] deliveries/s {:>8} sends/s {:>6} errors {}{server_note}",
                started.elapsed().as_secs_f64(),
                delivered - prev.0,
                acked - prev.1,
                Counters::get(&counters.errors),
            );
            prev = (delivered, acked, server);
        }
    }))
}

fn stop(p: Option<JoinHandle<()>>) {
    if let Some(p) = p {
        p.abort();
    }
}

/// Everything the connections saw, put together.
#[derive(Default)]
struct Analysis {
    latency: Vec<Hist>,
    delivered_by_phase: [u64; PHASES],
    acked_by_phase: [u64; PHASES],
    ack_latency: Vec<Hist>,
    acked: u64,
    delivered: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    unexpected: u64,
    failed_sends: u64,
    errors: u64,
    acked_ids: Vec<i64>,
}

fn analyze(reports: &[MemberReport], n_senders: usize) -> Analysis {
    let mut a = Analysis {
        latency: vec![Hist::default(); PHASES],
        ack_latency: vec![Hist::default(); PHASES],
        ..Analysis::default()
    };
    let mut senders: Vec<Option<&ws::SenderOut>> = vec![None; n_senders];
    for r in reports {
        if let Some(s) = &r.sender {
            if let Some(slot) = senders.get_mut(s.idx) {
                *slot = Some(s);
            }
            a.acked += s.acked_ids.len() as u64;
            a.failed_sends += s.failed;
            for (mine, theirs) in a.ack_latency.iter_mut().zip(&s.ack_latency) {
                mine.merge(theirs);
            }
            a.acked_ids.extend_from_slice(&s.acked_ids);
            for p in 0..PHASES {
                a.acked_by_phase[p] += s.acked_by_phase[p];
            }
        }
    }
    // sequence numbers that were sent but not acknowledged: nobody may receive them
    let unacked: Vec<Vec<u64>> = senders
        .iter()
        .map(|s| {
            s.map_or_else(Vec::new, |s| {
                s.acked
                    .iter()
                    .enumerate()
                    .filter(|(_, &ok)| !ok)
                    .map(|(q, _)| q as u64)
                    .collect()
            })
        })
        .collect();
    for r in reports {
        a.errors += r.errors;
        a.delivered += r.delivered;
        for p in 0..PHASES {
            a.delivered_by_phase[p] += r.delivered_by_phase[p];
            if let Some(h) = &r.latency[p.min(r.latency.len().saturating_sub(1))] {
                if p < r.latency.len() {
                    a.latency[p].merge(h);
                }
            }
        }
        let own = r.sender.as_ref().map(|s| s.idx);
        for (idx, sender) in senders.iter().enumerate() {
            if Some(idx) == own {
                continue;
            }
            let Some(sender) = sender else { continue };
            match r.trackers.get(idx) {
                Some(t) if r.connected => {
                    a.lost += t.lost(&sender.acked);
                    a.duplicated += t.dups;
                    a.reordered += t.reordered;
                    a.unexpected += unacked[idx].iter().filter(|&&q| t.received(q)).count() as u64;
                }
                // a connection that never opened missed everything
                _ => a.lost += sender.acked_ids.len() as u64,
            }
        }
    }
    a
}

/// Adds the delivery checks every messaging scenario reports, and flags problems.
fn check_delivery(report: &mut Report, a: &Analysis, counters: &Counters) {
    let closed_1013 = Counters::get(&counters.closed_1013);
    let setup_1013 = Counters::get(&counters.setup_1013);
    report.set("setup_1013_reconnects", setup_1013);
    if setup_1013 > 0 {
        report.line(format!(
            "setup: the server closed {setup_1013} connections with 1013 (slow consumer) while the group came online; they reconnected before the load started"
        ));
    }
    report.set("errors", a.errors + Counters::get(&counters.connect_failed));
    report.set("lost", a.lost);
    report.set("duplicated", a.duplicated);
    report.set("out_of_order", a.reordered);
    report.set("unexpected", a.unexpected);
    report.set("failed_sends", a.failed_sends);
    report.set("closed_1013", closed_1013);
    report.line(format!(
        "errors {} (slow-consumer closes 1013: {closed_1013}, failed sends: {}), lost {}, duplicated {}, out of order {}, delivered without an ack {}",
        a.errors + Counters::get(&counters.connect_failed),
        a.failed_sends,
        a.lost,
        a.duplicated,
        a.reordered,
        a.unexpected
    ));
    if let Some(e) = counters.first_error() {
        report.line(format!("first error: {e}"));
        report.set("first_error", e);
    }
    if a.errors > 0 || Counters::get(&counters.connect_failed) > 0 {
        report.problem(format!(
            "{} errors",
            a.errors + Counters::get(&counters.connect_failed)
        ));
    }
    if a.lost > 0 {
        report.problem(format!("{} deliveries lost", a.lost));
    }
    if a.duplicated > 0 {
        report.problem(format!("{} deliveries duplicated", a.duplicated));
    }
    if a.reordered > 0 {
        report.problem(format!("{} deliveries out of order", a.reordered));
    }
    if a.unexpected > 0 {
        report.problem(format!(
            "{} deliveries of sends that were never acknowledged",
            a.unexpected
        ));
    }
}

pub async fn sleep_secs(s: f64) {
    tokio::time::sleep(Duration::from_secs_f64(s.max(0.0))).await;
}

pub async fn make_group(ctx: &Ctx, users: usize) -> Res<(Vec<Account>, i64)> {
    ctx.note(format!("  registering {users} users"));
    let accounts = api::register_many(
        &ctx.api,
        &ctx.prefix,
        users,
        ctx.args.setup_concurrency,
        ctx.args.quiet,
    )
    .await?;
    let ids: Vec<i64> = accounts.iter().map(|a| a.id).collect();
    let owner = accounts.first().ok_or("no users")?;
    let thread = ctx
        .api
        .create_group(owner, &format!("bench {}", ctx.prefix), &ids)
        .await?;
    Ok((accounts, thread))
}

// ---------------------------------------------------------------- fanout, crowd, login-storm

async fn group_load(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let a = &ctx.args;
    let scenario = a.scenario;
    let storm = scenario == Scenario::LoginStorm;
    let members = a.members.unwrap_or(match scenario {
        Scenario::Crowd => 100,
        _ => 1000,
    });
    let senders = a
        .senders
        .unwrap_or(match scenario {
            Scenario::Crowd => members,
            _ => 10,
        })
        .min(members);
    let window = a.window.unwrap_or(match scenario {
        Scenario::Crowd => 1,
        _ => 4,
    });
    let rate = a.rate.unwrap_or(if storm { 5.0 } else { 0.0 });
    let per_user = a
        .conns_per_user
        .unwrap_or(if storm { 20 } else { 1 })
        .max(1);
    let users = members.div_ceil(per_user).max(senders.min(members)).max(2);
    if members < 2 || senders == 0 {
        return Err("needs --members >= 2 and --senders >= 1".into());
    }
    report.set(
        "config",
        json!({
            "members": members, "senders": senders, "window": window,
            "rate_per_sender": rate, "users": users, "conns_per_user": per_user,
            "duration_s": a.duration, "warmup_s": a.warmup, "text_bytes": a.text_bytes,
            "logins": if storm { a.logins } else { 0 },
        }),
    );
    report.line(format!(
        "{members} connections of {users} users in one group, {senders} senders, window {window}, {}, {} bytes per text",
        if rate > 0.0 { format!("{rate} msg/s per sender") } else { "closed loop".into() },
        a.text_bytes
    ));
    let (accounts, thread_id) = make_group(ctx, users).await?;
    let sender_cfgs: Vec<SenderCfg> = (0..senders)
        .map(|idx| SenderCfg {
            idx,
            thread_id,
            window: window.max(1),
            rate,
            quota: 0,
            text_bytes: a.text_bytes,
        })
        .collect();
    ctx.note(format!("  opening {members} WebSockets"));
    let fleet = launch(ctx, &accounts, members, sender_cfgs, 16 * 1024);
    let connect_time = all_ready(ctx, &fleet, Duration::from_secs(120)).await?;
    report.set("connect_s", round3(connect_time.as_secs_f64()));
    settle(&fleet.counters, Duration::from_secs(20)).await;
    let counters = fleet.counters.clone();
    let p = progress(ctx, scenario.name(), counters.clone());

    let _ = fleet.ctl.send(ctl::WARMUP);
    sleep_secs(a.warmup).await;
    let s0 = ctx.snap();
    let _ = fleet.ctl.send(ctl::MEASURE);
    let measure_secs;
    let mut storm_result = None;
    let s1;
    if storm {
        let half = a.duration / 2.0;
        sleep_secs(half).await;
        let mid = ctx.snap();
        let _ = fleet.ctl.send(ctl::STORM);
        let started = Instant::now();
        let stop_flag = Arc::new(AtomicBool::new(false));
        let names: Arc<Vec<String>> =
            Arc::new(accounts.iter().map(|a| a.user_name.clone()).collect());
        let logins: Vec<JoinHandle<(Hist, u64, Vec<String>)>> = (0..a.logins.max(1))
            .map(|k| {
                let (api, names, stop_flag) = (ctx.api.clone(), names.clone(), stop_flag.clone());
                let step = a.logins.max(1);
                tokio::spawn(async move {
                    let (mut h, mut fails, mut i) = (Hist::default(), Vec::new(), k);
                    let mut ok = 0u64;
                    while !stop_flag.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        match api.login(&names[i % names.len()]).await {
                            Ok(_) => {
                                h.record(t.elapsed().as_micros() as u64);
                                ok += 1;
                            }
                            Err(e) => fails.push(e.to_string()),
                        }
                        i += step;
                    }
                    (h, ok, fails)
                })
            })
            .collect();
        sleep_secs(a.duration - half).await;
        stop_flag.store(true, Ordering::Relaxed);
        let end = ctx.snap();
        let _ = fleet.ctl.send(ctl::STOP);
        let (mut h, mut ok, mut fails) = (Hist::default(), 0u64, Vec::new());
        for t in logins {
            if let Ok((lh, lok, lf)) = t.await {
                h.merge(&lh);
                ok += lok;
                fails.extend(lf);
            }
        }
        let storm_secs = started.elapsed().as_secs_f64();
        storm_result = Some((
            h,
            ok,
            fails,
            storm_secs,
            usage(&s0, &mid),
            usage(&mid, &end),
        ));
        measure_secs = half;
        s1 = end;
    } else {
        sleep_secs(a.duration).await;
        s1 = ctx.snap();
        measure_secs = a.duration;
    }
    let _ = fleet.ctl.send(ctl::STOP);
    stop(p);
    let n_senders = fleet.senders;
    let reports = finish(ctx, fleet).await;
    let an = analyze(&reports, n_senders);
    let base = ctl::MEASURE as usize;

    let deliveries_per_s = an.delivered_by_phase[base] as f64 / measure_secs;
    let sends_per_s = an.acked_by_phase[base] as f64 / measure_secs;
    let lat = &an.latency[base];
    let use_all = usage(&s0, &s1);
    report.set("measured_s", measure_secs);
    report.set("deliveries_per_s", deliveries_per_s.round());
    report.set("sends_per_s", round1(sends_per_s));
    report.set("latency", lat.summary());
    report.set("ack_latency", an.ack_latency[base].summary());
    report.set("sent_total", an.acked);
    report.set("delivered_total", an.delivered);
    report.set("usage", use_all.clone());
    report.line(format!(
        "{}: deliveries/s {:.0}, sends/s {:.1} (over {measure_secs:.1} s)",
        if storm { "baseline" } else { "throughput" },
        deliveries_per_s,
        sends_per_s
    ));
    report.line(format!("delivery latency: {}", lat.line()));
    report.line(format!(
        "ack latency (send -> ack): {}",
        an.ack_latency[base].line()
    ));
    report.line(format!(
        "{} messages acked, {} delivered in total",
        an.acked, an.delivered
    ));

    if let Some((lh, ok, fails, storm_secs, use_base, use_storm)) = storm_result {
        let storm_lat = &an.latency[ctl::STORM as usize];
        let storm_deliveries =
            an.delivered_by_phase[ctl::STORM as usize] as f64 / (a.duration - measure_secs);
        let p99_base = ms(lat.quantile(0.99));
        let p99_storm = ms(storm_lat.quantile(0.99));
        let ratio = if p99_base > 0.0 {
            p99_storm / p99_base
        } else {
            0.0
        };
        report.set(
            "login_storm",
            json!({
                "logins_in_flight": a.logins,
                "logins_ok": ok,
                "logins_failed": fails.len(),
                "logins_per_s": round1(ok as f64 / storm_secs),
                "login_latency": lh.summary(),
                "baseline_latency": lat.summary(),
                "storm_latency": storm_lat.summary(),
                "storm_ack_latency": an.ack_latency[ctl::STORM as usize].summary(),
                "storm_deliveries_per_s": storm_deliveries.round(),
                "p99_ratio": round3(ratio),
                "baseline_usage": use_base,
                "storm_usage": use_storm,
            }),
        );
        report.line(format!(
            "storm ({} logins in flight): deliveries/s {storm_deliveries:.0}",
            a.logins
        ));
        report.line(format!("storm delivery latency: {}", storm_lat.line()));
        report.line(format!(
            "storm ack latency: {}",
            an.ack_latency[ctl::STORM as usize].line()
        ));
        report.line(format!(
            "logins: {ok} ok, {} failed, {:.1}/s, latency {}",
            fails.len(),
            ok as f64 / storm_secs,
            lh.line()
        ));
        report.line(format!("baseline usage: {}", usage_line(&use_base)));
        report.line(format!("storm usage:    {}", usage_line(&use_storm)));
        report.target(
            "login_storm_p99",
            "p99 during the storm <= 2x baseline p99",
            json!({ "baseline_p99_ms": p99_base, "storm_p99_ms": p99_storm, "ratio": round3(ratio) }),
            Some(ratio > 0.0 && ratio <= 2.0),
        );
        if let Some(f) = fails.first() {
            report.problem(format!("{} logins failed (first: {f})", fails.len()));
        }
    } else {
        report.line(format!("usage: {}", usage_line(&use_all)));
        if scenario == Scenario::Fanout {
            let p99 = ms(lat.quantile(0.99));
            report.target(
                "fanout",
                ">= 500000 deliveries/s with p99 < 50 ms (1000 members, 10 senders)",
                json!({ "deliveries_per_s": deliveries_per_s.round(), "p99_ms": p99 }),
                (members == 1000 && senders == 10)
                    .then_some(deliveries_per_s >= 500_000.0 && p99 < 50.0),
            );
        }
    }
    check_delivery(report, &an, &counters);
    if an.acked == 0 {
        report.problem("no message was acknowledged");
    }
    Ok(())
}

// ---------------------------------------------------------------- idle

async fn idle(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let a = &ctx.args;
    let n = a.members.unwrap_or(10_000);
    let per_user = a.conns_per_user.unwrap_or(32).max(1);
    let users = n.div_ceil(per_user);
    report.set(
        "config",
        json!({ "connections": n, "users": users, "conns_per_user": per_user, "hold_s": a.duration }),
    );
    report.line(format!(
        "{n} idle connections of {users} users ({per_user} each), held {} s",
        a.duration
    ));
    ctx.note(format!("  registering {users} users"));
    let accounts =
        api::register_many(&ctx.api, &ctx.prefix, users, a.setup_concurrency, a.quiet).await?;
    sleep_secs(1.0).await;
    let before = ctx.snap();
    ctx.note(format!("  opening {n} WebSockets"));
    // user u holds connections u, u + users, ...: every user ends with at most `per_user`
    let fleet = launch(ctx, &accounts, n, Vec::new(), 4096);
    let connect = all_ready(ctx, &fleet, Duration::from_secs(600)).await;
    let counters = fleet.counters.clone();
    let connect = match connect {
        Ok(t) => t,
        Err(e) => {
            let _ = fleet.ctl.send(ctl::SHUTDOWN);
            return Err(e);
        }
    };
    sleep_secs(2.0).await;
    let connected = ctx.snap();
    let p = progress(ctx, "idle", counters.clone());
    sleep_secs(a.duration).await;
    stop(p);
    let end = ctx.snap();
    let reports = finish(ctx, fleet).await;
    let an = analyze(&reports, 0);
    report.set("connect_s", round3(connect.as_secs_f64()));
    report.set(
        "connects_per_s",
        (n as f64 / connect.as_secs_f64().max(1e-9)).round(),
    );
    report.line(format!(
        "connected {n} in {:.2} s ({:.0}/s)",
        connect.as_secs_f64(),
        n as f64 / connect.as_secs_f64().max(1e-9)
    ));
    report.set("usage_connecting", usage(&before, &connected));
    report.set("usage_holding", usage(&connected, &end));
    if let (Some(b), Some(c), Some(e)) = (&before.server, &connected.server, &end.server) {
        let per_conn_connected = (c.rss_kib as f64 - b.rss_kib as f64) / n as f64;
        let per_conn_end = (e.rss_kib as f64 - b.rss_kib as f64) / n as f64;
        report.set(
            "server_rss",
            json!({
                "before_mib": mib(b.rss_kib), "connected_mib": mib(c.rss_kib),
                "end_mib": mib(e.rss_kib), "peak_mib": mib(e.hwm_kib),
                "kib_per_conn_connected": round3(per_conn_connected),
                "kib_per_conn": round3(per_conn_end),
            }),
        );
        report.line(format!(
            "server RSS {:.1} MiB before, {:.1} MiB with {n} open, {:.1} MiB after holding (peak {:.1} MiB)",
            mib(b.rss_kib), mib(c.rss_kib), mib(e.rss_kib), mib(e.hwm_kib)
        ));
        report.line(format!(
            "server memory per idle connection: {per_conn_end:.2} KiB (right after connecting: {per_conn_connected:.2} KiB)"
        ));
        report.target(
            "idle",
            "<= 8 KiB per idle connection, 10000 open without error",
            json!({ "kib_per_conn": round3(per_conn_end), "connections": n, "errors": an.errors }),
            (n >= 10_000).then_some(per_conn_end <= 8.0 && an.errors == 0),
        );
    } else {
        report.line("server memory: not sampled (pass --server-pid)");
    }
    report.line(format!(
        "usage while holding: {}",
        usage_line(&usage(&connected, &end))
    ));
    check_delivery(report, &an, &counters);
    Ok(())
}

// ---------------------------------------------------------------- reconnect-storm

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn spread(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    json!({
        "count": v.len(),
        "p50_ms": round3(pct(&v, 0.5) * 1000.0),
        "p99_ms": round3(pct(&v, 0.99) * 1000.0),
        "max_ms": round3(v.last().copied().unwrap_or(0.0) * 1000.0),
    })
}

async fn reconnect_storm(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let a = &ctx.args;
    let n = a.members.unwrap_or(1000).max(2);
    let per_user = a.conns_per_user.unwrap_or(1).max(1);
    let users = n.div_ceil(per_user).max(2);
    let missed = a.messages.unwrap_or(100);
    let pre = 5u64;
    report.set(
        "config",
        json!({ "members": n, "users": users, "conns_per_user": per_user, "missed_messages": missed }),
    );
    report.line(format!(
        "{n} connections of {users} users in one group drop at once; {missed} messages are posted while they are away; all reconnect at once and sync"
    ));
    let (accounts, thread_id) = make_group(ctx, users).await?;
    ctx.note(format!("  opening {n} WebSockets"));
    let fleet = launch(ctx, &accounts, n, Vec::new(), 16 * 1024);
    all_ready(ctx, &fleet, Duration::from_secs(120)).await?;
    settle(&fleet.counters, Duration::from_secs(20)).await;
    let poster = accounts.first().ok_or("no users")?;
    for i in 0..pre {
        ctx.api
            .post_message(&poster.token, thread_id, &format!("before the storm {i}"))
            .await?;
    }
    let c = fleet.counters.clone();
    if !wait_until(Duration::from_secs(30), || {
        Counters::get(&c.delivered) >= pre * n as u64
    })
    .await
    {
        report.problem(format!(
            "only {} of {} live deliveries arrived before the storm",
            Counters::get(&c.delivered),
            pre * n as u64
        ));
    }
    let first_counters = fleet.counters.clone();
    // everyone drops at once
    let _ = fleet.ctl.send(ctl::SHUTDOWN);
    let mut last_seen = vec![0i64; n];
    let mut first_errors = 0;
    for t in fleet.tasks {
        if let Ok(r) = t.await {
            first_errors += r.errors;
            if let Some(slot) = last_seen.get_mut(r.conn) {
                *slot = r.max_msg_id;
            }
        }
    }
    ctx.note(format!("  all {n} disconnected; posting {missed} messages"));
    sleep_secs(1.0).await;
    let posted: Vec<Res<i64>> = futures_util::stream::iter(0..missed)
        .map(|i| {
            let api = ctx.api.clone();
            let token = poster.token.clone();
            async move {
                api.post_message(&token, thread_id, &format!("while you were away {i}"))
                    .await
            }
        })
        .buffered(8)
        .collect()
        .await;
    for p in posted {
        p?;
    }
    let before = ctx.snap();

    ctx.note(format!("  {n} clients reconnect at once"));
    let counters = Arc::new(Counters::default());
    let (ctl_tx, ctl_rx) = watch::channel(ctl::SETUP);
    let t0 = Instant::now();
    let tasks: Vec<JoinHandle<ws::ResyncReport>> = (0..n)
        .map(|i| {
            let account = &accounts[i % accounts.len()];
            tokio::spawn(ws::run_resync(
                ctx.addr.clone(),
                account.token.clone(),
                last_seen[i],
                t0,
                counters.clone(),
                ctl_rx.clone(),
            ))
        })
        .collect();
    let c = counters.clone();
    // every client caught up, or given up (failed to connect, closed otherwise, 20 kicks)
    let done = wait_until(Duration::from_secs(120), || {
        Counters::get(&c.caught_up) + Counters::get(&c.connect_failed) + Counters::get(&c.closed)
            >= n as u64
    })
    .await;
    let all_caught_up = t0.elapsed();
    sleep_secs(1.0).await;
    let after = ctx.snap();
    let _ = ctl_tx.send(ctl::SHUTDOWN);
    let mut results = Vec::with_capacity(n);
    for t in tasks {
        if let Ok(r) = t.await {
            results.push(r);
        }
    }
    let ready: Vec<f64> = results
        .iter()
        .filter_map(|r| r.ready_after)
        .map(|d| d.as_secs_f64())
        .collect();
    let caught: Vec<f64> = results
        .iter()
        .filter_map(|r| r.caught_up_after)
        .map(|d| d.as_secs_f64())
        .collect();
    let lost: u64 = results
        .iter()
        .map(|r| missed.saturating_sub(r.messages))
        .sum();
    let extra: u64 = results
        .iter()
        .map(|r| r.messages.saturating_sub(missed))
        .sum();
    let out_of_order: u64 = results.iter().map(|r| r.out_of_order).sum();
    let pages: u64 = results.iter().map(|r| r.pages).sum();
    let kicks: u64 = results.iter().map(|r| r.kicked_1013).sum();
    let kicked_clients = results.iter().filter(|r| r.kicked_1013 > 0).count();
    let most_kicks = results.iter().map(|r| r.kicked_1013).max().unwrap_or(0);
    let setup_1013 = Counters::get(&first_counters.setup_1013);
    report.set(
        "kicked_1013",
        json!({ "clients": kicked_clients, "closes": kicks, "most_for_one_client": most_kicks, "during_initial_connect": setup_1013 }),
    );
    if setup_1013 > 0 {
        report.line(format!(
            "initial connect: the server closed {setup_1013} connections with 1013 while the group came online (reconnected before the storm)"
        ));
    }
    report.line(format!(
        "during the storm the server closed {kicks} connections with 1013 (slow consumer): {kicked_clients} clients were kicked at least once (at most {most_kicks} times), reconnected and synced on"
    ));
    let failed =
        results.iter().filter(|r| r.error.is_some()).count() + n.saturating_sub(results.len());
    let not_caught = n - caught.len();
    let total_s = caught.iter().copied().fold(0.0, f64::max);
    report.set("ready", spread(ready.clone()));
    report.set("caught_up", spread(caught.clone()));
    report.set(
        "all_caught_up_s",
        round3(if done {
            total_s
        } else {
            all_caught_up.as_secs_f64()
        }),
    );
    report.set("sync_pages", pages);
    report.set("errors", counters_errors(&counters) + first_errors);
    report.set("lost", lost);
    report.set("duplicated", extra);
    report.set("out_of_order", out_of_order);
    report.set("closed_1013", Counters::get(&counters.closed_1013));
    report.set("usage", usage(&before, &after));
    if let (Some(b), Some(e)) = (&before.server, &after.server) {
        report.set(
            "server_rss",
            json!({ "before_mib": mib(b.rss_kib), "after_mib": mib(e.rss_kib), "peak_mib": mib(e.hwm_kib) }),
        );
        report.line(format!(
            "server RSS {:.1} MiB before the storm, {:.1} MiB after; peak (VmHWM) {:.1} MiB",
            mib(b.rss_kib),
            mib(e.rss_kib),
            mib(e.hwm_kib)
        ));
    }
    let mut sorted_ready = ready;
    sorted_ready.sort_by(f64::total_cmp);
    let mut sorted_caught = caught;
    sorted_caught.sort_by(f64::total_cmp);
    report.line(format!(
        "every client ready and caught up after {:.3} s ({} of {n} caught up)",
        if done {
            total_s
        } else {
            all_caught_up.as_secs_f64()
        },
        n - not_caught
    ));
    report.line(format!(
        "ready: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; caught up: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&sorted_ready, 0.5) * 1000.0,
        pct(&sorted_ready, 0.99) * 1000.0,
        sorted_ready.last().copied().unwrap_or(0.0) * 1000.0,
        pct(&sorted_caught, 0.5) * 1000.0,
        pct(&sorted_caught, 0.99) * 1000.0,
        total_s * 1000.0
    ));
    report.line(format!(
        "usage during the storm: {}",
        usage_line(&usage(&before, &after))
    ));
    report.line(format!(
        "errors {} (1013 closes: {}), failed clients {failed}, missed messages not synced {lost}, extra {extra}, out of order {out_of_order}",
        counters_errors(&counters) + first_errors,
        Counters::get(&counters.closed_1013),
    ));
    if let Some(e) = counters
        .first_error()
        .or_else(|| first_counters.first_error())
    {
        report.line(format!("first error: {e}"));
    }
    if counters_errors(&counters) + first_errors > 0 || failed > 0 {
        report.problem(format!(
            "{} errors, {failed} clients failed",
            counters_errors(&counters) + first_errors
        ));
    }
    if not_caught > 0 {
        report.problem(format!("{not_caught} clients never caught up"));
    }
    if lost > 0 {
        report.problem(format!("{lost} missed messages never synced"));
    }
    if extra > 0 || out_of_order > 0 {
        report.problem(format!(
            "{extra} extra and {out_of_order} out-of-order messages in sync"
        ));
    }
    Ok(())
}

fn counters_errors(c: &Counters) -> u64 {
    Counters::get(&c.errors) + Counters::get(&c.connect_failed)
}

// ---------------------------------------------------------------- catch-up

async fn catch_up(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let a = &ctx.args;
    let target = a.messages.unwrap_or(100_000);
    let seeders = a.senders.unwrap_or(4).max(1);
    let window = a.window.unwrap_or(32).max(1);
    report.set(
        "config",
        json!({ "messages": target, "seeders": seeders, "window": window, "sync_count": a.sync_count, "seed_timeout_s": a.seed_timeout }),
    );
    // user 0 reads; users 1..=seeders write
    let (accounts, thread_id) = make_group(ctx, seeders + 1).await?;
    let writers = accounts.get(1..).ok_or("no writers")?;
    // the reader's resume point from before the seeding, for `sync {since}`
    let since_cursor = {
        let reader = accounts.first().ok_or("no reader")?;
        let mut sock = ws::connect(&ctx.addr, &reader.token, 16 * 1024).await?;
        let cursor = crate::feed::ready_cursor(&mut sock).await?;
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            futures_util::SinkExt::close(&mut sock),
        )
        .await;
        cursor
    };
    let per = target / seeders as u64;
    let cfgs: Vec<SenderCfg> = (0..seeders)
        .map(|idx| SenderCfg {
            idx,
            thread_id,
            window,
            rate: 0.0,
            quota: if idx == 0 {
                per + target % seeders as u64
            } else {
                per
            },
            text_bytes: a.text_bytes,
        })
        .collect();
    ctx.note(format!(
        "  seeding {target} messages from {seeders} WebSocket senders (window {window})"
    ));
    let fleet = launch(ctx, writers, seeders, cfgs, 64 * 1024);
    all_ready(ctx, &fleet, Duration::from_secs(60)).await?;
    let counters = fleet.counters.clone();
    let p = progress(ctx, "seed", counters.clone());
    let s0 = ctx.snap();
    let started = Instant::now();
    let _ = fleet.ctl.send(ctl::MEASURE);
    let c = counters.clone();
    let complete = wait_until(Duration::from_secs_f64(a.seed_timeout.max(1.0)), || {
        Counters::get(&c.senders_done) >= seeders as u64
    })
    .await;
    let _ = fleet.ctl.send(ctl::STOP);
    let n_senders = fleet.senders;
    let reports = finish(ctx, fleet).await;
    let seed_secs = started.elapsed().as_secs_f64();
    stop(p);
    let s1 = ctx.snap();
    let an = analyze(&reports, n_senders);
    let mut ids = an.acked_ids.clone();
    ids.sort_unstable();
    let stored = ids.len() as u64;
    report.set(
        "seed",
        json!({
            "stored": stored, "complete": complete, "seconds": round3(seed_secs),
            "messages_per_s": (stored as f64 / seed_secs).round(),
            "usage": usage(&s0, &s1),
        }),
    );
    report.line(format!(
        "seeded {stored} of {target} messages in {seed_secs:.1} s ({:.0} msg/s){}",
        stored as f64 / seed_secs,
        if complete {
            ""
        } else {
            " -- stopped at --seed-timeout"
        }
    ));
    report.line(format!(
        "usage while seeding: {}",
        usage_line(&usage(&s0, &s1))
    ));
    if !complete {
        report.line(format!(
            "note: seeding stopped at the {}-s limit; the numbers below are with {stored} stored, not {target}",
            a.seed_timeout
        ));
    }

    // the reader comes back: sync everything it missed, newest `sync_count` messages
    let reader = accounts.first().ok_or("no reader")?;
    let mut sock = ws::connect(&ctx.addr, &reader.token, 256 * 1024).await?;
    ws::wait_ready(&mut sock).await?;
    let want = a.sync_count.min(stored);
    let after = if stored > want {
        ids[(stored - want - 1) as usize]
    } else {
        0
    };
    let expected = ids.iter().filter(|&&id| id > after).count() as u64;
    let (mut got, mut pages, mut last, mut disorder) = (0u64, 0u64, after, 0u64);
    let mut page_times = Hist::default();
    let t = Instant::now();
    loop {
        let tp = Instant::now();
        let v = ws::request(
            &mut sock,
            "sync",
            format!(r#"{{"type":"sync","id":"sync","after":{last},"limit":500}}"#),
        )
        .await?;
        page_times.record(tp.elapsed().as_micros() as u64);
        pages += 1;
        for m in v["messages"].as_array().map_or(&[][..], Vec::as_slice) {
            let id = m["id"].as_i64().unwrap_or(0);
            if id <= last {
                disorder += 1;
            }
            last = last.max(id);
            got += 1;
        }
        if v["hasMore"].as_bool() != Some(true) {
            break;
        }
    }
    let sync_secs = t.elapsed().as_secs_f64();
    report.set(
        "sync",
        json!({
            "messages": got, "expected": expected, "pages": pages, "seconds": round3(sync_secs),
            "messages_per_s": (got as f64 / sync_secs.max(1e-9)).round(),
            "page_latency": page_times.summary(), "stored": stored,
        }),
    );
    report.line(format!(
        "sync of {got} missed messages ({pages} pages of up to 500): {sync_secs:.3} s ({:.0} msg/s); page {}",
        got as f64 / sync_secs.max(1e-9),
        page_times.line()
    ));
    if got != expected || disorder > 0 {
        report.problem(format!(
            "sync returned {got} messages, expected {expected} ({disorder} out of order)"
        ));
    }
    report.set("lost", expected.saturating_sub(got));
    report.set("duplicated", got.saturating_sub(expected));
    match since_cursor {
        Some(cursor) => sync_since_timed(report, &mut sock, &cursor, stored).await?,
        None => report.line("sync {since}: not timed (the server's ready frame has no cursor)"),
    }

    // history: the newest page, and a page from the middle of the thread
    let middle = ids.get(ids.len() / 2).copied();
    let mut timings = serde_json::Map::new();
    for (label, before) in [("newest", None), ("middle", middle)] {
        let mut h_ws = Hist::default();
        let mut h_http = Hist::default();
        let mut sizes = (usize::MAX, 0usize);
        for _ in 0..a.samples.max(1) {
            let before_field = before.map_or(String::new(), |b| format!(r#","before":{b}"#));
            let t = Instant::now();
            let v = ws::request(
                &mut sock,
                "hist",
                format!(r#"{{"type":"history","id":"hist","threadId":{thread_id},"limit":100{before_field}}}"#),
            )
            .await?;
            h_ws.record(t.elapsed().as_micros() as u64);
            let len = v["messages"].as_array().map_or(0, Vec::len);
            sizes = (sizes.0.min(len), sizes.1.max(len));
            let t = Instant::now();
            let len = ctx
                .api
                .messages_page(&reader.token, thread_id, before, 100)
                .await?;
            h_http.record(t.elapsed().as_micros() as u64);
            sizes = (sizes.0.min(len), sizes.1.max(len));
        }
        report.line(format!(
            "history page ({label}, limit 100) over WebSocket: {}",
            h_ws.line()
        ));
        report.line(format!(
            "history page ({label}, limit 100) over HTTP:      {}",
            h_http.line()
        ));
        if stored >= 200 && sizes.0 != 100 {
            report.problem(format!(
                "a {label} history page had {} messages, not 100",
                sizes.0
            ));
        }
        timings.insert(
            label.into(),
            json!({ "ws": h_ws.summary(), "http": h_http.summary() }),
        );
    }
    let newest_p50 = timings["newest"]["ws"]["p50_ms"]
        .as_f64()
        .unwrap_or(f64::MAX);
    let middle_p50 = timings["middle"]["ws"]["p50_ms"]
        .as_f64()
        .unwrap_or(f64::MAX);
    report.set("history", Value::Object(timings));
    let end = ctx.snap();
    if let Some(s) = &end.server {
        report.line(format!(
            "server RSS {:.1} MiB (peak {:.1} MiB)",
            mib(s.rss_kib),
            mib(s.hwm_kib)
        ));
    }
    report.set("usage_end", usage(&s1, &end));
    report.target(
        "catch_up_sync",
        "100000 messages synced in < 3 s",
        json!({ "messages": got, "seconds": round3(sync_secs) }),
        (got >= 100_000).then_some(sync_secs < 3.0),
    );
    report.target(
        "history_page",
        "history page (limit 100) < 5 ms with 1000000 stored",
        json!({ "stored": stored, "newest_p50_ms": newest_p50, "middle_p50_ms": middle_p50 }),
        (stored >= 1_000_000).then_some(newest_p50 < 5.0 && middle_p50 < 5.0),
    );
    check_delivery(report, &an, &counters);
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        futures_util::SinkExt::close(&mut sock),
    )
    .await;
    Ok(())
}

/// Times `sync {since}` from a cursor taken before the seeding, page by page (500 each), the
/// way the `after` sync above is timed: every stored message must come once.
async fn sync_since_timed(
    report: &mut Report,
    sock: &mut ws::Ws,
    cursor: &str,
    stored: u64,
) -> Res<()> {
    let (mut got, mut pages, mut cursor) = (0u64, 0u64, cursor.to_owned());
    let mut seen = std::collections::HashSet::new();
    let mut page_times = Hist::default();
    let t = Instant::now();
    loop {
        let tp = Instant::now();
        let req = json!({ "type": "sync", "id": "since", "since": cursor, "limit": 500 });
        let v = ws::request(sock, "since", req.to_string()).await?;
        page_times.record(tp.elapsed().as_micros() as u64);
        pages += 1;
        for m in v["messages"].as_array().map_or(&[][..], Vec::as_slice) {
            seen.insert(m["id"].as_i64().unwrap_or(0));
            got += 1;
        }
        cursor = v["cursor"]
            .as_str()
            .ok_or("sync {since}: no cursor")?
            .to_owned();
        if v["hasMore"].as_bool() != Some(true) {
            break;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    report.set(
        "sync_since",
        json!({
            "messages": got, "expected": stored, "pages": pages, "seconds": round3(secs),
            "messages_per_s": (got as f64 / secs.max(1e-9)).round(),
            "page_latency": page_times.summary(),
        }),
    );
    report.line(format!(
        "sync {{since}} of {got} changes from a cursor taken before seeding ({pages} pages of up to 500): {secs:.3} s ({:.0} msg/s); page {}",
        got as f64 / secs.max(1e-9),
        page_times.line()
    ));
    report.target(
        "catch_up_sync_since",
        "100000 changes synced by since in < 3 s",
        json!({ "messages": got, "seconds": round3(secs) }),
        (got >= 100_000).then_some(secs < 3.0),
    );
    if got != stored || seen.len() as u64 != got {
        report.problem(format!(
            "sync {{since}} returned {got} messages ({} distinct), expected {stored}",
            seen.len()
        ));
    }
    Ok(())
}
