//! Conformance suite of the durable store, run against every backend: SQLite always, Postgres
//! when `VOXGATE_TEST_DATABASE_URL` is set. Each test gets a database of its own.

use serde_json::json;
use time::{Duration, OffsetDateTime, macros::datetime};
use uuid::Uuid;
use voxgate::{
    api_key,
    store::{
        CallRecord, Durable, IncidentFilter, NewAgent, Page, StoreError, SummaryQuery,
        TranscriptItem, UsageRecord,
    },
};
use voxgate_core::{AgentSpec, FailureMode, Incident, Severity};

macro_rules! durable_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let (store, _dir) = crate::support::sqlite().await;
                    super::$test(store.as_ref()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(db) = crate::support::TestDatabase::create().await else { return };
                    super::$test(&db.store).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

durable_suite!(
    tenants_have_unique_names_and_ensure_is_idempotent,
    api_keys_are_stored_as_hashes_and_can_be_revoked,
    each_update_makes_a_new_version_and_stale_versions_conflict,
    idempotent_create_returns_the_first_agent_and_rejects_a_different_request,
    agents_are_invisible_to_other_tenants,
    calls_and_transcripts_round_trip_and_duplicates_are_kept_once,
    incidents_filter_by_mode_agent_call_and_time_and_paginate,
    incident_summary_counts_each_mode_per_bucket,
    usage_is_summed_per_agent_per_utc_day,
);

fn spec(name: &str, instructions: &str) -> AgentSpec {
    serde_json::from_value(json!({"name": name, "instructions": instructions}))
        .expect("spec parses")
}

fn new_agent<'a>(
    tenant: Uuid,
    spec: &'a AgentSpec,
    key: Option<(&'a str, &'a str)>,
) -> NewAgent<'a> {
    NewAgent {
        tenant,
        spec,
        idempotency: key,
        at: datetime!(2026-12-01 10:00:00.123456789 UTC),
    }
}

fn incident(tenant: Uuid, mode: FailureMode, agent: &str, at: OffsetDateTime) -> Incident {
    Incident {
        mode,
        tenant_id: tenant,
        agent: Some(agent.to_owned()),
        call_id: None,
        at,
        severity: Severity::Warning,
        action: "switched_to_pipeline".to_owned(),
        detail: json!({"detect_ms": 420}),
    }
}

fn call(tenant: Uuid, started_at: OffsetDateTime) -> CallRecord {
    CallRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        agent: "desk".to_owned(),
        transport: "ws".to_owned(),
        caller: Some("+15550100".to_owned()),
        called: Some("+15550100".into()),
        status: "live".to_owned(),
        started_at,
        ended_at: None,
        end_reason: None,
    }
}

async fn tenants_have_unique_names_and_ensure_is_idempotent(store: &dyn Durable) {
    let acme = store.create_tenant("acme").await.expect("created");
    assert!(matches!(
        store.create_tenant("acme").await,
        Err(StoreError::TenantExists(_))
    ));
    assert_eq!(
        store.ensure_tenant("acme").await.expect("ensured").id,
        acme.id
    );
    let other = store.ensure_tenant("globex").await.expect("ensured");
    assert_ne!(other.id, acme.id);
    let names: Vec<String> = store
        .list_tenants()
        .await
        .expect("listed")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["acme", "globex"]);
    assert_eq!(
        store.get_tenant(other.id).await.expect("found").name,
        "globex"
    );
    assert!(matches!(
        store.get_tenant(Uuid::new_v4()).await,
        Err(StoreError::NotFound)
    ));
}

async fn api_keys_are_stored_as_hashes_and_can_be_revoked(store: &dyn Durable) {
    let tenant = store.create_tenant("acme").await.expect("tenant");
    let other = store.create_tenant("globex").await.expect("tenant");
    let minted = api_key::mint(tenant.id, "ci", datetime!(2026-12-01 10:00 UTC));
    store.insert_api_key(&minted.record).await.expect("stored");
    let (id, secret) = api_key::parse(minted.key.expose()).expect("key parses");
    let found = store
        .find_api_key(id)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(found, minted.record);
    assert!(api_key::verify(&found, secret));
    assert!(
        !found
            .hash
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    );
    // Another tenant cannot revoke it.
    let at = datetime!(2026-12-02 10:00 UTC);
    assert!(matches!(
        store.revoke_api_key(other.id, id, at).await,
        Err(StoreError::NotFound)
    ));
    store
        .revoke_api_key(tenant.id, id, at)
        .await
        .expect("revoked");
    let revoked = store
        .find_api_key(id)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(revoked.revoked_at, Some(at));
    assert!(!api_key::verify(&revoked, secret));
}

