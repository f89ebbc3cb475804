//! A throw-away PgBouncer in transaction mode in front of the machine's
//! Postgres, as Neon's pooled endpoint and Supabase's transaction pooler
//! run it: a few server connections shared by many clients, each client
//! holding one only for the length of a transaction. It uses the machine's
//! `pgbouncer` (`.ci/run` installs Debian's); tests that start one run only
//! where `TEST_DATABASE_URL` says Postgres is here, and then fail loudly
//! without it.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use gateway::config::DatabaseUrl;

use crate::TestDb;

/// Server connections per database and user: fewer than the clients the
/// tests run, so clients must take turns on them.
pub const POOL_SIZE: usize = 4;

/// A running PgBouncer on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct PgBouncer {
    pub port: u16,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts one in front of the server `admin_url` names (trust
    /// authentication, as the machine's cluster has), any database.
    pub fn start(admin_url: &str) -> Self {
        let upstream = url::Url::parse(admin_url).expect("TEST_DATABASE_URL is a URL");
        let user = match upstream.username() {
            "" => "postgres",
            user => user,
        };
        let dir = tempfile::tempdir().expect("temporary folder");
        let (ini, users, log) = (
            dir.path().join("pgbouncer.ini"),
            dir.path().join("users.txt"),
            dir.path().join("pgbouncer.log"),
        );
        let log_file = std::fs::File::create(&log).expect("create pgbouncer.log");
        let port = crate::free_port();
        // Stock settings otherwise: no `ignore_startup_parameters`, LIFO
        // server reuse (`server_round_robin = 0`), no prepared-statement
        // tracking (1.18 has none). A client waits for a server 15 s at
        // most (not 120), so a test that goes wrong ends.
        let config = format!(
            "[databases]\n\
             * = host={host} port={upstream_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {users}\n\
             pool_mode = transaction\n\
             default_pool_size = {POOL_SIZE}\n\
             max_client_conn = 100\n\
             query_wait_timeout = 15\n",
            host = upstream.host_str().unwrap_or("127.0.0.1"),
            upstream_port = upstream.port().unwrap_or(5432),
            users = users.display(),
        );
        std::fs::write(&ini, config).expect("write pgbouncer.ini");
        std::fs::write(&users, format!("\"{user}\" \"\"\n")).expect("write users.txt");
        let mut command = Command::new(binary());
        // PgBouncer refuses to run as root: as root, it switches to
        // `postgres` itself (`-u`), so the child stays the one to kill.
        if crate::running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the PgBouncer folder");
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let mut bouncer = Self {
            port,
            child,
            log,
            _dir: dir,
        };
        bouncer.wait_until_listening();
        bouncer
    }

    /// `db` reached through this pooler instead of directly, with `query`
    /// (`pgbouncer=true`, say) added when not empty.
    pub fn in_front_of(&self, db: &TestDb, query: &str) -> TestDb {
        let DatabaseUrl::Postgres(direct) = &db.url else {
            panic!("a Postgres database")
        };
        let mut url = url::Url::parse(direct).expect("a Postgres URL");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(self.port)).expect("port");
        if !query.is_empty() {
            let joined = match url.query() {
                Some(existing) => format!("{existing}&{query}"),
                None => query.to_owned(),
            };
            url.set_query(Some(&joined));
        }
        let mut pooled = db.clone();
        pooled.url = DatabaseUrl::Postgres(url.to_string());
        pooled
    }

    /// What PgBouncer logged so far (its standard error), for a failing assertion.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("PgBouncer exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "PgBouncer is not listening on {} after 10 s:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pgbouncer` on `PATH`, or where Debian puts it (`/usr/sbin`, which a
/// non-root `PATH` may lack); a clear failure when it is not installed.
fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .iter()
        .chain([PathBuf::from("/usr/sbin")].iter())
        .map(|dir| dir.join("pgbouncer"))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!(
                "TEST_DATABASE_URL is set, so the pooler tests run, but pgbouncer is not \
                 installed: apt-get install -y pgbouncer (.ci/run does)"
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
