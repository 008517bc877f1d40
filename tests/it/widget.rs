//! The browser side over HTTP: `/widget.js` is public JavaScript, demo links are minted with a
//! tenant key, signed and expiring, their call tokens work once and are rate-limited, and `/demo`
//! without a valid link is a clear error page. (The widget in a real browser: `browser.rs`.)

use crate::support::{
    ADMIN_KEY, TempDir, TestServer, agent_body, call_services, error_code, memory, sqlite,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};
use time::OffsetDateTime;
use uuid::Uuid;
use voxgate::{
    call_token::{self, Audience, TokenError},
    demo_link,
    secret::Secret,
    store::Hot,
};

struct Setup {
    server: TestServer,
    key: String,
    tenant_id: String,
    hot: Arc<dyn Hot>,
    _dir: TempDir,
}

async fn setup() -> Setup {
    let (durable, dir) = sqlite().await;
    let hot = memory();
    let server = TestServer::start_with_calls(
        durable,
        hot.clone(),
        call_services("ws://127.0.0.1:9/v1/realtime"),
    )
    .await;
    let (tenant_id, key) = server.tenant_with_key("acme").await;
    let created = server.post("/v1/agents", &key, &agent_body("desk")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    Setup {
        server,
        key,
        tenant_id,
        hot,
        _dir: dir,
    }
}

fn token_key() -> Secret {
    call_services("ws://127.0.0.1:9/v1/realtime")
        .token_key
        .clone()
}

/// Mints a demo link to `desk`; returns the link token.
async fn link(setup: &Setup) -> String {
    let response = setup
        .server
        .post("/v1/demo-links", &setup.key, &json!({"agent": "desk"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let url = body["url"].as_str().expect("url");
    let (_, token) = url.split_once("/demo?link=").expect("a demo URL");
    token.to_owned()
}

async fn call_token(setup: &Setup, link: &str) -> reqwest::Response {
    setup
        .server
        .client
        .post(format!(
            "{}/v1/demo-links/call-token?link={link}",
            setup.server.base
        ))
        .json(&json!({"agent": "desk"}))
        .send()
        .await
        .expect("request sent")
}

async fn demo_page(setup: &Setup, query: &str) -> (StatusCode, String) {
    let response = setup
        .server
        .client
        .get(format!("{}/demo{query}", setup.server.base))
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let kind = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .expect("ascii");
    assert!(kind.starts_with("text/html"), "{kind}");
    (status, response.text().await.expect("text"))
}

#[tokio::test]
async fn the_widget_script_is_public_cacheable_javascript() {
    let setup = setup().await;
    let url = format!("{}/widget.js", setup.server.base);
    let response = setup.server.client.get(&url).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let kind = headers[header::CONTENT_TYPE].to_str().expect("ascii");
    assert!(kind.starts_with("text/javascript"), "{kind}");
    let cache = headers[header::CACHE_CONTROL].to_str().expect("ascii");
    assert!(
        cache.contains("public") && cache.contains("max-age"),
        "{cache}"
    );
    let script = response.text().await.expect("text");
    assert!(script.contains("window.voxgateWidget"));
    assert!(script.len() < 16 * 1024, "{} bytes", script.len());
    let etag = headers[header::ETAG].clone();
    let again = setup
        .server
        .client
        .get(&url)
        .header(header::IF_NONE_MATCH, etag);
    let again = again.send().await.expect("sent");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn demo_links_need_a_tenant_key_and_a_known_agent() {
    let setup = setup().await;
    let server = &setup.server;
    let body = json!({"agent": "desk", "ttl_seconds": 900});
    let anonymous = server.client.post(format!("{}/v1/demo-links", server.base));
    let anonymous = anonymous.json(&body).send().await.expect("sent");
    assert_eq!(error_code(anonymous).await.0, 401);
    let admin = server.post("/v1/demo-links", ADMIN_KEY, &body).await;
    let (status, code, _) = error_code(admin).await;
    assert_eq!((status, code.as_str()), (403, "auth.tenant_key_required"));
    let unknown = json!({"agent": "nobody"});
    let (status, code, _) =
        error_code(server.post("/v1/demo-links", &setup.key, &unknown).await).await;
    assert_eq!((status, code.as_str()), (404, "agent.not_found"));
    let too_long = json!({"agent": "desk", "ttl_seconds": 30 * 24 * 3600});
    let (status, code, _) =
        error_code(server.post("/v1/demo-links", &setup.key, &too_long).await).await;
    assert_eq!((status, code.as_str()), (400, "demo_link.invalid"));
    // Another tenant cannot link to this tenant's agent.
    let (_, other_key) = server.tenant_with_key("globex").await;
    let (status, _, _) = error_code(server.post("/v1/demo-links", &other_key, &body).await).await;
    assert_eq!(status, 404);

    let created = server.post("/v1/demo-links", &setup.key, &body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    assert!(
        created["url"]
            .as_str()
            .expect("url")
            .starts_with("/demo?link=vdl_"),
        "{created}"
    );
    assert_eq!(created["agent"], "desk");
    let expires = created["expires_at"].as_str().expect("expires_at");
    let expires = OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    let left = expires - OffsetDateTime::now_utc();
    assert!(left > time::Duration::seconds(890) && left <= time::Duration::seconds(900));
}

#[tokio::test]
async fn a_forged_expired_or_foreign_link_is_refused() {
    let setup = setup().await;
    let link = link(&setup).await;
    let tenant: Uuid = setup.tenant_id.parse().expect("uuid");
    // Another tenant's id in the payload, with this link's signature.
    let (payload, tag) = link
        .trim_start_matches("vdl_")
        .split_once('.')
        .expect("sealed");
    let mut claims: Value =
        serde_json::from_slice(&B64.decode(payload).expect("b64")).expect("json");
    assert_eq!(claims["t"], json!(tenant));
    claims["t"] = json!(Uuid::new_v4());
    let forged = format!("vdl_{}.{tag}", B64.encode(claims.to_string()));
    // Signed by another deployment, expired, or a call token instead of a link.
    let foreign_key = Secret::new("another-deployment-key-0123456789abcdef");
    let now = OffsetDateTime::now_utc();
    let (foreign, _) = demo_link::mint(&foreign_key, tenant, "desk", now, Duration::from_secs(900));
    let past = now - time::Duration::seconds(1000);
    let (expired, _) =
        demo_link::mint(&token_key(), tenant, "desk", past, Duration::from_secs(900));
    let body = json!({"agent": "desk"});
    let minted = setup
        .server
        .post("/v1/call-tokens", &setup.key, &body)
        .await;
    let minted: Value = minted.json().await.expect("json");
    let vct = minted["token"].as_str().expect("token").to_owned();
    for (bad, code) in [
        (forged.as_str(), "auth.invalid_demo_link"),
        (foreign.as_str(), "auth.invalid_demo_link"),
        (vct.as_str(), "auth.invalid_demo_link"),
        ("vdl_x.y", "auth.invalid_demo_link"),
        (expired.as_str(), "auth.demo_link_expired"),
    ] {
        let (status, got, body) = error_code(call_token(&setup, bad).await).await;
        assert_eq!((status, got.as_str()), (401, code), "{body}");
    }
    let (status, page) = demo_page(&setup, &format!("?link={expired}")).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This demo link has expired"), "{page}");
    let (status, page) = demo_page(&setup, &format!("?link={forged}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("This demo link is not valid"), "{page}");
}

#[tokio::test]
async fn call_tokens_from_a_link_work_once_and_are_rate_limited() {
    let setup = setup().await;
    let link = link(&setup).await;
    let response = call_token(&setup, &link).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let token = body["token"].as_str().expect("token");
    let now = OffsetDateTime::now_utc();
    let grant = call_token::verify(&token_key(), token, now).expect("a valid call token");
    assert_eq!(grant.tenant_id.to_string(), setup.tenant_id);
    assert_eq!(
        (grant.agent.as_str(), grant.audience),
        ("desk", Audience::Webrtc)
    );
    assert!(grant.expires_at - now.unix_timestamp() <= 60);
    let hot = setup.hot.as_ref();
    let ws = call_token::redeem(&token_key(), hot, token, Audience::Ws, now).await;
    assert_eq!(ws, Err(TokenError::WrongAudience));
    let first = call_token::redeem(&token_key(), hot, token, Audience::Webrtc, now).await;
    assert!(first.is_ok(), "{first:?}");
    let second = call_token::redeem(&token_key(), hot, token, Audience::Webrtc, now).await;
    assert_eq!(second, Err(TokenError::Spent));

    for _ in 1..demo_link::TOKENS_PER_MINUTE {
        assert_eq!(
            call_token(&setup, &link).await.status(),
            StatusCode::CREATED
        );
    }
    let limited = call_token(&setup, &link).await;
    assert_eq!(limited.headers()[header::RETRY_AFTER], "60");
    let (status, code, _) = error_code(limited).await;
    assert_eq!((status, code.as_str()), (429, "demo_link.rate_limited"));
    // The limit is per link: a new link has its own.
    let fresh = self::link(&setup).await;
    assert_eq!(
        call_token(&setup, &fresh).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_demo_page_shows_the_widget_or_says_what_is_wrong() {
    let setup = setup().await;
    let (status, page) = demo_page(&setup, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("This page needs a demo link"), "{page}");
    let (status, page) = demo_page(&setup, "?link=nonsense").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("not valid"), "{page}");

    let link = link(&setup).await;
    let response = setup
        .server
        .client
        .get(format!("{}/demo?link={link}", setup.server.base));
    let response = response.send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    let page = response.text().await.expect("text");
    assert!(
        page.contains(r#"<script src="/widget.js" data-agent="desk""#),
        "{page}"
    );
    let token_url = format!(r#"data-token-url="/v1/demo-links/call-token?link={link}""#);
    assert!(page.contains(&token_url), "{page}");
    assert!(
        !page.contains(&setup.key) && !page.contains("vct_"),
        "no key or call token"
    );

    // The agent goes away: the page says so.
    let deleted = setup
        .server
        .request(reqwest::Method::DELETE, "/v1/agents/desk", &setup.key);
    assert!(deleted.send().await.expect("sent").status().is_success());
    let (status, page) = demo_page(&setup, &format!("?link={link}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("This agent no longer exists"), "{page}");
    let (status, _, _) = error_code(call_token(&setup, &link).await).await;
    assert_eq!(status, 404);
}
