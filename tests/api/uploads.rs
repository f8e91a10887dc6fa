//! Attachments and avatars on disk: file lifetime follows the commit, the start-up sweep,
//! download headers, and the file names multipart parts carry.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::*;

const BOUNDARY: &str = "XyZzyBoundary7MA4YWxkTrZu0gW";

/// A multipart body from (Content-Disposition parameters after `form-data; `, bytes) pairs.
fn multipart_body(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (disposition, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; {disposition}\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_multipart(app: &TestApp, token: &str, thread: i64, body: Vec<u8>) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(&format!("/threads/{thread}/messages")))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    read(res).await
}

/// The head of a raw `POST /threads/{id}/messages` announcing `length` body bytes.
fn request_head(app: &TestApp, token: &str, thread: i64, length: usize) -> Vec<u8> {
    format!(
        "POST /threads/{thread}/messages HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Authorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {length}\r\n\r\n",
        app.port
    )
    .into_bytes()
}

/// Closes with a TCP reset, as a client that crashes or loses its network does.
fn reset(stream: TcpStream) {
    stream.set_zero_linger().unwrap();
    drop(stream);
}

fn files_in(dir: impl AsRef<Path>) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Holds the database's write lock (SQLite) or a lock that blocks inserts into `messages`
/// (PostgreSQL), so that a commit waits for as long as the test wants.
enum WriteLock {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

impl WriteLock {
    fn take(app: &TestApp) -> WriteLock {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        match &app.database_url {
            Some(url) => {
                let mut c = diesel::PgConnection::establish(url).unwrap();
                c.batch_execute("BEGIN; LOCK TABLE messages IN EXCLUSIVE MODE;")
                    .unwrap();
                WriteLock::Pg(c)
            }
            None => {
                let path = app.data_dir.path().join("chat.db");
                let mut c = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
                c.batch_execute("BEGIN IMMEDIATE;").unwrap();
                WriteLock::Sqlite(c)
            }
        }
    }

