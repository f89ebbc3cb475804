//! The cloudflared quick tunnel: spawn it, find the public address in its
//! output, keep draining that output, and end it on every exit path.
//!
//! `cloudflared tunnel --url http://127.0.0.1:PORT` prints the address it was
//! given inside a box on stderr. We read both streams line by line: the lines
//! before the address tell us why it failed when it fails, and a child whose
//! pipes are not read blocks once they fill.

use std::{
    collections::VecDeque,
    ffi::OsString,
    io,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::mpsc,
};
use url::Url;

/// Where quick tunnels live. Other cloudflare.com addresses in the banner
/// (terms, docs) are not ours.
const QUICK_TUNNEL_DOMAIN: &str = ".trycloudflare.com";
/// Output lines kept for error messages.
const KEPT_LINES: usize = 12;

pub const INSTALL_HELP: &str = "install cloudflared to get a public URL: \
    macOS `brew install cloudflared`; Debian/Ubuntu: see \
    https://pkg.cloudflare.com/; Windows `winget install --id Cloudflare.cloudflared`; \
    or download from https://github.com/cloudflare/cloudflared/releases";

#[derive(Debug, Clone)]
pub struct TunnelOptions {
    /// The executable, `cloudflared` (looked up on `PATH`).
    pub program: OsString,
    pub local_port: u16,
    /// How long to wait for the address.
    pub timeout: Duration,
    /// Tests only: accept an `http://127.0.0.1:PORT` address, as printed by a
    /// stand-in that forwards on loopback (no test can own a trycloudflare.com name).
    pub allow_loopback: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("cloudflared is not installed (not found on PATH)")]
    NotInstalled,
    #[error("cannot start cloudflared: {0}")]
    Spawn(io::Error),
    #[error(
        "Cloudflare is rate-limiting new quick tunnels from this network; wait a few minutes \
         and run `devkit up` again, or use --no-tunnel ({detail})"
    )]
    RateLimited { detail: String },
    #[error("cloudflared exited ({status}) before giving a public URL: {detail}")]
    Exited { status: ExitStatus, detail: String },
    #[error("cloudflared gave no public URL within {seconds}s: {detail}")]
    NoUrl { seconds: u64, detail: String },
}

/// A running tunnel. Dropping it kills cloudflared (a backstop for panics);
/// the normal paths call [`Tunnel::close`], which also reaps it.
#[derive(Debug)]
pub struct Tunnel {
    child: Child,
    public_url: Url,
    recent: Recent,
}

impl Tunnel {
    /// Starts cloudflared and waits for its public address.
    pub async fn open(options: &TunnelOptions) -> Result<Self, TunnelError> {
        let mut child = Command::new(&options.program)
            .args(["tunnel", "--no-autoupdate", "--url"])
            .arg(format!("http://127.0.0.1:{}", options.local_port))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => TunnelError::NotInstalled,
                _ => TunnelError::Spawn(e),
            })?;
        let recent = Recent::default();
        let (lines, mut found) = mpsc::unbounded_channel();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(drain(out, recent.clone(), lines.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(drain(err, recent.clone(), lines));
        }
        let deadline = tokio::time::sleep(options.timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                Some(line) = found.recv() => {
                    if let Some(public_url) = public_url_in(&line, options.allow_loopback) {
                        // The drains keep reading; their sends now fail quietly.
                        return Ok(Self { child, public_url, recent });
                    }
                }
                status = child.wait() => {
                    let status = status.map_err(TunnelError::Spawn)?;
                    // Let the drains catch the last lines before we quote them.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let detail = recent.summary();
                    return Err(if is_rate_limit(&detail) {
                        TunnelError::RateLimited { detail }
                    } else {
                        TunnelError::Exited { status, detail }
                    });
                }
                () = &mut deadline => {
                    let _ = child.kill().await;
                    return Err(TunnelError::NoUrl {
                        seconds: options.timeout.as_secs(),
                        detail: recent.summary(),
                    });
                }
            }
        }
    }

    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// Resolves when cloudflared exits on its own, saying how and why.
    pub async fn exited(&mut self) -> String {
        let status = match self.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        format!("{status}: {}", self.recent.summary())
    }

    /// Ends cloudflared and waits for it, so no process is left behind.
    pub async fn close(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The public address in one line of cloudflared's output, if it has one.
pub fn public_url_in(line: &str, allow_loopback: bool) -> Option<Url> {
    line.split(|c: char| c.is_whitespace() || c == '|')
        .filter(|word| word.starts_with("https://") || word.starts_with("http://"))
        .filter_map(|word| Url::parse(word.trim_end_matches(['.', ',', ')'])).ok())
        .find(|url| {
            let Some(host) = url.host_str() else {
                return false;
            };
            let quick = url.scheme() == "https"
                && host.ends_with(QUICK_TUNNEL_DOMAIN)
                && host != "api.trycloudflare.com";
            let loopback = allow_loopback && url.scheme() == "http" && host == "127.0.0.1";
            (quick || loopback) && url.path() == "/"
        })
}

/// Cloudflare answers too many quick-tunnel requests with HTTP 429 / error 1015.
fn is_rate_limit(output: &str) -> bool {
    let lower = output.to_ascii_lowercase();
    lower.contains("429") || lower.contains("1015") || lower.contains("too many requests")
}

/// The last lines cloudflared printed, shared with the drains.
#[derive(Debug, Clone, Default)]
struct Recent(Arc<Mutex<VecDeque<String>>>);

impl Recent {
    fn push(&self, line: &str) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == KEPT_LINES {
            lines.pop_front();
        }
        lines.push_back(line.trim().to_owned());
    }

    /// The error lines if there are any, else the last line, as one line.
    fn summary(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let errors: Vec<&str> = lines
            .iter()
            .filter(|l| l.contains(" ERR ") || l.to_ascii_lowercase().contains("error"))
            .map(String::as_str)
            .collect();
        let chosen = if errors.is_empty() {
            lines.back().map(String::as_str).into_iter().collect()
        } else {
            errors
        };
        if chosen.is_empty() {
            "it printed nothing".to_owned()
        } else {
            chosen.join(" / ")
        }
    }
}

