//! `devkit doctor`: the things people get wrong before `devkit up` works,
//! and what a host needs of the connector and its issuer ([`crate::host`]),
//! one line each, with what to do. Nothing is changed: no file written, no
//! database created or migrated, no OAuth client registered.

use std::{
    ffi::OsString,
    fmt,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
    time::Duration,
};

use gateway::{
    config::{DatabaseUrl, MIN_SECRET_BYTES},
    pack::DomainPack,
    store::{SchemaStatus, schema_status},
};
use url::Url;

use crate::{
    host::{self, Host, Target, rules::shown},
    tunnel::INSTALL_HELP,
};

#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// The port `devkit up` will use.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// The cloudflared executable.
    #[arg(long, env = "CLOUDFLARED", default_value = "cloudflared")]
    pub cloudflared: OsString,

    /// The host to check the connector for: `claude` (claude.ai) and
    /// `chatgpt` need a public https URL; `any` checks everything it can and
    /// counts a loopback URL as local use.
    #[arg(long, value_enum, default_value_t = Host::Any)]
    pub host: Host,

    /// The connector URL to check. Default: RESOURCE_URL, else http://127.0.0.1:PORT/mcp.
    #[arg(long)]
    pub url: Option<Url>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works, but worth knowing (a local-only run, a file made on first start).
    Note,
    /// `devkit up` will fail until this is fixed.
    Fail,
}

#[derive(Debug)]
pub struct Check {
    pub what: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Note => "note",
            Verdict::Fail => "FAIL",
        };
        write!(f, "{mark}  {:<13} {}", self.what, self.detail)
    }
}

pub(crate) fn check(what: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        what,
        verdict,
        detail: detail.into(),
    }
}

/// Runs every check. Reads `.env` itself rather than trusting the process
/// environment alone, so a broken line is reported, not skipped.
pub async fn run(args: &DoctorArgs, default_pack: &Path) -> Vec<Check> {
    let env = Path::new(".env");
    let mut checks = vec![env_file(env)];
    let var = |name: &str| std::env::var(name).ok();
    checks.push(secret(var("SESSION_SIGNING_SECRET")));
    checks.push(database(var("DATABASE_URL")).await);
    checks.push(pack(
        var("APP_DIR").map_or_else(|| default_pack.to_owned(), PathBuf::from),
    ));
    checks.push(cloudflared(&args.cloudflared));
    // An empty line in .env (`AUTH_AUDIENCE=`) means unset, as for the gateway.
    let setting = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let (host_lines, connector_on_port) =
        match connector_url(args.url.as_ref(), setting("RESOURCE_URL"), args.port) {
            Err(line) => (vec![line], false),
            Ok(connector) => {
                let target = Target {
                    audience: setting("AUTH_AUDIENCE"),
                    issuer: setting("AUTH_ISSUER"),
                    connector,
                };
                let report = host::check_host(args.host, &target).await;
                let here = host::rules::is_loopback(&target.connector)
                    && target.connector.port_or_known_default() == Some(args.port);
                (report.lines, report.connector_answered && here)
            }
        };
    checks.push(port(args.port, connector_on_port));
    checks.push(issuer_keys(
        var("ISSUER_STATE_DIR").map_or_else(|| PathBuf::from(".devkit/issuer"), PathBuf::from),
    ));
    checks.extend(host_lines);
    checks
}

/// `--url`, else `RESOURCE_URL`, else where `devkit up --no-tunnel --port PORT` serves it.
fn connector_url(
    flag: Option<&Url>,
    resource_url: Option<String>,
    port: u16,
) -> Result<Url, Check> {
    if let Some(url) = flag {
        return Ok(url.clone());
    }
    let (text, from) = match resource_url {
        Some(text) => (text, "RESOURCE_URL"),
        None => (format!("http://127.0.0.1:{port}/mcp"), "--port"),
    };
    Url::parse(text.trim()).map_err(|e| {
        check(
            "connector",
            Verdict::Fail,
            format!(
                "{from}: `{}` is not a URL ({e}); set RESOURCE_URL to the URL hosts are given, \
                 like https://app.example.com/mcp",
                shown(&text)
            ),
        )
    })
}

