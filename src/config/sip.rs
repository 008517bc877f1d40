//! `[sip]`: the SIP trunk endpoint (UDP): where it listens, who may reach it, how callers
//! authenticate, how many calls it takes, and which called number reaches which agent.

use crate::secret::Secret;
use serde::{Deserialize, Deserializer};
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    ops::RangeInclusive,
    str::FromStr,
};
use voxgate_core::FieldError;

/// SIP trunk settings. SIP is off unless `udp_addr` is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP address for SIP signalling, e.g. `0.0.0.0:5060`. Unset (the default): no SIP.
    pub udp_addr: Option<SocketAddr>,
    /// The address trunks reach voxgate at, put in Contact, Via and the SDP answer. Default:
    /// the bound address, or 127.0.0.1 when bound to all interfaces.
    pub public_ip: Option<IpAddr>,
    /// UDP ports for RTP, one per call: `"20000-20999"` (the default).
    pub rtp_ports: PortRange,
    /// Networks allowed to send SIP, as CIDRs (`"203.0.113.0/24"`, `"2001:db8::/32"`) in a
    /// list or one comma-separated string. Datagrams from anywhere else are dropped unanswered.
    /// Empty (the default): loopback only. `0.0.0.0/0` and `::/0` allow everyone.
    #[serde(deserialize_with = "cidr_list")]
    pub allowed_sources: Vec<Cidr>,
    /// Digest user name trunks must authenticate INVITEs with (with `password`).
    pub username: Option<String>,
    /// Digest password.
    pub password: Option<Secret>,
    /// Digest realm (default `voxgate`).
    pub realm: String,
    /// SIP calls this server takes at once; more get 503 with Retry-After (default 100).
    pub max_calls: u32,
    /// SIP calls one tenant may have at once on this server (default 20).
    pub max_calls_per_tenant: u32,
    /// Milliseconds to ring (180) before answering (default 0).
    pub answer_after_ms: u64,
    /// Called number (Request-URI user, else To user) → agent: `"support"` for an agent of
    /// the default tenant, `"tenant/agent"` for another tenant's. Unlisted numbers get 404.
    pub numbers: BTreeMap<String, String>,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            udp_addr: None,
            public_ip: None,
            rtp_ports: PortRange(20000..=20999),
            allowed_sources: Vec::new(),
            username: None,
            password: None,
            realm: "voxgate".to_owned(),
            max_calls: 100,
            max_calls_per_tenant: 20,
            answer_after_ms: 0,
            numbers: BTreeMap::new(),
        }
    }
}

/// An inclusive UDP port range, written `"first-last"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRange(pub RangeInclusive<u16>);

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let parsed = text
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
        match parsed {
            Some((first, last)) => Ok(Self(first..=last)),
            None => Err(serde::de::Error::custom(
                "expected \"first-last\", e.g. \"20000-20999\"",
            )),
        }
    }
}

/// A network: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a bad prefix length"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

fn cidr_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Cidr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Text(String),
    }
    let items = match Form::deserialize(deserializer)? {
        Form::List(items) => items,
        Form::Text(text) => text.split(',').map(str::to_owned).collect(),
    };
    items
        .iter()
        .filter(|item| !item.trim().is_empty())
        .map(|item| item.parse().map_err(serde::de::Error::custom))
        .collect()
}

/// Where a called number goes: a tenant (by name; `None` is the default tenant) and an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route<'a> {
    /// Tenant name, when not the default.
    pub tenant: Option<&'a str>,
    /// Agent name.
    pub agent: &'a str,
}

impl SipConfig {
    /// The route for a called number.
    pub fn route(&self, called: &str) -> Option<Route<'_>> {
        let target = self.numbers.get(called)?;
        Some(match target.split_once('/') {
            Some((tenant, agent)) => Route {
                tenant: Some(tenant),
                agent,
            },
            None => Route {
                tenant: None,
                agent: target,
            },
        })
    }

    /// Whether a datagram from `ip` may be answered.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.allowed_sources.is_empty() {
            return ip.is_loopback()
                || matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()));
        }
        self.allowed_sources.iter().any(|net| net.contains(ip))
    }

    /// Problems with these settings.
    pub(super) fn validate(&self, problems: &mut Vec<FieldError>) {
        let mut problem = |field: &str, message: &str| {
            problems.push(FieldError::new(format!("sip.{field}"), message));
        };
        if self
            .public_ip
            .is_some_and(|ip| ip.is_unspecified() || ip.is_multicast())
        {
            problem(
                "public_ip",
                "must be an address trunks can reach, not 0.0.0.0, :: or multicast",
            );
        }
        let ports = &self.rtp_ports.0;
        if ports.start() > ports.end() || *ports.start() < 1024 {
            problem(
                "rtp_ports",
                "must be \"first-last\" with 1024 <= first <= last",
            );
        }
        match (&self.username, &self.password) {
            (Some(user), Some(password)) => {
                if user.is_empty() || user.contains(['"', '\\']) {
                    problem(
                        "username",
                        "must be non-empty, without quotes or backslashes",
                    );
                }
                if password.expose().len() < 8 {
                    problem("password", "must be at least 8 characters");
                }
            }
            (None, None) => {}
            _ => problem("username", "needs `password` too (set both or neither)"),
        }
        if self.realm.is_empty() || self.realm.contains(['"', '\\']) {
            problem("realm", "must be non-empty, without quotes or backslashes");
        }
        if !(1..=10_000).contains(&self.max_calls) {
            problem("max_calls", "must be between 1 and 10000");
        }
        if !(1..=10_000).contains(&self.max_calls_per_tenant) {
            problem("max_calls_per_tenant", "must be between 1 and 10000");
        }
        if self.answer_after_ms > 60_000 {
            problem("answer_after_ms", "must be at most 60000");
        }
        for (number, target) in &self.numbers {
            let parts: Vec<&str> = target.split('/').collect();
            if number.is_empty() || parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
                problem(
                    &format!("numbers.{number}"),
                    "must map a number to \"agent\" or \"tenant/agent\"",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_contain_their_addresses_only() {
        let net: Cidr = "10.0.0.0/8".parse().expect("cidr");
        assert!(net.contains("10.1.2.3".parse().expect("ip")));
        assert!(!net.contains("11.0.0.1".parse().expect("ip")));
        assert!(!net.contains("::1".parse().expect("ip")));
        let all: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains("203.0.113.9".parse().expect("ip")));
        let one: Cidr = "2001:db8::1".parse().expect("cidr");
        assert!(one.contains("2001:db8::1".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn no_allow_list_means_loopback_only() {
        let config = SipConfig::default();
        assert!(config.allows("127.0.0.1".parse().expect("ip")));
        assert!(config.allows("::1".parse().expect("ip")));
        assert!(!config.allows("192.0.2.1".parse().expect("ip")));
    }

    #[test]
    fn numbers_route_to_default_or_named_tenants() {
        let mut config = SipConfig::default();
        config.numbers.insert("+15550100".into(), "support".into());
        config
            .numbers
            .insert("+15550101".into(), "acme/sales".into());
        assert_eq!(
            config.route("+15550100"),
            Some(Route {
                tenant: None,
                agent: "support"
            })
        );
        assert_eq!(
            config.route("+15550101"),
            Some(Route {
                tenant: Some("acme"),
                agent: "sales"
            })
        );
        assert_eq!(config.route("+15550199"), None);
    }
}
