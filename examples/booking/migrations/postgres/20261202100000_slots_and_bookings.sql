-- Slots with a capacity, and the bookings that fill them. `bookings.user_id`
-- is the verified caller's `sub`; the kit's `users` table is not touched.
CREATE TABLE slots (
    id        TEXT PRIMARY KEY NOT NULL,
    title     TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    capacity  BIGINT NOT NULL CHECK (capacity > 0),
    booked    BIGINT NOT NULL DEFAULT 0 CHECK (booked >= 0 AND booked <= capacity)
);

CREATE TABLE bookings (
    id         TEXT PRIMARY KEY NOT NULL,
    slot_id    TEXT NOT NULL REFERENCES slots (id),
    user_id    TEXT NOT NULL,
    seats      BIGINT NOT NULL CHECK (seats > 0),
    status     TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    created_at TEXT NOT NULL
);
CREATE INDEX bookings_by_user ON bookings (user_id, created_at);

INSERT INTO slots (id, title, starts_at, capacity) VALUES
    ('s1', 'Pottery taster', '2026-12-14T10:00:00Z', 8),
    ('s2', 'Pottery taster', '2026-12-14T14:00:00Z', 8),
    ('s3', 'Wheel throwing, beginners', '2026-12-15T18:00:00Z', 4),
    ('s4', 'Glazing workshop', '2026-12-16T18:00:00Z', 6),
    ('s5', 'Private lesson', '2026-12-17T09:00:00Z', 1);
