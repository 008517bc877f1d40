//! The browser side, served from files embedded in the binary: `GET /widget.js` (the call
//! widget, public and cacheable) and `GET /demo?link=…` (a page that runs the widget for the agent
//! a demo link names).
//!
//! The demo page carries no secret: its token URL is the link's own
//! `/v1/demo-links/call-token?link=…`. It is sent with a strict Content-Security-Policy (scripts
//! and connections to this origin only, the one inline style by hash) and is never cached. This
//! module renders; it does not check link signatures itself (`demo_link.rs` does).

use super::{AppState, error::ErrorBody};
use crate::{
    demo_link::{self, LinkError},
    store::StoreError,
};
use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;
use time::OffsetDateTime;

const WIDGET_JS: &str = include_str!("assets/widget.js");
const DEMO_HTML: &str = include_str!("assets/demo.html");

/// A strong validator for the widget: the first 16 bytes of its SHA-256, in hex.
static WIDGET_ETAG: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(WIDGET_JS.as_bytes());
    format!("\"{}\"", hex::encode(&digest[..16]))
});

/// The demo page's policy; the page's one inline `<style>` is allowed by its hash.
static DEMO_CSP: LazyLock<String> = LazyLock::new(|| {
    let style = DEMO_HTML
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map_or("", |(style, _)| style);
    let hash = STANDARD.encode(Sha256::digest(style.as_bytes()));
    format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'sha256-{hash}'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
});

/// The call widget (vanilla JavaScript). Use it with
/// `<script src="https://HOST/widget.js" data-agent="support" data-token-url="/token"></script>`.
#[utoipa::path(get, path = "/widget.js", tag = "widget", security(()),
    responses((status = 200, description = "The widget script", content_type = "text/javascript"),
              (status = 304, description = "Not modified (If-None-Match)")))]
pub(super) async fn widget_js(headers: HeaderMap) -> Response {
    let etag = WIDGET_ETAG.as_str();
    let cache = [
        (header::ETAG, etag),
        (
            header::CACHE_CONTROL,
            "public, max-age=300, must-revalidate",
        ),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        WIDGET_JS,
    )
        .into_response()
}

/// The demo page for a demo link: the widget, ready to call the link's agent. Without a valid
/// link it is an HTML page that says what is wrong.
#[utoipa::path(get, path = "/demo", tag = "widget", security(()),
    params(("link" = String, Query, description = "A demo link token from POST /v1/demo-links")),
    responses((status = 200, description = "The demo page", content_type = "text/html"),
              (status = 400, description = "No link", content_type = "text/html"),
              (status = 403, description = "The link is not valid", content_type = "text/html"),
              (status = 404, description = "The agent no longer exists", content_type = "text/html"),
              (status = 410, description = "The link has expired", content_type = "text/html"),
              (status = 503, description = "The store is unavailable", body = ErrorBody)))]
pub(super) async fn demo_page(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let link = query.as_deref().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "link")
            .map(|(_, value)| value.into_owned())
    });
    let Some(link) = link.filter(|link| !link.is_empty()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "This page needs a demo link",
            "Open the whole link you were given; it looks like /demo?link=vdl_…",
        );
    };
    let now = OffsetDateTime::now_utc();
    let grant = match demo_link::verify(&state.calls.token_key, &link, now) {
        Ok(grant) => grant,
        Err(LinkError::Expired) => {
            return problem(
                StatusCode::GONE,
                "This demo link has expired",
                "Demo links work for a limited time. Ask whoever sent it for a new one.",
            );
        }
        Err(_) => {
            return problem(
                StatusCode::FORBIDDEN,
                "This demo link is not valid",
                "Check that you copied the whole link, or ask for a new one.",
            );
        }
    };
    match state.durable.get_agent(grant.tenant_id, &grant.agent).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            return problem(
                StatusCode::NOT_FOUND,
                "This agent no longer exists",
                "The agent this link calls was deleted. Ask for a new link.",
            );
        }
        Err(error) => return super::ApiError::from(error).into_response(),
    }
    let expires = OffsetDateTime::from_unix_timestamp(grant.expires_at)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let token_url: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("link", &link)
        .finish();
    let agent = escape(&grant.agent);
    let content = format!(
        "<h1>Talk to {agent}</h1>\n<p>Press the button and allow the microphone. You will hear \
         the agent through your speakers.</p>\n<script src=\"/widget.js\" data-agent=\"{agent}\" \
         data-token-url=\"/v1/demo-links/call-token?{}\"></script>\n<p>This link works until {} \
         (UTC). Keep it private: anyone who has it can call this agent until then.</p>",
        escape(&token_url),
        escape(&expires),
    );
    page(StatusCode::OK, &format!("Talk to {agent}"), &content)
}

fn problem(status: StatusCode, title: &str, advice: &str) -> Response {
    let content = format!(
        "<h1>{}</h1>\n<p class=\"problem\">{}</p>",
        escape(title),
        escape(advice)
    );
    page(status, &escape(title), &content)
}

/// The demo template with `title` and `content` (both already escaped) filled in.
fn page(status: StatusCode, title: &str, content: &str) -> Response {
    let html = DEMO_HTML
        .replacen("{{TITLE}}", title, 1)
        .replacen("{{CONTENT}}", content, 1);
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    let csp =
        HeaderValue::from_str(&DEMO_CSP).unwrap_or(HeaderValue::from_static("default-src 'none'"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Escapes text for HTML content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_demo_policy_allows_exactly_the_inline_style() {
        assert!(DEMO_CSP.contains("script-src 'self'"));
        assert!(DEMO_CSP.contains("connect-src 'self'"));
        assert!(!DEMO_CSP.contains("unsafe"));
        assert!(
            !DEMO_CSP.contains("style-src 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='")
        );
    }
}
