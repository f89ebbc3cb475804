//! `devkit` as a person runs it: the real binary, as a child process.

use std::process::Command;

use e2e::{AppOptions, Backend, spawn_app};
use serde_json::json;

fn mint(state_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_devkit"))
        .arg("mint-token")
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .env_remove("RESOURCE_URL")
        .env_remove("ISSUER_URL")
        .output()
        .expect("devkit runs")
}

/// A token minted offline with the issuer's persisted key is accepted by a
/// gateway that trusts the running issuer; one with the wrong audience, the
/// wrong issuer, or past its expiry is refused.
#[tokio::test]
async fn minted_tokens_verify_against_the_running_issuer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issuer = e2e::spawn_mock_issuer(dir.path(), false, None).await;
    let app = spawn_app(AppOptions::on(Backend::Sqlite).trusting(&issuer)).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "begin_session", "arguments": {}}});

    let good = mint(
        dir.path(),
        &[
            "--sub",
            "alice",
            "--email",
            "alice@example.test",
            "--aud",
            &app.resource,
            "--iss",
            &issuer,
        ],
    );
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let token = String::from_utf8(good.stdout).expect("utf8");
    assert_eq!(token.lines().count(), 1, "stdout holds the token only");
    let token = token.trim();
    let header = jsonwebtoken::decode_header(token).expect("a JWT");
    let jwks: serde_json::Value = reqwest::get(format!("{issuer}/.well-known/jwks.json"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert_eq!(
        jwks["keys"][0]["kid"].as_str(),
        header.kid.as_deref(),
        "signed with the published key"
    );
    let response = app.post_mcp(Some(token), &call).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["result"]["structuredContent"]["user"]["id"], "alice");

    for (why, args) in [
        (
            "wrong audience",
            vec![
                "--sub",
                "alice",
                "--aud",
                "http://127.0.0.1:1/mcp",
                "--iss",
                &issuer,
            ],
        ),
        (
            "wrong issuer",
            vec![
                "--sub",
                "alice",
                "--aud",
                &app.resource,
                "--iss",
                "http://127.0.0.1:1",
            ],
        ),
        (
            "expired",
            vec![
                "--sub",
                "alice",
                "--aud",
                &app.resource,
                "--iss",
                &issuer,
                "--expired",
            ],
        ),
    ] {
        let out = mint(dir.path(), &args);
        assert!(
            out.status.success(),
            "{why}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).expect("utf8");
        let response = app.post_mcp(Some(token.trim()), &call).await;
        assert_eq!(response.status(), 401, "{why}");
    }
}

/// Bad flags get a clear error and a non-zero exit, with nothing on stdout.
#[test]
fn bad_flags_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mint(dir.path(), &["--sub", "alice", "--expires-in", "soon"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--expires-in"));
    let out = mint(
        dir.path(),
        &["--sub", "alice", "--expires-in", "5m", "--expired"],
    );
    assert!(!out.status.success());
    let out = mint(dir.path(), &["--sub", " "]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sub"));
}
