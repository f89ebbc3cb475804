//! A fresh database for each gateway the bench starts: an SQLite file in a
//! temporary folder, or a new Postgres database made (and dropped) through
//! an admin URL. A run never sees another run's rows.

use anyhow::Context;
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;

/// Which engine the gateway stores user data in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "Postgres",
        }
    }
}

#[derive(Debug)]
pub enum Database {
    Sqlite {
        url: String,
        _dir: TempDir,
    },
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl Database {
    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("cannot make a folder for the SQLite database")?;
        let path = dir.path().join("bench.db");
        Ok(Self::Sqlite {
            url: format!("sqlite://{}", path.display()),
            _dir: dir,
        })
    }

    /// Creates `devkit_bench_<unix time>_<pid>` through `admin_url` (a role
    /// that may `CREATE DATABASE`).
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!(
            "devkit_bench_{}_{}",
            chrono::Utc::now().timestamp(),
            std::process::id()
        );
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("cannot reach Postgres with the given URL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot create the database {name}"))?;
        let _ = admin.close().await;
        let mut url = url::Url::parse(admin_url).context("the Postgres URL is not a URL")?;
        url.set_path(&name);
        Ok(Self::Postgres {
            url: url.to_string(),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    pub fn engine(&self) -> Engine {
        match self {
            Self::Sqlite { .. } => Engine::Sqlite,
            Self::Postgres { .. } => Engine::Postgres,
        }
    }

    /// The gateway's `DATABASE_URL`.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// Removes the database. Call after the gateway using it has stopped;
    /// `WITH (FORCE)` ends any connection left over anyway.
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Self::Postgres {
            admin_url, name, ..
        } = self
        {
            let mut admin = PgConnection::connect(&admin_url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .with_context(|| format!("cannot drop the database {name}"))?;
            let _ = admin.close().await;
        }
        Ok(())
    }
}
