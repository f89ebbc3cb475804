//! The real gateway, as a child process: built with the bench's own profile,
//! started with a fresh database, trusting the in-process issuer.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::{
    child::{self, Child},
    database::Database,
};

/// The gateway executable and the cargo profile it was built with.
#[derive(Debug, Clone)]
pub struct Binary {
    pub path: PathBuf,
    pub profile: String,
}

impl Binary {
    /// Builds the gateway with the profile the bench itself was built with
    /// (a debug bench measures a debug gateway, a release bench a release
    /// one) and returns the executable next to the bench's.
    pub async fn build(workspace: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the bench's own executable")?;
        let dir = exe
            .parent()
            .context("the bench's executable has no folder")?;
        let profile = dir
            .file_name()
            .and_then(|name| name.to_str())
            .context("the bench's folder has no name")?
            .to_owned();
        // `cargo run` tells its child which cargo it is; respect that toolchain.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(workspace).arg("build");
        match profile.as_str() {
            "debug" => {}
            "release" => {
                command.arg("--release");
            }
            custom => {
                command.args(["--profile", custom]);
            }
        }
        command.args(["-p", "gateway", "--bin", "gateway"]);
        eprintln!("bench: building the gateway ({profile})");
        let status = command
            .status()
            .await
            .context("cannot run cargo to build the gateway")?;
        if !status.success() {
            bail!("building the gateway failed ({status})");
        }
        Ok(Self {
            path: dir.join("gateway"),
            profile,
        })
    }

    /// A binary named on the command line; its profile is guessed from its folder.
    pub fn given(path: &Path) -> anyhow::Result<Self> {
        // Absolute: the gateway runs in a folder of its own, where a relative path means nothing.
        let path = std::fs::canonicalize(path)
            .with_context(|| format!("no gateway executable at {}", path.display()))?;
        let profile = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .map_or_else(|| "unknown".to_owned(), |name| format!("{name} (given)"));
        Ok(Self { path, profile })
    }
}

/// A gateway process listening on loopback.
#[derive(Debug)]
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    /// The connector URL, which is also the audience its tokens must carry.
    pub resource_url: String,
    /// Its working folder: nothing from the caller's `.env` reaches it.
    _workdir: tempfile::TempDir,
}

impl Gateway {
    /// Starts the gateway on a free port. The environment is cleared first,
    /// so only what is set here configures it.
    pub fn spawn(
        binary: &Binary,
        database: &Database,
        issuer_url: &str,
        app_dir: &Path,
        search_cache: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let port = child::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // The gateway's default when RESOURCE_URL is unset: `http://<addr>/mcp`.
        let resource_url = format!("http://{addr}/mcp");
        let workdir = tempfile::tempdir().context("cannot make the gateway's working folder")?;
        let secret: [u8; 32] = rand::random();
        let mut command = Command::new(&binary.path);
        command
            .env_clear()
            .current_dir(workdir.path())
            .env("GATEWAY_ADDR", addr.to_string())
            .env("DATABASE_URL", database.url())
            .env("AUTH_ISSUER", issuer_url)
            .env("SESSION_SIGNING_SECRET", hex(&secret))
            .env("APP_DIR", app_dir)
            // Default: `.devkit/search` in the working folder, gone with it.
            .env(
                "SEARCH_CACHE_DIR",
                search_cache.unwrap_or(Path::new(".devkit/search")),
            )
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // Keep PATH so anything the gateway runs is found as usual.
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let child = Child::spawn("gateway", command).with_context(|| {
            format!(
                "cannot run {} (build it, or pass --gateway-bin)",
                binary.path.display()
            )
        })?;
        Ok(Self {
            child,
            addr,
            resource_url,
            _workdir: workdir,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