fn env_file(path: &Path) -> Check {
    match dotenvy::from_path_iter(path) {
        Err(e) if e.not_found() => check(
            ".env",
            Verdict::Note,
            "none yet; `devkit up` creates one with a session secret (see .env.example for the rest)",
        ),
        Err(e) => check(".env", Verdict::Fail, format!("cannot read it: {e}")),
        Ok(lines) => {
            let mut count = 0;
            for line in lines {
                if let Err(e) = line {
                    return check(".env", Verdict::Fail, format!("{e}; fix that line"));
                }
                count += 1;
            }
            check(".env", Verdict::Ok, format!("{count} settings"))
        }
    }
}

fn secret(value: Option<String>) -> Check {
    const WHAT: &str = "session secret";
    match value {
        None => check(
            WHAT,
            Verdict::Note,
            "SESSION_SIGNING_SECRET is not set; `devkit up` makes one and saves it in .env",
        ),
        Some(s) if s.len() < MIN_SECRET_BYTES => check(
            WHAT,
            Verdict::Fail,
            format!(
                "SESSION_SIGNING_SECRET is {} bytes, at least {MIN_SECRET_BYTES} are needed: \
                 delete the line from .env and `devkit up` makes a new one, or use `openssl rand -hex 32`",
                s.len()
            ),
        ),
        Some(s) => check(WHAT, Verdict::Ok, format!("{} bytes", s.len())),
    }
}

async fn database(value: Option<String>) -> Check {
    const WHAT: &str = "database";
    let text = value.unwrap_or_else(|| DatabaseUrl::DEFAULT.to_owned());
    let url: DatabaseUrl = match text.parse() {
        Ok(url) => url,
        Err(e) => return check(WHAT, Verdict::Fail, format!("DATABASE_URL: {e}")),
    };
    match schema_status(&url).await {
        Ok(SchemaStatus::NotCreated) => check(
            WHAT,
            Verdict::Note,
            format!("{url} does not exist yet; the first start creates it"),
        ),
        Ok(SchemaStatus::Migrated { applied, known }) if applied >= known => check(
            WHAT,
            Verdict::Ok,
            format!(
                "{url} reachable{}, schema up to date ({applied} migrations)",
                encryption(&url).await
            ),
        ),
        Ok(SchemaStatus::Migrated { applied, known }) => check(
            WHAT,
            Verdict::Note,
            format!(
                "{url} reachable{}, {} of {known} migrations to apply; the next start applies them",
                encryption(&url).await,
                known - applied
            ),
        ),
        Err(e) => check(
            WHAT,
            Verdict::Fail,
            format!("{url} is not reachable: {}", crate::error_chain(&e)),
        ),
    }
}

/// ` (TLS 1.3)` or ` (not encrypted)` for Postgres; nothing for SQLite.
async fn encryption(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(_) => String::new(),
        DatabaseUrl::Postgres(text) => match postgres_ssl(text).await {
            Ok(row) => format!(" ({})", ssl_text(row)),
            Err(e) => format!(" (encryption unknown: {e})"),
        },
    }
}

/// This connection's row of `pg_stat_ssl`. It is made from the same URL
/// with the same driver and TLS settings as the gateway's pool, so it is
/// encrypted exactly when the gateway's connections are.
async fn postgres_ssl(url: &str) -> Result<Option<(bool, Option<String>)>, String> {
    use sqlx::{ConnectOptions as _, Connection as _};
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    const SQL: &str = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| e.to_string())?;
    let mut connection = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
        .await
        .map_err(|_| format!("no connection within {}s", CONNECT_TIMEOUT.as_secs()))?
        .map_err(|e| crate::error_chain(&e))?;
    let row = sqlx::query_as::<_, (bool, Option<String>)>(SQL)
        .fetch_optional(&mut connection)
        .await
        .map_err(|e| crate::error_chain(&e));
    let _ = connection.close().await;
    row
}

/// `TLSv1.3` → `TLS 1.3`.
fn ssl_text(row: Option<(bool, Option<String>)>) -> String {
    match row {
        Some((true, Some(version))) => match version.strip_prefix("TLSv") {
            Some(number) => format!("TLS {number}"),
            None => version,
        },
        Some((true, None)) => "TLS".to_owned(),
        Some((false, _)) => "not encrypted".to_owned(),
        None => "encryption unknown: pg_stat_ssl has no row for this connection".to_owned(),
    }
}

fn pack(dir: PathBuf) -> Check {
    match DomainPack::load(&dir) {
        Ok(pack) => check(
            "domain pack",
            Verdict::Ok,
            format!(
                "{} ({} {}s) from {}",
                pack.name,
                pack.items().len(),
                pack.item_noun,
                dir.display()
            ),
        ),
        Err(e) => check("domain pack", Verdict::Fail, format!("{e:#}")),
    }
}