async fn each_update_makes_a_new_version_and_stale_versions_conflict(store: &dyn Durable) {
    let tenant = store.create_tenant("acme").await.expect("tenant").id;
    let v1 = spec("desk", "Version one.");
    let created = store
        .create_agent(new_agent(tenant, &v1, None))
        .await
        .expect("created");
    assert_eq!(created.version, 1);
    // What create returns is exactly what a read returns (times at the store's resolution).
    assert_eq!(
        store.get_agent(tenant, "desk").await.expect("read"),
        created
    );
    assert!(matches!(
        store.create_agent(new_agent(tenant, &v1, None)).await,
        Err(StoreError::AgentExists(_))
    ));
    let v2 = spec("desk", "Version two.");
    let at = datetime!(2026-12-02 10:00:00.5 UTC);
    let updated = store
        .update_agent(tenant, &v2, 1, at)
        .await
        .expect("updated");
    assert_eq!((updated.version, updated.updated_at), (2, at));
    assert_eq!(
        store.get_agent(tenant, "desk").await.expect("read"),
        updated
    );
    assert_eq!(updated.created_at, created.created_at);
    let stale = store
        .update_agent(tenant, &spec("desk", "Lost update."), 1, at)
        .await;
    assert!(matches!(
        stale,
        Err(StoreError::VersionConflict {
            expected: 1,
            current: 2
        })
    ));
    let current = store.get_agent(tenant, "desk").await.expect("read");
    assert_eq!((current.version, current.spec), (2, v2));
    assert!(matches!(
        store
            .update_agent(tenant, &spec("nobody", "x"), 1, at)
            .await,
        Err(StoreError::NotFound)
    ));
    store.delete_agent(tenant, "desk").await.expect("deleted");
    assert!(matches!(
        store.get_agent(tenant, "desk").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_agent(tenant, "desk").await,
        Err(StoreError::NotFound)
    ));
}

async fn idempotent_create_returns_the_first_agent_and_rejects_a_different_request(
    store: &dyn Durable,
) {
    let tenant = store.create_tenant("acme").await.expect("tenant").id;
    let desk = spec("desk", "Be brief.");
    let first = store
        .create_agent(new_agent(tenant, &desk, Some(("key-1", "hash-a"))))
        .await
        .expect("created");
    let again = store
        .create_agent(new_agent(tenant, &desk, Some(("key-1", "hash-a"))))
        .await
        .expect("replayed");
    assert_eq!(first, again);
    assert_eq!(store.list_agents(tenant).await.expect("listed").len(), 1);
    // A replay after an update still answers with what the creation made.
    let later = spec("desk", "Updated since.");
    let at = datetime!(2026-12-02 10:00 UTC);
    store
        .update_agent(tenant, &later, 1, at)
        .await
        .expect("updated");
    let replay = store
        .create_agent(new_agent(tenant, &desk, Some(("key-1", "hash-a"))))
        .await
        .expect("replayed");
    assert_eq!(replay, first);
    let other = spec("other", "Different.");
    assert!(matches!(
        store
            .create_agent(new_agent(tenant, &other, Some(("key-1", "hash-b"))))
            .await,
        Err(StoreError::IdempotencyMismatch)
    ));
    assert_eq!(store.list_agents(tenant).await.expect("listed").len(), 1);
}

async fn agents_are_invisible_to_other_tenants(store: &dyn Durable) {
    let a = store.create_tenant("acme").await.expect("tenant").id;
    let b = store.create_tenant("globex").await.expect("tenant").id;
    let desk = spec("desk", "A's agent.");
    store
        .create_agent(new_agent(a, &desk, None))
        .await
        .expect("created");
    assert!(store.list_agents(b).await.expect("listed").is_empty());
    assert!(matches!(
        store.get_agent(b, "desk").await,
        Err(StoreError::NotFound)
    ));
    let at = datetime!(2026-12-02 10:00 UTC);
    assert!(matches!(
        store.update_agent(b, &desk, 1, at).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_agent(b, "desk").await,
        Err(StoreError::NotFound)
    ));
    // The same name may exist in both tenants.
    let theirs = spec("desk", "B's agent.");
    store
        .create_agent(new_agent(b, &theirs, None))
        .await
        .expect("created");
    assert_eq!(store.get_agent(a, "desk").await.expect("read").spec, desk);
}

