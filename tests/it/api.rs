//! The HTTP API over a real socket, on the embedded backends (SQLite + memory).

use crate::support::{ADMIN_KEY, BODY_LIMIT, TestServer, agent_body, error_code, memory, sqlite};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use voxgate::store::{CallRecord, TranscriptItem, UsageRecord};
use voxgate_core::{FailureMode, Incident, Severity};

async fn server() -> (TestServer, crate::support::TempDir) {
    let (durable, dir) = sqlite().await;
    (TestServer::start(durable, memory()).await, dir)
}

#[tokio::test]
async fn v1_routes_need_a_valid_key_and_health_checks_do_not() {
    let (server, _dir) = server().await;
    let anonymous = server
        .client
        .get(format!("{}/v1/agents", server.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(anonymous).await.1, "auth.missing");
    let forged = format!("vg_{}_{}", Uuid::new_v4().simple(), "0".repeat(64));
    for key in ["nonsense", forged.as_str()] {
        let (status, code, _) = error_code(server.get("/v1/agents", key).await).await;
        assert_eq!((status, code.as_str()), (401, "auth.invalid_key"));
    }
    for path in ["/healthz", "/readyz"] {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let ready: Value = server
        .client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["durable"]["backend"], "sqlite");
    assert_eq!(ready["hot"]["backend"], "memory");
}

#[tokio::test]
async fn keys_are_shown_once_scoped_to_their_tenant_and_revocable() {
    let (server, _dir) = server().await;
    let (tenant_id, key) = server.tenant_with_key("acme").await;
    // A tenant key may mint another key for its own tenant only, and cannot create tenants.
    let minted: Value = server
        .post("/v1/api-keys", &key, &json!({"label": "second"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(minted["tenant_id"], tenant_id.as_str());
    let second = minted["key"].as_str().expect("key").to_owned();
    let other = server
        .post("/v1/api-keys", &key, &json!({"tenant_id": Uuid::new_v4()}))
        .await;
    assert_eq!(error_code(other).await.1, "auth.other_tenant");
    let (status, code, _) = error_code(
        server
            .post("/v1/tenants", &key, &json!({"name": "evil"}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "auth.admin_key_required"));
    let tenants: Value = server
        .get("/v1/tenants", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(tenants["items"].as_array().map(Vec::len), Some(1));
    // Revoking the second key makes it stop working at once.
    let id = minted["id"].as_str().expect("id");
    let revoked = server
        .request(Method::DELETE, &format!("/v1/api-keys/{id}"), &key)
        .send()
        .await
        .expect("sent");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        error_code(server.get("/v1/agents", &second).await).await.0,
        401
    );
    assert_eq!(
        server.get("/v1/agents", &key).await.status(),
        StatusCode::OK
    );
    // The admin key cannot act inside a tenant.
    assert_eq!(
        error_code(server.get("/v1/agents", ADMIN_KEY).await)
            .await
            .1,
        "auth.tenant_key_required"
    );
}

#[tokio::test]
async fn agent_updates_need_the_current_version_and_stale_ones_get_409() {
    let (server, _dir) = server().await;
    let (_, key) = server.tenant_with_key("acme").await;
    let created = server.post("/v1/agents", &key, &agent_body("desk")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["etag"], "\"1\"");
    let mut body = agent_body("desk");
    body["instructions"] = json!("Version two.");
    let put = |version: Option<&str>, body: Value| {
        let mut request = server
            .request(Method::PUT, "/v1/agents/desk", &key)
            .json(&body);
        if let Some(version) = version {
            request = request.header("if-match", version);
        }
        async move { request.send().await.expect("sent") }
    };
    let (status, code, _) = error_code(put(None, body.clone()).await).await;
    assert_eq!((status, code.as_str()), (428, "agent.version_required"));
    let updated = put(Some("\"1\""), body.clone()).await;
    assert_eq!(updated.status(), StatusCode::OK);
    assert_eq!(updated.headers()["etag"], "\"2\"");
    let (status, code, conflict) = error_code(put(Some("\"1\""), body.clone()).await).await;
    assert_eq!((status, code.as_str()), (409, "agent.version_conflict"));
    assert!(
        conflict["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains('2'))
    );
    let current: Value = server
        .get("/v1/agents/desk", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            current["version"].as_i64(),
            current["spec"]["instructions"].as_str()
        ),
        (Some(2), Some("Version two."))
    );
    let mut renamed = body.clone();
    renamed["name"] = json!("front");
    assert_eq!(error_code(put(Some("\"2\""), renamed).await).await.0, 400);
    let deleted = server
        .request(Method::DELETE, "/v1/agents/desk", &key)
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        error_code(server.get("/v1/agents/desk", &key).await)
            .await
            .1,
        "agent.not_found"
    );
}

#[tokio::test]
async fn idempotent_create_twice_makes_one_agent() {
    let (server, _dir) = server().await;
    let (_, key) = server.tenant_with_key("acme").await;
    let create = |body: Value| {
        let request = server
            .request(Method::POST, "/v1/agents", &key)
            .header("idempotency-key", "create-desk-1")
            .json(&body);
        async move { request.send().await.expect("sent") }
    };
    let first: Value = create(agent_body("desk")).await.json().await.expect("json");
    let second = create(agent_body("desk")).await;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.json::<Value>().await.expect("json"), first);
    let (status, code, _) = error_code(create(agent_body("other")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (422, "request.idempotency_key_reused")
    );
    let list: Value = server
        .get("/v1/agents", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    // Without the key, a second create is a conflict, not a duplicate.
    let (status, code, _) =
        error_code(server.post("/v1/agents", &key, &agent_body("desk")).await).await;
    assert_eq!((status, code.as_str()), (409, "agent.already_exists"));
}

#[tokio::test]
async fn invalid_specs_get_400_listing_each_bad_field_and_nothing_is_stored() {
    let (server, _dir) = server().await;
    let (_, key) = server.tenant_with_key("acme").await;
    let mut body = agent_body("Front Desk");
    body["instructions"] = json!("");
    body["latency"] = json!({"first_audio_ms": 5});
    body["tools"][0]["parameters"] = json!({"type": "object", "properties": {"day": {"type": 7}}});
    body["budget"] = json!({"max_call_seconds": 0});
    let (status, code, error) = error_code(server.post("/v1/agents", &key, &body).await).await;
    assert_eq!((status, code.as_str()), (400, "agent.invalid"));
    let fields: Vec<&str> = error["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    for want in [
        "name",
        "instructions",
        "latency.first_audio_ms",
        "budget.max_call_seconds",
        "tools[0].parameters",
    ] {
        assert!(fields.contains(&want), "{want} missing from {fields:?}");
    }
    let mut typo = agent_body("desk");
    typo["greting"] = json!("Hi");
    let (status, code, error) = error_code(server.post("/v1/agents", &key, &typo).await).await;
    assert_eq!((status, code.as_str()), (400, "request.invalid_fields"));
    assert!(
        error["error"]["fields"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("greting"))
    );
    let malformed = server
        .request(Method::POST, "/v1/agents", &key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(malformed).await.1, "request.invalid_json");
    let not_json = server
        .request(Method::POST, "/v1/agents", &key)
        .body("name=desk")
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(not_json).await.0, 415);
    let mut huge = agent_body("desk");
    huge["instructions"] = json!("x".repeat(BODY_LIMIT + 1));
    let (status, code, _) = error_code(server.post("/v1/agents", &key, &huge).await).await;
    assert_eq!((status, code.as_str()), (413, "request.too_large"));
    let list: Value = server
        .get("/v1/agents", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn calls_incidents_and_usage_are_read_back_filtered_and_paged() {
    let (server, _dir) = server().await;
    let (tenant, key) = server.tenant_with_key("acme").await;
    let tenant: Uuid = tenant.parse().expect("uuid");
    let now = OffsetDateTime::now_utc();
    let call = CallRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        agent: "desk".into(),
        transport: "ws".into(),
        caller: None,
        called: None,
        status: "ended".into(),
        started_at: now - Duration::minutes(5),
        ended_at: Some(now),
        end_reason: Some("caller_hangup".into()),
    };
    server.durable.upsert_call(&call).await.expect("call");
    let item = TranscriptItem {
        call_id: call.id,
        seq: 0,
        role: "user".into(),
        text: "Hello".into(),
        played_ms: None,
        at: now,
    };
    server
        .durable
        .append_transcript(tenant, &item)
        .await
        .expect("item");
    for i in 0..3 {
        let incident = Incident {
            mode: if i == 0 {
                FailureMode::DeadAir
            } else {
                FailureMode::ProviderOutage
            },
            tenant_id: tenant,
            agent: Some("desk".into()),
            call_id: Some(call.id),
            at: now - Duration::minutes(i),
            severity: Severity::Warning,
            action: "switched_to_pipeline".into(),
            detail: json!({}),
        };
        server
            .durable
            .record_incident(&incident)
            .await
            .expect("incident");
    }
    let usage = UsageRecord {
        tenant_id: tenant,
        agent: "desk".into(),
        call_id: Some(call.id),
        at: now,
        provider: "openai".into(),
        model: "gpt-realtime".into(),
        input_tokens: 10,
        output_tokens: 20,
        audio_seconds: 1.5,
        cost_usd: 0.02,
    };
    server.durable.record_usage(&usage).await.expect("usage");

    let detail: Value = server
        .get(&format!("/v1/calls/{}", call.id), &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(detail["call"]["end_reason"], "caller_hangup");
    assert_eq!(detail["transcript"][0]["text"], "Hello");
    let (status, code, _) = error_code(server.get("/v1/calls/not-a-uuid", &key).await).await;
    assert_eq!((status, code.as_str()), (400, "request.invalid_path"));
    let calls: Value = server
        .get("/v1/calls", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(calls["items"].as_array().map(Vec::len), Some(1));

    let page1: Value = server
        .get("/v1/incidents?mode=provider_outage&limit=1", &key)
        .await
        .json()
        .await
        .expect("json");
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("cursor on a full page");
    let page2: Value = server
        .get(
            &format!("/v1/incidents?mode=provider_outage&limit=1&cursor={cursor}"),
            &key,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_ne!(page1["items"][0]["id"], page2["items"][0]["id"]);
    assert_eq!(page2["items"][0]["mode"], "provider_outage");
    let bad = server.get("/v1/incidents?mode=gremlins", &key).await;
    assert_eq!(error_code(bad).await.1, "request.invalid_query");

    let summary: Value = server
        .get("/v1/incidents/summary?bucket=1d", &key)
        .await
        .json()
        .await
        .expect("json");
    let total: i64 = summary["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .filter_map(|b| b["count"].as_i64())
        .sum();
    assert_eq!(
        (summary["bucket_seconds"].as_i64(), total),
        (Some(86_400), 3)
    );
    assert_eq!(
        error_code(server.get("/v1/incidents/summary?bucket=1s", &key).await)
            .await
            .1,
        "request.invalid_query"
    );

    let report: Value = server
        .get("/v1/usage", &key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(report["items"][0]["agent"], "desk");
    assert_eq!(report["items"][0]["output_tokens"], 20);
}

#[tokio::test]
async fn metrics_need_the_admin_key_and_count_requests_by_route() {
    let (server, _dir) = server().await;
    let (_, key) = server.tenant_with_key("acme").await;
    server.get("/v1/agents", &key).await;
    assert_eq!(error_code(server.get("/metrics", &key).await).await.0, 403);
    let text = server
        .get("/metrics", ADMIN_KEY)
        .await
        .text()
        .await
        .expect("text");
    assert!(text.contains("voxgate_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/v1/agents\""), "{text}");
    assert!(!text.contains(&key));
    let unknown = server.get("/v1/nothing-here", &key).await;
    assert_eq!(error_code(unknown).await.1, "route.not_found");
}
