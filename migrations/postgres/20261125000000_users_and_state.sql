-- The two-table memory. `users.id` is the verified token `sub`; nothing else keys user data.
CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    email        TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_state (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    state      JSONB NOT NULL,
    version    BIGINT NOT NULL CHECK (version > 0),
    updated_at TIMESTAMPTZ NOT NULL
);
