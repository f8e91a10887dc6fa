//! The "not only whitespace" `pattern`s /openapi.json gives display names and message text: by
//! a JSON Schema 2020-12 validator, the document refuses only what the server refuses, and on
//! values without forbidden characters (which the pattern leaves to the description) the two
//! agree, the odd whitespace included.

use chat_server::domain::validate::{is_bidi_control, is_forbidden_control};
use serde_json::{json, Value};

use crate::helpers::*;

/// The pattern of `component.field` in the served document, as a validator of strings.
async fn pattern_of(app: &TestApp, component: &str, field: &str) -> jsonschema::Validator {
    let (_, doc) = read(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let pattern = doc["components"]["schemas"][component]["properties"][field]["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{component}.{field} has no pattern"))
        .to_owned();
    jsonschema::draft202012::new(&json!({"type": "string", "pattern": pattern}))
        .unwrap_or_else(|e| panic!("{component}.{field}: {e}"))
}

fn says(validator: &jsonschema::Validator, value: &str) -> bool {
    validator.is_valid(&Value::String(value.to_owned()))
}

/// The server's answer and the document's verdict on `sample`, for a field whose forbidden
/// characters are `forbidden`.
fn agree(what: &str, sample: &str, server_ok: bool, doc_ok: bool, forbidden: fn(char) -> bool) {
    assert!(
        doc_ok || !server_ok,
        "{what} {sample:?}: the server takes what the document refuses"
    );
    if !sample.chars().any(forbidden) {
        assert_eq!(server_ok, doc_ok, "{what} {sample:?}");
    }
}

fn text_forbids(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

fn name_forbids(c: char) -> bool {
    is_forbidden_control(c) || is_bidi_control(c)
}

const BLANKS: &[&str] = &[
    " ",
    "\t\n\r ",
    "\u{A0}\u{2003}\u{3000}",
    "\u{FEFF}", // not White_Space: counts as content
    "\u{85}",   // White_Space and a control character
    "\u{200B}", // zero-width space: not White_Space
    "\u{1680}\u{205F}",
];

#[tokio::test]
async fn not_only_whitespace_agrees_with_the_server() {
    let app = spawn_app().await;
    let text = pattern_of(&app, "PostMessageRequest", "text").await;
    let edit = pattern_of(&app, "EditMessageRequest", "text").await;
    let nick = pattern_of(&app, "UpdateMeRequest", "nickName").await;
    let register_nick = pattern_of(&app, "RegisterRequest", "nickName").await;
    let group = pattern_of(&app, "GroupThreadRequest", "name").await;
    let rename = pattern_of(&app, "RenameThreadRequest", "name").await;
    let alice = app.register("blanks01").await;
    let bob = app.register("blanks02").await;
    let thread = app.direct(&alice, &bob).await;
    let (_, body) = app
        .post_json_as(
            &alice.token,
            "/threads",
            &json!({"name": "G", "memberIds": [bob.id]}),
        )
        .await;
    let group_id = body["thread"]["id"].as_i64().unwrap();
    let mut samples: Vec<String> = BLANKS.iter().map(|s| (*s).to_owned()).collect();
    for blank in BLANKS {
        samples.push(format!("{blank}x{blank}"));
    }
    samples.extend(["a\u{0}b", "a\u{202E}b", "a\u{2028}b", "👍", "a\tb"].map(String::from));
    for sample in &samples {
        let (status, body) = app
            .post_json_as(
                &alice.token,
                &format!("/threads/{thread}/messages"),
                &json!({"text": sample}),
            )
            .await;
        assert_eq!(says(&text, sample), says(&edit, sample));
        assert!(status < 500, "{body}");
        let ok = (200..300).contains(&status);
        agree("text", sample, ok, says(&text, sample), text_forbids);

        let res = app
            .client
            .patch(app.url("/users/me"))
            .bearer_auth(&alice.token)
            .json(&json!({"nickName": sample}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_eq!(says(&nick, sample), says(&register_nick, sample));
        assert_eq!(says(&nick, sample), says(&group, sample));
        assert!(status < 500, "{body}");
        let ok = (200..300).contains(&status);
        agree("nickName", sample, ok, says(&nick, sample), name_forbids);

        let res = app
            .client
            .patch(app.url(&format!("/threads/{group_id}")))
            .bearer_auth(&alice.token)
            .json(&json!({"name": sample}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert!(status < 500, "{body}");
        let ok = (200..300).contains(&status);
        agree("name", sample, ok, says(&rename, sample), name_forbids);
    }
}