async fn calls_and_transcripts_round_trip_and_duplicates_are_kept_once(store: &dyn Durable) {
    let a = store.create_tenant("acme").await.expect("tenant").id;
    let b = store.create_tenant("globex").await.expect("tenant").id;
    let base = datetime!(2026-12-01 09:00 UTC);
    let calls: Vec<CallRecord> = (0..5)
        .map(|i| call(a, base + Duration::minutes(i)))
        .collect();
    for record in &calls {
        store.upsert_call(record).await.expect("stored");
    }
    let mut ended = calls[0].clone();
    ended.status = "ended".to_owned();
    ended.ended_at = Some(base + Duration::minutes(3));
    ended.end_reason = Some("caller_hangup".to_owned());
    store.upsert_call(&ended).await.expect("updated");
    for (seq, (role, text)) in [("user", "Hi"), ("assistant", "Hello!"), ("user", "Bye")]
        .into_iter()
        .enumerate()
    {
        let item = TranscriptItem {
            call_id: ended.id,
            seq: seq as i64,
            role: role.to_owned(),
            text: text.to_owned(),
            played_ms: (role == "assistant").then_some(1200),
            at: base + Duration::seconds(seq as i64),
        };
        store.append_transcript(a, &item).await.expect("appended");
        store
            .append_transcript(a, &item)
            .await
            .expect("duplicate absorbed");
    }
    let stray = TranscriptItem {
        call_id: ended.id,
        seq: 9,
        role: "user".to_owned(),
        text: "injected".to_owned(),
        played_ms: None,
        at: base,
    };
    assert!(matches!(
        store.append_transcript(b, &stray).await,
        Err(StoreError::NotFound)
    ));
    // Another tenant cannot take over (or silently fail to write) a call id that is A's.
    let mut hijack = ended.clone();
    hijack.tenant_id = b;
    let hijacked = store.upsert_call(&hijack).await;
    assert!(
        matches!(hijacked, Err(StoreError::IdConflict)),
        "{hijacked:?}"
    );
    let (got, transcript) = store.get_call(a, ended.id).await.expect("read");
    assert_eq!(got, ended);
    let texts: Vec<&str> = transcript.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, vec!["Hi", "Hello!", "Bye"]);
    let played: Vec<Option<i64>> = transcript.iter().map(|t| t.played_ms).collect();
    assert_eq!(played, vec![None, Some(1200), None]);
    assert!(matches!(
        store.get_call(b, ended.id).await,
        Err(StoreError::NotFound)
    ));
    // Newest first, two per page, no overlaps.
    let mut page = Page {
        limit: 2,
        before: None,
    };
    let mut seen = Vec::new();
    loop {
        let items = store.list_calls(a, &page).await.expect("listed");
        let Some(last) = items.last() else { break };
        page.before = Some((last.started_at, last.id));
        seen.extend(items.iter().map(|c| c.id));
    }
    let expected: Vec<Uuid> = calls.iter().rev().map(|c| c.id).collect();
    assert_eq!(seen, expected);
    assert!(
        store
            .list_calls(
                b,
                &Page {
                    limit: 10,
                    before: None
                }
            )
            .await
            .expect("listed")
            .is_empty()
    );
}

