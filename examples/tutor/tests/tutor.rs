//! The tutor as a host uses it: in process, signed in with real tokens,
//! through a real MCP client, on SQLite and (with `TEST_DATABASE_URL`) on
//! Postgres. The lessons are the pack's: `l1` has 4 steps, `l2`…`l8` 5.

use e2e::{Backend, TestApp, ToolReply, User, backends};
use serde_json::{Value, json};

async fn start(backend: Backend) -> TestApp {
    TestApp::start(tutor::app(), backend).await
}

async fn complete(user: &User, key: &str, lesson: &str, step: i64) -> ToolReply {
    user.act(
        "domain_complete_step",
        key,
        json!({"lesson_id": lesson, "step": step}),
    )
    .await
}

/// What `begin_session` tells the model about this learner.
async fn learner(user: &User) -> Value {
    let start = user.begin_session().await.ok();
    start["app"]["learner"].clone()
}

/// `user_progress`'s lessons.
async fn progress(user: &User) -> Value {
    user.call("user_progress", json!({})).await.ok()["lessons"].clone()
}

/// A new learner has nowhere to resume; after a step, `begin_session` names
/// the lesson worked on last and the step that comes next, without a call.
#[tokio::test]
async fn begin_session_says_where_to_resume() {
    for backend in backends() {
        let app = start(backend).await;
        let alice = app.sign_in("alice").await;
        assert_eq!(
            learner(&alice).await,
            json!({"position": null, "completed": []}),
            "{backend:?}"
        );
        complete(&alice, "k1", "l2", 1).await.ok();
        let now = learner(&alice).await;
        assert_eq!(now["position"]["lesson_id"], "l2", "{backend:?}: {now}");
        assert_eq!(now["position"]["steps_done"], 1);
        assert_eq!(now["position"]["steps_total"], 5);
        assert_eq!(
            now["position"]["next"],
            json!({"lesson_id": "l2", "title": "Photosynthesis: How Plants Make Food", "step": 2})
        );
        assert_eq!(now["completed"], json!([]));
        // The lesson worked on last is where to resume.
        complete(&alice, "k2", "l1", 1).await.ok();
        let now = learner(&alice).await;
        assert_eq!(now["position"]["lesson_id"], "l1", "{backend:?}: {now}");
        assert_eq!(now["position"]["next"]["step"], 2);
    }
}

/// A host retries a step after a dropped answer, even at the same time as
/// the first try: every try gets the first outcome, and the step is
/// recorded once.
#[tokio::test]
async fn a_retried_step_is_recorded_once() {
    for backend in backends() {
        let app = start(backend).await;
        let alice = app.sign_in("alice").await;
        let (first, second) = tokio::join!(
            complete(&alice, "retry-me", "l1", 1),
            complete(&alice, "retry-me", "l1", 1)
        );
        let first = first.ok();
        assert_eq!(second.ok(), first, "{backend:?}");
        assert_eq!(first["steps_done"], 1);
        complete(&alice, "k2", "l1", 2).await.ok();
        // Later, the first key still answers with its first outcome.
        assert_eq!(complete(&alice, "retry-me", "l1", 1).await.ok(), first);
        let lessons = progress(&alice).await;
        assert_eq!(
            lessons,
            json!([{"id": "l1", "title": "Fractions: Parts of a Whole", "steps_done": 2, "steps_total": 4, "complete": false}]),
            "{backend:?}"
        );
        // The same key for another step is refused, not answered with the first.
        let other = complete(&alice, "retry-me", "l1", 3).await.err();
        assert!(other.starts_with("INVALID_ARGUMENT:"), "{other}");
        assert!(other.contains("idempotency_key"), "{other}");
        assert_eq!(progress(&alice).await[0]["steps_done"], 2);
    }
}

/// A lesson the pack does not have is `NOT_FOUND`, pointing at
/// `domain_search`, and records nothing.
#[tokio::test]
async fn an_unknown_lesson_is_not_found() {
    let app = start(Backend::Sqlite).await;
    let alice = app.sign_in("alice").await;
    for lesson in ["l9", "L1", ""] {
        let refused = complete(&alice, &format!("k-{lesson}"), lesson, 1)
            .await
            .err();
        assert!(
            refused.starts_with(&format!(
                "NOT_FOUND: there is no lesson with id `{lesson}`."
            )),
            "{refused}"
        );
        assert!(refused.contains("domain_search"), "{refused}");
    }
    assert_eq!(progress(&alice).await, json!([]));
    assert_eq!(learner(&alice).await["position"], Value::Null);
}

/// A step the lesson does not have is `INVALID_ARGUMENT`, naming the range,
/// and records nothing; the last step is one it has.
#[tokio::test]
async fn a_step_outside_the_lesson_is_invalid() {
    for backend in backends() {
        let app = start(backend).await;
        let alice = app.sign_in("alice").await;
        for step in [0, -1, 5] {
            let refused = complete(&alice, &format!("k{step}"), "l1", step)
                .await
                .err();
            assert!(refused.starts_with("INVALID_ARGUMENT:"), "{refused}");
            assert!(refused.contains("between 1 and 4"), "{refused}");
        }
        assert_eq!(progress(&alice).await, json!([]), "{backend:?}");
        let last = complete(&alice, "k4", "l1", 4).await.ok();
        assert_eq!(last["steps_done"], 1);
        assert_eq!(last["next"]["step"], 1, "step 1 is still to do");
    }
}

