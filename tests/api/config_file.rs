//! `--config FILE` and `--print-config` on the real binary: flag > environment > file > default,
//! a bad file refused with the key named, secrets masked.

use std::path::Path;

use crate::child::{chat_server, run_to_exit, Server};
use crate::helpers::*;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn the_file_sets_what_the_environment_and_flags_leave_alone() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = write(
        dir.path(),
        "chat.toml",
        &format!(
            "BIND_ADDR = \"127.0.0.1:{port}\"\n\
             DATA_DIR = {data:?}\n\
             BCRYPT_COST = 4\n\
             MAX_ATTACHMENT_BYTES = 1111\n\
             MAX_AVATAR_BYTES = 3333\n",
            data = dir.path().join("data").to_str().unwrap(),
        ),
    );
    let mut server = Server::start(
        chat_server()
            .arg("--config")
            .arg(&file)
            .args(["--max-avatar-bytes", "5555"])
            .env("MAX_ATTACHMENT_BYTES", "2222")
            .env("MAX_AVATAR_BYTES", "4444"),
    );
    // listening on the file's port is the file taking effect
    let body = server.healthz(&format!("http://127.0.0.1:{port}")).await;
    assert_eq!(
        body["limits"]["maxAttachmentBytes"], 2222,
        "the environment overrides the file: {body}"
    );
    assert_eq!(
        body["limits"]["maxAvatarBytes"], 5555,
        "a flag overrides the environment and the file: {body}"
    );
    assert!(
        dir.path().join("data").join("chat.db").exists(),
        "DATA_DIR came from the file"
    );
}

#[test]
fn a_bad_file_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = format!(
        "BIND_ADDR = \"127.0.0.1:{}\"\nDATA_DIR = {:?}\n",
        free_port(),
        data.to_str().unwrap()
    );
    let cases = [
        (
            "MAX_FRAME_BYTE = 10\n",
            vec!["unknown key `MAX_FRAME_BYTE`"],
        ),
        (
            "bind_addr = \"127.0.0.1:1\"\n",
            vec!["unknown key `bind_addr`", "did you mean BIND_ADDR?"],
        ),
        (
            "MAX_FRAME_BYTES = \"big\"\n",
            vec!["MAX_FRAME_BYTES: expected an integer, found string"],
        ),
        (
            "TRUST_PROXY = \"yes\"\n",
            vec!["TRUST_PROXY: expected true or false"],
        ),
        (
            "CORS_ORIGINS = \"https://a.example\"\n",
            vec!["CORS_ORIGINS: expected an array of strings"],
        ),
        (
            "BCRYPT_COST = 99\n",
            vec!["BCRYPT_COST: 99 is not in 4..=31"],
        ),
        (
            "RATE_LIMITS = \"maybe\"\n",
            vec!["RATE_LIMITS: expected one of on, off"],
        ),
        ("BIND_ADDR = \"nowhere\"\n[server]\n", vec!["BIND_ADDR:"]),
        ("MAX_FRAME_BYTES = \n", vec!["is not valid TOML"]),
    ];
    for (i, (extra, wanted)) in cases.iter().enumerate() {
        // the bad line last, so a duplicate BIND_ADDR is its own TOML error only where meant
        let text = if extra.starts_with("BIND_ADDR") {
            format!("DATA_DIR = {:?}\n{extra}", data.to_str().unwrap())
        } else {
            format!("{base}{extra}")
        };
        let file = write(dir.path(), &format!("bad{i}.toml"), &text);
        let out = run_to_exit(chat_server().arg("--config").arg(&file));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} was accepted");
        for want in wanted {
            assert!(stderr.contains(want), "{extra:?}: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = run_to_exit(
        chat_server()
            .arg("--config")
            .arg(dir.path().join("missing.toml")),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the config file"));
    assert!(!data.exists(), "no refused start touched the data dir");
}

#[test]
fn print_config_masks_secrets_and_says_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "chat.toml",
        "JWT_SECRET = \"file-secret-that-is-long-enough-1234567\"\n\
         DATABASE_URL = \"postgres://chat:hunter2pass@db.invalid:5432/chat?sslmode=require\"\n\
         MAX_FRAME_BYTES = 1000\n\
         WS_PING_SECS = 5\n\
         WS_IDLE_SECS = 60\n\
         CORS_ORIGINS = [\"https://a.example\", \"https://b.example\"]\n",
    );
    let out = run_to_exit(
        chat_server()
            .arg("--config")
            .arg(&file)
            .args(["--print-config", "--ws-idle-secs", "99"])
            .env("WS_PING_SECS", "7")
            .env("REDIS_URL", "redis://:redispw9@cache.invalid:6379/0"),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in ["file-secret", "hunter2pass", "redispw9"] {
        assert!(!text.contains(secret), "{secret} printed: {text}");
    }
    let table: toml::Table = text.parse().unwrap();
    assert_eq!(table["JWT_SECRET"].as_str(), Some("<masked>"));
    assert_eq!(
        table["DATABASE_URL"].as_str(),
        Some("postgres://chat:<masked>@db.invalid:5432/chat?sslmode=require")
    );
    assert_eq!(
        table["REDIS_URL"].as_str(),
        Some("redis://:<masked>@cache.invalid:6379/0")
    );
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} missing: {text}"))
            .to_owned()
    };
    assert_eq!(
        line("MAX_FRAME_BYTES"),
        "MAX_FRAME_BYTES = 1000  # config file"
    );
    assert_eq!(line("WS_PING_SECS"), "WS_PING_SECS = 7  # environment");
    assert_eq!(line("WS_IDLE_SECS"), "WS_IDLE_SECS = 99  # flag");
    assert_eq!(line("BCRYPT_COST"), "BCRYPT_COST = 12  # default");
    assert_eq!(
        line("CORS_ORIGINS"),
        "CORS_ORIGINS = [\"https://a.example\", \"https://b.example\"]  # config file"
    );
    assert!(
        text.contains("# UPLOAD_DIR is unset"),
        "unset settings are named: {text}"
    );
}

#[test]
fn a_printed_configuration_without_secrets_reads_back_as_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_to_exit(chat_server().args([
        "--print-config",
        "--max-frame-bytes",
        "2048",
        "--cors-origins",
        "https://a.example",
        "--trust-proxy",
        "true",
    ]));
    assert!(first.status.success());
    let printed = String::from_utf8_lossy(&first.stdout).into_owned();
    let file = write(dir.path(), "printed.toml", &printed);
    let second = run_to_exit(
        chat_server()
            .arg("--config")
            .arg(&file)
            .arg("--print-config"),
    );
    let reread = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let a: toml::Table = printed.parse().unwrap();
    let b: toml::Table = reread.parse().unwrap();
    assert_eq!(a, b);
    assert!(a.contains_key("MAX_FRAME_BYTES") && a.contains_key("TRUST_PROXY"));
    assert!(
        reread.contains("MAX_FRAME_BYTES = 2048  # config file"),
        "{reread}"
    );
}
