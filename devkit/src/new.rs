//! `devkit new <dir> --template …`: a new app from a template.
//!
//! Catalog templates (`reading-room`, `docs`) are a domain pack: a folder of
//! data that `APP_DIR=<dir> devkit up` serves. Code templates (`tutor`,
//! `booking`, `support`) are a crate on the kit: its domain tools, its pack,
//! its migrations and its own tests, depending on this checkout of the kit
//! by path. The files are this repository's own examples, embedded at build
//! time, so a template is always an app that is built and tested here.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};

/// Which app to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// A reading list: articles, a reader's saved place (data pack).
    ReadingRoom,
    /// A tutor: lessons, and each learner's completed steps (crate).
    Tutor,
    /// A team-docs aide: pages of policy and how-to (data pack).
    Docs,
    /// A booking helper: slots with a capacity, bookings made once (crate).
    Booking,
    /// A support desk: orders and tickets per customer, policies (crate).
    Support,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The folder to create (it must not exist, or be empty).
    pub dir: PathBuf,
    /// What to start from.
    #[arg(long, value_enum)]
    pub template: Template,
}

/// One file of a template: its path in the new app and its text.
type File = (&'static str, &'static str);

const READING_ROOM: &[File] = &[
    ("pack.json", include_str!("../../seed/pack.json")),
    ("articles.json", include_str!("../../seed/articles.json")),
    ("rules.md", include_str!("../../seed/rules.md")),
    ("persona.md", include_str!("../../seed/persona.md")),
];

const DOCS: &[File] = &[
    ("pack.json", include_str!("../templates/docs/pack.json")),
    ("pages.json", include_str!("../templates/docs/pages.json")),
    ("rules.md", include_str!("../templates/docs/rules.md")),
    ("persona.md", include_str!("../templates/docs/persona.md")),
];

const BOOKING: &[File] = &[
    ("build.rs", include_str!("../../examples/booking/build.rs")),
    (
        "src/lib.rs",
        include_str!("../../examples/booking/src/lib.rs"),
    ),
    (
        "src/main.rs",
        include_str!("../../examples/booking/src/main.rs"),
    ),
    (
        "tests/app.rs",
        include_str!("../../examples/booking/tests/booking.rs"),
    ),
    (
        "pack/pack.json",
        include_str!("../../examples/booking/pack/pack.json"),
    ),
    (
        "pack/rules.md",
        include_str!("../../examples/booking/pack/rules.md"),
    ),
    (
        "pack/persona.md",
        include_str!("../../examples/booking/pack/persona.md"),
    ),
    (
        "migrations/sqlite/20261202100000_slots_and_bookings.sql",
        include_str!(
            "../../examples/booking/migrations/sqlite/20261202100000_slots_and_bookings.sql"
        ),
    ),
    (
        "migrations/postgres/20261202100000_slots_and_bookings.sql",
        include_str!(
            "../../examples/booking/migrations/postgres/20261202100000_slots_and_bookings.sql"
        ),
    ),
];

const SUPPORT: &[File] = &[
    ("build.rs", include_str!("../../examples/support/build.rs")),
    (
        "src/lib.rs",
        include_str!("../../examples/support/src/lib.rs"),
    ),
    (
        "src/main.rs",
        include_str!("../../examples/support/src/main.rs"),
    ),
    (
        "tests/app.rs",
        include_str!("../../examples/support/tests/support.rs"),
    ),
    (
        "pack/pack.json",
        include_str!("../../examples/support/pack/pack.json"),
    ),
    (
        "pack/policies.json",
        include_str!("../../examples/support/pack/policies.json"),
    ),
    (
        "pack/rules.md",
        include_str!("../../examples/support/pack/rules.md"),
    ),
    (
        "pack/persona.md",
        include_str!("../../examples/support/pack/persona.md"),
    ),
    (
        "migrations/sqlite/20261210100000_orders_and_tickets.sql",
        include_str!(
            "../../examples/support/migrations/sqlite/20261210100000_orders_and_tickets.sql"
        ),
    ),
    (
        "migrations/postgres/20261210100000_orders_and_tickets.sql",
        include_str!(
            "../../examples/support/migrations/postgres/20261210100000_orders_and_tickets.sql"
        ),
    ),
];

const TUTOR: &[File] = &[
    ("build.rs", include_str!("../../examples/tutor/build.rs")),
    (
        "src/lib.rs",
        include_str!("../../examples/tutor/src/lib.rs"),
    ),
    (
        "src/main.rs",
        include_str!("../../examples/tutor/src/main.rs"),
    ),
    (
        "tests/app.rs",
        include_str!("../../examples/tutor/tests/tutor.rs"),
    ),
    (
        "pack/pack.json",
        include_str!("../../examples/tutor/pack/pack.json"),
    ),
    (
        "pack/lessons.json",
        include_str!("../../examples/tutor/pack/lessons.json"),
    ),
    (
        "pack/rules.md",
        include_str!("../../examples/tutor/pack/rules.md"),
    ),
    (
        "pack/persona.md",
        include_str!("../../examples/tutor/pack/persona.md"),
    ),
    (
        "migrations/sqlite/20261215100000_learner_progress.sql",
        include_str!("../../examples/tutor/migrations/sqlite/20261215100000_learner_progress.sql"),
    ),
    (
        "migrations/postgres/20261215100000_learner_progress.sql",
        include_str!(
            "../../examples/tutor/migrations/postgres/20261215100000_learner_progress.sql"
        ),
    ),
];

/// The kit's checkout, for the new crate's path dependencies.
const KIT: &str = env!("CARGO_MANIFEST_DIR");
/// The kit's lock file: the new crate starts from the versions tested here.
const LOCK: &str = include_str!("../../Cargo.lock");

