//! The one outbound HTTP client (tool webhooks, the load generator): connection pools are shared
//! process-wide instead of being rebuilt per request.

use std::sync::OnceLock;

/// The process's HTTP client.
pub fn http_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new).clone()
}

/// The client for tenant-configured webhooks (tools): it never follows redirects, so a webhook
/// cannot bounce a request to an internal address.
pub fn webhook_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        })
        .clone()
}
