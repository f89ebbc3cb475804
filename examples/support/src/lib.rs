//! A shop's support assistant: the caller's orders, the tickets they open,
//! and the shop's policies.
//!
//! This file is the whole app apart from its pack (`pack/`: the policies as
//! catalog items, the rules and the persona) and migrations (`migrations/`).
//! The policies are served by the kit's catalog (`domain_search`,
//! `domain_get_item`). Sign-in, the session check before every tool, the
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
        .catalog()
        .domain(|cx| Support { db: cx.db.clone() })
}

#[derive(Debug)]
pub struct Support {
    db: AppDb,
}

// ---- arguments and results ----------------------------------------------

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderArgs {
    /// The order's id, as `user_orders` returned it (`o-1001`).
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketArgs {
    /// The ticket's id, as `domain_open_ticket` or `user_tickets` returned it.
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenTicketArgs {
    /// The order the ticket is about, by id (`o-1001`); leave it out for a
    /// question about no particular order.
    pub order_id: Option<String>,
    /// A one-line summary of the problem (`Shoes too small, want to return`), 1–120 characters.
    pub title: String,
    /// What the person needs, in their words, with the details the policy asks for; 1–4000 characters.
    pub message: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderLine {
    pub product: String,
    pub quantity: i64,
    /// The price of one, in cents of the order's currency.
    pub unit_cents: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Order {
    pub id: String,
    /// When it was placed (RFC 3339).
    pub placed_at: String,
    /// `processing` (not shipped yet), `shipped`, `delivered` or `cancelled`.
    pub status: String,
    /// When it was delivered (RFC 3339), once it has been.
    pub delivered_at: Option<String>,
    /// What was paid, in cents.
    pub total_cents: i64,
    /// ISO 4217 (`EUR`).
    pub currency: String,
    pub lines: Vec<OrderLine>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MyOrders {
    pub orders: Vec<Order>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OneOrder {
    pub order: Order,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Ticket {
    pub id: String,
    /// The order it is about, if any.
    pub order_id: Option<String>,
    pub title: String,
    pub message: String,
    /// `open` (the team has yet to answer it) or `closed`.
    pub status: String,
    /// When it was opened (RFC 3339).
    pub created_at: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OpenTickets {
    /// The caller's tickets still open, newest first.
    pub open_tickets: Vec<Ticket>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MyTickets {
    pub tickets: Vec<Ticket>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OneTicket {
    pub ticket: Ticket,
}

// ---- the tools ----------------------------------------------------------

/// Every line of the caller's orders (`$1`), newest order first; a filter
/// goes between `{}` and the ordering.
fn order_lines(filter: &str) -> String {
    format!(
        "SELECT o.id, o.placed_at, o.status, o.delivered_at, o.total_cents, o.currency, \
         l.product, l.quantity, l.unit_cents FROM orders o JOIN order_lines l ON l.order_id = o.id \
         WHERE o.user_id = $1 {filter} ORDER BY o.placed_at DESC, o.id, l.line"
    )
}

/// Folds one row per order line into orders.
fn orders_from(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Order>, sqlx::Error> {
    let mut orders: Vec<Order> = Vec::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        if orders.last().is_none_or(|o| o.id != id) {
            orders.push(Order {
                id,
                placed_at: row.try_get("placed_at")?,
                status: row.try_get("status")?,
                delivered_at: row.try_get("delivered_at")?,
                total_cents: row.try_get("total_cents")?,
                currency: row.try_get("currency")?,
                lines: Vec::new(),
            });
        }
        if let Some(order) = orders.last_mut() {
            order.lines.push(OrderLine {
                product: row.try_get("product")?,
                quantity: row.try_get("quantity")?,
                unit_cents: row.try_get("unit_cents")?,
            });
        }
    }
    Ok(orders)
}

const TICKET: &str = "SELECT id, order_id, title, message, status, created_at FROM tickets";

fn ticket_from(row: &sqlx::any::AnyRow) -> Result<Ticket, sqlx::Error> {
    Ok(Ticket {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        title: row.try_get("title")?,
        message: row.try_get("message")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
    })
}

#[domain_tools]
impl Support {
    /// Your own orders, newest first, each with its status, delivery date, total and lines.
    #[query(title = "Your orders")]
    async fn user_orders(self: Arc<Self>, me: Caller, _: NoArgs) -> Result<MyOrders, DomainError> {
        let rows = sqlx::query(&order_lines(""))
            .bind(me.subject())
            .fetch_all(self.db.pool())
            .await?;
        Ok(MyOrders {
            orders: orders_from(&rows)?,
        })
    }

    /// One of your orders by id (`o-1001`), with its status, delivery date, total and lines.
    #[query(title = "One of your orders")]
    async fn user_order(
        self: Arc<Self>,
        me: Caller,
        args: OrderArgs,
    ) -> Result<OneOrder, DomainError> {
        // Another person's order answers exactly like one that does not exist.
        let rows = sqlx::query(&order_lines("AND o.id = $2"))
            .bind(me.subject())
            .bind(&args.id)
            .fetch_all(self.db.pool())
            .await?;
        let order = orders_from(&rows)?.pop().ok_or_else(|| {
            DomainError::not_found("order", &args.id).hint("user_orders lists your orders")
        })?;
        Ok(OneOrder { order })
    }

    /// What `begin_session` tells the model at the start: the caller's open tickets.
    #[begin_session]
    async fn at_check_in(self: Arc<Self>, me: Caller) -> Result<OpenTickets, DomainError> {
        let rows = sqlx::query(&format!(
            "{TICKET} WHERE user_id = $1 AND status = 'open' ORDER BY created_at DESC, id"
        ))
        .bind(me.subject())
        .fetch_all(self.db.pool())
        .await?;
        let open_tickets = rows.iter().map(ticket_from).collect::<Result<_, _>>()?;
        Ok(OpenTickets { open_tickets })
    }

    /// Your own support tickets, newest first, with their status.
    #[query(title = "Your support tickets")]
    async fn user_tickets(
        self: Arc<Self>,
        me: Caller,
        _: NoArgs,
    ) -> Result<MyTickets, DomainError> {
        let rows = sqlx::query(&format!(
            "{TICKET} WHERE user_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(me.subject())
        .fetch_all(self.db.pool())
        .await?;
        let tickets = rows.iter().map(ticket_from).collect::<Result<_, _>>()?;
        Ok(MyTickets { tickets })
    }

    /// One of your support tickets by id, with its message and status.
    #[query(title = "One of your support tickets")]
    async fn user_ticket(
        self: Arc<Self>,
        me: Caller,
        args: TicketArgs,
    ) -> Result<OneTicket, DomainError> {
        let row = sqlx::query(&format!("{TICKET} WHERE id = $1 AND user_id = $2"))
            .bind(&args.id)
            .bind(me.subject())
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| {
                DomainError::not_found("ticket", &args.id).hint("user_tickets lists your tickets")
            })?;
        Ok(OneTicket {
            ticket: ticket_from(&row)?,
        })
    }

    /// Open a support ticket for the shop's team, about one of your orders (`order_id`)
    /// or none. Retrying with the same idempotency_key never opens a second ticket.
    #[action(title = "Open a support ticket", additive)]
    async fn domain_open_ticket(
        self: Arc<Self>,
        me: Caller,
        args: OpenTicketArgs,
        tx: Tx,
    ) -> Result<OneTicket, DomainError> {
        let title = args.title.trim();
        let message = args.message.trim();
        if !(1..=120).contains(&title.chars().count()) {
            return Err(DomainError::invalid("`title` must be 1 to 120 characters"));
        }
        if !(1..=4000).contains(&message.chars().count()) {
            return Err(DomainError::invalid(
                "`message` must be 1 to 4000 characters",
            ));
        }
        let mut db = tx.conn().await?;
        if let Some(order_id) = &args.order_id {
            // Another person's order answers exactly like one that does not exist.
            sqlx::query("SELECT id FROM orders WHERE id = $1 AND user_id = $2")
                .bind(order_id)
                .bind(me.subject())
                .fetch_optional(&mut *db)
                .await?
                .ok_or_else(|| {
                    DomainError::not_found("order", order_id).hint("user_orders lists your orders")
                })?;
        }
        let ticket = Ticket {
            id: format!("t-{:016x}", rand::random::<u64>()),
            order_id: args.order_id.clone(),
            title: title.to_owned(),
            message: message.to_owned(),
            status: "open".to_owned(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        };
        sqlx::query("INSERT INTO tickets (id, user_id, order_id, title, message, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&ticket.id)
            .bind(me.subject())
            .bind(&ticket.order_id)
            .bind(&ticket.title)
            .bind(&ticket.message)
            .bind(&ticket.status)
            .bind(&ticket.created_at)
            .execute(&mut *db)
            .await?;
        Ok(OneTicket { ticket })
    }
}
