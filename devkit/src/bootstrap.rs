//! What `devkit up` creates on a fresh clone: the `.devkit/` folder and a
//! session signing secret in `.env`. It adds, never overwrites.

use std::{
    fs::{self, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use rand::RngCore;

/// The folder for the embedded database and the issuer's keys and clients.
pub const WORK_DIR: &str = ".devkit";

/// Creates `.devkit/` with a `.gitignore` that keeps it (keys, data) out of git.
pub fn ensure_work_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        fs::write(ignore, "# Local data and signing keys: never commit.\n*\n")?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write SESSION_SIGNING_SECRET to {}: {source}", path.display())]
pub struct SecretFileError {
    path: PathBuf,
    source: io::Error,
}

/// Makes a 32-byte secret and puts it in `env_file` (created 0600 when
/// missing). Call only when no secret is set: an existing one is kept. An
/// empty `SESSION_SIGNING_SECRET=` line (copied from `.env.example`) is
/// filled in, since it would otherwise shadow an appended one.
pub fn write_new_secret(env_file: &Path) -> Result<String, SecretFileError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let error = |source| SecretFileError {
        path: env_file.to_owned(),
        source,
    };
    let existing = match fs::read_to_string(env_file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(error(e)),
    };
    let is_empty_setting = |line: &str| line.trim() == "SESSION_SIGNING_SECRET=";
    if existing.lines().any(is_empty_setting) {
        let filled: String = existing
            .lines()
            .map(|line| {
                if is_empty_setting(line) {
                    format!("SESSION_SIGNING_SECRET={secret}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        fs::write(env_file, filled).map_err(error)?;
        return Ok(secret);
    }
    // A file that does not end in a newline would glue our line to its last one.
    let needs_newline = !existing.is_empty() && !existing.ends_with('\n');
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(env_file).map_err(error)?;
    let line = format!(
        "{}# Signs session tokens; made by `devkit up`. Keep it secret.\nSESSION_SIGNING_SECRET={secret}\n",
        if needs_newline { "\n" } else { "" }
    );
    file.write_all(line.as_bytes()).map_err(error)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_appended_without_touching_what_is_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join(".env");
        fs::write(&env, "DATABASE_URL=sqlite://x.db").expect("write");
        let secret = write_new_secret(&env).expect("secret");
        assert_eq!(secret.len(), 64);
        let text = fs::read_to_string(&env).expect("read");
        assert!(text.starts_with("DATABASE_URL=sqlite://x.db\n"), "{text}");
        assert!(text.ends_with(&format!("SESSION_SIGNING_SECRET={secret}\n")));
        let parsed: Vec<(String, String)> = dotenvy::from_path_iter(&env)
            .expect("parse")
            .collect::<Result<_, _>>()
            .expect("valid");
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn an_empty_secret_line_is_filled_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join(".env");
        fs::write(&env, "A=1\nSESSION_SIGNING_SECRET=\nB=2\n").expect("write");
        let secret = write_new_secret(&env).expect("secret");
        assert_eq!(
            fs::read_to_string(&env).expect("read"),
            format!("A=1\nSESSION_SIGNING_SECRET={secret}\nB=2\n")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_new_env_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join(".env");
        let first = write_new_secret(&env).expect("secret");
        let mode = fs::metadata(&env).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        assert_ne!(first, write_new_secret(&env).expect("second"));
    }

    #[test]
    fn the_work_dir_ignores_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join(WORK_DIR);
        ensure_work_dir(&work).expect("create");
        ensure_work_dir(&work).expect("again");
        assert!(
            fs::read_to_string(work.join(".gitignore"))
                .expect("read")
                .contains('*')
        );
    }
}
