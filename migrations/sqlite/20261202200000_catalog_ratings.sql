-- The data-pack app's one action: each reader's rating of a catalog item,
-- the average shown to every reader in search results. Plain types: it is
-- read through sqlx's Any driver, like the apps' own tables.
CREATE TABLE catalog_ratings (
    item_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    stars      INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (item_id, user_id)
);
