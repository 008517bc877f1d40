//! Tenant isolation: tenant A's key can neither read, change nor list tenant B's agents, calls or
//! incidents, through the API on every backend; and on Postgres, row-level security hides other
//! tenants' rows even from a raw query that forgets the tenant filter.

use crate::support::{TestDatabase, TestServer, agent_body, error_code, memory, sqlite};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;
use voxgate::store::{CallRecord, Durable};
use voxgate_core::{FailureMode, Incident, Severity};

/// Gives tenant B an agent, a call and an incident; returns B's call id.
async fn seed_tenant(server: &TestServer, tenant: Uuid, key: &str) -> Uuid {
    let created = server.post("/v1/agents", key, &agent_body("desk")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let call = CallRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        agent: "desk".into(),
        transport: "ws".into(),
        caller: None,
        called: None,
        status: "live".into(),
        started_at: OffsetDateTime::now_utc(),
        ended_at: None,
        end_reason: None,
    };
    server
        .durable
        .upsert_call(&call)
        .await
        .expect("call stored");
    let incident = Incident {
        mode: FailureMode::PiiLeak,
        tenant_id: tenant,
        agent: Some("desk".into()),
        call_id: Some(call.id),
        at: OffsetDateTime::now_utc(),
        severity: Severity::Critical,
        action: "redacted".into(),
        detail: json!({}),
    };
    server
        .durable
        .record_incident(&incident)
        .await
        .expect("incident stored");
    call.id
}

async fn tenant_a_cannot_touch_tenant_b(durable: Arc<dyn Durable>) {
    let server = TestServer::start(durable, memory()).await;
    let (_, key_a) = server.tenant_with_key("tenant-a").await;
    let (tenant_b, key_b) = server.tenant_with_key("tenant-b").await;
    let call_b = seed_tenant(&server, tenant_b.parse().expect("uuid"), &key_b).await;

    let list = |path: &'static str| {
        let request = server.get(path, &key_a);
        async move { request.await.json::<Value>().await.expect("json") }
    };
    assert_eq!(list("/v1/agents").await["items"], json!([]));
    assert_eq!(list("/v1/calls").await["items"], json!([]));
    assert_eq!(list("/v1/incidents").await["items"], json!([]));
    assert_eq!(
        list("/v1/tenants").await["items"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        error_code(server.get("/v1/agents/desk", &key_a).await)
            .await
            .0,
        404
    );
    assert_eq!(
        error_code(server.get(&format!("/v1/calls/{call_b}"), &key_a).await)
            .await
            .0,
        404
    );
    let mut changed = agent_body("desk");
    changed["instructions"] = json!("Hijacked.");
    let put = server
        .request(Method::PUT, "/v1/agents/desk", &key_a)
        .header("if-match", "\"1\"")
        .json(&changed)
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(put).await.0, 404);
    let delete = server
        .request(Method::DELETE, "/v1/agents/desk", &key_a)
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(delete).await.0, 404);
    // B's agent is untouched.
    let b_agent: Value = server
        .get("/v1/agents/desk", &key_b)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            b_agent["version"].as_i64(),
            b_agent["spec"]["instructions"].clone()
        ),
        (Some(1), agent_body("desk")["instructions"].clone())
    );
}

#[tokio::test]
async fn tenant_a_cannot_read_change_or_list_tenant_b_data_on_sqlite() {
    let (durable, _dir) = sqlite().await;
    tenant_a_cannot_touch_tenant_b(durable).await;
}

#[tokio::test]
async fn tenant_a_cannot_read_change_or_list_tenant_b_data_on_postgres() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    tenant_a_cannot_touch_tenant_b(Arc::new(db.store.clone())).await;
    db.drop_database().await;
}

