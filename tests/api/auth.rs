use serde_json::{json, Value};

use crate::helpers::*;

fn register_body(user_name: &str) -> Value {
    json!({"nickName": "Nick", "userName": user_name, "password": PASSWORD, "confirmPassword": PASSWORD})
}

async fn register_with(app: &TestApp, patch: Value) -> (u16, Value) {
    let mut body = register_body("validname");
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    app.post_json("/auth/register", &body).await
}

fn png_bytes() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(&[
        0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
    ]);
    b
}

#[tokio::test]
async fn register_login_and_check_round_trip() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_json("/auth/register", &register_body("alice_01"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Register Successfully");
    let user = &body["user"];
    assert_eq!(user["userName"], "alice_01");
    assert_eq!(user["nickName"], "Nick");
    assert!(user["avatarUrl"].is_null());
    assert!(user["avatarThumbUrl"].is_null());
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(
        !body.to_string().contains("$2"),
        "no password hash anywhere: {body}"
    );
    assert_eq!(user.as_object().unwrap().len(), 6);

    let (status, body) = app
        .post_json(
            "/auth/login",
            &json!({"userName": "ALICE_01", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "Login Successfully");
    let token = body["accessToken"].as_str().unwrap().to_owned();

    let (status, body) = app.get_as(&token, "/auth").await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "Authenticate Successfully");
    assert_eq!(body["user"]["userName"], "alice_01");
}

#[tokio::test]
async fn register_accepts_urlencoded_and_multipart() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/auth/register"))
        .form(&[
            ("nickName", "Form"),
            ("userName", "formuser"),
            ("password", PASSWORD),
            ("confirmPassword", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    let form = reqwest::multipart::Form::new()
        .text("nickName", "Multi")
        .text("userName", "multiuser")
        .text("password", PASSWORD)
        .text("confirmPassword", PASSWORD);
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
    assert_eq!(body["user"]["nickName"], "Multi");
}

#[tokio::test]
async fn taken_names_are_case_insensitive() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_json("/auth/register", &register_body("Charlie"))
            .await
            .0,
        200
    );
    for name in ["Charlie", "charlie", "CHARLIE"] {
        let (status, body) = app.post_json("/auth/register", &register_body(name)).await;
        assert_eq!(status, 401);
        assert_eq!(
            body,
            json!({"success": false, "message": "User Name is already taken", "code": "USERNAME_TAKEN"})
        );
    }
}

#[tokio::test]
async fn every_validation_rule_on_both_sides_of_its_bound() {
    let app = spawn_app().await;
    let cases: Vec<(Value, bool)> = vec![
        (json!({"userName": "abcde"}), false),
        (json!({"userName": "abcdef"}), true),
        (json!({"userName": "a".repeat(30)}), true),
        (json!({"userName": "b".repeat(31)}), false),
        (json!({"userName": "1abcdef"}), false),
        (json!({"userName": "_abcdef"}), false),
        (json!({"userName": "abc-def"}), false),
        (json!({"userName": "abcdéf"}), false),
        (json!({"userName": "abc_de9"}), true),
        (
            json!({"userName": "nick50", "nickName": "é".repeat(50)}),
            true,
        ),
        (
            json!({"userName": "nick51", "nickName": "é".repeat(51)}),
            false,
        ),
        (json!({"userName": "nicktrim", "nickName": "   "}), false),
        (json!({"userName": "nicktab", "nickName": "a\tb"}), false),
        (json!({"userName": "nicknl", "nickName": "a\nb"}), false),
        (
            json!({"userName": "nicklsep", "nickName": "a\u{2028}b"}),
            false,
        ),
        (json!({"userName": "nickemoji", "nickName": "👩‍👩‍👧 Fam"}), true),
        (
            json!({"userName": "pass7", "password": "Abcde12", "confirmPassword": "Abcde12"}),
            false,
        ),
        (
            json!({"userName": "pass8ok", "password": "Abcdef12", "confirmPassword": "Abcdef12"}),
            true,
        ),
        (
            json!({"userName": "pass72", "password": format!("Ab1{}", "x".repeat(69)), "confirmPassword": format!("Ab1{}", "x".repeat(69))}),
            true,
        ),
        (
            json!({"userName": "pass73", "password": format!("Ab1{}", "x".repeat(70)), "confirmPassword": format!("Ab1{}", "x".repeat(70))}),
            false,
        ),
        // 70 bytes of multi-byte characters: over 72 bytes although under 72 characters
        (
            json!({"userName": "passutf", "password": format!("Ab1{}", "é".repeat(35)), "confirmPassword": format!("Ab1{}", "é".repeat(35))}),
            false,
        ),
        (
            json!({"userName": "nolower", "password": "ABCDEF12", "confirmPassword": "ABCDEF12"}),
            false,
        ),
        (
            json!({"userName": "noupper", "password": "abcdef12", "confirmPassword": "abcdef12"}),
            false,
        ),
        (
            json!({"userName": "nodigit", "password": "Abcdefgh", "confirmPassword": "Abcdefgh"}),
            false,
        ),
        (
            json!({"userName": "mismatch", "confirmPassword": "Passw0rdNO"}),
            false,
        ),
        (json!({"userName": "nonick", "nickName": null}), false),
        (json!({"userName": null}), false),
        (json!({"userName": "nopass", "password": null}), false),
        (
            json!({"userName": "noconfirm", "confirmPassword": null}),
            false,
        ),
        (json!({"userName": 12345678}), false),
    ];
    for (patch, ok) in cases {
        let (status, body) = register_with(&app, patch.clone()).await;
        if ok {
            assert_eq!(status, 200, "{patch} should pass: {body}");
        } else {
            assert_eq!(status, 400, "{patch} should fail: {body}");
            assert_eq!(body["code"], "VALIDATION");
            assert_eq!(body["success"], false);
            assert!(body["message"].as_str().unwrap().len() > 5);
        }
    }
}

#[tokio::test]
async fn nick_name_is_trimmed() {
    let app = spawn_app().await;
    let (status, body) =
        register_with(&app, json!({"userName": "trimmed", "nickName": "  Bob  "})).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["nickName"], "Bob");
}

#[tokio::test]
async fn login_failures_use_the_seed_messages() {
    let app = spawn_app().await;
    app.register("dora_the").await;
    let (status, body) = app
        .post_json(
            "/auth/login",
            &json!({"userName": "nobody_here", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"success": false, "message": "userName not Found", "code": "UNAUTHORIZED"})
        )
    );
    let (status, body) = app
        .post_json(
            "/auth/login",
            &json!({"userName": "dora_the", "password": "Wrong0000"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"success": false, "message": "userName or password is incorrect", "code": "UNAUTHORIZED"})
        )
    );
    let (status, body) = app
        .post_json("/auth/login", &json!({"userName": "dora_the"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "VALIDATION");
}

fn forge(claims: Value, secret: &str, alg: jsonwebtoken::Algorithm) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_tokens_get_the_seed_401s() {
    let app = spawn_app().await;
    let user = app.register("erin_tok").await;
    let secret = app.jwt_secret();
    let now = chrono::Utc::now().timestamp();
    let b64 = |v: &Value| {
        use base64_engine::encode;
        encode(v.to_string().as_bytes())
    };
    let none_token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&json!({"sub": user.id.to_string(), "iat": now, "exp": now + 600}))
    );
    let invalid = vec![
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        forge(
            json!({"sub": user.id.to_string(), "iat": now, "exp": now + 600}),
            "another-secret",
            jsonwebtoken::Algorithm::HS256,
        ),
        forge(
            json!({"sub": user.id.to_string(), "iat": now - 100, "exp": now - 1}),
            &secret,
            jsonwebtoken::Algorithm::HS256,
        ),
        forge(
            json!({"sub": user.id.to_string(), "iat": now, "exp": now + 600}),
            &secret,
            jsonwebtoken::Algorithm::HS512,
        ),
        none_token,
    ];
    for token in invalid {
        let (status, body) = app.get_as(&token, "/auth").await;
        assert_eq!(
            (status, &body["message"]),
            (401, &json!("Invalid AccessToken")),
            "token {token}"
        );
        assert_eq!(body["code"], "UNAUTHORIZED");
    }
    let (status, body) = read(app.client.get(app.url("/auth")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["message"].clone()),
        (401, json!("AccessToken Not Found"))
    );
    let ghost = forge(
        json!({"sub": "999999", "iat": now, "exp": now + 600}),
        &secret,
        jsonwebtoken::Algorithm::HS256,
    );
    let (status, body) = app.get_as(&ghost, "/auth").await;
    assert_eq!(
        (status, body["message"].clone()),
        (401, json!("User Not Found"))
    );
    // the same token checks also guard the WebSocket, before any upgrade
    let res = app
        .client
        .get(app.url("/ws?token=garbage"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

/// Minimal base64url without padding, enough to hand-craft an `alg: none` token.
mod base64_engine {
    pub fn encode(input: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[tokio::test]
async fn tokens_survive_a_restart_and_the_secret_is_private() {
    let app = spawn_app().await;
    let user = app.register("frank_rs").await;
    let path = app.data_dir.path().join("jwt_secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let app = restart(app, |_| {}).await;
    let (status, _) = app.get_as(&user.token, "/auth").await;
    assert_eq!(status, 200);
}

async fn register_multipart(
    app: &TestApp,
    user_name: &str,
    file: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new()
        .text("nickName", "Pic")
        .text("userName", user_name.to_owned())
        .text("password", PASSWORD)
        .text("confirmPassword", PASSWORD);
    if let Some((name, bytes)) = file {
        form = form.part(
            "avatar",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_owned())
                .mime_str("image/png")
                .unwrap(),
        );
    }
    read(
        app.client
            .post(app.url("/auth/register"))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn files_in(dir: std::path::PathBuf) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn avatars_of_each_type_are_stored_and_served_back_identical() {
    let app = spawn_app().await;
    let mut webp = b"RIFF\x1a\0\0\0WEBPVP8 ".to_vec();
    webp.extend_from_slice(&[0u8; 14]);
    let images: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a.png", png_bytes(), "image/png"),
        (
            "b.jpg",
            [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[7u8; 40][..]].concat(),
            "image/jpeg",
        ),
        (
            "c.gif",
            [&b"GIF89a"[..], &[1u8; 30][..]].concat(),
            "image/gif",
        ),
        ("d.webp", webp, "image/webp"),
    ];
    for (i, (name, bytes, mime)) in images.into_iter().enumerate() {
        let (status, body) =
            register_multipart(&app, &format!("avatar{i}x"), Some((name, bytes.clone()))).await;
        assert_eq!(status, 200, "{name}: {body}");
        let url = body["user"]["avatarUrl"].as_str().unwrap().to_owned();
        assert!(url.starts_with("/uploads/avatars/"), "{url}");
        assert!(!url.contains(name.split('.').next().unwrap()) || url.len() > 40);
        let res = app.client.get(app.url(&url)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], mime);
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
    }
}

#[tokio::test]
async fn bad_avatars_leave_no_user_and_no_file() {
    let app = spawn_app().await;
    let avatars = app.data_dir.path().join("uploads/avatars");
    let tmp = app.data_dir.path().join("uploads/tmp");
    let (status, body) = register_multipart(
        &app,
        "textfile",
        Some(("evil.png", b"just some text, not a png".to_vec())),
    )
    .await;
    assert_eq!(
        (status, body["code"].clone()),
        (415, json!("UNSUPPORTED_MEDIA_TYPE"))
    );
    let mut big = png_bytes();
    big.resize(2 * 1024 * 1024 + 1, 0);
    let (status, body) = register_multipart(&app, "bigfile", Some(("big.png", big))).await;
    assert_eq!(
        (status, body["code"].clone()),
        (413, json!("PAYLOAD_TOO_LARGE"))
    );
    let mut exact = png_bytes();
    exact.resize(2 * 1024 * 1024, 0);
    let (status, _) = register_multipart(&app, "exactfile", Some(("ok.png", exact))).await;
    assert_eq!(status, 200);
    // an invalid field with a valid avatar: nothing stored either
    let (status, _) = register_multipart(&app, "bad name", Some(("ok.png", png_bytes()))).await;
    assert_eq!(status, 400);
    for name in ["textfile", "bigfile", "bad name"] {
        let (status, _) = app
            .post_json(
                "/auth/login",
                &json!({"userName": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 401, "{name} must not exist");
    }
    assert_eq!(files_in(avatars), 1, "only the accepted avatar is on disk");
    assert_eq!(files_in(tmp), 0, "no temporary file left");
}

#[tokio::test]
async fn hostile_file_names_are_never_paths() {
    let app = spawn_app().await;
    let long = format!("{}.png", "x".repeat(5000));
    let mut accepted = 0;
    for (i, name) in [
        "../../x.png",
        "..\\..\\x.png",
        "a\0b.png",
        long.as_str(),
        "/etc/passwd",
    ]
    .iter()
    .enumerate()
    {
        let (status, body) =
            register_multipart(&app, &format!("hostile{i}"), Some((name, png_bytes()))).await;
        if status == 400 {
            // a part header the multipart parser cannot read is refused as a whole
            assert_eq!(body["code"], "VALIDATION", "{name:?}");
            continue;
        }
        assert_eq!(status, 200, "{body}");
        accepted += 1;
        let url = body["user"]["avatarUrl"].as_str().unwrap();
        let file = url.strip_prefix("/uploads/avatars/").unwrap();
        let stem = file.strip_suffix(".png").expect("stored as .png");
        assert!(
            stem.len() == 32 && stem.chars().all(|c| c.is_ascii_hexdigit()),
            "{url}"
        );
    }
    assert!(!app.data_dir.path().join("x.png").exists());
    assert!(
        accepted >= 3,
        "the path-like names are accepted under random names"
    );
    assert_eq!(
        files_in(app.data_dir.path().join("uploads/avatars")),
        accepted
    );
    let res = app
        .client
        .get(app.url("/uploads/avatars/..%2f..%2fjwt_secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_give_one_user() {
    let app = spawn_app().await;
    let names = [
        "Racer_one",
        "racer_one",
        "RACER_ONE",
        "racer_one",
        "Racer_One",
        "racer_ONE",
        "racer_one",
        "rAcer_one",
    ];
    let bodies: Vec<Value> = names.iter().map(|n| register_body(n)).collect();
    let results =
        futures_util::future::join_all(bodies.iter().map(|b| app.post_json("/auth/register", b)))
            .await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let taken = results
        .iter()
        .filter(|(s, b)| *s == 401 && b["code"] == "USERNAME_TAKEN")
        .count();
    assert_eq!((ok, taken), (1, names.len() - 1), "{results:?}");
}

#[tokio::test]
async fn malformed_bodies_get_clear_4xx() {
    let app = spawn_app().await;
    let send = |ct: &'static str, body: Vec<u8>| {
        let req = app
            .client
            .post(app.url("/auth/register"))
            .header("content-type", ct)
            .body(body);
        async move { read(req.send().await.unwrap()).await }
    };
    let (status, body) = send("application/json", b"{not json".to_vec()).await;
    assert_eq!((status, body["code"].clone()), (400, json!("VALIDATION")));
    let (status, _) = send("application/json", b"[1,2,3]".to_vec()).await;
    assert_eq!(status, 400);
    let (status, body) = send("text/plain", b"hello".to_vec()).await;
    assert_eq!(
        (status, body["code"].clone()),
        (415, json!("UNSUPPORTED_MEDIA_TYPE"))
    );
    let mut huge = b"{\"nickName\":\"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1024 * 1024 + 10));
    huge.extend_from_slice(b"\"}");
    let (status, body) = send("application/json", huge).await;
    assert_eq!(
        (status, body["code"].clone()),
        (413, json!("PAYLOAD_TOO_LARGE"))
    );
    let (status, _) = send(
        "multipart/form-data; boundary=xyz",
        b"--xyz\r\ngarbage".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    // found by schemathesis: a multipart type without a boundary once panicked the handler
    for ct in ["multipart/form-data", "multipart/form-data; boundary="] {
        let (status, body) = send(ct, br#"{"userName": "x"}"#.to_vec()).await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("VALIDATION")),
            "{ct}"
        );
    }
    let res = app
        .client
        .get(app.url("/auth/register"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "POST", "405 says what is allowed");
    let (status, body) = read(res).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["success"], false);
    let res = app.client.delete(app.url("/threads")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, POST");
    let (status, body) = read(
        app.client
            .get(app.url("/no/such/route"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (404, json!("NOT_FOUND")));
}

#[tokio::test]
async fn healthz_reports_ok() {
    let app = spawn_app().await;
    let (status, body) = read(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["database"]["ok"], true);
}

#[tokio::test]
async fn healthz_tells_the_upload_limits() {
    let app = spawn_app().await;
    let (status, body) = read(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["limits"]["maxAttachmentBytes"],
        json!(10 * 1024 * 1024)
    );
    assert_eq!(body["limits"]["maxAvatarBytes"], json!(2 * 1024 * 1024));
    assert_eq!(body["limits"]["maxAttachments"], json!(10));
    assert_eq!(body["limits"]["maxTextChars"], json!(4000));
}
