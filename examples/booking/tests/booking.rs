//! The booking helper as a host uses it: in process, signed in with real
//! tokens, through a real MCP client, on SQLite and (with
//! `TEST_DATABASE_URL`) on Postgres.

use e2e::{Backend, TestApp, backends};
use serde_json::{Value, json};

async fn start(backend: Backend) -> TestApp {
    TestApp::start(booking::app(), backend).await
}

fn remaining(slot: &Value) -> i64 {
    slot["remaining"].as_i64().expect("remaining seats")
}

/// Two people race for the last seat: exactly one gets it, the other is
/// told `SOLD_OUT`, and the slot is never over capacity.
#[tokio::test]
async fn the_last_seat_goes_to_one_caller() {
    for backend in backends() {
        let app = start(backend).await;
        let (alice, bob) = (app.sign_in("alice").await, app.sign_in("bob").await);
        // s5 is a private lesson: one seat.
        let (a, b) = tokio::join!(
            alice.call(
                "domain_book",
                json!({"slot_id": "s5", "idempotency_key": "k-alice"})
            ),
            bob.call(
                "domain_book",
                json!({"slot_id": "s5", "idempotency_key": "k-bob"})
            ),
        );
        let winners = [&a, &b].iter().filter(|r| !r.is_error()).count();
        assert_eq!(winners, 1, "{backend:?}: {} / {}", a.text(), b.text());
        let loser = if a.is_error() { &a } else { &b };
        assert!(loser.text().starts_with("SOLD_OUT:"), "{}", loser.text());
        let slot = alice
            .call("domain_get_item", json!({"id": "s5"}))
            .await
            .ok();
        assert_eq!(remaining(&slot["slot"]), 0);
    }
}

/// A host retries a booking after a dropped answer, even at the same time
/// as the first try: one booking is made, and every try gets its answer.
#[tokio::test]
async fn a_retried_booking_makes_one_booking() {
    for backend in backends() {
        let app = start(backend).await;
        let alice = app.sign_in("alice").await;
        let book = json!({"slot_id": "s3", "seats": 2, "idempotency_key": "retry-me"});
        let (first, second) = tokio::join!(
            alice.call("domain_book", book.clone()),
            alice.call("domain_book", book.clone())
        );
        let third = alice.call("domain_book", book.clone()).await;
        let id = first.ok()["booking_id"].clone();
        assert_eq!(second.ok()["booking_id"], id, "{backend:?}");
        assert_eq!(third.ok()["booking_id"], id);
        let mine = alice.call("user_bookings", json!({})).await.ok();
        assert_eq!(mine["bookings"].as_array().map(Vec::len), Some(1));
        let slot = alice
            .call("domain_get_item", json!({"id": "s3"}))
            .await
            .ok();
        assert_eq!(remaining(&slot["slot"]), 2, "4 seats, 2 booked once");

        // The same key for another request is refused, not answered with the first.
        let other = alice
            .call(
                "domain_book",
                json!({"slot_id": "s4", "idempotency_key": "retry-me"}),
            )
            .await;
        assert!(
            other.text().starts_with("INVALID_ARGUMENT:"),
            "{}",
            other.text()
        );
        assert!(other.text().contains("idempotency_key"), "{}", other.text());
    }
}

/// A refusal is an outcome too: retrying a sold-out booking with its key
/// answers `SOLD_OUT` again even after a seat has come free.
#[tokio::test]
async fn a_refusal_is_the_first_outcome_of_its_key() {
    let app = start(Backend::Sqlite).await;
    let (alice, bob) = (app.sign_in("alice").await, app.sign_in("bob").await);
    let taken = alice
        .call(
            "domain_book",
            json!({"slot_id": "s5", "idempotency_key": "a1"}),
        )
        .await
        .ok();
    let refused = bob
        .call(
            "domain_book",
            json!({"slot_id": "s5", "idempotency_key": "b1"}),
        )
        .await;
    assert!(refused.text().starts_with("SOLD_OUT:"));
    alice
        .call(
            "domain_cancel",
            json!({"booking_id": taken["booking_id"], "idempotency_key": "a2"}),
        )
        .await
        .ok();
    let again = bob
        .call(
            "domain_book",
            json!({"slot_id": "s5", "idempotency_key": "b1"}),
        )
        .await;
    assert_eq!(again.text(), refused.text());
    let fresh = bob
        .call(
            "domain_book",
            json!({"slot_id": "s5", "idempotency_key": "b2"}),
        )
        .await;
    assert!(!fresh.is_error(), "{}", fresh.text());
}

