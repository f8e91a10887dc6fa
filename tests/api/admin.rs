//! `chat-server users ...` and `chat-server sessions ...` against a running server's database:
//! the operator's commands take effect on the live server without SQL.

use serde_json::json;

use crate::helpers::*;

/// Runs the binary's admin command against `app`'s database; returns (success, stdout).
fn admin(app: &TestApp, args: &[&str]) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"));
    command
        .args(args)
        .env("DATA_DIR", app.data_dir.path())
        .env("BCRYPT_COST", "4")
        .env_remove("REDIS_URL");
    match &app.database_url {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{stdout}{stderr}"))
}

async fn login(app: &TestApp, name: &str, password: &str) -> (u16, serde_json::Value) {
    app.post_json(
        "/auth/login",
        &json!({"userName": name, "password": password}),
    )
    .await
}

#[tokio::test]
async fn an_operator_disables_and_enables_a_user_and_their_sockets_close() {
    let app = spawn_app().await;
    let alice = app.register("alice_admin").await;
    let bob = app.register("bobby_admin").await;
    let mut socket = app.connect(&alice).await;

    let (ok, out) = admin(&app, &["users", "disable", "Alice_Admin"]);
    assert!(ok, "{out}");
    assert_eq!(
        socket.closed_with().await,
        4003,
        "the live server closes the socket"
    );
    let (status, body) = app.get_as(&alice.token, "/auth").await;
    assert_eq!(
        (status, body["message"].clone()),
        (401, json!("Invalid AccessToken"))
    );
    let (status, body) = login(&app, "alice_admin", PASSWORD).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("FORBIDDEN")),
        "{body}"
    );
    let (status, _) = login(&app, "alice_admin", "Wrong1pass").await;
    assert_eq!(status, 401, "a wrong password says nothing of the switch");

    let (ok, out) = admin(&app, &["users", "list"]);
    assert!(ok, "{out}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not listed: {out}"))
            .to_owned()
    };
    assert!(!line("alice_admin").ends_with("\t-"), "{out}");
    assert!(line("bobby_admin").ends_with("\t-"), "{out}");
    let (status, _) = app.get_as(&bob.token, "/auth").await;
    assert_eq!(status, 200, "other users are untouched");

    let (ok, out) = admin(&app, &["users", "enable", "alice_admin"]);
    assert!(ok, "{out}");
    let (status, _) = login(&app, "alice_admin", PASSWORD).await;
    assert_eq!(status, 200);

    let (ok, out) = admin(&app, &["users", "disable", "nobody_here"]);
    assert!(!ok, "{out}");
    assert!(out.contains("no user named"), "{out}");
}

#[tokio::test]
async fn an_operator_resets_a_password_and_ends_sessions() {
    let app = spawn_app().await;
    let carol = app.register("carol_admin").await;
    let mut socket = app.connect(&carol).await;
    let (ok, out) = admin(&app, &["users", "reset-password", "carol_admin"]);
    assert!(ok, "{out}");
    assert_eq!(socket.closed_with().await, 4003);
    let password = out
        .split("new password for carol_admin: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password printed: {out}"))
        .to_owned();
    let (status, _) = login(&app, "carol_admin", PASSWORD).await;
    assert_eq!(status, 401, "the old password is gone");
    let (status, body) = login(&app, "carol_admin", &password).await;
    assert_eq!(status, 200, "{body}");

    let token = body["accessToken"].as_str().unwrap().to_owned();
    let mut socket = WsClient::connect(&app.ws_url(), &token).await;
    let (ok, out) = admin(&app, &["sessions", "end", "carol_admin"]);
    assert!(ok, "{out}");
    assert_eq!(socket.closed_with().await, 4003);
    let (status, _) = app.get_as(&token, "/auth").await;
    assert_eq!(status, 401);
}