/// What was made, for the closing lines.
#[derive(Debug)]
pub struct Made {
    pub dir: PathBuf,
    pub crate_name: Option<String>,
}

/// Writes the template into `args.dir`, refusing a folder with anything in it.
pub fn new(args: &NewArgs) -> anyhow::Result<Made> {
    let dir = &args.dir;
    if let Ok(mut entries) = std::fs::read_dir(dir)
        && entries.next().is_some()
    {
        bail!(
            "{} is not empty; `devkit new` writes only into a new or empty folder",
            dir.display()
        );
    }
    match args.template {
        Template::ReadingRoom => write_all(dir, READING_ROOM, |t| t.to_owned())?,
        Template::Docs => write_all(dir, DOCS, |t| t.to_owned())?,
        Template::Tutor | Template::Booking | Template::Support => {
            let (files, example) = match args.template {
                Template::Tutor => (TUTOR, "tutor::"),
                Template::Booking => (BOOKING, "booking::"),
                _ => (SUPPORT, "support::"),
            };
            let name = crate_name(dir)?;
            let ident = name.replace('-', "_");
            write_all(dir, files, |text| {
                text.replace(example, &format!("{ident}::"))
            })?;
            write(dir, "Cargo.toml", &manifest(&name, &kit_root()?))?;
            write(dir, "Cargo.lock", LOCK)?;
            write(dir, ".gitignore", "/target\n/.devkit\n/.env\n")?;
            return Ok(Made {
                dir: dir.clone(),
                crate_name: Some(name),
            });
        }
    }
    Ok(Made {
        dir: dir.clone(),
        crate_name: None,
    })
}

impl Made {
    /// What to do next, for the terminal.
    pub fn next_steps(&self) -> String {
        let dir = self.dir.display();
        match &self.crate_name {
            Some(name) => format!(
                "Made the app `{name}` in {dir}.\n\n  cd {dir}\n  cargo test              # its own tests, as a signed-in user\n  cargo run -- up         # live, with sign-in\n\nYour domain is src/lib.rs; its tables are migrations/; its rules and voice are pack/."
            ),
            None => format!(
                "Made a domain pack in {dir}.\n\n  APP_DIR={dir} devkit up\n\nEdit its items, rules.md and persona.md; `devkit doctor` checks it."
            ),
        }
    }
}

/// A crate name from the folder's: lower-case letters, digits, `-` and `_`,
/// starting with a letter.
fn crate_name(dir: &Path) -> anyhow::Result<String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{} has no usable folder name", dir.display()))?
        .to_lowercase();
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "the folder's name `{name}` becomes the crate's name: use letters, digits, `-` and `_`, \
             starting with a letter"
        );
    }
    Ok(name)
}

/// The workspace root of this checkout (the parent of `devkit/`).
fn kit_root() -> anyhow::Result<PathBuf> {
    let root = Path::new(KIT)
        .parent()
        .ok_or_else(|| anyhow!("cannot tell where the kit is"))?;
    if !root.join("gateway/Cargo.toml").exists() {
        bail!(
            "the kit's source is not at {} any more; `devkit new` makes crates that build \
             against it",
            root.display()
        );
    }
    Ok(root.to_owned())
}

/// A standalone crate: its own workspace, the kit by path, the same
/// dependency versions and features as the kit's own examples.
fn manifest(name: &str, kit: &Path) -> String {
    let kit = kit.display();
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# Its own workspace, even when made inside another one.
[workspace]

[dependencies]
devkit = {{ path = "{kit}/devkit" }}
gateway = {{ path = "{kit}/gateway" }}
chrono = {{ version = "0.4", default-features = false, features = ["std", "clock", "serde"] }}
rand = "0.9"
schemars = "1"
serde = {{ version = "1", features = ["derive"] }}
sqlx = {{ version = "0.8", default-features = false, features = ["runtime-tokio", "tls-rustls-ring-native-roots", "any", "sqlite", "postgres", "migrate", "json", "macros", "chrono"] }}

[dev-dependencies]
e2e = {{ path = "{kit}/tests" }}
serde_json = "1"
tokio = {{ version = "1", features = ["macros", "rt-multi-thread"] }}

# As the kit's own: line tables keep a test build small on disk, and RSA
# keys for the tests' sign-in are slow unoptimised.
[profile.dev]
debug = "line-tables-only"
[profile.dev.package.num-bigint-dig]
opt-level = 3
[profile.dev.package.rsa]
opt-level = 3
"#
    )
}

fn write_all(dir: &Path, files: &[File], adapt: impl Fn(&str) -> String) -> anyhow::Result<()> {
    for (path, text) in files {
        write(dir, path, &adapt(text))?;
    }
    Ok(())
}

fn write(dir: &Path, path: &str, text: &str) -> anyhow::Result<()> {
    let file = dir.join(path);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_come_from_the_folder_and_are_checked() {
        assert_eq!(
            crate_name(Path::new("/tmp/my-shop")).ok().as_deref(),
            Some("my-shop")
        );
        assert_eq!(crate_name(Path::new("Desk")).ok().as_deref(), Some("desk"));
        for bad in ["/tmp/1app", "/tmp/my app", "/tmp/café"] {
            assert!(crate_name(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_manifest_names_the_kit_by_path_and_is_its_own_workspace() {
        let text = manifest("desk", Path::new("/src/kit"));
        assert!(text.contains("name = \"desk\""));
        assert!(text.contains("devkit = { path = \"/src/kit/devkit\" }"));
        assert!(text.contains("\n[workspace]\n"));
    }
}