async fn incidents_filter_by_mode_agent_call_and_time_and_paginate(store: &dyn Durable) {
    let a = store.create_tenant("acme").await.expect("tenant").id;
    let b = store.create_tenant("globex").await.expect("tenant").id;
    let base = datetime!(2026-12-01 00:00 UTC);
    let call_id = Uuid::new_v4();
    for i in 0..6 {
        let mode = if i % 2 == 0 {
            FailureMode::ProviderOutage
        } else {
            FailureMode::PiiLeak
        };
        let mut record = incident(
            a,
            mode,
            if i < 3 { "desk" } else { "support" },
            base + Duration::minutes(i),
        );
        if i == 5 {
            record.call_id = Some(call_id);
        }
        store.record_incident(&record).await.expect("stored");
    }
    store
        .record_incident(&incident(b, FailureMode::ProviderOutage, "desk", base))
        .await
        .expect("stored");
    let list = |filter: IncidentFilter| async move {
        store.list_incidents(a, &filter).await.expect("listed")
    };
    let page = Page {
        limit: 100,
        before: None,
    };
    let all = list(IncidentFilter {
        page: page.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].incident.at >= w[1].incident.at));
    assert_eq!(all[0].incident.detail, json!({"detect_ms": 420}));
    let outages = list(IncidentFilter {
        mode: Some(FailureMode::ProviderOutage),
        page: page.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(outages.len(), 3);
    let support = list(IncidentFilter {
        agent: Some("support".into()),
        page: page.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(support.len(), 3);
    let on_call = list(IncidentFilter {
        call_id: Some(call_id),
        page: page.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(on_call.len(), 1);
    let window = list(IncidentFilter {
        from: Some(base + Duration::minutes(1)),
        to: Some(base + Duration::minutes(3)),
        page: page.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(window.len(), 2);
    let first = list(IncidentFilter {
        page: Page {
            limit: 4,
            before: None,
        },
        ..Default::default()
    })
    .await;
    let last = &first[3];
    let rest = list(IncidentFilter {
        page: Page {
            limit: 4,
            before: Some((last.incident.at, last.id)),
        },
        ..Default::default()
    })
    .await;
    assert_eq!((first.len(), rest.len()), (4, 2));
    assert!(rest.iter().all(|r| first.iter().all(|f| f.id != r.id)));
}

async fn incident_summary_counts_each_mode_per_bucket(store: &dyn Durable) {
    let a = store.create_tenant("acme").await.expect("tenant").id;
    let base = datetime!(2026-12-01 10:00 UTC);
    let at = [
        (0, FailureMode::LatencySpike),
        (10, FailureMode::LatencySpike),
        (20, FailureMode::DeadAir),
        (70, FailureMode::LatencySpike),
        (200, FailureMode::DeadAir),
    ];
    for (minutes, mode) in at {
        store
            .record_incident(&incident(
                a,
                mode,
                "desk",
                base + Duration::minutes(minutes),
            ))
            .await
            .expect("stored");
    }
    let query = SummaryQuery {
        from: base,
        to: base + Duration::hours(3),
        bucket_seconds: 3600,
    };
    let buckets = store.incident_summary(a, &query).await.expect("summary");
    let got: Vec<(OffsetDateTime, FailureMode, i64)> = buckets
        .into_iter()
        .map(|b| (b.bucket_start, b.mode, b.count))
        .collect();
    assert_eq!(
        got,
        vec![
            (base, FailureMode::DeadAir, 1),
            (base, FailureMode::LatencySpike, 2),
            (base + Duration::hours(1), FailureMode::LatencySpike, 1),
        ]
    );
}

async fn usage_is_summed_per_agent_per_utc_day(store: &dyn Durable) {
    let a = store.create_tenant("acme").await.expect("tenant").id;
    let b = store.create_tenant("globex").await.expect("tenant").id;
    let record = |tenant, agent: &str, at, cost| UsageRecord {
        tenant_id: tenant,
        agent: agent.to_owned(),
        call_id: None,
        at,
        provider: "openai".to_owned(),
        model: "gpt-realtime".to_owned(),
        input_tokens: 100,
        output_tokens: 50,
        audio_seconds: 2.5,
        cost_usd: cost,
    };
    let day1 = datetime!(2026-12-01 23:30 UTC);
    let day2 = datetime!(2026-12-02 00:30 UTC);
    for usage in [
        record(a, "desk", day1, 0.25),
        record(a, "desk", day1 + Duration::minutes(10), 0.5),
        record(a, "desk", day2, 1.0),
        record(a, "support", day2, 2.0),
        record(b, "desk", day1, 100.0),
    ] {
        store.record_usage(&usage).await.expect("stored");
    }
    let days = store
        .usage_by_day(
            a,
            datetime!(2026-12-01 00:00 UTC),
            datetime!(2026-12-03 00:00 UTC),
        )
        .await
        .expect("usage");
    let got: Vec<(&str, &str, i64, i64, f64)> = days
        .iter()
        .map(|d| {
            (
                d.agent.as_str(),
                d.day.as_str(),
                d.responses,
                d.input_tokens,
                d.cost_usd,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("desk", "2026-12-01", 2, 200, 0.75),
            ("desk", "2026-12-02", 1, 100, 1.0),
            ("support", "2026-12-02", 1, 100, 2.0),
        ]
    );
}
