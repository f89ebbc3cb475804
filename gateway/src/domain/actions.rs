//! Actions run once per idempotency key.
//!
//! AI hosts retry tool calls after timeouts and dropped connections, so an
//! action carries an `idempotency_key`, and the kit keeps the first outcome
//! per (caller, tool, key) in `action_outcomes`, in the same transaction as
//! the action's own writes:
//!
//! 1. claim the key (a concurrent retry with the same key waits here, on
//!    the primary key, until the first commits, then reads its outcome);
//! 2. run the body behind a savepoint;
//! 3. keep its outcome: a result, or a refusal (`SOLD_OUT` …), whose writes
//!    are rolled back to the savepoint;
//! 4. commit the writes and the outcome together.
//!
//! A crash before the commit leaves neither the effect nor the claim, so a
//! retry acts once; after it, a retry gets the stored outcome. A store error
//! rolls everything back and is not an outcome: a retry may succeed. A key
//! reused with other arguments is refused rather than answered with an
//! outcome for a different request.

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{
    AppDb, Caller, DomainError, Tx,
    answer::ObjectJson,
    registry::{Invocation, Outcome},
};

/// How a stored or fresh action ended.
pub(crate) enum ActionEnd {
    Done(ObjectJson),
    Failed(Outcome),
    /// The key was used before for other arguments.
    KeyReused,
}

const CLAIM: &str = "\
INSERT INTO action_outcomes (user_id, tool, idempotency_key, arguments_digest, is_error, outcome, created_at)
VALUES ($1, $2, $3, $4, 0, '', $5)
ON CONFLICT DO NOTHING";

const KEEP: &str = "\
UPDATE action_outcomes SET is_error = $4, outcome = $5
WHERE user_id = $1 AND tool = $2 AND idempotency_key = $3";

const STORED: &str = "\
SELECT arguments_digest, is_error, outcome FROM action_outcomes
WHERE user_id = $1 AND tool = $2 AND idempotency_key = $3";

/// Runs `body` once for (`caller`, `tool`, `key`), or returns what it did
/// the first time.
pub(crate) async fn run_once<F, Fut>(
    db: &AppDb,
    tool: &str,
    key: &str,
    caller: Caller,
    args: Value,
    body: F,
) -> ActionEnd
where
    F: FnOnce(Invocation) -> Fut,
    Fut: std::future::Future<Output = Result<ObjectJson, Outcome>>,
{
    match attempt(db, tool, key, caller, args, body).await {
        Ok(end) => end,
        Err(e) => ActionEnd::Failed(Outcome::Domain(DomainError::from(e))),
    }
}

async fn attempt<F, Fut>(
    db: &AppDb,
    tool: &str,
    key: &str,
    caller: Caller,
    args: Value,
    body: F,
) -> Result<ActionEnd, sqlx::Error>
where
    F: FnOnce(Invocation) -> Fut,
    Fut: std::future::Future<Output = Result<ObjectJson, Outcome>>,
{
    let digest = digest(&args);
    let user = caller.subject().to_owned();
    let mut transaction = db.begin_action().await?;
    let claimed = sqlx::query(CLAIM)
        .bind(&user)
        .bind(tool)
        .bind(key)
        .bind(&digest)
        .bind(chrono::Utc::now().to_rfc3339())
        .execute(&mut *transaction)
        .await?
        .rows_affected();
    if claimed == 0 {
        transaction.rollback().await?;
        return stored(db, &user, tool, key, &digest).await;
    }
    sqlx::query("SAVEPOINT action_body")
        .execute(&mut *transaction)
        .await?;
    let tx = Tx::new(transaction);
    let result = body(Invocation {
        caller,
        args,
        tx: Some(tx.clone()),
    })
    .await;
    let Some(mut transaction) = tx.finish().await else {
        unreachable!("only the kit finishes an action's transaction")
    };
    let (is_error, outcome) = match &result {
        Ok(answer) => (0_i64, answer.as_str().to_owned()),
        // A refusal is the first outcome; its writes are undone.
        Err(Outcome::Domain(DomainError(super::Failure::NotFound { .. })))
        | Err(Outcome::Domain(DomainError(super::Failure::Refused { .. })))
        | Err(Outcome::Domain(DomainError(super::Failure::Invalid(_)))) => {
            sqlx::query("ROLLBACK TO SAVEPOINT action_body")
                .execute(&mut *transaction)
                .await?;
            let Err(Outcome::Domain(error)) = &result else {
                unreachable!()
            };
            (1, refusal_to_json(error).to_string())
        }
        // Nothing happened (bad arguments) or nothing may be trusted (the store).
        Err(_) => {
            transaction.rollback().await?;
            return Ok(ActionEnd::Failed(match result {
                Err(outcome) => outcome,
                Ok(_) => unreachable!(),
            }));
        }
    };
    sqlx::query(KEEP)
        .bind(&user)
        .bind(tool)
        .bind(key)
        .bind(is_error)
        .bind(&outcome)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(match result {
        Ok(value) => ActionEnd::Done(value),
        Err(outcome) => ActionEnd::Failed(outcome),
    })
}

