//! Outside peers for tests: a fresh Postgres database per test, a fresh Redis key prefix per test,
//! a fresh SQLite file per test. Skips are loud, and fatal under `VOXGATE_TEST_REQUIRE_PEERS=1`.

use std::{path::PathBuf, sync::Arc};
use tokio::sync::Mutex;
use uuid::Uuid;
use voxgate::store::{
    Durable, Hot, memory::MemoryHot, postgres::PostgresStore, redis::RedisHot, sqlite::SqliteStore,
};

#[allow(clippy::disallowed_methods)] // tests read their own peer settings
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// True when CI demands every peer.
pub fn peers_required() -> bool {
    env("VOXGATE_TEST_REQUIRE_PEERS").is_some_and(|value| value != "0")
}

/// Reports a missing peer: a failure in CI, a printed skip elsewhere.
pub fn skip(reason: &str) {
    assert!(
        !peers_required(),
        "VOXGATE_TEST_REQUIRE_PEERS is set but {reason}"
    );
    eprintln!("SKIPPED: {reason}");
}

/// The Postgres server URL for tests (connects as a role that may create databases).
pub fn postgres_url() -> Option<String> {
    let url = env("VOXGATE_TEST_DATABASE_URL");
    if url.is_none() {
        skip("VOXGATE_TEST_DATABASE_URL is not set (Postgres tests)");
    }
    url
}

/// The Redis URL for tests.
pub fn redis_url() -> Option<String> {
    let url = env("VOXGATE_TEST_REDIS_URL");
    if url.is_none() {
        skip("VOXGATE_TEST_REDIS_URL is not set (Redis tests)");
    }
    url
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{base}/{database}{query}")
}

/// Serialises database creation and migration: the first migration creates a cluster-wide role.
static MIGRATION_LOCK: Mutex<()> = Mutex::const_new(());

/// A throwaway Postgres database, migrated, with a store connected as its application role.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
    server_url: String,
    pub store: PostgresStore,
}

impl TestDatabase {
    /// Creates a database of its own for one test; `None` (after a skip) without Postgres.
    pub async fn create() -> Option<Self> {
        let server_url = postgres_url()?;
        let name = format!("voxgate_t_{}", Uuid::new_v4().simple());
        let url = with_database(&server_url, &name);
        let _guard = MIGRATION_LOCK.lock().await;
        admin_execute(&server_url, &format!("CREATE DATABASE {name}")).await;
        PostgresStore::migrate(&url)
            .await
            .expect("migrations apply");
        let store = PostgresStore::connect(&url, 4)
            .await
            .expect("app pool connects");
        Some(Self {
            url,
            name,
            server_url,
            store,
        })
    }

    /// Drops the database (call at the end of a passing test).
    pub async fn drop_database(self) {
        self.store.pool().close().await;
        admin_execute(
            &self.server_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await;
    }
}

async fn admin_execute(server_url: &str, sql: &str) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(server_url)
        .await
        .expect("connect to the test Postgres server");
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// A SQLite store in a fresh temporary folder (kept alive by the returned path guard).
pub async fn sqlite() -> (Arc<dyn Durable>, TempDir) {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path.join("voxgate.db"))
        .await
        .expect("SQLite opens");
    (Arc::new(store), dir)
}

/// A Redis store with a key prefix of its own; `None` (after a skip) without Redis.
pub async fn redis() -> Option<Arc<dyn Hot>> {
    let url = redis_url()?;
    let prefix = format!("voxgate_test:{}:", Uuid::new_v4().simple());
    let hot = RedisHot::connect(&url, &prefix)
        .await
        .expect("Redis connects");
    Some(Arc::new(hot))
}

/// In-process memory hot state.
pub fn memory() -> Arc<dyn Hot> {
    Arc::new(MemoryHot::new())
}

/// A temporary folder removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("voxgate-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
