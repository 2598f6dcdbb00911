//! The client's address, for every per-address limit and the audit log.
//!
//! The TCP peer is the client unless it is a trusted proxy (`--trusted-proxies`, loopback by
//! default). Then the client is the right-most address in `X-Forwarded-For` that is not itself a
//! trusted proxy: each proxy appends the peer it saw, so everything left of the first untrusted
//! hop may have been written by the client and is ignored. An untrusted peer's header is never
//! read. This is what nginx's `real_ip_recursive on` does.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::startup::AppState;

#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn key(&self) -> String {
        self.0.map(|i| i.to_string()).unwrap_or_default()
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(peer.map(|peer| {
            client_address(peer, &parts.headers, &state.settings.auth.trusted_proxies)
        })))
    }
}

/// Who sent the request that `peer` delivered with `headers`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    // Every X-Forwarded-For header, in order, as one list; read from the right.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop that is not an address ends the walk: nothing left of it can be believed.
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// `::ffff:10.0.0.1` is `10.0.0.1`: one client, one key, whichever socket family it came in on.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `--trusted-proxies`: a comma-separated list of CIDR blocks or single addresses.
pub fn parse_trusted(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is neither an address nor a CIDR block"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(peer: &str, xff: &[&str], trusted: &str) -> String {
        let mut headers = HeaderMap::new();
        for v in xff {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        client_address(
            peer.parse().unwrap(),
            &headers,
            &parse_trusted(trusted).unwrap(),
        )
        .to_string()
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let lb = "10.0.0.0/8, 127.0.0.1";
        // The client forged a left-most entry; the proxy appended the real peer.
        assert_eq!(
            resolve("10.0.0.5", &["6.6.6.6, 203.0.113.7"], lb),
            "203.0.113.7"
        );
        // Two proxies in a row (edge, then an internal balancer), and headers split in two.
        assert_eq!(
            resolve("10.0.0.5", &["1.1.1.1, 198.51.100.2", "10.0.0.9"], lb),
            "198.51.100.2"
        );
        // An untrusted peer's header is ignored.
        assert_eq!(resolve("198.51.100.9", &["1.2.3.4"], lb), "198.51.100.9");
        // A trusted peer without a header, or whose every hop is trusted.
        assert_eq!(resolve("127.0.0.1", &[], lb), "127.0.0.1");
        assert_eq!(resolve("10.0.0.5", &["10.1.1.1, 10.2.2.2"], lb), "10.1.1.1");
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(resolve("10.0.0.5", &["1.2.3.4, nonsense"], lb), "10.0.0.5");
        // IPv4-mapped IPv6 peers match IPv4 blocks, and keys are plain IPv4.
        assert_eq!(
            resolve("::ffff:10.0.0.5", &["::ffff:203.0.113.7"], lb),
            "203.0.113.7"
        );
        assert!(parse_trusted("10.0.0.0/8, ::1, nope").is_err());
    }
}