/// Bob cannot cancel Alice's booking, and is told exactly what he would be
/// told of a booking that does not exist.
#[tokio::test]
async fn cancelling_someone_elses_booking_tells_nothing_about_it() {
    for backend in backends() {
        let app = start(backend).await;
        let (alice, bob) = (app.sign_in("alice").await, app.sign_in("bob").await);
        let booked = alice
            .call(
                "domain_book",
                json!({"slot_id": "s1", "idempotency_key": "k"}),
            )
            .await
            .ok();
        let id = booked["booking_id"].as_str().expect("an id").to_owned();
        let theirs = bob
            .call(
                "domain_cancel",
                json!({"booking_id": id, "idempotency_key": "c1"}),
            )
            .await;
        let missing = bob
            .call(
                "domain_cancel",
                json!({"booking_id": "b-0000000000000000", "idempotency_key": "c2"}),
            )
            .await;
        assert!(theirs.text().starts_with("NOT_FOUND:"), "{}", theirs.text());
        assert_eq!(
            theirs.text().replace(&id, "ID"),
            missing.text().replace("b-0000000000000000", "ID"),
            "{backend:?}"
        );
        let mine = alice.call("user_bookings", json!({})).await.ok();
        assert_eq!(mine["bookings"][0]["status"], "active");
        assert!(
            bob.call("user_bookings", json!({})).await.ok()["bookings"]
                .as_array()
                .is_some_and(Vec::is_empty)
        );
    }
}

/// No session, no booking: the kit's gate runs before the tool's body.
#[tokio::test]
async fn without_a_session_nothing_is_booked() {
    let app = start(Backend::Sqlite).await;
    let alice = app.sign_in("alice").await;
    let raw = alice
        .client
        .call(
            "domain_book",
            json!({"slot_id": "s5", "idempotency_key": "k", "session": "forged"}),
        )
        .await;
    assert!(
        raw.text().starts_with("SESSION_REQUIRED:"),
        "{}",
        raw.text()
    );
    let slot = alice
        .call("domain_get_item", json!({"id": "s5"}))
        .await
        .ok();
    assert_eq!(remaining(&slot["slot"]), 1, "the body never ran");
    // And the kit, not the tool, checks the arguments' shape.
    let bad = alice
        .call(
            "domain_book",
            json!({"slot_id": "s5", "idempotency_key": "k", "user_id": "bob"}),
        )
        .await;
    assert!(
        bad.text().starts_with("INVALID_ARGUMENT:"),
        "{}",
        bad.text()
    );
}

/// Many people book at once across a few slots: no slot ever holds more
/// than its capacity, and the seats taken are exactly the active bookings'.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capacity_is_never_exceeded_under_load() {
    for backend in backends() {
        let app = std::sync::Arc::new(start(backend).await);
        let mut people = tokio::task::JoinSet::new();
        for person in 0..16 {
            let app = app.clone();
            people.spawn(async move {
                let me = app.sign_in(&format!("person-{person}")).await;
                let mut booked = 0;
                for attempt in 0..6 {
                    let slot = ["s1", "s3", "s5"][attempt % 3];
                    let key = format!("{person}-{attempt}");
                    let reply = me
                        .call(
                            "domain_book",
                            json!({"slot_id": slot, "idempotency_key": key}),
                        )
                        .await;
                    if !reply.is_error() {
                        booked += 1;
                    } else {
                        assert!(reply.text().starts_with("SOLD_OUT:"), "{}", reply.text());
                    }
                }
                booked
            });
        }
        let mut bookings = 0;
        while let Some(n) = people.join_next().await {
            bookings += n.expect("a person's bookings");
        }
        let alice = app.sign_in("auditor").await;
        let mut taken = 0;
        for (slot, capacity) in [("s1", 8), ("s3", 4), ("s5", 1)] {
            let slot = alice
                .call("domain_get_item", json!({"id": slot}))
                .await
                .ok();
            let left = remaining(&slot["slot"]);
            assert_eq!(
                left, 0,
                "{backend:?}: 32 tries for 13 seats fill every slot"
            );
            taken += capacity - left;
        }
        assert_eq!(taken, bookings, "{backend:?}: seats taken = bookings made");
    }
}

/// The tools list shows what the kit adds: the session, the idempotency key,
/// titles and the hints hosts read.
#[tokio::test]
async fn the_tools_carry_the_kits_arguments_and_hints() {
    let app = start(Backend::Sqlite).await;
    let alice = app.sign_in("alice").await;
    let tools = alice.client.list_tools().await;
    let tool = |name: &str| e2e::listed(&tools, name);
    let book = tool("domain_book");
    let required = book["inputSchema"]["required"]
        .as_array()
        .expect("required");
    for name in ["slot_id", "session", "idempotency_key"] {
        assert!(required.contains(&json!(name)), "{name}: {book}");
    }
    assert_eq!(book["annotations"]["readOnlyHint"], false);
    assert_eq!(
        book["annotations"]["destructiveHint"], false,
        "booking only adds"
    );
    assert_eq!(
        tool("domain_cancel")["annotations"]["destructiveHint"],
        true
    );
    assert_eq!(tool("user_bookings")["annotations"]["readOnlyHint"], true);
    assert_eq!(tool("user_bookings")["title"], "Your bookings");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    for kit in ["begin_session", "user_get_state", "config_get_rules"] {
        assert!(names.contains(&kit), "the kit's {kit} is there too");
    }
    let reply = alice.call("user_bookings", json!({})).await.ok();
    assert!(
        reply["reminder"]
            .as_str()
            .is_some_and(|r| r.starts_with("Rules:"))
    );
}
