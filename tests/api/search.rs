//! `GET /search/messages`: the matching rules, who may find what, paging, the bounds, edits and
//! deletes, and hostile queries that must never make a search engine fail. Runs on SQLite, and
//! on PostgreSQL when the suite does.

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::lifecycle::{ask, call, send_text};

fn search_path(q: &str, extra: &str) -> String {
    let q: String = url_encode(q);
    format!("/search/messages?q={q}{extra}")
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn texts(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {body}"))
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn found(app: &TestApp, user: &TestUser, q: &str) -> Vec<String> {
    let (status, body) = app.get_as(&user.token, &search_path(q, "")).await;
    assert_eq!(status, 200, "{q:?}: {body}");
    texts(&body)
}

#[tokio::test]
async fn words_and_word_starts_match_ignoring_case_and_punctuation() {
    let app = spawn_app().await;
    let (alice, bob) = (
        app.register("alice_search").await,
        app.register("bob_search").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let mut ws = app.connect(&alice).await;
    for text in [
        "The quick brown fox",
        "quickly, QUICKER: quickest!",
        "brown bread and jam",
        "nothing here",
        "Überraschung im Café",
        "write to bob@mail.example, v1.5 ships",
    ] {
        send_text(&mut ws, thread, text).await;
    }
    assert_eq!(
        found(&app, &bob, "quick").await,
        vec!["quickly, QUICKER: quickest!", "The quick brown fox"],
        "newest first, word starts included"
    );
    assert_eq!(
        found(&app, &bob, "BROWN fox").await,
        vec!["The quick brown fox"]
    );
    assert_eq!(
        found(&app, &bob, "fox, brown!").await,
        vec!["The quick brown fox"]
    );
    assert_eq!(found(&app, &bob, "brow").await.len(), 2);
    assert_eq!(
        found(&app, &bob, "uick").await,
        Vec::<String>::new(),
        "not inside words"
    );
    assert_eq!(
        found(&app, &bob, "fox jam").await,
        Vec::<String>::new(),
        "every word"
    );
    assert_eq!(found(&app, &bob, "überraschung").await.len(), 1);
    assert_eq!(found(&app, &bob, "café").await.len(), 1);
    // punctuation separates words on both backends alike
    assert_eq!(found(&app, &bob, "mail example").await.len(), 1);
    assert_eq!(found(&app, &bob, "bob@mail").await.len(), 1);
    assert_eq!(found(&app, &bob, "v1 5").await.len(), 1);
}

#[tokio::test]
async fn only_the_callers_threads_now_and_threadid_narrows() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.register("alice_scope").await,
        app.register("bob_scope").await,
        app.register("carol_scope").await,
    );
    let ab = app.direct(&alice, &bob).await;
    let group = app.group(&alice, "g", &[&bob, &carol]).await;
    let mut ws = app.connect(&alice).await;
    send_text(&mut ws, ab, "secret plans").await;
    send_text(&mut ws, group, "group plans").await;
    assert_eq!(found(&app, &bob, "plans").await.len(), 2);
    assert_eq!(found(&app, &carol, "plans").await, vec!["group plans"]);
    let (status, body) = app
        .get_as(
            &bob.token,
            &search_path("plans", &format!("&threadId={ab}")),
        )
        .await;
    assert_eq!(
        (status, texts(&body)),
        (200, vec!["secret plans".to_owned()])
    );
    let (status, body) = app
        .get_as(
            &carol.token,
            &search_path("plans", &format!("&threadId={ab}")),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (403, json!("FORBIDDEN")));
    let (status, _) = app
        .get_as(&carol.token, &search_path("plans", "&threadId=987654"))
        .await;
    assert_eq!(status, 404);
    // removed from the group: its messages are no longer found
    app.delete_as(
        &alice.token,
        &format!("/threads/{group}/members/{}", carol.id),
    )
    .await;
    assert_eq!(found(&app, &carol, "plans").await, Vec::<String>::new());
}

#[tokio::test]
async fn pages_go_back_with_before_and_bounds_are_checked() {
    let app = spawn_app().await;
    let (alice, bob) = (
        app.register("alice_pages").await,
        app.register("bob_pages").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let mut ws = app.connect(&alice).await;
    for i in 0..25 {
        send_text(&mut ws, thread, &format!("needle number {i}")).await;
    }
    let (_, first) = app.get_as(&bob.token, &search_path("needle", "")).await;
    assert_eq!(
        first["messages"].as_array().unwrap().len(),
        20,
        "default limit"
    );
    assert_eq!(first["hasMore"], true);
    assert_eq!(first["messages"][0]["text"], "needle number 24");
    let last = first["messages"][19]["id"].as_i64().unwrap();
    let (_, rest) = app
        .get_as(
            &bob.token,
            &search_path("needle", &format!("&before={last}")),
        )
        .await;
    assert_eq!(rest["messages"].as_array().unwrap().len(), 5);
    assert_eq!(rest["hasMore"], false);
    assert_eq!(rest["messages"][4]["text"], "needle number 0");
    let (_, small) = app
        .get_as(&bob.token, &search_path("needle", "&limit=50"))
        .await;
    assert_eq!(small["messages"].as_array().unwrap().len(), 25);

    let two_hundred = "a".repeat(200);
    let (status, _) = app.get_as(&bob.token, &search_path(&two_hundred, "")).await;
    assert_eq!(status, 200);
    for bad in [
        search_path(&"a".repeat(201), ""),
        search_path("", ""),
        search_path("?!... ---", ""),
        "/search/messages".to_owned(),
        search_path("needle", "&limit=0"),
        search_path("needle", "&limit=51"),
        search_path("needle", "&limit=x"),
        search_path("needle", "&before=x"),
        search_path("needle", "&threadId=x"),
    ] {
        let (status, body) = app.get_as(&bob.token, &bad).await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("VALIDATION")),
            "{bad}"
        );
    }
    let (status, _) = read(
        app.client
            .get(app.url(&search_path("needle", "")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_edit_matches_its_new_text_only_and_a_deleted_message_never() {
    let app = spawn_app().await;
    let (alice, bob) = (
        app.register("alice_fresh").await,
        app.register("bob_fresh").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let mut ws = app.connect(&alice).await;
    let id = send_text(&mut ws, thread, "original wording").await["id"].clone();
    assert_eq!(
        found(&app, &bob, "original").await.len(),
        1,
        "found once acked"
    );
    ask(
        &mut ws,
        "e",
        json!({"type": "edit", "messageId": id, "text": "revised wording"}),
    )
    .await;
    assert_eq!(found(&app, &bob, "original").await, Vec::<String>::new());
    assert_eq!(found(&app, &bob, "revised").await, vec!["revised wording"]);
    let (status, _) = call(
        &app,
        Method::DELETE,
        &alice.token,
        &format!("/threads/{thread}/messages/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found(&app, &bob, "wording").await, Vec::<String>::new());
}

#[tokio::test]
async fn no_query_makes_the_search_engine_fail() {
    let app = spawn_app().await;
    let (alice, bob) = (
        app.register("alice_hostile").await,
        app.register("bob_hostile").await,
    );
    let thread = app.direct(&alice, &bob).await;
    let mut ws = app.connect(&alice).await;
    send_text(
        &mut ws,
        thread,
        "a NEAR b AND c OR d \"quoted\" (x) col:umn * ^start",
    )
    .await;
    let mut queries: Vec<String> = [
        "\"",
        "\"\"",
        "\"a",
        "a\"",
        "*",
        "a*",
        "*a",
        "a**",
        ":",
        "a:b",
        "col:umn",
        "&",
        "a & b",
        "|",
        "!",
        "!a",
        "(",
        ")",
        "(a",
        "a)",
        "((a)",
        "NEAR",
        "NEAR(a b)",
        "a NEAR/2 b",
        "AND",
        "OR",
        "NOT",
        "a OR",
        "NOT a",
        "^a",
        "a^",
        "'",
        "'a'",
        "\\",
        "a\\b",
        "<->",
        "a <-> b",
        "{a}",
        "[a]",
        "-a",
        "+a",
        "%",
        "_",
        "a' | 'b",
        "'':*",
        "\u{0}a",
        "a\u{200d}b",
        "🙂 a",
        "١٢٣",
        "ⅷ",
        "ǅungla",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // and random text of every kind
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::string::string_regex("(?s).{1,40}").unwrap();
    for _ in 0..150 {
        queries.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    for q in queries {
        let (status, body) = app.get_as(&bob.token, &search_path(&q, "")).await;
        let has_word = q.chars().any(char::is_alphanumeric);
        if !has_word || q.chars().count() > 200 {
            assert_eq!(status, 400, "{q:?}: {body}");
        } else {
            assert_eq!(status, 200, "{q:?}: {body}");
        }
    }
    assert_eq!(found(&app, &bob, "near AND quoted col").await.len(), 1);
}
