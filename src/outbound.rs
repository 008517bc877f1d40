//! Outbound HTTP: one shared client for voxgate's own requests (the load generator), and
//! vetted clients for tenant-configured webhooks (tools).
//!
//! A tenant chooses its webhook URLs, so a webhook must not become a way into the deployment's
//! network. [`webhook_client`] resolves the host once, refuses private, link-local, shared,
//! unspecified and multicast addresses (loopback only when the URL names loopback itself, the
//! development exception the agent validation allows), then pins the client to the address it
//! checked, so DNS cannot answer differently at connect time. Redirects are never followed.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::OnceLock,
};

/// The process's HTTP client for voxgate's own requests.
pub fn http_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new).clone()
}

/// True for addresses a webhook must never reach.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_loopback()
        || (a == 100 && (b & 0xC0) == 64) // shared address space, 100.64.0.0/10
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_loopback()
        || (first & 0xFE00) == 0xFC00 // unique local, fc00::/7
        || (first & 0xFFC0) == 0xFE80 // link local, fe80::/10
}

fn names_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// A client that may call `url`, pinned to its vetted address; or why not (a stable code).
pub async fn webhook_client(url: &str) -> Result<reqwest::Client, &'static str> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "tool.bad_url")?;
    let host = parsed.host_str().ok_or("tool.bad_url")?.to_owned();
    let port = parsed.port_or_known_default().ok_or("tool.bad_url")?;
    let lookup_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((lookup_host.as_str(), port))
        .await
        .map_err(|_| "tool.unresolvable")?
        .collect();
    let loopback_allowed = names_loopback(&host);
    let allowed = |addr: &SocketAddr| {
        !is_internal(addr.ip()) || (loopback_allowed && addr.ip().is_loopback())
    };
    // Every address the name has must be acceptable, or a second lookup could pick another.
    if addresses.is_empty() || !addresses.iter().all(allowed) {
        return Err("tool.internal_address");
    }
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&lookup_host, addresses[0])
        .build()
        .map_err(|_| "tool.client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "127.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = internal.parse().expect("address");
            assert!(is_internal(ip), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "100.128.0.1", "2606:4700::1111"] {
            let ip: IpAddr = public.parse().expect("address");
            assert!(!is_internal(ip), "{public}");
        }
    }

    #[tokio::test]
    async fn webhooks_to_internal_addresses_are_refused_but_named_loopback_is_allowed() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/hook",
            "https://[fd00::1]/hook",
        ] {
            assert_eq!(
                webhook_client(url).await.err(),
                Some("tool.internal_address"),
                "{url}"
            );
        }
        assert!(webhook_client("http://127.0.0.1:9/hook").await.is_ok());
        assert!(webhook_client("http://localhost:9/hook").await.is_ok());
        assert_eq!(
            webhook_client("not a url").await.err(),
            Some("tool.bad_url")
        );
    }
}
