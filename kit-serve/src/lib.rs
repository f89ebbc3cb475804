//! What the kit's servers share, so each is written once: the gateway, the
//! issuer run alone (`cargo run -p mock-issuer`), and `devkit up`, which
//! serves both on one port.
//!
//! - [`serve()`]: the accept loop, with a time limit on every request head.
//! - [`cors()`]: the one CORS policy for browser-based MCP clients.
//! - [`activity`]: sign-in steps, tool calls and refusals as they happen,
//!   published by the gateway and the issuer for `devkit up` to show.
//! - [`telemetry`]: logs (`RUST_LOG`, `LOG_FORMAT`) and OpenTelemetry traces.
//! - [`stop_signal`]: Ctrl-C or SIGTERM, whichever comes first.
//! - [`parse_duration`] for flags such as `--request-timeout 30s`, and
//!   [`error_chain`] for logging an error with its causes on one line.

pub mod activity;
mod cors;
mod serve;
pub mod telemetry;

use std::time::Duration;

pub use cors::cors;
pub use serve::serve;

/// Parses `90s`, `30m`, `2h`, `1h 30m` (humantime's forms), for clap's
/// `value_parser`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(kit_serve::parse_duration(" 1h 30m"), Ok(Duration::from_secs(5400)));
/// assert!(kit_serve::parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration like 90s, 30m or 2h: {e}"))
}

/// Ctrl-C, or SIGTERM (what process managers and container runtimes send).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// `error: cause: cause`, for one log line.
///
/// ```
/// let e = std::io::Error::new(std::io::ErrorKind::Other, "disk full");
/// assert_eq!(kit_serve::error_chain(&e), "disk full");
/// ```
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("cannot open the store")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_chain_names_every_cause_in_order() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(error_chain(&e), "cannot open the store: disk full");
    }

    #[test]
    fn durations_say_how_to_write_one() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        let error = parse_duration("10 parsecs").expect_err("refused");
        assert!(
            error.contains("`10 parsecs`") && error.contains("like 90s"),
            "{error}"
        );
    }
}
