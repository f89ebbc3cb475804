//! `devkit doctor`: the things people get wrong before `devkit up` works,
//! one line each, with what to do. Nothing is changed: no file written, no
//! database created or migrated.

use std::{
    ffi::OsString,
    fmt,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Command,
};

use gateway::{
    config::{DatabaseUrl, MIN_SECRET_BYTES},
    pack::DomainPack,
    store::{SchemaStatus, schema_status},
};

use crate::tunnel::INSTALL_HELP;

#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// The port `devkit up` will use.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// The cloudflared executable.
    #[arg(long, env = "CLOUDFLARED", default_value = "cloudflared")]
    pub cloudflared: OsString,
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

fn check(what: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        what,
        verdict,
        detail: detail.into(),
    }
}

/// Runs every check. Reads `.env` itself rather than trusting the process
/// environment alone, so a broken line is reported, not skipped.
pub async fn run(args: &DoctorArgs) -> Vec<Check> {
    let env = Path::new(".env");
    let mut checks = vec![env_file(env)];
    let var = |name: &str| std::env::var(name).ok();
    checks.push(secret(var("SESSION_SIGNING_SECRET")));
    checks.push(database(var("DATABASE_URL")).await);
    checks.push(pack(
        var("APP_DIR").map_or_else(|| PathBuf::from("seed"), PathBuf::from),
    ));
    checks.push(cloudflared(&args.cloudflared));
    checks.push(port(args.port));
    checks.push(issuer_keys(
        var("ISSUER_STATE_DIR").map_or_else(|| PathBuf::from(".devkit/issuer"), PathBuf::from),
    ));
    checks
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
            format!("{url} reachable, schema up to date ({applied} migrations)"),
        ),
        Ok(SchemaStatus::Migrated { applied, known }) => check(
            WHAT,
            Verdict::Note,
            format!(
                "{url} reachable, {} of {known} migrations to apply; the next start applies them",
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

fn port(port: u16) -> Check {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match TcpListener::bind(addr) {
        Ok(_) => check("port", Verdict::Ok, format!("{addr} is free")),
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
        assert_eq!(port(taken).verdict, Verdict::Fail);
    }
}
