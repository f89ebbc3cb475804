-- A shop's orders and the support tickets people open. `user_id` is the
-- verified caller's `sub`; the kit's `users` table is not touched.
CREATE TABLE orders (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL,
    placed_at    TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('processing', 'shipped', 'delivered', 'cancelled')),
    delivered_at TEXT,
    total_cents  INTEGER NOT NULL CHECK (total_cents >= 0),
    currency     TEXT NOT NULL
);
CREATE INDEX orders_by_user ON orders (user_id, placed_at);

CREATE TABLE order_lines (
    order_id   TEXT NOT NULL REFERENCES orders (id),
    line       INTEGER NOT NULL,
    product    TEXT NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    unit_cents INTEGER NOT NULL CHECK (unit_cents >= 0),
    PRIMARY KEY (order_id, line)
);

CREATE TABLE tickets (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    order_id   TEXT REFERENCES orders (id),
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_at TEXT NOT NULL
);
CREATE INDEX tickets_by_user ON tickets (user_id, created_at);

-- Demo data: the users are the tokens' `sub` (`mint-token alice`).
INSERT INTO orders (id, user_id, placed_at, status, delivered_at, total_cents, currency) VALUES
    ('o-1001', 'alice', '2026-11-02T09:14:00Z', 'delivered', '2026-11-05T15:40:00Z', 8900, 'EUR'),
    ('o-1002', 'alice', '2026-11-20T18:02:00Z', 'shipped', NULL, 13400, 'EUR'),
    ('o-1003', 'alice', '2026-12-01T08:30:00Z', 'processing', NULL, 6450, 'EUR'),
    ('o-2001', 'bob', '2026-10-28T12:00:00Z', 'delivered', '2026-10-31T10:05:00Z', 4900, 'EUR'),
    ('o-2002', 'bob', '2026-11-15T20:45:00Z', 'cancelled', NULL, 7900, 'EUR');

INSERT INTO order_lines (order_id, line, product, quantity, unit_cents) VALUES
    ('o-1001', 1, 'Wireless headphones', 1, 8900),
    ('o-1002', 1, 'Trail running shoes, size 39', 1, 11000),
    ('o-1002', 2, 'Running socks (3-pack)', 2, 1200),
    ('o-1003', 1, 'Burr coffee grinder', 1, 6450),
    ('o-2001', 1, 'LED desk lamp', 1, 4200),
    ('o-2001', 2, 'Spare lamp bulb', 2, 350),
    ('o-2002', 1, 'Travel backpack, 40 l', 1, 7900);
