//! What just happened, for the person watching `devkit up`: each sign-in
//! step, each tool call, each refusal, as it happens.
//!
//! The gateway and the issuer publish; `devkit up` subscribes. Publishing
//! costs a clock read and a channel send when someone listens and nothing
//! when nobody does ([`Activity::off`], the default). A listener that falls
//! behind misses the oldest events; requests never wait for it.
//!
//! An event never holds a token, a code, a secret or a passcode: only what
//! a person may read over the builder's shoulder.

use std::time::SystemTime;

use tokio::sync::broadcast;

/// Where events go: nowhere, or to every subscriber.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    sender: Option<broadcast::Sender<Event>>,
}

/// One thing that happened, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: SystemTime,
    pub what: What,
}

/// The events, in the order a sign-in meets them.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// A client read a discovery document: the connector's protected-resource
    /// metadata (`protected resource`) or the issuer's (`authorization server`).
    MetadataFetched { document: &'static str },
    /// A client registered: by dynamic registration (`dcr`) or by a client
    /// metadata document (`metadata document`).
    Registered {
        client_id: String,
        client_name: Option<String>,
        how: &'static str,
    },
    /// The sign-in page was shown for a client.
    AuthorizePage { client_id: String },
    /// The person approved; `user` is the subject the tokens will carry.
    Approved { client_id: String, user: String },
    /// The person denied, or the page refused them (a wrong passcode).
    Denied { client_id: String, why: String },
    /// A code became tokens.
    CodeExchanged { client_id: String, user: String },
    /// A refresh token became new tokens.
    Refreshed { client_id: String, user: String },
    /// The token endpoint refused a request (`invalid_grant`, …).
    TokenRefused {
        client_id: Option<String>,
        why: String,
    },
    /// A tool call: `outcome` is `ok` or the error's code (`SESSION_REQUIRED`).
    /// `arguments` and `result` are short JSON previews, session tokens cut
    /// to their first characters.
    ToolCall {
        user: String,
        tool: String,
        millis: f64,
        outcome: String,
        arguments: String,
        result: String,
    },
    /// A request refused before any tool ran: 401 (and why), 403, a bad
    /// `Origin` or `Host`.
    Refused { status: u16, why: String },
}

impl Activity {
    /// Publishes nothing (the gateway and issuer alone, tests).
    pub fn off() -> Self {
        Self::default()
    }

    /// Publishes to subscribers; up to `backlog` events wait for a slow one.
    pub fn channel(backlog: usize) -> Self {
        let (sender, _) = broadcast::channel(backlog.max(1));
        Self {
            sender: Some(sender),
        }
    }

    /// Events from now on; `None` when publishing is off.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Event>> {
        self.sender.as_ref().map(broadcast::Sender::subscribe)
    }

    /// Is anyone able to listen? Lets a publisher skip building an event.
    pub fn is_on(&self) -> bool {
        self.sender.is_some()
    }

    /// Publishes `what`, stamped now; no subscriber is not an error.
    pub fn emit(&self, what: What) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Event {
                at: SystemTime::now(),
                what,
            });
        }
    }
}

/// At most `chars` characters of `text`, with `…` where it was cut: a
/// preview of arguments, results or saved state fit for one line.
///
/// ```
/// use kit_serve::activity::shortened;
///
/// assert_eq!(shortened("a saved place", 7), "a saved…");
/// assert_eq!(shortened("naïve", 5), "naïve");
/// ```
pub fn shortened(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_subscribers_and_off_publishes_nothing() {
        let activity = Activity::channel(8);
        let mut first = activity.subscribe().expect("on");
        let mut second = activity.subscribe().expect("on");
        activity.emit(What::Refused {
            status: 401,
            why: "token expired".into(),
        });
        for receiver in [&mut first, &mut second] {
            let event = receiver.try_recv().expect("an event");
            assert_eq!(
                event.what,
                What::Refused {
                    status: 401,
                    why: "token expired".into()
                }
            );
        }
        let off = Activity::off();
        assert!(off.subscribe().is_none() && !off.is_on());
        off.emit(What::AuthorizePage {
            client_id: "c".into(),
        });
    }

    #[test]
    fn a_slow_subscriber_misses_the_oldest_events() {
        let activity = Activity::channel(2);
        let mut slow = activity.subscribe().expect("on");
        for n in 0..5 {
            activity.emit(What::AuthorizePage {
                client_id: n.to_string(),
            });
        }
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
        let next = slow.try_recv().expect("the newest are kept");
        assert_eq!(
            next.what,
            What::AuthorizePage {
                client_id: "3".into()
            }
        );
    }
}
