//! What makes one app on the kit: its domain tools, its own tables, and
//! whether the pack's catalog is served. Everything else (sign-in, the
//! session, `begin_session`, `user_*`, `config_*`, the CLI) is the kit's.

use std::sync::Arc;

use crate::{
    catalog::{Catalog, Ratings},
    domain::{AppDb, AppMigrations, Domain, DomainTools, RegistryError},
    pack::DomainPack,
    search::SearchIndex,
};

/// What a domain's constructor is given.
#[derive(Debug, Clone)]
pub struct AppContext {
    /// The app's tables (and the kit's), with the app's migrations applied.
    pub db: AppDb,
    /// The pack: name, rules, persona and any catalog items.
    pub pack: Arc<DomainPack>,
    /// The search index over the pack's items, when it has any.
    pub search: Option<Arc<SearchIndex>>,
}

type DomainFactory =
    Box<dyn FnOnce(&AppContext, &mut Domain, &[String]) -> Result<(), RegistryError> + Send>;

/// An app: `App::new().domain(Booking::new).migrations(…)`.
pub struct App {
    domains: Vec<DomainFactory>,
    migrations: Option<AppMigrations>,
    pack_dir: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("domains", &self.domains.len())
            .field("migrations", &self.migrations.is_some())
            .finish()
    }
}

impl Default for App {
    fn default() -> Self {
        Self::data_pack()
    }
}

impl App {
    /// An app with no domain tools yet (add them with [`App::domain`]).
    pub fn new() -> Self {
        Self {
            domains: Vec::new(),
            migrations: None,
            pack_dir: None,
        }
    }

    /// The data-pack app: the pack's catalog as `domain_search` and
    /// `domain_get_item`, with readers' ratings (any `APP_DIR`, as
    /// `devkit up` serves it).
    pub fn data_pack() -> Self {
        Self::new().rated_catalog()
    }

    /// Serves the pack's items as `domain_search` and `domain_get_item`.
    pub fn catalog(mut self) -> Self {
        self.domains.push(Box::new(|cx, domain, taken| {
            domain.add(
                Catalog::new(cx.pack.clone(), cx.search.clone(), None),
                taken,
            )
        }));
        self
    }

    /// The catalog, and readers may rate its items (`domain_rate_item`,
    /// the average shown in search) where actions can run: not behind a
    /// transaction-mode pooler, where it is served as [`App::catalog`].
    pub fn rated_catalog(mut self) -> Self {
        self.domains.push(Box::new(|cx, domain, taken| {
            let ratings = (!cx.db.behind_transaction_pooler()).then(|| cx.db.clone());
            domain.add(
                Catalog::new(cx.pack.clone(), cx.search.clone(), ratings.clone()),
                taken,
            )?;
            if ratings.is_some() {
                domain.add(Ratings::new(cx.pack.clone()), taken)?;
            }
            Ok(())
        }));
        self
    }

    /// Adds a domain: `make` builds its state from the app's context.
    pub fn domain<S: DomainTools>(
        mut self,
        make: impl FnOnce(&AppContext) -> S + Send + 'static,
    ) -> Self {
        self.domains.push(Box::new(move |cx, domain, taken| {
            domain.add(make(cx), taken)
        }));
        self
    }

    /// The app's own tables: `gateway::app_migrations!()` (its
    /// `migrations/sqlite` and `migrations/postgres`), run at start beside
    /// the kit's.
    pub fn migrations(mut self, migrations: AppMigrations) -> Self {
        self.migrations = Some(migrations);
        self
    }

    /// The app's own pack (name, rules, persona), used when `APP_DIR` is
    /// not set: `App::new().pack(concat!(env!("CARGO_MANIFEST_DIR"), "/pack"))`.
    pub fn pack(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.pack_dir = Some(dir.into());
        self
    }

    /// The pack folder to use when `APP_DIR` names none.
    pub fn default_pack_dir(&self) -> std::path::PathBuf {
        self.pack_dir
            .clone()
            .unwrap_or_else(|| crate::config::DEFAULT_APP_DIR.into())
    }

    pub(crate) fn has_migrations(&self) -> Option<AppMigrations> {
        self.migrations
    }

    /// Builds every domain on `cx`; `taken` are the kit's tool names.
    pub(crate) fn build_domain(
        self,
        cx: &AppContext,
        taken: &[String],
    ) -> Result<Domain, RegistryError> {
        let mut domain = Domain::with_db(Some(cx.db.clone()));
        for make in self.domains {
            make(cx, &mut domain, taken)?;
        }
        Ok(domain)
    }
}

/// The app's migrations, from the calling crate's `migrations/sqlite` and
/// `migrations/postgres` folders (embedded at build time).
#[macro_export]
macro_rules! app_migrations {
    () => {{
        static SQLITE: ::sqlx::migrate::Migrator = ::sqlx::migrate!("migrations/sqlite");
        static POSTGRES: ::sqlx::migrate::Migrator = ::sqlx::migrate!("migrations/postgres");
        $crate::domain::AppMigrations {
            sqlite: &SQLITE,
            postgres: &POSTGRES,
        }
    }};
}