async fn stored(
    db: &AppDb,
    user: &str,
    tool: &str,
    key: &str,
    digest: &str,
) -> Result<ActionEnd, sqlx::Error> {
    let row = sqlx::query(STORED)
        .bind(user)
        .bind(tool)
        .bind(key)
        .fetch_one(db.pool())
        .await?;
    if row.try_get::<String, _>(0)? != digest {
        return Ok(ActionEnd::KeyReused);
    }
    let is_error: i64 = row.try_get(1)?;
    let outcome: String = row.try_get(2)?;
    let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
    Ok(if is_error == 0 {
        ActionEnd::Done(ObjectJson::read(outcome).map_err(decode)?)
    } else {
        let refusal: Value = serde_json::from_str(&outcome).map_err(decode)?;
        ActionEnd::Failed(Outcome::Domain(refusal_from_json(&refusal)))
    })
}

fn refusal_to_json(error: &DomainError) -> Value {
    use super::Failure;
    match &error.0 {
        Failure::NotFound { noun, id, hint } => {
            serde_json::json!({"not_found": {"noun": noun, "id": id, "hint": hint}})
        }
        Failure::Refused { code, message } => {
            serde_json::json!({"refused": {"code": code, "message": message}})
        }
        Failure::Invalid(problem) => serde_json::json!({"invalid": problem}),
        Failure::Store(_) => unreachable!("a store error is not kept as an outcome"),
    }
}

fn refusal_from_json(value: &Value) -> DomainError {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    if let Some(nf) = value.get("not_found") {
        let error = DomainError::not_found(&text(&nf["noun"]), &text(&nf["id"]));
        return match nf["hint"].as_str() {
            Some(hint) => error.hint(hint),
            None => error,
        };
    }
    if let Some(refused) = value.get("refused") {
        return DomainError::refused(&text(&refused["code"]), text(&refused["message"]));
    }
    DomainError::invalid(text(&value["invalid"]))
}

/// SHA-256 of the arguments in a canonical form (object keys sorted).
fn digest(args: &Value) -> String {
    fn canonical(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    canonical(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    canonical(args, &mut text);
    let hash = Sha256::digest(text.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_digest_ignores_key_order_and_nothing_else() {
        let a = digest(&json!({"slot": "s1", "seats": 2, "nested": {"x": 1, "y": [1, 2]}}));
        let b = digest(&json!({"nested": {"y": [1, 2], "x": 1}, "seats": 2, "slot": "s1"}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            digest(&json!({"slot": "s1", "seats": 3, "nested": {"x": 1, "y": [1, 2]}}))
        );
        assert_ne!(digest(&json!({"y": [1, 2]})), digest(&json!({"y": [2, 1]})));
    }

    #[test]
    fn refusals_survive_their_stored_form() {
        for error in [
            DomainError::not_found("slot", "s9"),
            DomainError::refused("SOLD_OUT", "no seats left"),
            DomainError::invalid("seats must be at least 1"),
        ] {
            let again = refusal_from_json(&refusal_to_json(&error));
            assert_eq!(again.to_string(), error.to_string());
        }
    }
}
