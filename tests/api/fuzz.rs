//! Property tests against the running server: random multipart and JSON bodies are answered
//! with a 2xx or a clear 4xx, never a 5xx, and the server keeps serving.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::helpers::*;

#[derive(Debug, Clone)]
struct Part {
    name: String,
    file_name: Option<String>,
    body: Vec<u8>,
}

fn part() -> impl Strategy<Value = Part> {
    (
        prop_oneof![
            Just("avatar".to_owned()),
            Just("attachments".to_owned()),
            Just("text".to_owned()),
            Just("nickName".to_owned()),
            "[a-z\"\\r\\n;=]{0,12}"
        ],
        prop::option::of("[ -~]{0,40}"),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(name, file_name, body)| Part {
            name,
            file_name,
            body,
        })
}

fn multipart(boundary: &str, parts: &[Part], truncate: Option<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
        if let Some(f) = &p.file_name {
            disposition.push_str(&format!("; filename=\"{f}\""));
        }
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&p.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    if let Some(n) = truncate {
        out.truncate(n.min(out.len()));
    }
    out
}

#[test]
fn random_bodies_never_get_a_server_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, token, thread) = rt.block_on(async {
        let app = spawn_app().await;
        let alice = app.register("fuzz_alice").await;
        let bob = app.register("fuzz_bobby").await;
        let thread = app.direct(&alice, &bob).await;
        (app, alice.token, thread)
    });
    let strategy = (
        "[a-zA-Z0-9'()+_,-./:=?]{1,30}",
        prop::collection::vec(part(), 0..5),
        prop::option::of(0usize..2000),
        0usize..3,
    );
    let mut runner = TestRunner::new(Config {
        cases: 60,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(boundary, parts, truncate, route)| {
            let body = multipart(&boundary, &parts, truncate);
            let path = match route {
                0 => "/auth/register".to_owned(),
                1 => format!("/threads/{thread}/messages"),
                _ => "/users/me".to_owned(),
            };
            let status = rt.block_on(async {
                let req = if route == 2 {
                    app.client.patch(app.url(&path))
                } else {
                    app.client.post(app.url(&path))
                };
                let res = req
                    .bearer_auth(&token)
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                res.status().as_u16()
            });
            prop_assert!(status < 500, "{path}: {status}");
            Ok(())
        })
        .unwrap();
    let json_strategy = prop::collection::vec(any::<u8>(), 0..400);
    runner
        .run(&json_strategy, |bytes| {
            let status = rt.block_on(async {
                app.client
                    .post(app.url(&format!("/threads/{thread}/messages")))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(bytes)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
            prop_assert!(status == 400 || status == 201, "{status}");
            Ok(())
        })
        .unwrap();
    let alive = rt.block_on(async {
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(alive, 200);
}
