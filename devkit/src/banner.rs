//! What `devkit up` prints once everything answers: the URLs, what to paste
//! where, and (through a tunnel) the sign-in passcode. Plain text on stdout,
//! so it can be read by a person and parsed by a test.

use std::fmt::Write;

use url::Url;

#[derive(Debug)]
pub struct Banner<'a> {
    pub app: &'a str,
    /// The connector URL hosts are given (public through a tunnel).
    pub connector: &'a Url,
    /// The same server on this machine.
    pub local: &'a Url,
    pub tunnelled: bool,
    /// Why there is no tunnel when one was wanted (cloudflared missing).
    pub tunnel_note: Option<&'a str>,
    pub database: &'a str,
    /// `/metrics` on its own loopback listener (never through the tunnel).
    pub metrics: &'a str,
    /// `/_devkit/` on loopback (404 through the tunnel).
    pub dashboard: &'a str,
    /// `None` when sign-in is off.
    pub issuer: Option<&'a str>,
    pub passcode: Option<&'a str>,
}

impl Banner<'_> {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n  {} is running.\n", self.app);
        let _ = writeln!(out, "  Connector URL  {}", self.connector);
        if self.tunnelled {
            let _ = writeln!(out, "                 (public; a new one on every start)");
            let _ = writeln!(out, "  Local URL      {}", self.local);
        }
        let _ = writeln!(out, "  Database       {}", self.database);
        let _ = writeln!(
            out,
            "  Dashboard      {}   (this machine only)",
            self.dashboard
        );
        let _ = writeln!(
            out,
            "  Metrics        {}   (this machine only)",
            self.metrics
        );
        match self.issuer {
            Some(issuer) => {
                let _ = writeln!(out, "  Sign-in        {issuer} (the bundled mock issuer)");
            }
            None => {
                let _ = writeln!(
                    out,
                    "  Sign-in        OFF: every caller is one stand-in user. Demo only."
                );
            }
        }
        if let Some(code) = self.passcode {
            let _ = writeln!(
                out,
                "  Passcode       {code}   (the sign-in page asks for it)"
            );
        }
        let _ = writeln!(out, "\n  Paste the connector URL into:");
        if self.tunnelled {
            let _ = writeln!(
                out,
                "    claude.ai     Settings → Connectors → Add custom connector"
            );
        }
        let _ = writeln!(
            out,
            "    Claude Code   claude mcp add --transport http {} {}",
            slug(self.app),
            self.connector
        );
        if !self.tunnelled {
            let note = self
                .tunnel_note
                .unwrap_or("run `devkit up` without --no-tunnel");
            let _ = writeln!(out, "    claude.ai     needs a public URL: {note}");
        }
        if self.issuer.is_some() {
            let who = if self.passcode.is_some() {
                "type any name and the passcode above"
            } else {
                "type any name"
            };
            let _ = writeln!(out, "\n  When the host opens the sign-in page, {who}.");
        }
        let _ = writeln!(out, "  Ctrl-C stops everything.\n");
        out
    }
}

/// A server name for `claude mcp add`: lower-case words joined by dashes.
fn slug(name: &str) -> String {
    let words: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    if words.is_empty() {
        "connector".to_owned()
    } else {
        words.join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn a_tunnelled_banner_names_both_urls_and_the_passcode() {
        let (public, local) = (
            url("https://a-b.trycloudflare.com/mcp"),
            url("http://127.0.0.1:8000/mcp"),
        );
        let text = Banner {
            app: "Reading Room",
            connector: &public,
            local: &local,
            tunnelled: true,
            tunnel_note: None,
            database: "sqlite://.devkit/gateway.db",
            metrics: "http://127.0.0.1:8001/metrics",
            dashboard: "http://127.0.0.1:8000/_devkit/",
            issuer: Some("https://a-b.trycloudflare.com"),
            passcode: Some("123456"),
        }
        .render();
        assert!(text.contains("Connector URL  https://a-b.trycloudflare.com/mcp"));
        assert!(text.contains("Local URL      http://127.0.0.1:8000/mcp"));
        assert!(text.contains("Passcode       123456"));
        assert!(
            text.contains("Dashboard      http://127.0.0.1:8000/_devkit/   (this machine only)")
        );
        assert!(text.contains("Add custom connector"));
        assert!(text.contains(
            "claude mcp add --transport http reading-room https://a-b.trycloudflare.com/mcp"
        ));
    }

    #[test]
    fn a_local_banner_says_what_a_public_url_needs() {
        let local = url("http://127.0.0.1:8000/mcp");
        let text = Banner {
            app: "Reading Room",
            connector: &local,
            local: &local,
            tunnelled: false,
            tunnel_note: Some("install cloudflared"),
            database: "sqlite://.devkit/gateway.db",
            metrics: "http://127.0.0.1:8001/metrics",
            dashboard: "http://127.0.0.1:8000/_devkit/",
            issuer: None,
            passcode: None,
        }
        .render();
        assert!(text.contains("Sign-in        OFF"));
        assert!(text.contains("needs a public URL: install cloudflared"));
        assert!(!text.contains("Passcode"));
        assert!(!text.contains("Local URL"));
    }

    #[test]
    fn slugs_are_command_line_safe() {
        assert_eq!(slug("Reading Room"), "reading-room");
        assert_eq!(slug("  Tutor: Maths! "), "tutor-maths");
        assert_eq!(slug("???"), "connector");
    }
}
