//! `spawn_app()`: the real server on a loopback port, with a fresh data dir and database.

use std::path::PathBuf;
use std::time::Duration;

use chat_server::config::{Config, Switch};
use chat_server::Application;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub const PASSWORD: &str = "Passw0rdOK";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub data_dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub stopper: chat_server::Stopper,
    pub database_url: Option<String>,
}

pub struct TestUser {
    pub id: i64,
    pub user_name: String,
    pub token: String,
}

/// A fresh PostgreSQL database when `CHAT_TEST_PG_URL` is set (the suite then runs on
/// PostgreSQL); otherwise `None`, and the app uses a SQLite file in its temp dir.
pub fn fresh_database_url() -> Option<String> {
    use diesel::{Connection, RunQueryDsl};
    let admin = std::env::var("CHAT_TEST_PG_URL").ok()?;
    let name = format!("chat_test_{}", rand_suffix());
    let mut conn = diesel::PgConnection::establish(&admin).expect("connect to CHAT_TEST_PG_URL");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .expect("create test database");
    // the same server and options (`?sslmode=...`), another database
    let (url, options) = admin.split_once('?').unwrap_or((&admin, ""));
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    let options = if options.is_empty() {
        String::new()
    } else {
        format!("?{options}")
    };
    Some(format!("{base}/{name}{options}"))
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn static_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app exactly as `main` does, with test-friendly settings changed by `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database_url();
    let mut config = Config::for_data_dir(data_dir.path());
    config.bcrypt_cost = 4;
    config.rate_limits = Switch::Off;
    config.static_dir = static_dir();
    config.database_url = database_url.clone();
    tweak(&mut config);
    start(config, data_dir, database_url).await
}

/// Starts another app on the same data dir and database (a restart).
pub async fn restart(old: TestApp, tweak: impl FnOnce(&mut Config)) -> TestApp {
    old.stopper.clone().stop().await;
    let mut config = Config::for_data_dir(old.data_dir.path());
    config.bcrypt_cost = 4;
    config.rate_limits = Switch::Off;
    config.static_dir = static_dir();
    config.database_url = old.database_url.clone();
    tweak(&mut config);
    start(config, old.data_dir, old.database_url).await
}

async fn start(
    config: Config,
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
) -> TestApp {
    let app = Application::build(config).await.expect("app builds");
    let port = app.port();
    let stopper = app.stopper();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        data_dir,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        stopper,
        database_url,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        read(res).await
    }

    pub async fn post_json_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        read(res).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        read(res).await
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> (u16, Value) {
        let res = self
            .client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        read(res).await
    }

    pub async fn register(&self, user_name: &str) -> TestUser {
        let (status, body) = self
            .post_json(
                "/auth/register",
                &json!({"nickName": format!("Nick {user_name}"), "userName": user_name, "password": PASSWORD, "confirmPassword": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "register {user_name}: {body}");
        TestUser {
            id: body["user"]["id"].as_i64().expect("user id"),
            user_name: user_name.to_owned(),
            token: body["accessToken"].as_str().expect("token").to_owned(),
        }
    }

    /// A direct thread between two users; returns its id.
    pub async fn direct(&self, a: &TestUser, b: &TestUser) -> i64 {
        let (status, body) = self
            .post_json_as(&a.token, "/threads", &json!({"userId": b.id}))
            .await;
        assert_eq!(status, 200, "{body}");
        body["thread"]["id"].as_i64().expect("thread id")
    }

    pub async fn group(&self, owner: &TestUser, name: &str, members: &[&TestUser]) -> i64 {
        let ids: Vec<i64> = members.iter().map(|u| u.id).collect();
        let (status, body) = self
            .post_json_as(
                &owner.token,
                "/threads",
                &json!({"name": name, "memberIds": ids}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["thread"]["id"].as_i64().expect("thread id")
    }

    pub async fn connect(&self, user: &TestUser) -> WsClient {
        WsClient::connect(&self.ws_url(), &user.token).await
    }

    pub fn jwt_secret(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("jwt_secret")).expect("secret file")
    }
}

pub async fn read(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct WsClient {
    pub socket: Socket,
    pub ready: Value,
}

pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

impl WsClient {
    /// Connects with the Bearer header and waits for `ready`.
    pub async fn connect(url: &str, token: &str) -> WsClient {
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("ws connects");
        let mut client = WsClient {
            socket,
            ready: Value::Null,
        };
        let ready = client.recv().await;
        assert_eq!(ready["type"], "ready", "first frame: {ready}");
        client.ready = ready;
        client
    }

    pub async fn send(&mut self, frame: Value) {
        self.socket
            .send(WsMessage::Text(frame.to_string().into()))
            .await
            .expect("ws send");
    }

    pub async fn send_raw(&mut self, msg: WsMessage) {
        self.socket.send(msg).await.expect("ws send");
    }

    /// The next JSON text frame (pings are answered by tungstenite itself).
    pub async fn recv(&mut self) -> Value {
        self.recv_within(FRAME_TIMEOUT).await
    }

    /// Like `recv`, waiting up to `wait` for the frame.
    pub async fn recv_within(&mut self, wait: Duration) -> Value {
        loop {
            let msg = tokio::time::timeout(wait, self.socket.next())
                .await
                .expect("a frame within the timeout")
                .expect("socket open")
                .expect("frame ok");
            match msg {
                WsMessage::Text(text) => {
                    let frame: Value = serde_json::from_str(&text).expect("JSON frame");
                    // every frame the suite receives must match /asyncapi.json
                    crate::asyncapi::schemas().check_server_frame(&frame);
                    return frame;
                }
                WsMessage::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Skips frames until one matches (presence snapshots and the like may come first).
    pub async fn recv_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self.recv().await;
            if pred(&frame) {
                return frame;
            }
        }
    }

    pub async fn recv_type(&mut self, kind: &str) -> Value {
        self.recv_where(|f| f["type"] == kind).await
    }

    /// Asserts that no frame of `kind` arrives within `wait`.
    pub async fn expect_none(&mut self, kind: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return,
                Ok(Some(Ok(WsMessage::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text).expect("JSON");
                    crate::asyncapi::schemas().check_server_frame(&frame);
                    assert_ne!(frame["type"], kind, "unexpected frame {frame}");
                }
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("socket ended: {other:?}"),
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed_with(&mut self) -> u16 {
        loop {
            let msg = tokio::time::timeout(FRAME_TIMEOUT, self.socket.next())
                .await
                .expect("close within the timeout");
            match msg {
                Some(Ok(WsMessage::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(WsMessage::Close(None))) => return u16::from(CloseCode::Status),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error before close frame: {e}"),
                None => panic!("socket ended without a close frame"),
            }
        }
    }
}

/// A free loopback port, for a server started as a child process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Registers `name` on a server started as a child process (no `TestApp`).
pub async fn register_at(client: &reqwest::Client, base: &str, name: &str) -> TestUser {
    let body = json!({"nickName": name, "userName": name, "password": PASSWORD, "confirmPassword": PASSWORD});
    let (status, body) = read(
        client
            .post(format!("{base}/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    TestUser {
        id: body["user"]["id"].as_i64().unwrap(),
        user_name: name.to_owned(),
        token: body["accessToken"].as_str().unwrap().to_owned(),
    }
}

/// A stranger names the next thread ids before they exist (typing to them, refused NOT_FOUND)
/// on every node of `probers`; a group then made on `a_node` between a user there and one on
/// `b_node` must still carry messages and typing both ways. `tag` keeps user names apart.
pub async fn naming_future_thread_ids_spoils_nothing(
    a_node: &TestApp,
    b_node: &TestApp,
    probers: &[&TestApp],
    tag: &str,
) {
    let alice = a_node.register(&format!("alice_{tag}")).await;
    let bob = b_node.register(&format!("bobby_{tag}")).await;
    let eve = b_node.register(&format!("evely_{tag}")).await;
    let probe = b_node.direct(&eve, &bob).await;
    for node in probers {
        let mut e = node.connect(&eve).await;
        for (i, next) in (probe + 1..=probe + 5).enumerate() {
            e.send(json!({"type": "typing", "id": i, "threadId": next, "isTyping": true}))
                .await;
            let error = e.recv_type("error").await;
            assert_eq!(error["code"], "NOT_FOUND", "{error}");
        }
    }
    let mut a = a_node.connect(&alice).await;
    let mut b = b_node.connect(&bob).await;
    let group = a_node.group(&alice, "Fresh", &[&bob]).await;
    assert!(
        group > probe && group <= probe + 5,
        "the probe named {group}"
    );
    b.recv_where(|f| f["type"] == "thread" && f["thread"]["id"] == group)
        .await;
    a.send(json!({"type": "send", "id": 1, "threadId": group, "text": "live?"}))
        .await;
    a.recv_type("ack").await;
    assert_eq!(b.recv_type("message").await["message"]["text"], "live?");
    b.send(json!({"type": "typing", "id": 2, "threadId": group, "isTyping": true}))
        .await;
    let typing = a
        .recv_where(|f| f["type"] == "typing" || f["type"] == "error")
        .await;
    assert_eq!(typing["type"], "typing", "{typing}");
    assert_eq!(typing["user"]["id"], bob.id);
    a.send(json!({"type": "typing", "id": 3, "threadId": group, "isTyping": true}))
        .await;
    assert_eq!(b.recv_type("typing").await["user"]["id"], alice.id);
}
