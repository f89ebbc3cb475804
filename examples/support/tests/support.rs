//! The support assistant as a host uses it: in process, signed in with real
//! tokens, through a real MCP client, on SQLite and (with
//! `TEST_DATABASE_URL`) on Postgres. Alice (`o-1001`…`o-1003`) and Bob
//! (`o-2001`, `o-2002`) are the migration's demo customers.

use e2e::{Backend, TestApp, User, backends};
use serde_json::{Value, json};

async fn start(backend: Backend) -> TestApp {
    TestApp::start(support::app(), backend).await
}

/// The ids in `reply[field]`, in order.
fn ids(reply: &Value, field: &str) -> Vec<String> {
    reply[field]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|v| v["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn orders(user: &User) -> Vec<String> {
    ids(&user.call("user_orders", json!({})).await.ok(), "orders")
}

async fn open_ticket(user: &User, key: &str, mut args: Value) -> e2e::ToolReply {
    args["idempotency_key"] = json!(key);
    user.call("domain_open_ticket", args).await
}

/// `NOT_FOUND` for `asked`, read as the same text as for `missing`: only
/// the echoed id may differ.
fn same_not_found(theirs: &str, asked: &str, missing: &str, not_there: &str) {
    assert!(theirs.starts_with("NOT_FOUND:"), "{theirs}");
    assert_eq!(
        theirs.replace(asked, "ID"),
        missing.replace(not_there, "ID"),
        "someone else's record must read as a missing one"
    );
}

/// Alice asking for Bob's order by id learns nothing about it: the answer
/// is the `NOT_FOUND` of an order that does not exist.
#[tokio::test]
async fn someone_elses_order_reads_as_a_missing_one() {
    for backend in backends() {
        let app = start(backend).await;
        let alice = app.sign_in("alice").await;
        let theirs = alice.call("user_order", json!({"id": "o-2001"})).await;
        let missing = alice.call("user_order", json!({"id": "o-9999"})).await;
        same_not_found(&theirs.err(), "o-2001", &missing.err(), "o-9999");
        // Her own order opens, so the refusal is about whose it is.
        let mine = alice.call("user_order", json!({"id": "o-1002"})).await.ok();
        assert_eq!(mine["order"]["lines"].as_array().map(Vec::len), Some(2));
        assert_eq!(mine["order"]["total_cents"], 13400, "{backend:?}");
    }
}

/// Alice asking for Bob's ticket by id learns nothing about it.
#[tokio::test]
async fn someone_elses_ticket_reads_as_a_missing_one() {
    for backend in backends() {
        let app = start(backend).await;
        let (alice, bob) = (app.sign_in("alice").await, app.sign_in("bob").await);
        let opened = open_ticket(
            &bob,
            "b1",
            json!({"order_id": "o-2001", "title": "Lamp flickers", "message": "It flickers since Monday."}),
        )
        .await
        .ok();
        let id = opened["ticket"]["id"].as_str().expect("a ticket id");
        let theirs = alice.call("user_ticket", json!({"id": id})).await;
        let missing = alice
            .call("user_ticket", json!({"id": "t-0000000000000000"}))
            .await;
        same_not_found(&theirs.err(), id, &missing.err(), "t-0000000000000000");
        let own = bob.call("user_ticket", json!({"id": id})).await.ok();
        assert_eq!(own["ticket"]["status"], "open", "{backend:?}");
    }
}

/// A ticket about Bob's order is refused to Alice exactly as one about an
/// order that does not exist, and opens nothing.
#[tokio::test]
async fn a_ticket_about_someone_elses_order_is_refused_like_a_missing_order() {
    for backend in backends() {
        let app = start(backend).await;
        let alice = app.sign_in("alice").await;
        let about = |order: &str| json!({"order_id": order, "title": "Refund?", "message": "Where is my refund?"});
        let theirs = open_ticket(&alice, "k1", about("o-2001")).await;
        let missing = open_ticket(&alice, "k2", about("o-9999")).await;
        same_not_found(&theirs.err(), "o-2001", &missing.err(), "o-9999");
        let mine = alice.call("user_tickets", json!({})).await.ok();
        assert!(ids(&mine, "tickets").is_empty(), "{backend:?}: {mine}");
        // About her own order, the same request opens a ticket.
        let ok = open_ticket(&alice, "k3", about("o-1001")).await.ok();
        assert_eq!(ok["ticket"]["order_id"], "o-1001");
    }
}

/// A host retries `domain_open_ticket` after a dropped answer, even at the
/// same time as the first try: one ticket is opened, every try gets it.
#[tokio::test]
async fn a_retried_ticket_opens_one_ticket() {
    for backend in backends() {
        let app = start(backend).await;
        let alice = app.sign_in("alice").await;
        let ask = json!({"order_id": "o-1002", "title": "Shoes too small", "message": "Can I send them back?"});
        let (first, second) = tokio::join!(
            open_ticket(&alice, "retry-me", ask.clone()),
            open_ticket(&alice, "retry-me", ask.clone())
        );
        let third = open_ticket(&alice, "retry-me", ask.clone()).await;
        let id = first.ok()["ticket"]["id"].clone();
        assert_eq!(second.ok()["ticket"]["id"], id, "{backend:?}");
        assert_eq!(third.ok()["ticket"]["id"], id);
        let mine = alice.call("user_tickets", json!({})).await.ok();
        assert_eq!(ids(&mine, "tickets").len(), 1, "{backend:?}: {mine}");
    }
}

/// `begin_session` tells the model, at the start of every conversation,
/// which of the caller's tickets are still open (and nobody else's).
#[tokio::test]
async fn begin_session_shows_the_callers_open_tickets() {
    for backend in backends() {
        let app = start(backend).await;
        let (alice, bob) = (app.sign_in("alice").await, app.sign_in("bob").await);
        let opened = open_ticket(
            &alice,
            "k1",
            json!({"title": "Where is my order?", "message": "It has been a week."}),
        )
        .await
        .ok();
        let again = alice.begin_session().await.ok();
        let open = again["app"]["open_tickets"]
            .as_array()
            .expect("open tickets");
        assert_eq!(open.len(), 1, "{backend:?}: {again}");
        assert_eq!(open[0]["id"], opened["ticket"]["id"]);
        let theirs = bob.begin_session().await.ok();
        assert_eq!(theirs["app"]["open_tickets"], json!([]), "{backend:?}");
    }
}

/// The shop's policies are a catalog: a question in a person's words finds
/// the returns policy first, and it opens by id with its full text.
#[tokio::test]
async fn policies_are_found_in_a_persons_words_and_open_by_id() {
    let app = start(Backend::Sqlite).await;
    let alice = app.sign_in("alice").await;
    for (question, policy) in [
        ("can I send back shoes that don't fit", "returns"),
        ("how do I return an item", "returns"),
        ("my parcel hasn't arrived", "late-or-lost"),
        ("headphones stopped working after a year", "warranty"),
    ] {
        let found = alice
            .call("domain_search", json!({"query": question}))
            .await
            .ok();
        assert_eq!(
            ids(&found, "matches").first().map(String::as_str),
            Some(policy),
            "{question}: {found}"
        );
    }
    let item = alice
        .call("domain_get_item", json!({"id": "returns"}))
        .await
        .ok();
    assert!(
        item["item"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("30 days"))
    );
    let none = alice
        .call("domain_get_item", json!({"id": "price-match"}))
        .await;
    assert!(none.err().starts_with("NOT_FOUND: there is no policy"));
}

/// Each person sees their own orders and tickets, and nobody else's.
#[tokio::test]
async fn each_person_sees_only_their_own_orders_and_tickets() {
    for backend in backends() {
        let app = start(backend).await;
        let (alice, bob) = (app.sign_in("alice").await, app.sign_in("bob").await);
        let ticket = |title: &str| json!({"title": title, "message": "A question."});
        open_ticket(&alice, "a", ticket("Alice's question"))
            .await
            .ok();
        open_ticket(&bob, "b", ticket("Bob's question")).await.ok();
        assert_eq!(orders(&alice).await, ["o-1003", "o-1002", "o-1001"]);
        assert_eq!(orders(&bob).await, ["o-2002", "o-2001"], "{backend:?}");
        for (user, title) in [(&alice, "Alice's question"), (&bob, "Bob's question")] {
            let mine = user.call("user_tickets", json!({})).await.ok();
            assert_eq!(mine["tickets"].as_array().map(Vec::len), Some(1));
            assert_eq!(mine["tickets"][0]["title"], title, "{backend:?}");
        }
        let carol = app.sign_in("carol").await;
        assert!(orders(&carol).await.is_empty(), "a new customer has none");
    }
}

/// Without a valid session no tool body runs: `SESSION_REQUIRED`, and no
/// ticket is opened.
#[tokio::test]
async fn without_a_session_nothing_runs() {
    let app = start(Backend::Sqlite).await;
    let alice = app.sign_in("alice").await;
    for (tool, args) in [
        ("user_orders", json!({})),
        ("user_order", json!({"id": "o-1001"})),
        ("user_tickets", json!({})),
        ("domain_search", json!({"query": "returns"})),
        (
            "domain_open_ticket",
            json!({"title": "t", "message": "m", "idempotency_key": "k"}),
        ),
    ] {
        for session in [None, Some("forged")] {
            let mut args = args.clone();
            if let Some(session) = session {
                args["session"] = json!(session);
            }
            let raw = alice.client.call(tool, args).await;
            assert!(
                raw.err().starts_with("SESSION_REQUIRED:"),
                "{tool}: {}",
                raw.text()
            );
        }
    }
    let mine = alice.call("user_tickets", json!({})).await.ok();
    assert!(ids(&mine, "tickets").is_empty(), "the body never ran");
}

/// Hosts see what each tool may do: the reads are read-only, opening a
/// ticket only adds, and it takes the kit's idempotency key.
#[tokio::test]
async fn the_tools_carry_the_kits_arguments_and_hints() {
    let app = start(Backend::Sqlite).await;
    let alice = app.sign_in("alice").await;
    let tools = alice.client.list_tools().await;
    let tool = |name: &str| e2e::listed(&tools, name);
    for read in [
        "user_orders",
        "user_order",
        "user_tickets",
        "user_ticket",
        "domain_search",
        "domain_get_item",
    ] {
        assert_eq!(tool(read)["annotations"]["readOnlyHint"], true, "{read}");
    }
    let open = tool("domain_open_ticket");
    assert_eq!(open["annotations"]["readOnlyHint"], false);
    assert_eq!(
        open["annotations"]["destructiveHint"], false,
        "it only adds"
    );
    let required = open["inputSchema"]["required"].as_array().cloned();
    for name in ["title", "message", "session", "idempotency_key"] {
        assert!(
            required.iter().flatten().any(|r| r == name),
            "{name}: {open}"
        );
    }
    // An argument the tool does not take (an identity, say) is refused.
    let bad = open_ticket(
        &alice,
        "k",
        json!({"title": "t", "message": "m", "user_id": "bob"}),
    )
    .await;
    assert!(bad.err().starts_with("INVALID_ARGUMENT:"), "{}", bad.text());
}
