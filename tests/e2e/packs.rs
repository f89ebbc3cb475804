//! Domain packs: a different app is different data, not different Rust.

use e2e::{AppOptions, Backend, TestDb, config_for, issuer::TestIssuer, spawn_app, workspace_dir};
use serde_json::json;

/// Another data pack (the `docs` template's) runs on the unchanged gateway:
/// its rules, its items, its noun in the answers.
#[tokio::test]
async fn the_second_pack_runs_unchanged() {
    let mut options = AppOptions::on(Backend::Sqlite);
    options.app_dir = workspace_dir().join("devkit/templates/docs");
    let app = spawn_app(options).await;
    let (client, session) = app.signed_in("reader").await;
    let start = client.call("begin_session", json!({})).await.ok();
    assert!(
        start["rules"]
            .as_str()
            .is_some_and(|r| r.contains("Team Docs"))
    );
    let hits = client
        .call(
            "domain_search",
            json!({"session": session, "query": "deploy"}),
        )
        .await
        .ok();
    assert_eq!(hits["matches"][0]["id"], "p1");
    let missing = client
        .call("domain_get_item", json!({"session": session, "id": "a1"}))
        .await
        .err();
    assert!(missing.contains("no page"), "{missing}");
}

/// A malformed pack stops start-up with the file and the problem named.
#[tokio::test]
async fn a_malformed_pack_stops_start_up_naming_the_file() {
    let seed = workspace_dir().join("seed");
    let cases: [(&str, &str, &str); 4] = [
        (
            "articles.json",
            "[{\"id\": \"a1\", \"title\": \"t\"}]",
            "articles.json",
        ),
        ("articles.json", "not json", "articles.json"),
        (
            "rules.md",
            "# Rules\nno summary, no failure rule\n",
            "rules.md",
        ),
        ("pack.json", "{\"name\": \"x\"}", "pack.json"),
    ];
    for (file, content, named) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        for entry in ["pack.json", "articles.json", "rules.md", "persona.md"] {
            std::fs::copy(seed.join(entry), dir.path().join(entry)).expect("copy pack");
        }
        std::fs::write(dir.path().join(file), content).expect("break pack");
        let mut options = AppOptions::on(Backend::Sqlite);
        options.app_dir = dir.path().to_owned();
        let issuer = TestIssuer::start().await;
        let db = TestDb::fresh(Backend::Sqlite).await;
        let error = gateway::Application::build(
            config_for(&options, &issuer, &db),
            gateway::App::data_pack(),
        )
        .await
        .expect_err("a broken pack must stop start-up");
        let text = format!("{error:#}");
        assert!(text.contains(named), "{file}: {text}");
    }
}
