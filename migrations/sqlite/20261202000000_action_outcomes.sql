-- The first outcome of each action, per caller, tool and idempotency key, so
-- a retried call answers with it instead of acting twice. Written in the same
-- transaction as the action's own writes. Plain types: apps reach it through
-- sqlx's Any driver.
CREATE TABLE action_outcomes (
    user_id          TEXT NOT NULL,
    tool             TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    arguments_digest TEXT NOT NULL,
    is_error         INTEGER NOT NULL,
    outcome          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (user_id, tool, idempotency_key)
);