async fn drain(
    stream: impl AsyncRead + Unpin,
    recent: Recent,
    lines: mpsc::UnboundedSender<String>,
) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        recent.push(&line);
        let _ = lines.send(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cloudflared 2024.x's quick-tunnel banner, as printed on stderr.
    const BANNER: &str = "\
2026-11-25T10:00:00Z INF Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to experiment and try it out. However, be aware that these account-less Tunnels have no uptime guarantee, are subject to the Cloudflare Online Services Terms of Use (https://www.cloudflare.com/website-terms/), and Cloudflare reserves the right to investigate your use of Tunnels for violations of such terms. If you intend to use Tunnels in production you should use a pre-created named tunnel by following: https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/get-started/
2026-11-25T10:00:00Z INF Requesting new quick Tunnel on trycloudflare.com...
2026-11-25T10:00:01Z INF +--------------------------------------------------------------------------------------------+
2026-11-25T10:00:01Z INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |
2026-11-25T10:00:01Z INF |  https://seasonal-deck-organisms-sf.trycloudflare.com                                      |
2026-11-25T10:00:01Z INF +--------------------------------------------------------------------------------------------+
2026-11-25T10:00:01Z INF Starting metrics server on 127.0.0.1:41735/metrics";

    #[test]
    fn the_address_is_found_in_the_real_banner_and_nowhere_else() {
        let found: Vec<Url> = BANNER
            .lines()
            .filter_map(|l| public_url_in(l, false))
            .collect();
        assert_eq!(
            found,
            [Url::parse("https://seasonal-deck-organisms-sf.trycloudflare.com").expect("url")]
        );
    }

    #[test]
    fn loopback_addresses_count_only_when_allowed() {
        let line = "2026-11-25T10:00:01Z INF |  http://127.0.0.1:4567  |";
        assert_eq!(public_url_in(line, false), None);
        assert_eq!(
            public_url_in(line, true).map(String::from),
            Some("http://127.0.0.1:4567/".to_owned())
        );
        // Not even in tests: another host, or plain http for a quick tunnel.
        assert_eq!(public_url_in("| http://10.0.0.1:80 |", true), None);
        assert_eq!(public_url_in("| http://a.trycloudflare.com |", true), None);
    }

    #[test]
    fn rate_limits_are_recognised() {
        assert!(is_rate_limit(
            "ERR Error unmarshaling QuickTunnel response: error code: 1015 status_code=\"429 Too Many Requests\""
        ));
        assert!(!is_rate_limit("ERR failed to dial to edge with quic"));
    }

    #[test]
    fn the_summary_prefers_error_lines_and_keeps_the_last_few() {
        let recent = Recent::default();
        assert_eq!(recent.summary(), "it printed nothing");
        for i in 0..20 {
            recent.push(&format!("INF line {i}"));
        }
        assert_eq!(recent.summary(), "INF line 19");
        recent.push("2026-11-25T10:00:01Z ERR failed to request quick Tunnel");
        recent.push("INF bye");
        assert_eq!(
            recent.summary(),
            "2026-11-25T10:00:01Z ERR failed to request quick Tunnel"
        );
    }
}