/// Each learner's progress is their own: Bob sees none of Alice's, and his
/// idempotency keys are not hers.
#[tokio::test]
async fn one_learners_progress_is_not_anothers() {
    for backend in backends() {
        let app = start(backend).await;
        let (alice, bob) = (app.sign_in("alice").await, app.sign_in("bob").await);
        complete(&alice, "k1", "l3", 1).await.ok();
        complete(&alice, "k2", "l3", 2).await.ok();
        assert_eq!(
            learner(&bob).await,
            json!({"position": null, "completed": []}),
            "{backend:?}"
        );
        assert_eq!(progress(&bob).await, json!([]));
        // Bob's "k1" is a new action, not Alice's stored one.
        let his = complete(&bob, "k1", "l4", 1).await.ok();
        assert_eq!(his["lesson_id"], "l4", "{backend:?}");
        let hers = progress(&alice).await;
        assert_eq!(hers.as_array().map(Vec::len), Some(1), "{hers}");
        assert_eq!(hers[0]["id"], "l3");
        assert_eq!(hers[0]["steps_done"], 2);
    }
}

/// No session, no record: the kit's gate runs before the tool's body.
#[tokio::test]
async fn without_a_session_nothing_is_recorded() {
    let app = start(Backend::Sqlite).await;
    let alice = app.sign_in("alice").await;
    let step = json!({"lesson_id": "l1", "step": 1, "idempotency_key": "k"});
    for session in [json!("forged"), Value::Null] {
        let mut args = step.clone();
        if !session.is_null() {
            args["session"] = session;
        }
        let raw = alice.client.call("domain_complete_step", args).await;
        assert!(raw.err().starts_with("SESSION_REQUIRED:"), "{}", raw.text());
    }
    assert_eq!(progress(&alice).await, json!([]), "the body never ran");
    assert_eq!(learner(&alice).await["position"], Value::Null);
    // And the kit, not the tool, refuses an argument naming someone else.
    let bad = alice
        .act(
            "domain_complete_step",
            "k",
            json!({"lesson_id": "l1", "step": 1, "user_id": "bob"}),
        )
        .await
        .err();
    assert!(bad.starts_with("INVALID_ARGUMENT:"), "{bad}");
}

/// Steps may be done in any order; `next` is the first one not done, and
/// once the lesson is complete, the first step of the next lesson not
/// complete, going round to the start of the catalog.
#[tokio::test]
async fn finishing_a_lesson_moves_next_to_the_next_one() {
    for backend in backends() {
        let app = start(backend).await;
        let alice = app.sign_in("alice").await;
        let mut last = Value::Null;
        for (key, step, next) in [("a", 1, 2), ("b", 3, 2), ("c", 2, 4)] {
            last = complete(&alice, key, "l1", step).await.ok();
            assert_eq!(last["next"]["lesson_id"], "l1", "{backend:?}: {last}");
            assert_eq!(last["next"]["step"], next, "{backend:?}: {last}");
        }
        assert_eq!(last["steps_done"], 3);
        let done = complete(&alice, "d", "l1", 4).await.ok();
        assert_eq!(done["steps_done"], 4, "{backend:?}: {done}");
        assert_eq!(
            done["next"],
            json!({"lesson_id": "l2", "title": "Photosynthesis: How Plants Make Food", "step": 1})
        );
        let now = learner(&alice).await;
        assert_eq!(now["completed"], json!(["l1"]), "{backend:?}: {now}");
        assert_eq!(now["position"]["next"]["lesson_id"], "l2");
        assert_eq!(progress(&alice).await[0]["complete"], true);
        // After the catalog's last lesson comes its first one not complete.
        for step in 1..=5 {
            last = complete(&alice, &format!("l8-{step}"), "l8", step)
                .await
                .ok();
        }
        assert_eq!(last["next"]["lesson_id"], "l2", "{backend:?}: {last}");
        assert_eq!(learner(&alice).await["completed"], json!(["l1", "l8"]));
    }
}

/// The tools list shows the tutor's tools beside the catalog's and the
/// kit's, with the kit's arguments and the hints hosts read.
#[tokio::test]
async fn the_tools_carry_the_kits_arguments_and_hints() {
    let app = start(Backend::Sqlite).await;
    let alice = app.sign_in("alice").await;
    let tools = alice.client.list_tools().await;
    let tool = |name: &str| e2e::listed(&tools, name);
    let step = tool("domain_complete_step");
    let required = step["inputSchema"]["required"]
        .as_array()
        .expect("required");
    for name in ["lesson_id", "step", "session", "idempotency_key"] {
        assert!(required.contains(&json!(name)), "{name}: {step}");
    }
    assert_eq!(step["annotations"]["readOnlyHint"], false);
    assert_eq!(
        step["annotations"]["destructiveHint"], false,
        "recording a step only adds"
    );
    assert_eq!(tool("user_progress")["annotations"]["readOnlyHint"], true);
    assert_eq!(tool("user_progress")["title"], "Your progress");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    for other in ["domain_search", "domain_get_item", "begin_session"] {
        assert!(names.contains(&other), "{other} is there too");
    }
    // A plain catalog: lessons are not rated.
    assert!(!names.contains(&"domain_rate_item"), "{names:?}");
    // Hosts and models see the learner's block in begin_session's schema.
    let learner =
        &tool("begin_session")["outputSchema"]["properties"]["app"]["properties"]["learner"];
    assert!(
        learner["description"]
            .as_str()
            .is_some_and(|d| d.contains("resume")),
        "{learner}"
    );
    assert!(learner["properties"]["position"].is_object(), "{learner}");
    // The lessons are the catalog's.
    let hits = alice
        .call("domain_search", json!({"query": "fractions"}))
        .await
        .ok();
    assert_eq!(hits["matches"][0]["id"], "l1");
}
