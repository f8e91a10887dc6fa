//! docs/grafana-dashboard.json names only metrics the server really exports: every series its
//! PromQL expressions select appears in a scrape of a server that has seen some traffic.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::child::{chat_server, Server};
use crate::helpers::*;

/// Words that are never metric names; the aggregations are here because `sum by (x) (...)`
/// puts a clause between the name and its parenthesis.
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
];

/// The metric names a PromQL expression selects: identifiers that are not functions, keywords,
/// label names (in `{...}`, `by (...)` and the like), durations, strings or `$variables`.
fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let (mut i, mut braces, mut brackets) = (0, 0, 0);
    // depth of the parenthesis that opened a label list (`by (`), if inside one
    let mut label_list: Option<usize> = None;
    let mut parens = 0usize;
    let mut last_word = String::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
            }
            '{' => braces += 1,
            '}' => braces -= 1,
            '[' => brackets += 1,
            ']' => brackets -= 1,
            '(' => {
                parens += 1;
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&last_word.as_str())
                {
                    label_list = Some(parens);
                }
            }
            ')' => {
                if label_list == Some(parens) {
                    label_list = None;
                }
                parens -= 1;
            }
            '$' => {
                // a Grafana variable: skip its name
                while i + 1 < chars.len() && (chars[i + 1].is_alphanumeric() || chars[i + 1] == '_')
                {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i + 1 < chars.len()
                    && (chars[i + 1].is_ascii_alphanumeric()
                        || chars[i + 1] == '_'
                        || chars[i + 1] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..=i].iter().collect();
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                let number_part = start > 0 && chars[start - 1].is_ascii_digit();
                let selected = braces == 0
                    && brackets == 0
                    && label_list.is_none()
                    && next != Some(&'(')
                    && !number_part
                    && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str());
                if selected {
                    names.push(word.clone());
                }
                last_word = word;
                i += 1;
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_word.clear();
        }
        i += 1;
    }
    names
}

fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[test]
fn the_extractor_finds_metrics_and_nothing_else() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{instance=~"$instance", status=~"5.."}[$__rate_interval])))"#
        ),
        vec!["http_request_duration_seconds_bucket"]
    );
    assert_eq!(
        metric_names("sum(rate(a_sum[5m])) / sum without (x) (rate(a_count[1h30m] offset 5m)) and on (node) max by (x) (b)"),
        vec!["a_sum", "a_count", "b"]
    );
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut all = Vec::new();
    exprs(&dashboard["panels"], &mut all);
    let panels = dashboard["panels"].as_array().unwrap();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let mut own = Vec::new();
        exprs(panel, &mut own);
        assert!(!own.is_empty(), "panel {} queries nothing", panel["title"]);
    }
    let wanted: BTreeSet<String> = all.iter().flat_map(|e| metric_names(e)).collect();
    assert!(wanted.len() >= 10, "{wanted:?}");

    // a server of its own: its recorder counts only this test's traffic
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Server::start(
        chat_server()
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("DATA_DIR", dir.path())
            .env("BCRYPT_COST", "4")
            .env("RATE_LIMITS", "off"),
    );
    server.healthz(&base).await;
    let client = reqwest::Client::new();
    let alice = register_at(&client, &base, "alice_dash").await;
    let bob = register_at(&client, &base, "bobby_dash").await;
    let (status, body) = read(
        client
            .post(format!("{base}/threads"))
            .bearer_auth(&alice.token)
            .json(&json!({"userId": bob.id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let thread = body["thread"]["id"].as_i64().unwrap();
    let ws = format!("ws://127.0.0.1:{port}/ws");
    let mut a = WsClient::connect(&ws, &alice.token).await;
    let mut b = WsClient::connect(&ws, &bob.token).await;
    a.send(json!({"type": "send", "id": 1, "threadId": thread, "text": "graph me"}))
        .await;
    let id = a.recv_type("ack").await["message"]["id"].as_i64().unwrap();
    b.recv_type("message").await;
    a.send(json!({"type": "edit", "id": 2, "messageId": id, "text": "graphed"}))
        .await;
    a.recv_type("ack").await;
    b.recv_type("messageUpdated").await;

    let scrape = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: BTreeSet<&str> = scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    for name in &wanted {
        assert!(
            exported.contains(name.as_str()),
            "the dashboard queries {name}, which /metrics does not export:\n{scrape}"
        );
        // histogram_quantile needs real buckets, not a summary's quantiles
        if let Some(base) = name.strip_suffix("_bucket") {
            assert!(
                scrape.contains(&format!("# TYPE {base} histogram")),
                "{base} is not a histogram"
            );
        }
    }
}
