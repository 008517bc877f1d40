//! The one outbound HTTP client (tool webhooks, the load generator): connection pools are shared
//! process-wide instead of being rebuilt per request.

use std::sync::OnceLock;

/// The process's HTTP client.
pub fn http_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new).clone()
}
