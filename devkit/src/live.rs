//! `devkit up`'s live lines: one line on stderr per sign-in step, tool call
//! or refusal, as the gateway and the issuer publish them
//! ([`kit_serve::activity`]). Aligned columns; colour only when stderr is a
//! terminal and `NO_COLOR` is unset. `--quiet` turns them off.
//!
//! The events hold no token, code, secret or passcode, so neither do the lines.

use std::{collections::HashMap, io::Write as _};

use kit_serve::activity::{Event, What};
use tokio::sync::broadcast::{Receiver, error::RecvError};

/// Prints every event until the publishers are gone.
pub(crate) async fn print(mut events: Receiver<Event>, colour: bool) {
    let mut lines = Lines {
        colour,
        names: HashMap::new(),
    };
    loop {
        let line = match events.recv().await {
            Ok(event) => lines.line(&event),
            Err(RecvError::Lagged(missed)) => format!("… {missed} events came too fast to show"),
            Err(RecvError::Closed) => return,
        };
        // A closed stderr must not end the server; the line is lost, nothing else.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// Whether stderr takes colour: a terminal, and `NO_COLOR` unset.
pub(crate) fn stderr_takes_colour() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

struct Lines {
    colour: bool,
    /// Client ids to the names they registered with.
    names: HashMap<String, String>,
}

#[derive(Clone, Copy)]
enum Tone {
    Good,
    Bad,
    Warn,
    SignIn,
}

impl Lines {
    fn line(&mut self, event: &Event) -> String {
        let at = chrono::DateTime::<chrono::Local>::from(event.at).format("%H:%M:%S");
        let (kind, tone, rest) = match &event.what {
            What::MetadataFetched { document } => (
                "sign-in",
                Tone::SignIn,
                format!("{:<14} {document} metadata", "discovery"),
            ),
            What::Registered {
                client_id,
                client_name,
                how,
            } => {
                if let Some(name) = client_name {
                    self.names.insert(client_id.clone(), name.clone());
                }
                let client = self.client(client_id);
                (
                    "sign-in",
                    Tone::SignIn,
                    format!("{:<14} {client} ({how})", "registered"),
                )
            }
            What::AuthorizePage { client_id } => (
                "sign-in",
                Tone::SignIn,
                format!("{:<14} {}", "page shown", self.client(client_id)),
            ),
            What::Approved { client_id, user } => (
                "sign-in",
                Tone::Good,
                format!("{:<14} {user} for {}", "approved", self.client(client_id)),
            ),
            What::Denied { client_id, why } => (
                "sign-in",
                Tone::Bad,
                format!("{:<14} {} ({why})", "denied", self.client(client_id)),
            ),
            What::CodeExchanged { client_id, user } => (
                "sign-in",
                Tone::Good,
                format!(
                    "{:<14} {user} for {}",
                    "code → tokens",
                    self.client(client_id)
                ),
            ),
            What::Refreshed { client_id, user } => (
                "sign-in",
                Tone::Good,
                format!("{:<14} {user} for {}", "refreshed", self.client(client_id)),
            ),
            What::TokenRefused { client_id, why } => (
                "sign-in",
                Tone::Bad,
                format!(
                    "{:<14} {} ({why})",
                    "token refused",
                    client_id
                        .as_deref()
                        .map_or_else(|| "a client".into(), |c| self.client(c))
                ),
            ),
            What::ToolCall {
                user,
                tool,
                millis,
                outcome,
                ..
            } => {
                let tone = if outcome == "ok" {
                    Tone::Good
                } else {
                    Tone::Bad
                };
                let user = if user.is_empty() { "?" } else { user };
                (
                    "call",
                    tone,
                    format!("{user:<14} {tool:<24} {millis:>7.1} ms  {outcome}"),
                )
            }
            What::Refused { status, why } => ("refused", Tone::Warn, format!("{status:<14} {why}")),
        };
        let kind = format!("{kind:<8}");
        format!("{at}  {}  {rest}", self.paint(&kind, tone))
    }

    /// A client by the name it registered with, else its id (shortened: ids
    /// are long random strings or URLs).
    fn client(&self, client_id: &str) -> String {
        match self.names.get(client_id) {
            Some(name) => format!("\"{name}\""),
            None if client_id.chars().count() > 24 => {
                let head: String = client_id.chars().take(21).collect();
                format!("client {head}…")
            }
            None => format!("client {client_id}"),
        }
    }

    fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.colour {
            return text.to_owned();
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Warn => "33",
            Tone::SignIn => "36",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn line(lines: &mut Lines, what: What) -> String {
        lines.line(&Event {
            at: SystemTime::now(),
            what,
        })
    }

    #[test]
    fn lines_are_aligned_plain_and_name_clients_by_their_names() {
        let mut lines = Lines {
            colour: false,
            names: HashMap::new(),
        };
        let registered = line(
            &mut lines,
            What::Registered {
                client_id: "c-123".into(),
                client_name: Some("Claude".into()),
                how: "dcr",
            },
        );
        assert!(
            registered.ends_with("sign-in   registered     \"Claude\" (dcr)"),
            "{registered}"
        );
        let approved = line(
            &mut lines,
            What::Approved {
                client_id: "c-123".into(),
                user: "ada".into(),
            },
        );
        assert!(
            approved.ends_with("approved       ada for \"Claude\""),
            "{approved}"
        );
        let call = line(
            &mut lines,
            What::ToolCall {
                user: "ada".into(),
                tool: "domain_search".into(),
                millis: 12.34,
                outcome: "ok".into(),
                arguments: r#"{"query":"maps"}"#.into(),
                result: String::new(),
            },
        );
        assert!(
            call.contains("call      ada            domain_search               12.3 ms  ok"),
            "{call}"
        );
        assert!(!call.contains('\x1b'));
        let long = line(
            &mut lines,
            What::AuthorizePage {
                client_id: "https://host.example/oauth/client-metadata.json".into(),
            },
        );
        assert!(long.ends_with("client https://host.example/…"), "{long}");
    }

    #[test]
    fn colour_marks_the_kind_of_line() {
        let mut lines = Lines {
            colour: true,
            names: HashMap::new(),
        };
        let refused = line(
            &mut lines,
            What::Refused {
                status: 401,
                why: "the token has expired".into(),
            },
        );
        assert!(refused.contains("\x1b[33mrefused \x1b[0m"), "{refused:?}");
        assert!(refused.ends_with("401            the token has expired"));
    }
}