    fn release(self) {
        use diesel::connection::SimpleConnection;
        match self {
            WriteLock::Sqlite(mut c) => c.batch_execute("COMMIT;").unwrap(),
            WriteLock::Pg(mut c) => c.batch_execute("COMMIT;").unwrap(),
        }
    }
}

async fn messages_of(app: &TestApp, token: &str, thread: i64) -> Vec<Value> {
    let (status, page) = app
        .get_as(token, &format!("/threads/{thread}/messages"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["messages"].as_array().unwrap().clone()
}

/// The client resets its connection while its message waits for the commit: the committer
/// goes on and stores it, so its files must stay, and every attachment URL serves its file.
#[tokio::test]
async fn a_reset_mid_commit_leaves_the_message_with_its_files() {
    let app = spawn_app().await;
    let alice = app.register("alice_reset").await;
    let bob = app.register("bobby_reset").await;
    let thread = app.direct(&alice, &bob).await;
    let attachments = app.data_dir.path().join("uploads/attachments");
    let content = b"%PDF-1.4 the report".to_vec();
    let body = multipart_body(&[
        ("name=\"text\"", b"see attached"),
        (
            "name=\"attachments\"; filename=\"report.pdf\"",
            &content[..],
        ),
    ]);

    let lock = WriteLock::take(&app);
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream
        .write_all(&request_head(&app, &alice.token, thread, body.len()))
        .await
        .unwrap();
    stream.write_all(&body).await.unwrap();
    wait_until("the upload is stored", || files_in(&attachments).len() == 1).await;
    // let the handler reach its wait for the commit, then vanish
    tokio::time::sleep(Duration::from_millis(500)).await;
    reset(stream);
    tokio::time::sleep(Duration::from_millis(500)).await;
    lock.release();

    let mut stored = Vec::new();
    for _ in 0..200 {
        stored = messages_of(&app, &alice.token, thread).await;
        if !stored.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(stored.len(), 1, "the queued message was committed");
    let files = stored[0]["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    let res = app
        .client
        .get(app.url(files[0]["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        200,
        "the stored attachment is served"
    );
    assert_eq!(res.bytes().await.unwrap().to_vec(), content);
    assert_eq!(files_in(&attachments).len(), 1);
}

/// A reset in the middle of the body: no row, and no file in attachments/ or tmp/.
#[tokio::test]
async fn a_reset_mid_upload_leaves_no_row_and_no_file() {
    let app = spawn_app().await;
    let alice = app.register("alice_rst2").await;
    let bob = app.register("bobby_rst2").await;
    let thread = app.direct(&alice, &bob).await;
    let big = vec![7u8; 2 * 1024 * 1024];
    let body = multipart_body(&[("name=\"attachments\"; filename=\"big.bin\"", &big[..])]);
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream
        .write_all(&request_head(&app, &alice.token, thread, body.len()))
        .await
        .unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    let tmp = app.data_dir.path().join("uploads/tmp");
    wait_until("the upload is being received", || {
        !files_in(&tmp).is_empty()
    })
    .await;
    reset(stream);
    wait_until("the partial upload is gone", || files_in(&tmp).is_empty()).await;
    assert!(files_in(app.data_dir.path().join("uploads/attachments")).is_empty());
    assert!(messages_of(&app, &alice.token, thread).await.is_empty());
}

fn age(path: &Path, by: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

/// At start-up, files no row refers to are deleted once old enough; referenced files and
/// recent ones (maybe another node's upload in progress) stay.
#[tokio::test]
async fn orphans_are_swept_at_start_and_referenced_files_stay() {
    let app = spawn_app().await;
    let png = [&b"\x89PNG\r\n\x1a\n"[..], &[0u8; 32][..]].concat();
    let form = reqwest::multipart::Form::new()
        .text("nickName", "Sweeper")
        .text("userName", "sweeper1")
        .text("password", PASSWORD)
        .text("confirmPassword", PASSWORD)
        .part(
            "avatar",
            reqwest::multipart::Part::bytes(png.clone()).file_name("me.png"),
        );
    let (status, body) = read(
        app.client
            .post(app.url("/auth/register"))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["accessToken"].as_str().unwrap().to_owned();
    let avatar_url = body["user"]["avatarUrl"].as_str().unwrap().to_owned();
    let bob = app.register("bobby_sweep").await;
    let (_, body) = app
        .post_json_as(&token, "/threads", &json!({"userId": bob.id}))
        .await;
    let thread = body["thread"]["id"].as_i64().unwrap();
    let (status, body) = post_multipart(
        &app,
        &token,
        thread,
        multipart_body(&[("name=\"attachments\"; filename=\"keep.txt\"", b"keep me")]),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let attachment_url = body["message"]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();

    let uploads = app.data_dir.path().join("uploads");
    let hour = Duration::from_secs(3600);
    let old = [
        "attachments/0123456789abcdef0123456789abcdef.pdf",
        "avatars/fedcba9876543210fedcba9876543210.png",
        "tmp/00112233445566778899aabbccddeeff.part",
    ];
    let young = [
        "attachments/aaaabbbbccccddddeeeeffff00001111.bin",
        "tmp/99998888777766665555444433332222.part",
    ];
    for name in old.iter().chain(&young) {
        std::fs::write(uploads.join(name), b"orphan").unwrap();
    }
    for name in old {
        age(&uploads.join(name), 2 * hour);
    }
    // referenced files are kept whatever their age
    for url in [&avatar_url, &attachment_url] {
        age(
            &uploads.join(url.strip_prefix("/uploads/").unwrap()),
            2 * hour,
        );
    }

    let app = restart(app, |c| c.upload_sweep_min_age_secs = 3600).await;
    for name in old {
        assert!(!uploads.join(name).exists(), "{name} was swept");
    }
    for name in young {
        assert!(uploads.join(name).exists(), "{name} is too recent to judge");
    }
    for url in [&avatar_url, &attachment_url] {
        let res = app.client.get(app.url(url)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{url} stays");
    }
    let avatar = app.client.get(app.url(&avatar_url)).send().await.unwrap();
    assert_eq!(
        avatar.headers()["cache-control"],
        "public, max-age=31536000, immutable",
        "avatars may stay in shared caches"
    );
}

/// Downloads: `Cache-Control: private`, and the attachment's own name (RFC 6266), safely
/// encoded; images inline, everything else as an attachment.
#[tokio::test]
async fn attachment_downloads_are_private_and_keep_their_names() {
    let app = spawn_app().await;
    let alice = app.register("alice_names").await;
    let bob = app.register("bobby_names").await;
    let thread = app.direct(&alice, &bob).await;
    let png = [&b"\x89PNG\r\n\x1a\n"[..], &[1u8; 24][..]].concat();
    let body = multipart_body(&[
        ("name=\"attachments\"; filename=\"report.pdf\"", b"%PDF-1.4"),
        (
            "name=\"attachments\"; filename*=UTF-8''Gr%C3%B6%C3%9Fe%20%C2%ABx%C2%BB.txt",
            b"unicode",
        ),
        (
            "name=\"attachments\"; filename*=UTF-8''a%22b%3Bc.txt",
            b"quotes",
        ),
        ("name=\"attachments\"; filename=\"pic.png\"", &png[..]),
    ]);
    let (status, body) = post_multipart(&app, &alice.token, thread, body).await;
    assert_eq!(status, 201, "{body}");
    let files = body["message"]["attachments"].as_array().unwrap().clone();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["report.pdf", "Größe «x».txt", "a\"b;c.txt", "pic.png"]
    );
    let expected = [
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf",
        "attachment; filename=\"Gr__e _x_.txt\"; filename*=UTF-8''Gr%C3%B6%C3%9Fe%20%C2%ABx%C2%BB.txt",
        "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%3Bc.txt",
        "inline; filename=\"pic.png\"; filename*=UTF-8''pic.png",
    ];
    for (file, disposition) in files.iter().zip(expected) {
        let url = file["url"].as_str().unwrap();
        // the random stored name is the only thing in the path
        let stored = url.strip_prefix("/uploads/attachments/").unwrap();
        assert!(
            stored.len() > 32
                && stored
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.'),
            "{url}"
        );
        let res = app.client.get(app.url(url)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let headers = res.headers();
        assert_eq!(headers["cache-control"], "private", "{url}");
        assert_eq!(headers["content-disposition"], disposition, "{url}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    // a stored file no row refers to is not served
    let orphan = "0123456789abcdef0123456789abcdef.txt";
    std::fs::write(
        app.data_dir.path().join("uploads/attachments").join(orphan),
        b"x",
    )
    .unwrap();
    let res = app
        .client
        .get(app.url(&format!("/uploads/attachments/{orphan}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

/// Bidirectional controls are dropped from attachment names (U+202E "gnp.exe" would show as
/// "exe.png"), whether the name came raw in `filename` or encoded in `filename*`.
#[tokio::test]
async fn bidirectional_controls_are_dropped_from_attachment_names() {
    let app = spawn_app().await;
    let alice = app.register("alice_bidi").await;
    let bob = app.register("bobby_bidi").await;
    let thread = app.direct(&alice, &bob).await;
    let raw = "name=\"attachments\"; filename=\"\u{202E}gnp.exe\"".to_owned();
    let body = multipart_body(&[
        (&raw, b"MZ"),
        (
            "name=\"attachments\"; filename*=UTF-8''%E2%81%A7abc%E2%81%A9%E2%80%AA%E2%80%AC.txt",
            b"isolates",
        ),
        // joiners and variation selectors are not bidirectional controls
        (
            "name=\"attachments\"; filename*=UTF-8''%F0%9F%91%A9%E2%80%8D%F0%9F%92%BB%E2%9D%A4%EF%B8%8F.txt",
            b"emoji",
        ),
    ]);
    let (status, body) = post_multipart(&app, &alice.token, thread, body).await;
    assert_eq!(status, 201, "{body}");
    let files = body["message"]["attachments"].as_array().unwrap().clone();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["gnp.exe", "abc.txt", "👩\u{200D}💻❤\u{FE0F}.txt"]);
    let res = app
        .client
        .get(app.url(files[0]["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"gnp.exe\"; filename*=UTF-8''gnp.exe"
    );
}

/// A file part whose Content-Disposition has only `filename*` (RFC 5987) is a file, under its
/// decoded name, not a text field.
#[tokio::test]
async fn a_file_part_with_only_filename_star_is_a_file() {
    let app = spawn_app().await;
    let alice = app.register("alice_star").await;
    let bob = app.register("bobby_star").await;
    let thread = app.direct(&alice, &bob).await;
    let body = multipart_body(&[
        (
            "name=\"attachments\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
            b"%PDF-1.4 cv",
        ),
        (
            "name=\"attachments\"; filename*=ISO-8859-1''caf%E9.txt",
            b"latin-1",
        ),
        // both given: filename* wins, as RFC 6266 says
        (
            "name=\"attachments\"; filename=\"fallback.txt\"; filename*=UTF-8''%E2%9C%93.txt",
            b"both",
        ),
    ]);
    let (status, body) = post_multipart(&app, &alice.token, thread, body).await;
    assert_eq!(status, 201, "{body}");
    let message = &body["message"];
    assert_eq!(message["text"], Value::Null);
    let files = message["attachments"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["résumé.pdf", "café.txt", "✓.txt"]);
    assert_eq!(files[0]["size"], 11);
    let res = app
        .client
        .get(app.url(files[0]["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().to_vec(), b"%PDF-1.4 cv");
}

/// Someone who may not write to a thread is refused before the body is read: nothing of the
/// upload is received (the request is answered while most of its body is still unsent).
#[tokio::test]
async fn a_non_member_is_refused_before_the_upload_is_read() {
    let app = spawn_app_with(|c| c.http_stall_secs = 300).await;
    let alice = app.register("alice_early").await;
    let bob = app.register("bobby_early").await;
    let eve = app.register("eve_early1").await;
    let thread = app.direct(&alice, &bob).await;
    let big = vec![7u8; 4 * 1024 * 1024];
    let body = multipart_body(&[("name=\"attachments\"; filename=\"big.bin\"", &big[..])]);
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream
        .write_all(&request_head(&app, &eve.token, thread, body.len()))
        .await
        .unwrap();
    stream.write_all(&body[..4096]).await.unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&reply).contains("\r\n\r\n{") {
        use tokio::io::AsyncReadExt;
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed without a reply");
        reply.extend_from_slice(&buf[..n]);
    }
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    assert!(files_in(app.data_dir.path().join("uploads/tmp")).is_empty());
    assert!(files_in(app.data_dir.path().join("uploads/attachments")).is_empty());
}
