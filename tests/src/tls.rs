//! A second, throw-away Postgres cluster that serves TLS with a certificate
//! signed by a CA the test made, so `sslmode=verify-full` can be tried
//! against a server whose chain we control (the machine's own cluster has a
//! self-signed certificate). It uses the machine's Postgres binaries; tests
//! that start one run only where `TEST_DATABASE_URL` says Postgres is here.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

/// A CA and a server certificate for `localhost` and `127.0.0.1`, in PEM.
#[derive(Debug)]
pub struct TestCertificates {
    pub ca_pem: String,
    pub server_pem: String,
    pub server_key_pem: String,
}

impl TestCertificates {
    pub fn generate() -> Self {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Connector Devkit test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        server
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().expect("server key");
        let certificate = server.signed_by(&key, &ca).expect("server certificate");
        Self {
            ca_pem: ca.pem(),
            server_pem: certificate.pem(),
            server_key_pem: key.serialize_pem(),
        }
    }
}

/// A running cluster on 127.0.0.1, stopped (immediately) when dropped.
#[derive(Debug)]
pub struct TlsPostgres {
    pub port: u16,
    /// The CA that signed the server's certificate, as a PEM file.
    pub ca_file: PathBuf,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl TlsPostgres {
    pub fn start() -> Self {
        let bin = postgres_bin_dir();
        let certificates = TestCertificates::generate();
        let dir = tempfile::tempdir().expect("temporary folder");
        let data = dir.path().join("data");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &certificates.ca_pem).expect("write CA");
        // Postgres refuses to run as root: as root, run it as `postgres`.
        let as_postgres = crate::running_as_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let cluster = Self {
            port: crate::free_port(),
            ca_file,
            bin,
            data,
            as_postgres,
            _dir: dir,
        };
        run(cluster
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&cluster.data));
        let (cert, key) = (cluster.data.join("test.crt"), cluster.data.join("test.key"));
        std::fs::write(&cert, &certificates.server_pem).expect("write certificate");
        std::fs::write(&key, &certificates.server_key_pem).expect("write key");
        restrict(&key);
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(&cert).arg(&key));
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c ssl=on \
             -c ssl_cert_file={} -c ssl_key_file={} -c fsync=off",
            cluster.port,
            cluster.data.display(),
            cert.display(),
            key.display()
        );
        run(cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(&cluster.data)
            .arg("-l")
            .arg(cluster.data.join("server.log"))
            .args(["-o", &options, "-w", "-t", "30", "start"]));
        cluster
    }

    /// `postgres://postgres@HOST:PORT/postgres?…` for this cluster.
    pub fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// The newest installed server's binaries (`/usr/lib/postgresql/N/bin`).
fn postgres_bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Postgres server binaries under /usr/lib/postgresql")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
        .1
}

fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
