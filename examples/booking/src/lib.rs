//! A booking helper: slots with a capacity, and bookings that fill them.
//!
//! This file is the whole app apart from its pack (`pack/`) and migrations
//! (`migrations/`). Sign-in, the session check before every tool, the
//! caller, the rules reminder, `STORE_UNAVAILABLE`, `INVALID_ARGUMENT` and
//! the stored outcome of each idempotency key are the kit's.

use std::sync::Arc;

use gateway::{
    App,
    domain::{AppDb, Caller, DomainError, NoArgs, Tx, domain_tools},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The app, for `main` and for tests.
pub fn app() -> App {
    App::new()
        .pack(concat!(env!("CARGO_MANIFEST_DIR"), "/pack"))
        .migrations(gateway::app_migrations!())
        .domain(|cx| Booking { db: cx.db.clone() })
}

#[derive(Debug)]
pub struct Booking {
    db: AppDb,
}

// ---- arguments and results ----------------------------------------------

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Words in the slot's title (`pottery`), or empty for every slot.
    #[serde(default)]
    pub query: String,
    /// How many slots to return (1–20, default 10).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotArgs {
    /// The slot's id, as `domain_search` returned it (`s1`).
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BookArgs {
    /// The slot to book, by id.
    pub slot_id: String,
    /// How many seats (1–10, default 1).
    pub seats: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelArgs {
    /// The booking to cancel, by id, as `domain_book` or `user_bookings` gave it.
    pub booking_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Slot {
    pub id: String,
    pub title: String,
    /// When it starts (RFC 3339).
    pub starts_at: String,
    pub capacity: i64,
    /// Seats still free.
    pub remaining: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Slots {
    pub slots: Vec<Slot>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OneSlot {
    pub slot: Slot,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Booked {
    pub booking_id: String,
    pub slot: Slot,
    pub seats: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Cancelled {
    pub booking_id: String,
    pub seats_released: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BookingRow {
    pub booking_id: String,
    pub slot_id: String,
    pub title: String,
    pub starts_at: String,
    pub seats: i64,
    /// `active` or `cancelled`.
    pub status: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MyBookings {
    pub bookings: Vec<BookingRow>,
}

// ---- the tools ----------------------------------------------------------

const SLOT: &str =
    "SELECT id, title, starts_at, capacity, capacity - booked AS remaining FROM slots";

fn slot_from(row: &sqlx::any::AnyRow) -> Result<Slot, sqlx::Error> {
    Ok(Slot {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        starts_at: row.try_get("starts_at")?,
        capacity: row.try_get("capacity")?,
        remaining: row.try_get("remaining")?,
    })
}

#[domain_tools]
impl Booking {
    /// Slots whose title matches `query`, soonest first, with the seats still free.
    #[query(title = "Find slots")]
    async fn domain_search(
        self: Arc<Self>,
        _me: Caller,
        args: SearchArgs,
    ) -> Result<Slots, DomainError> {
        let limit = i64::from(args.limit.unwrap_or(10));
        if !(1..=20).contains(&limit) {
            return Err(DomainError::invalid("`limit` must be between 1 and 20"));
        }
        let pattern = format!("%{}%", args.query.trim().to_lowercase());
        let rows = sqlx::query(&format!(
            "{SLOT} WHERE LOWER(title) LIKE $1 ORDER BY starts_at, id LIMIT $2"
        ))
        .bind(pattern)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        let slots = rows.iter().map(slot_from).collect::<Result<_, _>>()?;
        Ok(Slots { slots })
    }

    /// One slot by id, with the seats still free.
    #[query(title = "Check a slot")]
    async fn domain_get_item(
        self: Arc<Self>,
        _me: Caller,
        args: SlotArgs,
    ) -> Result<OneSlot, DomainError> {
        let row = sqlx::query(&format!("{SLOT} WHERE id = $1"))
            .bind(&args.id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| DomainError::not_found("slot", &args.id))?;
        Ok(OneSlot {
            slot: slot_from(&row)?,
        })
    }

    /// Book seats on a slot. Retrying with the same idempotency_key never books twice.
    #[action(title = "Book a slot", additive)]
    async fn domain_book(
        self: Arc<Self>,
        me: Caller,
        args: BookArgs,
        tx: Tx,
    ) -> Result<Booked, DomainError> {
        let seats = args.seats.unwrap_or(1);
        if !(1..=10).contains(&seats) {
            return Err(DomainError::invalid("`seats` must be between 1 and 10"));
        }
        let mut db = tx.conn().await?;
        // One statement checks and takes the seats, so two racing callers
        // can never both have the last one.
        let taken = sqlx::query(
            "UPDATE slots SET booked = booked + $2 WHERE id = $1 AND booked + $2 <= capacity",
        )
        .bind(&args.slot_id)
        .bind(seats)
        .execute(&mut *db)
        .await?
        .rows_affected();
        let slot = sqlx::query(&format!("{SLOT} WHERE id = $1"))
            .bind(&args.slot_id)
            .fetch_optional(&mut *db)
            .await?
            .ok_or_else(|| DomainError::not_found("slot", &args.slot_id))?;
        let slot = slot_from(&slot)?;
        if taken == 0 {
            return Err(DomainError::refused(
                "SOLD_OUT",
                format!(
                    "slot {} has {} seat(s) left, fewer than the {seats} asked for. Nothing was booked; offer another slot.",
                    slot.id, slot.remaining
                ),
            ));
        }
        let booking_id = format!("b-{:016x}", rand::random::<u64>());
        sqlx::query("INSERT INTO bookings (id, slot_id, user_id, seats, status, created_at) VALUES ($1, $2, $3, $4, 'active', $5)")
            .bind(&booking_id)
            .bind(&slot.id)
            .bind(me.subject())
            .bind(seats)
            .bind(now())
            .execute(&mut *db)
            .await?;
        Ok(Booked {
            booking_id,
            slot,
            seats,
        })
    }

    /// Cancel one of your bookings and free its seats.
    #[action(title = "Cancel a booking")]
    async fn domain_cancel(
        self: Arc<Self>,
        me: Caller,
        args: CancelArgs,
        tx: Tx,
    ) -> Result<Cancelled, DomainError> {
        let mut db = tx.conn().await?;
        // Another person's booking answers exactly like one that does not exist.
        let row = sqlx::query("UPDATE bookings SET status = 'cancelled' WHERE id = $1 AND user_id = $2 AND status = 'active' RETURNING slot_id, seats")
            .bind(&args.booking_id)
            .bind(me.subject())
            .fetch_optional(&mut *db)
            .await?
            .ok_or_else(|| {
                DomainError::not_found("active booking", &args.booking_id)
                    .hint("user_bookings lists your bookings")
            })?;
        let (slot_id, seats): (String, i64) = (row.try_get("slot_id")?, row.try_get("seats")?);
        sqlx::query("UPDATE slots SET booked = booked - $2 WHERE id = $1")
            .bind(&slot_id)
            .bind(seats)
            .execute(&mut *db)
            .await?;
        Ok(Cancelled {
            booking_id: args.booking_id,
            seats_released: seats,
        })
    }

    /// Your own bookings, newest first.
    #[query(title = "Your bookings")]
    async fn user_bookings(
        self: Arc<Self>,
        me: Caller,
        _: NoArgs,
    ) -> Result<MyBookings, DomainError> {
        let rows = sqlx::query(
            "SELECT b.id, b.slot_id, s.title, s.starts_at, b.seats, b.status FROM bookings b \
             JOIN slots s ON s.id = b.slot_id WHERE b.user_id = $1 ORDER BY b.created_at DESC, b.id",
        )
        .bind(me.subject())
        .fetch_all(self.db.pool())
        .await?;
        let bookings = rows
            .iter()
            .map(|row| {
                Ok(BookingRow {
                    booking_id: row.try_get("id")?,
                    slot_id: row.try_get("slot_id")?,
                    title: row.try_get("title")?,
                    starts_at: row.try_get("starts_at")?,
                    seats: row.try_get("seats")?,
                    status: row.try_get("status")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(MyBookings { bookings })
    }
}

fn now() -> String {
    // Nanoseconds since the epoch, zero-padded: sorts in time order as text on
    // both engines, with no date type to map.
    format!(
        "{:020}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}
