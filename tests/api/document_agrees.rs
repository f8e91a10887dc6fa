//! What schemathesis `--checks all` found: bodies /openapi.json calls invalid are refused, and
//! what it calls optional is.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn patch_users_me_takes_no_body_and_ignores_unknown_fields_beside_known_ones() {
    let app = spawn_app().await;
    let alice = app.register("agree001").await;
    let patch = |body: Option<serde_json::Value>| {
        let mut req = app
            .client
            .patch(app.url("/users/me"))
            .bearer_auth(&alice.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
    };
    let res = patch(None).await.expect("request");
    assert_eq!(res.status(), 200, "no body: nothing changes");
    let res = patch(Some(json!({"nickname": "typo"})))
        .await
        .expect("request");
    assert_eq!(
        res.status(),
        400,
        "nothing but an unknown field: surely a typo"
    );
    let res = patch(Some(json!({"nickName": "Al", "extra": 1})))
        .await
        .expect("request");
    assert_eq!(
        res.status(),
        200,
        "unknown fields beside known ones are ignored"
    );
}

#[tokio::test]
async fn post_threads_refuses_a_body_that_mixes_direct_and_group() {
    let app = spawn_app().await;
    let alice = app.register("agree002").await;
    let bob = app.register("agree003").await;
    for body in [
        json!({"userId": bob.id, "memberIds": [9_223_372_036_854_775_807_i64]}),
        json!({"userId": bob.id, "name": ""}),
        json!({"userId": null, "name": "Team"}),
    ] {
        let (status, reply) = app.post_json_as(&alice.token, "/threads", &body).await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(reply["code"], "VALIDATION");
    }
    let (status, _) = app
        .post_json_as(&alice.token, "/threads", &json!({"userId": bob.id}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post_json_as(
            &alice.token,
            "/threads",
            &json!({"name": "Team", "memberIds": [bob.id], "extra": 1}),
        )
        .await;
    assert_eq!(status, 200, "unknown fields are ignored (the contract)");
}

#[tokio::test]
async fn a_file_field_outside_multipart_is_refused() {
    let app = spawn_app().await;
    let alice = app.register("agree004").await;
    let bob = app.register("agree005").await;
    let thread = app.direct(&alice, &bob).await;
    let res = app
        .client
        .patch(app.url("/users/me"))
        .bearer_auth(&alice.token)
        .json(&json!({"nickName": "Al", "avatar": {}}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 400);
    let (status, body) = app
        .post_json_as(
            &alice.token,
            &format!("/threads/{thread}/messages"),
            &json!({"text": "hi", "attachments": [1, 2]}),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!("VALIDATION")));
}