#[tokio::test]
async fn row_level_security_hides_other_tenants_rows_from_unfiltered_queries() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = &db.store;
    let a = store.create_tenant("tenant-a").await.expect("tenant").id;
    let b = store.create_tenant("tenant-b").await.expect("tenant").id;
    let server = TestServer::start(Arc::new(store.clone()), memory()).await;
    let minted_b = voxgate::api_key::mint(b, "t", OffsetDateTime::now_utc());
    store.insert_api_key(&minted_b.record).await.expect("key");
    let call_b = seed_tenant(&server, b, minted_b.key.expose()).await;

    let pool = store.pool();
    let role = sqlx::query("SELECT current_user AS who, voxgate_app_role() AS app, r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user")
        .fetch_one(pool)
        .await
        .expect("role");
    assert_eq!(role.get::<String, _>("who"), role.get::<String, _>("app"));
    assert!(role.get::<String, _>("who").starts_with("voxgate_app_"));
    assert!(!role.get::<bool, _>("rolsuper") && !role.get::<bool, _>("rolbypassrls"));

    // No tenant set: a raw query without any WHERE sees nothing at all.
    for table in [
        "agents",
        "agent_versions",
        "calls",
        "incidents",
        "api_keys",
        "tenants",
    ] {
        let sql = format!("SELECT count(*) AS n FROM {table}");
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .expect("count")
            .get("n");
        assert_eq!(n, 0, "{table} leaks rows without a tenant");
    }
    // Tenant A set: B's rows stay invisible, and writing a row for B is refused.
    let mut tx = pool.begin().await.expect("tx");
    set_tenant(&mut tx, a).await;
    for table in ["agents", "calls", "incidents", "api_keys"] {
        let sql = format!("SELECT count(*) AS n FROM {table}");
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *tx)
            .await
            .expect("count")
            .get("n");
        assert_eq!(n, 0, "{table}: tenant A sees tenant B's rows");
    }
    let updated = sqlx::query("UPDATE agents SET version = version + 1")
        .execute(&mut *tx)
        .await
        .expect("update runs");
    assert_eq!(updated.rows_affected(), 0);
    let forged = sqlx::query("INSERT INTO incidents (id, tenant_id, at, mode, severity, action, detail) VALUES ($1, $2, now(), 'pii_leak', 'info', 'x', '{}')")
        .bind(Uuid::new_v4())
        .bind(b)
        .execute(&mut *tx)
        .await;
    assert!(
        forged.is_err(),
        "row-level security must refuse a row for another tenant"
    );
    drop(tx);
    // A tenant transaction can neither delete tenants (its own included) nor attach transcript
    // items to another tenant's call.
    let mut tx = pool.begin().await.expect("tx");
    set_tenant(&mut tx, a).await;
    let deleted = sqlx::query("DELETE FROM tenants")
        .execute(&mut *tx)
        .await
        .expect("delete runs");
    assert_eq!(deleted.rows_affected(), 0);
    let stolen = sqlx::query("INSERT INTO transcript_items (tenant_id, call_id, seq, role, text, at) VALUES ($1, $2, 0, 'user', 'x', now())")
        .bind(a)
        .bind(call_b)
        .execute(&mut *tx)
        .await;
    assert!(
        stolen.is_err(),
        "a transcript item must belong to a call of its own tenant"
    );
    drop(tx);
    // Tenant B set: its rows are there (the policy filters, it does not hide everything).
    let mut tx = pool.begin().await.expect("tx");
    set_tenant(&mut tx, b).await;
    let n: i64 = sqlx::query("SELECT count(*) AS n FROM agents")
        .fetch_one(&mut *tx)
        .await
        .expect("count")
        .get("n");
    assert_eq!(n, 1);
    drop(tx);
    db.drop_database().await;
}

async fn set_tenant(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, tenant: Uuid) {
    sqlx::query("SELECT set_config('voxgate.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut **tx)
        .await
        .expect("tenant set");
}

#[tokio::test]
async fn another_databases_application_role_cannot_read_this_database() {
    use sqlx::{Connection, Executor};
    let Some(prod) = TestDatabase::create().await else {
        return;
    };
    let Some(staging) = TestDatabase::create().await else {
        return;
    };
    let staging_role: String = sqlx::query("SELECT voxgate_app_role() AS r")
        .fetch_one(staging.store.pool())
        .await
        .expect("role")
        .get("r");
    let prod_role: String = sqlx::query("SELECT voxgate_app_role() AS r")
        .fetch_one(prod.store.pool())
        .await
        .expect("role")
        .get("r");
    assert_ne!(
        staging_role, prod_role,
        "each database has its own application role"
    );
    // As staging's application role, inside prod's database: no privileges at all.
    let mut conn = sqlx::PgConnection::connect(&prod.url)
        .await
        .expect("connect");
    sqlx::query("SELECT set_config('role', $1, false)")
        .bind(&staging_role)
        .execute(&mut conn)
        .await
        .expect("switch role");
    conn.execute("SELECT set_config('voxgate.platform', 'on', false)")
        .await
        .expect("platform flag");
    for table in ["tenants", "api_keys", "agents", "calls", "_sqlx_migrations"] {
        let sql = format!("SELECT count(*) FROM {table}");
        let read = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await;
        assert!(read.is_err(), "staging's role read prod's {table}");
    }
    // And prod's own role may not touch the migration history.
    let mut conn = sqlx::PgConnection::connect(&prod.url)
        .await
        .expect("connect");
    sqlx::query("SELECT set_config('role', $1, false)")
        .bind(&prod_role)
        .execute(&mut conn)
        .await
        .expect("switch role");
    let tampered = conn.execute("DELETE FROM _sqlx_migrations").await;
    assert!(
        tampered.is_err(),
        "the application role must not rewrite migration history"
    );
    drop(conn);
    prod.drop_database().await;
    staging.drop_database().await;
}
