-- The two-table memory. `users.id` is the verified token `sub`; nothing else keys user data.
CREATE TABLE users (
    id           TEXT PRIMARY KEY NOT NULL,
    email        TEXT,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);

CREATE TABLE user_state (
    user_id    TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    state      TEXT NOT NULL CHECK (json_valid(state)),
    version    INTEGER NOT NULL CHECK (version > 0),
    updated_at TEXT NOT NULL
);
