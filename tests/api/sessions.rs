//! Sessions and tokens: refresh with rotation and reuse detection, logout, the session list and
//! revocation, password change, in-band `auth` on a live socket, ended sessions closing their
//! sockets with 4003 (on one node and across two), the 72-byte rule, the migration.

use std::time::Duration;

use chat_server::config::Switch;
use serde_json::{json, Value};

use crate::helpers::*;

/// A login's answer: its tokens and the session id its access token carries.
struct Login {
    access: String,
    refresh: String,
    sid: String,
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64url(payload);
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Unpadded base64url, as JWTs carry it.
fn base64url(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for byte in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == byte).expect("base64url") as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn login_of(body: &Value) -> Login {
    let access = body["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_owned();
    let sid = claims(&access)["sid"]
        .as_str()
        .expect("sid is a string")
        .to_owned();
    Login {
        refresh: body["refreshToken"]
            .as_str()
            .expect("refreshToken")
            .to_owned(),
        access,
        sid,
    }
}

async fn login(app: &TestApp, user: &TestUser) -> Login {
    login_with_agent(app, user, None).await
}

async fn login_with_agent(app: &TestApp, user: &TestUser, agent: Option<&str>) -> Login {
    let mut req = app
        .client
        .post(app.url("/auth/login"))
        .json(&json!({"userName": user.user_name, "password": PASSWORD}));
    if let Some(agent) = agent {
        req = req.header("User-Agent", agent);
    }
    let (status, body) = read(req.send().await.expect("login")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Login Successfully");
    login_of(&body)
}

async fn refresh(app: &TestApp, token: &str) -> (u16, Value) {
    app.post_json("/auth/refresh", &json!({"refreshToken": token}))
        .await
}

async fn assert_refused_refresh(app: &TestApp, token: &str) {
    let (status, body) = refresh(app, token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["message"], "Invalid RefreshToken");
    assert_eq!(body["code"], "UNAUTHORIZED");
}

async fn assert_token_refused(app: &TestApp, token: &str) {
    let (status, body) = app.get_as(token, "/auth").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["message"], "Invalid AccessToken");
    assert_eq!(body["code"], "UNAUTHORIZED");
    // and no socket either
    let res = app
        .client
        .get(app.url(&format!("/ws?token={token}")))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("upgrade request");
    let (status, body) = read(res).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["message"], "Invalid AccessToken");
}

async fn assert_token_works(app: &TestApp, token: &str) {
    let (status, body) = app.get_as(token, "/auth").await;
    assert_eq!(status, 200, "{body}");
}

async fn connect_with(app: &TestApp, token: &str) -> WsClient {
    WsClient::connect(&app.ws_url(), token).await
}

/// The socket still answers.
async fn assert_open(ws: &mut WsClient) {
    ws.send(json!({"type": "ping", "id": "alive"})).await;
    let pong = ws.recv_type("pong").await;
    assert_eq!(pong["id"], "alive");
}

#[tokio::test]
async fn login_and_registration_open_sessions_whose_id_the_token_carries() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_json(
            "/auth/register",
            &json!({"nickName": "Sam", "userName": "sessions_a", "password": PASSWORD, "confirmPassword": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let registered = login_of(&body);
    // at least 128 bits of randomness, whatever the encoding
    assert!(registered.refresh.len() >= 32, "{}", registered.refresh);
    let user = TestUser {
        id: body["user"]["id"].as_i64().unwrap(),
        user_name: "sessions_a".into(),
        token: registered.access.clone(),
    };
    let logged_in = login(&app, &user).await;
    assert_ne!(
        logged_in.sid, registered.sid,
        "a login opens its own session"
    );
    assert_ne!(logged_in.refresh, registered.refresh);
    let claims = claims(&logged_in.access);
    assert_eq!(claims["sub"], user.id.to_string());
    assert!(claims["iat"].is_i64() && claims["exp"].is_i64());
    assert_token_works(&app, &registered.access).await;
    assert_token_works(&app, &logged_in.access).await;
}

#[tokio::test]
async fn a_signed_token_without_a_live_session_is_refused() {
    let app = spawn_app().await;
    let user = app.register("nosid_001").await;
    let secret = app.jwt_secret();
    let now = chrono::Utc::now().timestamp();
    let forge = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let sid = claims(&user.token)["sid"].as_str().unwrap().to_owned();
    for forged in [
        json!({"sub": user.id.to_string(), "iat": now, "exp": now + 600}),
        json!({"sub": user.id.to_string(), "sid": "999999", "iat": now, "exp": now + 600}),
        json!({"sub": user.id.to_string(), "sid": "not a number", "iat": now, "exp": now + 600}),
        // another user's session id
        json!({"sub": (user.id + 1).to_string(), "sid": sid, "iat": now, "exp": now + 600}),
    ] {
        let (status, body) = app.get_as(&forge(forged.clone()), "/auth").await;
        assert_eq!(status, 401, "{forged}: {body}");
        assert_ne!(body["message"], "Authenticate Successfully");
    }
    let forged =
        forge(json!({"sub": user.id.to_string(), "sid": sid, "iat": now, "exp": now + 600}));
    assert_token_works(&app, &forged).await;
}

#[tokio::test]
async fn refresh_rotates_the_pair_and_a_spent_token_ends_the_whole_session() {
    let app = spawn_app().await;
    let user = app.register("rotator_1").await;
    let first = login(&app, &user).await;
    let mut ws = connect_with(&app, &first.access).await;

    let (status, body) = refresh(&app, &first.refresh).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Refresh Successfully");
    let second = login_of(&body);
    assert_eq!(second.sid, first.sid, "the same session");
    assert_ne!(second.refresh, first.refresh, "rotated");
    assert_token_works(&app, &second.access).await;
    let (status, body) = refresh(&app, &second.refresh).await;
    assert_eq!(status, 200, "{body}");
    let third = login_of(&body);
    assert_open(&mut ws).await;

    // the first token again: spent, so the session ends for thief and owner alike
    assert_refused_refresh(&app, &first.refresh).await;
    assert_eq!(ws.closed_with().await, 4003);
    assert_refused_refresh(&app, &third.refresh).await;
    assert_token_refused(&app, &third.access).await;
    assert_token_refused(&app, &first.access).await;
    // the user's other sessions are not touched
    assert_token_works(&app, &user.token).await;
}

#[tokio::test]
async fn refresh_refuses_unknown_malformed_and_missing_tokens() {
    let app = spawn_app().await;
    let user = app.register("refuser_1").await;
    let session = login(&app, &user).await;
    for bad in [
        String::new(),
        "x".into(),
        "not a token at all".into(),
        format!("{}0", session.refresh),
        session.access.clone(),
        "z".repeat(100_000),
    ] {
        assert_refused_refresh(&app, &bad).await;
    }
    let (status, body) = app.post_json("/auth/refresh", &json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "VALIDATION");
    let (status, body) = app
        .post_json("/auth/refresh", &json!({"refreshToken": 12}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "VALIDATION");
    // the refusals spent nothing: the real token still works, as a form too
    let res = app
        .client
        .post(app.url("/auth/refresh"))
        .form(&[("refreshToken", session.refresh.as_str())])
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    let next = login_of(&body);
    let form = reqwest::multipart::Form::new().text("refreshToken", next.refresh.clone());
    let res = app
        .client
        .post(app.url("/auth/refresh"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn each_refresh_token_expires_refresh_ttl_secs_after_its_own_issue() {
    let app = spawn_app_with(|c| c.refresh_ttl_secs = 3).await;
    let user = app.register("expiring_1").await;
    let first = login(&app, &user).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = refresh(&app, &first.refresh).await;
    assert_eq!(status, 200, "{body}");
    let second = login_of(&body);
    // past the first token's lifetime, within the second's
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = refresh(&app, &second.refresh).await;
    assert_eq!(status, 200, "{body}");
    let third = login_of(&body);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_refused_refresh(&app, &third.refresh).await;
}

#[tokio::test]
async fn logout_ends_only_the_callers_session_and_closes_its_sockets() {
    let app = spawn_app().await;
    let user = app.register("logouter_1").await;
    let phone = login(&app, &user).await;
    let laptop = login(&app, &user).await;
    let mut phone_ws = connect_with(&app, &phone.access).await;
    let mut phone_ws2 = connect_with(&app, &phone.access).await;
    let mut laptop_ws = connect_with(&app, &laptop.access).await;

    let (status, body) = app
        .post_json_as(&phone.access, "/auth/logout", &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "message": "Logout Successfully"})
    );
    assert_eq!(phone_ws.closed_with().await, 4003);
    assert_eq!(phone_ws2.closed_with().await, 4003);
    assert_token_refused(&app, &phone.access).await;
    assert_refused_refresh(&app, &phone.refresh).await;
    let (status, _) = app
        .post_json_as(&phone.access, "/auth/logout", &json!({}))
        .await;
    assert_eq!(status, 401);
    // every authenticated route refuses it
    let (status, body) = app.get_as(&phone.access, "/threads").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["message"], "Invalid AccessToken");

    assert_open(&mut laptop_ws).await;
    assert_token_works(&app, &laptop.access).await;
    let (status, _) = refresh(&app, &laptop.refresh).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_session_list_marks_the_current_one_and_one_can_be_ended() {
    let app = spawn_app().await;
    let user = app.register("lister_01").await;
    let other = app.register("lister_02").await;
    let long_agent = format!("Agent/{}", "é".repeat(300));
    let older = login_with_agent(&app, &user, Some("Phone/1.0")).await;
    let newer = login_with_agent(&app, &user, Some(&long_agent)).await;

    let (status, body) = app.get_as(&newer.access, "/auth/sessions").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let sessions = body["sessions"].as_array().expect("sessions").clone();
    // registration's, then the two logins; newest first
    assert_eq!(sessions.len(), 3, "{body}");
    assert_eq!(sessions[0]["id"], newer.sid.as_str());
    assert_eq!(sessions[1]["id"], older.sid.as_str());
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(sessions[2]["current"], false);
    let agent = sessions[0]["userAgent"].as_str().expect("userAgent");
    assert_eq!(agent.chars().count(), 200);
    assert!(long_agent.starts_with(agent));
    assert_eq!(sessions[1]["userAgent"], "Phone/1.0");
    assert!(sessions[2]["userAgent"].is_null(), "{body}");
    for s in &sessions {
        assert!(s["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(s["lastUsedAt"].is_string());
    }
    let (_, body) = app.get_as(&older.access, "/auth/sessions").await;
    assert_eq!(body["sessions"][1]["current"], true, "{body}");

    // a refresh is a use: lastUsedAt moves, createdAt does not
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, body) = refresh(&app, &older.refresh).await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = app.get_as(&newer.access, "/auth/sessions").await;
    let refreshed = &body["sessions"][1];
    assert_eq!(refreshed["id"], older.sid.as_str());
    assert!(refreshed["lastUsedAt"].as_str() > refreshed["createdAt"].as_str());

    // ending one from another session closes its sockets
    let mut older_ws = connect_with(&app, &older.access).await;
    let path = format!("/auth/sessions/{}", older.sid);
    let (status, body) = app.delete_as(&newer.access, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"success": true, "message": "Session Ended"}));
    assert_eq!(older_ws.closed_with().await, 4003);
    assert_token_refused(&app, &older.access).await;
    let (_, body) = app.get_as(&newer.access, "/auth/sessions").await;
    assert_eq!(body["sessions"].as_array().map(Vec::len), Some(2), "{body}");

    // an ended, unknown, foreign or malformed id is not found
    let foreign = login(&app, &other).await;
    for id in [
        older.sid.as_str(),
        "999999",
        foreign.sid.as_str(),
        "abc",
        "-1",
    ] {
        let (status, body) = app
            .delete_as(&newer.access, &format!("/auth/sessions/{id}"))
            .await;
        assert_eq!(status, 404, "{id}: {body}");
        assert_eq!(body["code"], "NOT_FOUND");
    }
    assert_token_works(&app, &foreign.access).await;

    // the current session may end itself this way too
    let path = format!("/auth/sessions/{}", newer.sid);
    let (status, _) = app.delete_as(&newer.access, &path).await;
    assert_eq!(status, 200);
    assert_token_refused(&app, &newer.access).await;
}

#[tokio::test]
async fn ending_all_other_sessions_keeps_the_current_one() {
    let app = spawn_app().await;
    let user = app.register("ender_001").await;
    let a = login(&app, &user).await;
    let b = login(&app, &user).await;
    let mut a_ws = connect_with(&app, &a.access).await;
    let mut b_ws = connect_with(&app, &b.access).await;
    let mut registration_ws = app.connect(&user).await;

    let (status, body) = app.delete_as(&b.access, "/auth/sessions").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "message": "Sessions Ended", "ended": 2})
    );
    assert_eq!(a_ws.closed_with().await, 4003);
    assert_eq!(registration_ws.closed_with().await, 4003);
    assert_open(&mut b_ws).await;
    assert_token_refused(&app, &a.access).await;
    assert_token_refused(&app, &user.token).await;
    assert_refused_refresh(&app, &a.refresh).await;
    let (_, body) = app.get_as(&b.access, "/auth/sessions").await;
    assert_eq!(body["sessions"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["sessions"][0]["current"], true);
    let (_, body) = app.delete_as(&b.access, "/auth/sessions").await;
    assert_eq!(body["ended"], 0);
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let app = spawn_app().await;
    let user = app.register("changer_1").await;
    let other = login(&app, &user).await;
    let mut other_ws = connect_with(&app, &other.access).await;
    let mut own_ws = app.connect(&user).await;
    let change = |current: &str, new: &str, confirm: &str| json!({"currentPassword": current, "password": new, "confirmPassword": confirm});
    const NEW: &str = "N3wPassword";

    let (status, body) = app
        .post_json_as(
            &user.token,
            "/auth/password",
            &change("Wr0ngPassword", NEW, NEW),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body,
        json!({"success": false, "message": "userName or password is incorrect", "code": "UNAUTHORIZED"})
    );
    for (new, confirm) in [
        ("short1A", "short1A"),
        ("nouppercase1", "nouppercase1"),
        (NEW, "N3wPasswordX"),
    ] {
        let (status, body) = app
            .post_json_as(
                &user.token,
                "/auth/password",
                &change(PASSWORD, new, confirm),
            )
            .await;
        assert_eq!(status, 400, "{new}: {body}");
        assert_eq!(body["code"], "VALIDATION");
    }
    let (status, body) = app
        .post_json_as(
            &user.token,
            "/auth/password",
            &json!({"password": NEW, "confirmPassword": NEW}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .post_json("/auth/password", &change(PASSWORD, NEW, NEW))
        .await;
    assert_eq!(status, 401, "a Bearer token is needed");
    assert_token_works(&app, &other.access).await;

    let (status, body) = app
        .post_json_as(&user.token, "/auth/password", &change(PASSWORD, NEW, NEW))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "message": "Password Changed"})
    );
    assert_eq!(other_ws.closed_with().await, 4003);
    assert_token_refused(&app, &other.access).await;
    assert_refused_refresh(&app, &other.refresh).await;
    assert_open(&mut own_ws).await;
    assert_token_works(&app, &user.token).await;

    let (status, _) = app
        .post_json(
            "/auth/login",
            &json!({"userName": user.user_name, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 401, "the old password is gone");
    let (status, body) = app
        .post_json(
            "/auth/login",
            &json!({"userName": user.user_name, "password": NEW}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn passwords_over_72_bytes_never_match_at_login_or_password_change() {
    let app = spawn_app().await;
    let password = format!("Ab1{}", "q".repeat(69));
    assert_eq!(password.len(), 72);
    let (status, body) = app
        .post_json(
            "/auth/register",
            &json!({"nickName": "Long", "userName": "longpass_2", "password": password, "confirmPassword": password}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["accessToken"].as_str().unwrap().to_owned();
    let longer = format!("{password}!");
    let (status, body) = app
        .post_json(
            "/auth/login",
            &json!({"userName": "longpass_2", "password": longer}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["message"], "userName or password is incorrect");
    let change = json!({"currentPassword": longer, "password": "N3wPassword", "confirmPassword": "N3wPassword"});
    let (status, body) = app.post_json_as(&token, "/auth/password", &change).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["message"], "userName or password is incorrect");
    assert_eq!(body["code"], "UNAUTHORIZED");
    // a new password over 72 bytes is refused like at registration
    let change =
        json!({"currentPassword": password, "password": longer, "confirmPassword": longer});
    let (status, body) = app.post_json_as(&token, "/auth/password", &change).await;
    assert_eq!(status, 400, "{body}");
    let change = json!({"currentPassword": password, "password": "N3wPassword", "confirmPassword": "N3wPassword"});
    let (status, body) = app.post_json_as(&token, "/auth/password", &change).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn auth_keeps_a_socket_open_past_the_first_tokens_exp() {
    let app = spawn_app_with(|c| c.jwt_ttl_secs = 3).await;
    let user = app.register("renewer_1").await;
    let first = login(&app, &user).await;
    let first_exp = claims(&first.access)["exp"].as_i64().unwrap();
    let mut ws = connect_with(&app, &first.access).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, body) = refresh(&app, &first.refresh).await;
    assert_eq!(status, 200, "{body}");
    let second = login_of(&body);
    assert!(claims(&second.access)["exp"].as_i64().unwrap() >= first_exp + 2);
    ws.send(json!({"type": "auth", "id": "renew", "token": second.access}))
        .await;
    let ack = ws.recv_type("ack").await;
    assert_eq!(ack, json!({"type": "ack", "id": "renew"}));
    // past the first token's exp (and the server's 4001 for it), the socket lives on
    let now = chrono::Utc::now().timestamp_millis();
    let wait = (first_exp * 1000 + 1500 - now).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_open(&mut ws).await;
    // until the new token expires
    assert_eq!(ws.closed_with().await, 4001);
}

#[tokio::test]
async fn auth_refuses_bad_foreign_and_ended_tokens_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.register("authfrm_1").await;
    let stranger = app.register("authfrm_2").await;
    let ended = login(&app, &user).await;
    let (status, _) = app
        .post_json_as(&ended.access, "/auth/logout", &json!({}))
        .await;
    assert_eq!(status, 200);
    let mut ws = app.connect(&user).await;
    let garbage = "a.b.c".to_owned();
    let tampered = format!("{}x", user.token);
    for (i, token) in [&garbage, &tampered, &stranger.token, &ended.access]
        .into_iter()
        .enumerate()
    {
        ws.send(json!({"type": "auth", "id": i, "token": token}))
            .await;
        let error = ws.recv_type("error").await;
        assert_eq!(error["code"], "UNAUTHORIZED", "{error}");
        assert_eq!(error["id"], i);
    }
    ws.send(json!({"type": "auth", "id": "none"})).await;
    let error = ws.recv_type("error").await;
    assert_eq!(error["code"], "VALIDATION", "{error}");
    assert_open(&mut ws).await;

    // another session of the same user is fine, and the socket follows it
    let other = login(&app, &user).await;
    ws.send(json!({"type": "auth", "id": "switch", "token": other.access}))
        .await;
    assert_eq!(ws.recv_type("ack").await["id"], "switch");
    let mut stays = app.connect(&user).await;
    let registration_sid = claims(&user.token)["sid"].as_str().unwrap().to_owned();
    let path = format!("/auth/sessions/{registration_sid}");
    let (status, body) = app.delete_as(&other.access, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stays.closed_with().await, 4003);
    assert_open(&mut ws).await;
    let (status, _) = app
        .post_json_as(&other.access, "/auth/logout", &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(ws.closed_with().await, 4003);
}

#[tokio::test]
async fn refresh_counts_with_register_and_login_per_address() {
    let app = spawn_app_with(|c| c.rate_limits = Switch::On).await;
    let _user = app.register("limited_1").await;
    let mut refused_before_limit = 0;
    let mut limited = None;
    for _ in 0..70 {
        let (status, body) = refresh(&app, "nope").await;
        match status {
            401 => refused_before_limit += 1,
            429 => {
                limited = Some(body);
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let body = limited.expect("refreshes are rate limited");
    assert_eq!(body["code"], "RATE_LIMITED");
    // 60 a minute with the registration
    assert!(
        (59..=61).contains(&refused_before_limit),
        "{refused_before_limit}"
    );
    let (status, _) = app
        .post_json(
            "/auth/login",
            &json!({"userName": "limited_1", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 429, "one budget for all three");
}

/// Reverts migrations down to (and including) the sessions one, checks its tables are gone,
/// and applies everything again.
macro_rules! sessions_migration_down_up {
    ($conn:expr, $migrations:expr) => {{
        use diesel::RunQueryDsl;
        use diesel_migrations::MigrationHarness;
        let conn = $conn;
        let exists = |conn: &mut _, table: &str| {
            diesel::sql_query(format!("SELECT 1 FROM {table}"))
                .execute(conn)
                .is_ok()
        };
        conn.run_pending_migrations($migrations).unwrap();
        assert!(exists(&mut *conn, "sessions") && exists(&mut *conn, "spent_refresh_tokens"));
        loop {
            let version = conn.revert_last_migration($migrations).unwrap().to_string();
            if version.replace('-', "").starts_with("20261201161000") {
                break;
            }
        }
        assert!(!exists(&mut *conn, "sessions"));
        assert!(!exists(&mut *conn, "spent_refresh_tokens"));
        assert!(
            exists(&mut *conn, "users"),
            "only what the migration made is gone"
        );
        conn.run_pending_migrations($migrations).unwrap();
        assert!(exists(&mut *conn, "sessions") && exists(&mut *conn, "spent_refresh_tokens"));
    }};
}

#[test]
fn the_sessions_migration_goes_down_and_up() {
    use diesel::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let mut sqlite = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    sessions_migration_down_up!(&mut sqlite, chat_server::db::SQLITE_MIGRATIONS);
    if let Some(url) = fresh_database_url() {
        let mut pg = diesel::PgConnection::establish(&url).unwrap();
        sessions_migration_down_up!(&mut pg, chat_server::db::POSTGRES_MIGRATIONS);
    }
}

#[tokio::test]
#[cfg_attr(
    not(chat_cluster_tests),
    ignore = "needs CHAT_TEST_PG_URL and CHAT_TEST_REDIS_URL (PostgreSQL and Redis)"
)]
async fn an_ended_session_is_refused_and_closed_on_every_node() {
    let (db, redis) = crate::cluster::cluster_env();
    let prefix = format!("test{}", rand_suffix());
    let n1 = crate::cluster::node(&db, &redis, &prefix).await;
    let n2 = crate::cluster::node(&db, &redis, &prefix).await;
    let user = n1.register("cluster_s1").await;
    let phone = login(&n1, &user).await;
    let laptop = login(&n2, &user).await;
    let mut phone_n1 = connect_with(&n1, &phone.access).await;
    let mut phone_n2 = connect_with(&n2, &phone.access).await;
    let mut laptop_n2 = connect_with(&n2, &laptop.access).await;
    let mut laptop_n1 = connect_with(&n1, &laptop.access).await;

    // revoked on node 1: its sockets close on both nodes, its token is refused on both
    let path = format!("/auth/sessions/{}", phone.sid);
    let (status, body) = n1.delete_as(&laptop.access, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(phone_n1.closed_with().await, 4003);
    assert_eq!(phone_n2.closed_with().await, 4003);
    assert_token_refused(&n2, &phone.access).await;
    assert_refused_refresh(&n2, &phone.refresh).await;
    assert_open(&mut laptop_n1).await;
    assert_open(&mut laptop_n2).await;

    // a socket that took a newer session's token by `auth` follows that session on any node
    let tablet = login(&n2, &user).await;
    let mut moved = connect_with(&n1, &user.token).await;
    moved
        .send(json!({"type": "auth", "id": 1, "token": tablet.access}))
        .await;
    assert_eq!(moved.recv_type("ack").await["id"], 1);

    // logout on node 2 closes node 1's sockets of that session
    let (status, _) = n2
        .post_json_as(&laptop.access, "/auth/logout", &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(laptop_n1.closed_with().await, 4003);
    assert_eq!(laptop_n2.closed_with().await, 4003);
    assert_token_refused(&n1, &laptop.access).await;

    // a password change on node 2 ends the others everywhere
    let mut registration_n1 = connect_with(&n1, &user.token).await;
    let change = json!({"currentPassword": PASSWORD, "password": "N3wPassword", "confirmPassword": "N3wPassword"});
    let (status, body) = n2
        .post_json_as(&tablet.access, "/auth/password", &change)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(registration_n1.closed_with().await, 4003);
    assert_open(&mut moved).await;
    assert_token_refused(&n1, &user.token).await;
    // and a reused refresh token on node 2 ends the last session, its socket on node 1 too
    let (status, body) = refresh(&n2, &tablet.refresh).await;
    assert_eq!(status, 200, "{body}");
    assert_refused_refresh(&n2, &tablet.refresh).await;
    assert_eq!(moved.closed_with().await, 4003);
}
