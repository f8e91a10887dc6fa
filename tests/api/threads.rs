use serde_json::{json, Value};

use crate::helpers::*;

fn ids(messages: &Value) -> Vec<i64> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn protected_routes_refuse_missing_tokens() {
    let app = spawn_app().await;
    for path in [
        "/users/1",
        "/users?search=a",
        "/threads",
        "/threads/1",
        "/threads/1/messages",
    ] {
        let (status, body) = read(app.client.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(
            (status, body["code"].clone()),
            (401, json!("UNAUTHORIZED")),
            "{path}"
        );
        assert_eq!(body["message"], "AccessToken Not Found");
    }
}

#[tokio::test]
async fn users_lookup_search_and_update() {
    let app = spawn_app().await;
    let alice = app.register("alice_usr").await;
    let bob = app.register("bobby_usr").await;
    let (status, body) = app
        .get_as(&alice.token, &format!("/users/{}", bob.id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["userName"], bob.user_name);
    let (status, body) = app.get_as(&alice.token, "/users/424242").await;
    assert_eq!((status, body["code"].clone()), (404, json!("NOT_FOUND")));
    let (status, body) = app.get_as(&alice.token, "/users?search=BOBBY").await;
    assert_eq!(status, 200);
    assert_eq!(body["users"].as_array().unwrap().len(), 1);
    let (_, body) = app.get_as(&alice.token, "/users?search=nick%20").await;
    assert_eq!(
        body["users"].as_array().unwrap().len(),
        2,
        "prefix match on nickName too"
    );
    let (_, body) = app.get_as(&alice.token, "/users?search=%25").await;
    assert_eq!(
        body["users"].as_array().unwrap().len(),
        0,
        "% is not a wildcard"
    );
    let (_, body) = app.get_as(&alice.token, "/users?search=&limit=1").await;
    assert_eq!(body["users"].as_array().unwrap().len(), 1);
    for bad in ["0", "51", "abc", "1.5"] {
        let (status, body) = app
            .get_as(&alice.token, &format!("/users?search=a&limit={bad}"))
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("VALIDATION")),
            "limit={bad}"
        );
    }
    let (status, _) = app.get_as(&alice.token, "/users?search=a&limit=50").await;
    assert_eq!(status, 200);

    // PATCH /users/me: nickName and avatar; the old avatar file goes away
    let png = b"\x89PNG\r\n\x1a\nfirst-avatar".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("nickName", " New Name ")
        .part(
            "avatar",
            reqwest::multipart::Part::bytes(png).file_name("a.png"),
        );
    let res = app
        .client
        .patch(app.url("/users/me"))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["nickName"], "New Name");
    let first_url = body["user"]["avatarUrl"].as_str().unwrap().to_owned();
    let gif = b"GIF89a-second".to_vec();
    let form = reqwest::multipart::Form::new().part(
        "avatar",
        reqwest::multipart::Part::bytes(gif).file_name("b.gif"),
    );
    let res = app
        .client
        .patch(app.url("/users/me"))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200);
    assert_ne!(body["user"]["avatarUrl"], first_url);
    assert_eq!(
        app.client
            .get(app.url(&first_url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let form = reqwest::multipart::Form::new().text("nickName", "bad\nname");
    let res = app
        .client
        .patch(app.url("/users/me"))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
}

#[tokio::test]
async fn direct_threads_are_found_or_created_once() {
    let app = spawn_app().await;
    let alice = app.register("alice_dir").await;
    let bob = app.register("bobby_dir").await;
    let (status, body) = app
        .post_json_as(&alice.token, "/threads", &json!({"userId": bob.id}))
        .await;
    assert_eq!(
        (status, body["message"].clone()),
        (200, json!("New Thread was created"))
    );
    let thread = body["thread"].clone();
    assert_eq!(thread["isGroup"], false);
    assert_eq!(thread["members"].as_array().unwrap().len(), 2);
    assert!(thread["lastMessage"].is_null());
    assert_eq!(thread["unreadCount"], 0);
    let (status, body) = app
        .post_json_as(&bob.token, "/threads", &json!({"userId": alice.id}))
        .await;
    assert_eq!(
        (status, body["message"].clone()),
        (200, json!("Get Thread Successfully"))
    );
    assert_eq!(body["thread"]["id"], thread["id"]);
    let form = [("userId", bob.id.to_string())];
    let res = app
        .client
        .post(app.url("/threads"))
        .bearer_auth(&alice.token)
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["thread"]["id"].clone()),
        (200, thread["id"].clone()),
        "urlencoded works too"
    );
    let (status, _) = app
        .post_json_as(&alice.token, "/threads", &json!({"userId": 99999}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_json_as(&alice.token, "/threads", &json!({"userId": "abc"}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn groups_owner_rights_and_leaving() {
    let app = spawn_app().await;
    let owner = app.register("owner_grp").await;
    let bob = app.register("bobby_grp").await;
    let carol = app.register("carol_grp").await;
    let dave = app.register("daves_grp").await;
    let (status, body) = app
        .post_json_as(
            &owner.token,
            "/threads",
            &json!({"name": "", "memberIds": [bob.id]}),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!("VALIDATION")));
    let (status, _) = app
        .post_json_as(
            &owner.token,
            "/threads",
            &json!({"name": "x".repeat(101), "memberIds": [bob.id]}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .post_json_as(
            &owner.token,
            "/threads",
            &json!({"name": "Bad\u{0007}", "memberIds": [bob.id]}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .post_json_as(
            &owner.token,
            "/threads",
            &json!({"name": "Team", "memberIds": "nope"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .post_json_as(
            &owner.token,
            "/threads",
            &json!({"name": "Team", "memberIds": [424242]}),
        )
        .await;
    assert_eq!(status, 404);
    let group = app.group(&owner, "Team", &[&bob]).await;
    let (_, body) = app.get_as(&bob.token, &format!("/threads/{group}")).await;
    assert_eq!(body["thread"]["isGroup"], true);
    assert_eq!(body["thread"]["name"], "Team");

    let (status, body) = app.get_as(&carol.token, &format!("/threads/{group}")).await;
    assert_eq!((status, body["code"].clone()), (403, json!("FORBIDDEN")));
    let (status, _) = app
        .get_as(&carol.token, &format!("/threads/{group}/messages"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.get_as(&carol.token, "/threads/987654").await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_json_as(
            &bob.token,
            &format!("/threads/{group}/members"),
            &json!({"userId": carol.id}),
        )
        .await;
    assert_eq!(status, 403, "only the owner adds");
    let (status, body) = app
        .post_json_as(
            &owner.token,
            &format!("/threads/{group}/members"),
            &json!({"userId": carol.id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["thread"]["members"].as_array().unwrap().len(), 3);
    let (status, _) = app
        .delete_as(
            &bob.token,
            &format!("/threads/{group}/members/{}", carol.id),
        )
        .await;
    assert_eq!(status, 403, "only the owner removes others");
    let (status, _) = app
        .delete_as(&bob.token, &format!("/threads/{group}/members/{}", bob.id))
        .await;
    assert_eq!(status, 200, "anyone leaves");
    let (status, _) = app.get_as(&bob.token, &format!("/threads/{group}")).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .delete_as(
            &owner.token,
            &format!("/threads/{group}/members/{}", dave.id),
        )
        .await;
    assert_eq!(status, 404);
    // the owner leaves: the group passes to the longest-standing member
    let (status, _) = app
        .delete_as(
            &owner.token,
            &format!("/threads/{group}/members/{}", owner.id),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = app.get_as(&carol.token, &format!("/threads/{group}")).await;
    assert_eq!(body["thread"]["ownerId"], carol.id);
}

#[tokio::test]
async fn group_size_is_capped() {
    let app = spawn_app_with(|c| c.max_thread_members = 3).await;
    let owner = app.register("owner_cap").await;
    let users = [
        app.register("capuser1").await,
        app.register("capuser2").await,
        app.register("capuser3").await,
    ];
    let (status, _) = app
        .post_json_as(
            &owner.token,
            "/threads",
            &json!({"name": "Big", "memberIds": [users[0].id, users[1].id, users[2].id]}),
        )
        .await;
    assert_eq!(status, 400);
    let group = app.group(&owner, "Ok", &[&users[0], &users[1]]).await;
    let (status, body) = app
        .post_json_as(
            &owner.token,
            &format!("/threads/{group}/members"),
            &json!({"userId": users[2].id}),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!("VALIDATION")));
}

#[tokio::test]
async fn message_pages_and_thread_order() {
    let app = spawn_app().await;
    let alice = app.register("alice_pag").await;
    let bob = app.register("bobby_pag").await;
    let carol = app.register("carol_pag").await;
    let with_bob = app.direct(&alice, &bob).await;
    let with_carol = app.direct(&alice, &carol).await;
    let mut sent = Vec::new();
    for i in 0..7 {
        let (status, body) = app
            .post_json_as(
                &alice.token,
                &format!("/threads/{with_bob}/messages"),
                &json!({"text": format!("n{i}")}),
            )
            .await;
        assert_eq!(status, 201);
        sent.push(body["message"]["id"].as_i64().unwrap());
    }
    let (_, body) = app
        .post_json_as(
            &carol.token,
            &format!("/threads/{with_carol}/messages"),
            &json!({"text": "latest"}),
        )
        .await;
    let latest = body["message"]["id"].as_i64().unwrap();
    let (_, body) = app.get_as(&alice.token, "/threads").await;
    let order: Vec<i64> = body["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![with_carol, with_bob],
        "most recent activity first"
    );
    assert_eq!(body["threads"][0]["lastMessage"]["id"], latest);
    assert_eq!(body["threads"][0]["unreadCount"], 1);
    assert_eq!(
        body["threads"][1]["unreadCount"], 0,
        "own messages are not unread"
    );

    let path = format!("/threads/{with_bob}/messages");
    let (_, page) = app.get_as(&bob.token, &format!("{path}?limit=3")).await;
    assert_eq!(
        (ids(&page["messages"]), page["hasMore"].clone()),
        (sent[4..].to_vec(), json!(true))
    );
    let (_, page) = app
        .get_as(&bob.token, &format!("{path}?limit=3&before={}", sent[4]))
        .await;
    assert_eq!(ids(&page["messages"]), sent[1..4].to_vec());
    let (_, page) = app
        .get_as(&bob.token, &format!("{path}?after={}&limit=2", sent[1]))
        .await;
    assert_eq!(
        (ids(&page["messages"]), page["hasMore"].clone()),
        (sent[2..4].to_vec(), json!(true))
    );
    let (_, page) = app.get_as(&bob.token, &path).await;
    assert_eq!(
        (ids(&page["messages"]), page["hasMore"].clone()),
        (sent.clone(), json!(false))
    );
    for bad in ["limit=0", "limit=101", "limit=x", "before=x", "after=1.5"] {
        let (status, body) = app.get_as(&bob.token, &format!("{path}?{bad}")).await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("VALIDATION")),
            "{bad}"
        );
    }
    let (status, _) = app.get_as(&bob.token, &format!("{path}?limit=100")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn message_posts_validate_and_carry_attachments() {
    let app = spawn_app().await;
    let alice = app.register("alice_att").await;
    let bob = app.register("bobby_att").await;
    let thread = app.direct(&alice, &bob).await;
    let path = format!("/threads/{thread}/messages");
    for bad in [
        json!({}),
        json!({"text": ""}),
        json!({"text": " \n\t "}),
        json!({"text": "a\u{0}b"}),
        json!({"text": "x".repeat(4001)}),
        json!({"text": 5}),
    ] {
        let (status, body) = app.post_json_as(&alice.token, &path, &bad).await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("VALIDATION")),
            "{bad}"
        );
    }
    let (status, _) = app
        .post_json_as(&alice.token, &path, &json!({"text": "é".repeat(4000)}))
        .await;
    assert_eq!(status, 201);

    let png = b"\x89PNG\r\n\x1a\nimage-bytes".to_vec();
    let html = b"<script>alert(1)</script>".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("text", "files!")
        .text("clientMsgId", "files-1")
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(png.clone()).file_name("../pic.png"),
        )
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(html.clone())
                .file_name("page.html")
                .mime_str("text/html")
                .unwrap(),
        );
    let res = app
        .client
        .post(app.url(&path))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 201, "{body}");
    let files = body["message"]["attachments"].as_array().unwrap().clone();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["name"], "pic.png");
    assert_eq!(files[0]["contentType"], "image/png");
    assert_eq!(files[0]["size"], png.len());
    assert_eq!(files[1]["name"], "page.html");
    let image = app
        .client
        .get(app.url(files[0]["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(image.headers()["x-content-type-options"], "nosniff");
    assert!(image.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline"));
    assert_eq!(image.bytes().await.unwrap().to_vec(), png);
    let page = app
        .client
        .get(app.url(files[1]["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert!(page.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.bytes().await.unwrap().to_vec(), html);

    // a file alone is a message; eleven files are not
    let form = reqwest::multipart::Form::new().part(
        "attachments",
        reqwest::multipart::Part::bytes(vec![1u8, 2, 3]).file_name("a.bin"),
    );
    let res = app
        .client
        .post(app.url(&path))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let mut form = reqwest::multipart::Form::new().text("text", "too many");
    for i in 0..11 {
        form = form.part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![i as u8]).file_name(format!("f{i}.txt")),
        );
    }
    let res = app
        .client
        .post(app.url(&path))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let stored = std::fs::read_dir(app.data_dir.path().join("uploads/attachments"))
        .unwrap()
        .count();
    assert_eq!(stored, 3, "refused uploads leave nothing behind");
    let (status, _) = app
        .post_json_as(
            &app.register("outsider1").await.token,
            &path,
            &json!({"text": "hi"}),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn oversized_attachment_is_refused_whole() {
    let app = spawn_app_with(|c| c.max_attachment_bytes = 1000).await;
    let alice = app.register("alice_big").await;
    let bob = app.register("bobby_big").await;
    let thread = app.direct(&alice, &bob).await;
    let form = reqwest::multipart::Form::new()
        .text("text", "big")
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![0u8; 1000]).file_name("ok.bin"),
        )
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![0u8; 1001]).file_name("big.bin"),
        );
    let res = app
        .client
        .post(app.url(&format!("/threads/{thread}/messages")))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["code"].clone()),
        (413, json!("PAYLOAD_TOO_LARGE"))
    );
    let (_, page) = app
        .get_as(&alice.token, &format!("/threads/{thread}/messages"))
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 0);
    assert_eq!(
        std::fs::read_dir(app.data_dir.path().join("uploads/attachments"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(app.data_dir.path().join("uploads/tmp"))
            .unwrap()
            .count(),
        0
    );
}

async fn patch_as(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let res = app
        .client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    read(res).await
}

#[tokio::test]
async fn the_owner_renames_a_group_and_no_one_else_can() {
    let app = spawn_app().await;
    let alice = app.register("alice_rn").await;
    let bob = app.register("bobby_rn").await;
    let eve = app.register("evely_rn").await;
    let group = app.group(&alice, "Before", &[&bob]).await;
    let path = format!("/threads/{group}");

    let (status, body) = patch_as(&app, &alice.token, &path, &json!({"name": "  After  "})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Update Thread Successfully");
    assert_eq!(body["thread"]["name"], "After", "trimmed first");
    let (_, body) = app.get_as(&bob.token, &path).await;
    assert_eq!(body["thread"]["name"], "After");

    let (status, body) = patch_as(&app, &bob.token, &path, &json!({"name": "Mine"})).await;
    assert_eq!((status, body["code"].clone()), (403, json!("FORBIDDEN")));
    let (status, body) = patch_as(&app, &eve.token, &path, &json!({"name": "Mine"})).await;
    assert_eq!((status, body["code"].clone()), (403, json!("FORBIDDEN")));
    for bad in [
        json!({"name": "   "}),
        json!({"name": ""}),
        json!({}),
        json!({"name": 5}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "a\u{7}b"}),
    ] {
        let (status, body) = patch_as(&app, &alice.token, &path, &bad).await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("VALIDATION")),
            "{bad}"
        );
    }
    let direct = app.direct(&alice, &bob).await;
    let (status, body) = patch_as(
        &app,
        &alice.token,
        &format!("/threads/{direct}"),
        &json!({"name": "Direct"}),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (400, json!("VALIDATION")));
    let (status, body) =
        patch_as(&app, &alice.token, "/threads/999999", &json!({"name": "X"})).await;
    assert_eq!((status, body["code"].clone()), (404, json!("NOT_FOUND")));
    let (_, body) = app.get_as(&alice.token, &path).await;
    assert_eq!(body["thread"]["name"], "After", "refusals changed nothing");
}

#[tokio::test]
async fn creating_threads_and_adding_members_share_a_budget_of_20_a_minute() {
    let app = spawn_app_with(|c| c.rate_limits = chat_server::config::Switch::On).await;
    let alice = app.register("alice_tb").await;
    let bob = app.register("bobby_tb").await;
    let carol = app.register("carol_tb").await;
    // a direct thread made costs one; finding it again costs nothing
    app.direct(&alice, &bob).await;
    for _ in 0..5 {
        app.direct(&alice, &bob).await;
    }
    let group = app.group(&alice, "First", &[&bob]).await;
    let (status, body) = app
        .post_json_as(
            &alice.token,
            &format!("/threads/{group}/members"),
            &json!({"userId": carol.id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let dave = app.register("dave_tbx").await;
    // 17 more fill the budget of 20; a refill (one every 3 s) on a slow machine may add a few
    let mut groups = 1;
    let (res, retry_after) = loop {
        let res = app
            .client
            .post(app.url("/threads"))
            .bearer_auth(&alice.token)
            .json(&json!({"name": format!("Group {groups}"), "memberIds": [bob.id]}))
            .send()
            .await
            .unwrap();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let (status, body) = read(res).await;
        if status != 200 || groups == 40 {
            break ((status, body), retry_after);
        }
        groups += 1;
    };
    let (status, body) = res;
    assert_eq!(
        (status, body["code"].clone()),
        (429, json!("RATE_LIMITED")),
        "{body}"
    );
    assert!(groups >= 18, "only {groups} groups before the refusal");
    assert!(
        retry_after.is_some_and(|s| s >= 1),
        "Retry-After in whole seconds"
    );
    let (status, body) = app
        .post_json_as(
            &alice.token,
            &format!("/threads/{group}/members"),
            &json!({"userId": dave.id}),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (429, json!("RATE_LIMITED")));
    let (status, body) = app
        .post_json_as(&alice.token, "/threads", &json!({"userId": carol.id}))
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (429, json!("RATE_LIMITED")),
        "a new direct thread counts"
    );
    // the existing direct thread is still found, and the budget is per user
    app.direct(&alice, &bob).await;
    app.group(&bob, "Bob's", &[&alice]).await;
    let (_, body) = app.get_as(&alice.token, "/threads").await;
    assert_eq!(
        body["threads"].as_array().unwrap().len(),
        1 + groups + 1,
        "the direct thread, alice's groups and bob's: the refused ones left no rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_never_pass_the_member_cap() {
    const MAX: usize = 5;
    let app = spawn_app_with(|c| c.max_thread_members = MAX as u64).await;
    let owner = app.register("owner_cap").await;
    let mut users = Vec::new();
    for i in 0..16 {
        users.push(app.register(&format!("capped{i:02}")).await);
    }
    let group = app.group(&owner, "Capped", &[]).await;
    let path = format!("/threads/{group}/members");
    let adds = users.iter().map(|u| {
        let (app, path, token) = (&app, &path, &owner.token);
        async move {
            app.post_json_as(token, path, &json!({"userId": u.id}))
                .await
        }
    });
    let results = futures_util::future::join_all(adds).await;
    let accepted = results.iter().filter(|(status, _)| *status == 200).count();
    for (status, body) in &results {
        assert!(
            *status == 200 || (*status == 400 && body["code"] == "VALIDATION"),
            "{status} {body}"
        );
    }
    let (_, body) = app.get_as(&owner.token, &format!("/threads/{group}")).await;
    let members = body["thread"]["members"].as_array().unwrap().len();
    assert_eq!(members, MAX, "{body}");
    assert_eq!(accepted, MAX - 1);
}
