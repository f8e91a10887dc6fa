//! The HTTP side of the contract the bench uses: register, login, threads, messages.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::sys;
use crate::Res;

/// Meets the password rule: 8-72 bytes, lower, upper and digit.
pub const PASSWORD: &str = "Bench-pass-1";

#[derive(Clone, Debug)]
pub struct Account {
    pub id: i64,
    pub user_name: String,
    pub token: String,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// The error and every cause under it, with a hint when the process ran out of descriptors.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    let mut fd = false;
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            fd |= sys::is_fd_exhaustion(io);
        }
        source = s.source();
    }
    if fd || out.contains("Too many open files") {
        out.push_str(" -- ");
        out.push_str(sys::FD_HINT);
    }
    out
}

fn cut(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl Api {
    pub fn new(base: &str) -> Res<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> Res<Value> {
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{what}: {}", error_chain(&e)))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| format!("{what}: {}", error_chain(&e)))?;
        if !status.is_success() {
            return Err(format!("{what}: HTTP {status}: {}", cut(&body, 300)).into());
        }
        serde_json::from_str(&body).map_err(|e| format!("{what}: bad JSON ({e})").into())
    }

    pub async fn healthz(&self) -> Res<()> {
        let url = format!("{}/healthz", self.base);
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{}: {}", self.base, error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("GET /healthz: HTTP {}", resp.status()).into());
        }
        Ok(())
    }

    pub async fn register(&self, user_name: &str) -> Res<Account> {
        let body = json!({
            "nickName": "bench",
            "userName": user_name,
            "password": PASSWORD,
            "confirmPassword": PASSWORD,
        });
        let v = self
            .call(
                self.http
                    .post(format!("{}/auth/register", self.base))
                    .json(&body),
                "POST /auth/register",
            )
            .await?;
        Ok(Account {
            id: v["user"]["id"].as_i64().ok_or("register: no user.id")?,
            user_name: user_name.to_owned(),
            token: v["accessToken"]
                .as_str()
                .ok_or("register: no accessToken")?
                .to_owned(),
        })
    }

    pub async fn login(&self, user_name: &str) -> Res<String> {
        let body = json!({ "userName": user_name, "password": PASSWORD });
        let v = self
            .call(
                self.http
                    .post(format!("{}/auth/login", self.base))
                    .json(&body),
                "POST /auth/login",
            )
            .await?;
        Ok(v["accessToken"]
            .as_str()
            .ok_or("login: no accessToken")?
            .to_owned())
    }

    /// A group thread owned by `owner` with `members`; returns its id.
    pub async fn create_group(&self, owner: &Account, name: &str, members: &[i64]) -> Res<i64> {
        let others: Vec<i64> = members.iter().copied().filter(|&m| m != owner.id).collect();
        let v = self
            .call(
                self.http
                    .post(format!("{}/threads", self.base))
                    .bearer_auth(&owner.token)
                    .json(&json!({ "name": name, "memberIds": others })),
                "POST /threads",
            )
            .await?;
        Ok(v["thread"]["id"]
            .as_i64()
            .ok_or("POST /threads: no thread.id")?)
    }

    /// Posts a text message over HTTP; returns the stored message's id.
    pub async fn post_message(&self, token: &str, thread_id: i64, text: &str) -> Res<i64> {
        let v = self
            .call(
                self.http
                    .post(format!("{}/threads/{thread_id}/messages", self.base))
                    .bearer_auth(token)
                    .json(&json!({ "text": text })),
                "POST /threads/{id}/messages",
            )
            .await?;
        Ok(v["message"]["id"]
            .as_i64()
            .ok_or("POST /threads/{id}/messages: no message.id")?)
    }

    /// GET /threads/{id}/messages: the number of messages in the page.
    pub async fn messages_page(
        &self,
        token: &str,
        thread_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Res<usize> {
        let mut url = format!("{}/threads/{thread_id}/messages?limit={limit}", self.base);
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        let v = self
            .call(
                self.http.get(url).bearer_auth(token),
                "GET /threads/{id}/messages",
            )
            .await?;
        Ok(v["messages"].as_array().map_or(0, Vec::len))
    }
}

/// A fresh user-name prefix for this run: `b` + 6 random letters or digits + `_`.
pub fn random_prefix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..6)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("b{tail}_")
}

/// Registers `n` users `{prefix}{i:05}` with `concurrency` requests in flight, in order.
pub async fn register_many(
    api: &Api,
    prefix: &str,
    n: usize,
    concurrency: usize,
    quiet: bool,
) -> Res<Vec<Account>> {
    let started = std::time::Instant::now();
    let mut out = Vec::with_capacity(n);
    let mut stream = futures_util::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let name = format!("{prefix}{i:05}");
            async move { api.register(&name).await }
        })
        .buffered(concurrency.max(1));
    let mut last_note = std::time::Instant::now();
    while let Some(account) = stream.next().await {
        out.push(account?);
        if !quiet && last_note.elapsed() >= Duration::from_secs(2) {
            last_note = std::time::Instant::now();
            eprintln!("  registered {}/{n} users", out.len());
        }
    }
    if !quiet {
        eprintln!(
            "  registered {n} users in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(out)
}