fn cloudflared(program: &OsString) -> Check {
    match Command::new(program).arg("--version").output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            check(
                "cloudflared",
                Verdict::Ok,
                text.lines().next().unwrap_or("installed").trim().to_owned(),
            )
        }
        Ok(out) => check(
            "cloudflared",
            Verdict::Fail,
            format!("`cloudflared --version` failed ({})", out.status),
        ),
        Err(_) => check(
            "cloudflared",
            Verdict::Note,
            format!("not on PATH, so `devkit up` runs locally only; {INSTALL_HELP}"),
        ),
    }
}

/// `connector_on_port`: the connector checked below answered on this very
/// port, so what holds it is (most likely) `devkit up` itself.
fn port(port: u16, connector_on_port: bool) -> Check {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match TcpListener::bind(addr) {
        Ok(_) => check("port", Verdict::Ok, format!("{addr} is free")),
        Err(_) if connector_on_port => check(
            "port",
            Verdict::Note,
            format!(
                "{addr} is held by the running connector checked below; stop it before another \
                 `devkit up`, or use --port N"
            ),
        ),
        Err(e) => check(
            "port",
            Verdict::Fail,
            format!("{addr}: {e}; stop what uses it, or run `devkit up --port N`"),
        ),
    }
}

fn issuer_keys(dir: PathBuf) -> Check {
    let path = dir.join(mock_issuer::keys::KEY_FILE);
    if !path.exists() {
        return check(
            "issuer keys",
            Verdict::Note,
            format!("{} not made yet; the first start makes it", path.display()),
        );
    }
    match mock_issuer::keys::KeyRing::load(&path, chrono::Utc::now().timestamp()) {
        Ok(_) => check(
            "issuer keys",
            Verdict::Ok,
            format!("{} readable", path.display()),
        ),
        Err(e) => check("issuer keys", Verdict::Fail, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_judged_by_length() {
        assert_eq!(secret(None).verdict, Verdict::Note);
        assert_eq!(secret(Some("short".into())).verdict, Verdict::Fail);
        assert_eq!(secret(Some("x".repeat(32))).verdict, Verdict::Ok);
    }

    #[test]
    fn a_bad_env_line_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".env");
        std::fs::write(&path, "GOOD=1\nthis is not a setting\n").expect("write");
        let result = env_file(&path);
        assert_eq!(result.verdict, Verdict::Fail, "{result}");
        std::fs::write(&path, "GOOD=1\n# note\nALSO=2\n").expect("write");
        let result = env_file(&path);
        assert_eq!(result.verdict, Verdict::Ok, "{result}");
        assert!(result.detail.starts_with("2 settings"));
    }

    #[test]
    fn a_taken_port_fails() {
        let held = TcpListener::bind("127.0.0.1:0").expect("bind");
        let taken = held.local_addr().expect("addr").port();
        assert_eq!(port(taken, false).verdict, Verdict::Fail);
        assert_eq!(port(taken, true).verdict, Verdict::Note);
    }

    #[test]
    fn the_connector_url_comes_from_the_flag_then_resource_url_then_the_port() {
        let flag = Url::parse("https://a.example.com/mcp").expect("url");
        let from_env = Some("https://b.example.com/mcp".to_owned());
        assert_eq!(
            connector_url(Some(&flag), from_env.clone(), 8000)
                .map(String::from)
                .ok(),
            Some("https://a.example.com/mcp".to_owned())
        );
        assert_eq!(
            connector_url(None, from_env, 8000).map(String::from).ok(),
            Some("https://b.example.com/mcp".to_owned())
        );
        assert_eq!(
            connector_url(None, None, 8123).map(String::from).ok(),
            Some("http://127.0.0.1:8123/mcp".to_owned())
        );
        let bad = connector_url(None, Some("not a url".into()), 8000).expect_err("refused");
        assert_eq!(bad.verdict, Verdict::Fail, "{bad}");
        assert!(bad.detail.contains("RESOURCE_URL"), "{bad}");
    }

    #[test]
    fn postgres_encryption_reads_as_the_tls_version_or_not_encrypted() {
        assert_eq!(ssl_text(Some((true, Some("TLSv1.3".into())))), "TLS 1.3");
        assert_eq!(ssl_text(Some((true, Some("TLSv1.2".into())))), "TLS 1.2");
        assert_eq!(ssl_text(Some((false, None))), "not encrypted");
        assert!(ssl_text(None).starts_with("encryption unknown"));
    }
}
