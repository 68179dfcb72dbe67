//! The SSRF guard: which addresses a connector may reach, checked after name resolution and
//! again for every redirect hop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Returns why an address is rejected, or `None` when it is a public unicast address.
pub fn rejection_reason(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => rejection_reason_v4(v4),
        IpAddr::V6(v6) => rejection_reason_v6(v6),
    }
}

fn rejection_reason_v4(address: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = address.octets();
    if address == Ipv4Addr::new(169, 254, 169, 254) || address == Ipv4Addr::new(100, 100, 100, 200)
    {
        return Some("a cloud metadata address");
    }
    let reason = match (a, b, c) {
        (0, _, _) => "an unspecified (0.0.0.0/8) address",
        (127, _, _) => "a loopback address",
        (10, _, _) => "a private address",
        (172, 16..=31, _) => "a private address",
        (192, 168, _) => "a private address",
        (169, 254, _) => "a link-local address",
        (100, 64..=127, _) => "a carrier-grade NAT (100.64.0.0/10) address",
        (192, 0, 0) => "an IETF protocol assignment (192.0.0.0/24) address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking (198.18.0.0/15) address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved or broadcast address",
        _ => return None,
    };
    Some(reason)
}

fn rejection_reason_v6(address: Ipv6Addr) -> Option<&'static str> {
    let segments = address.segments();
    if address.is_unspecified() {
        return Some("an unspecified address");
    }
    if address.is_loopback() {
        return Some("a loopback address");
    }
    // ::ffff:a.b.c.d and the deprecated ::a.b.c.d would reach IPv4 hosts, private ones
    // included, so both are refused outright.
    if segments[..5] == [0; 5] && (segments[5] == 0xffff || segments[5] == 0) {
        return Some("an IPv4-mapped or IPv4-compatible address");
    }
    if segments[0] == 0x0064 && segments[1] == 0xff9b {
        return Some("a NAT64 (64:ff9b::/96) address");
    }
    if address == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        return Some("a cloud metadata address");
    }
    let reason = match segments[0] {
        0xfc00..=0xfdff => "a unique-local address",
        0xfe80..=0xfebf => "a link-local address",
        0xfec0..=0xfeff => "a site-local address",
        0xff00..=0xffff => "a multicast address",
        0x2001 if segments[1] == 0x0db8 => "a documentation address",
        0x2001 if segments[1] == 0 => "a Teredo (2001::/32) address",
        0x2002 => "a 6to4 (2002::/16) address",
        _ => return None,
    };
    Some(reason)
}

/// Resolves `host` once and returns the addresses to connect to. Every address must pass
/// [`rejection_reason`] unless `allow_internal` is set, because a name that mixes public and private
/// addresses is a rebinding attempt, not a configuration to honour.
pub async fn resolve(
    host: &str,
    port: u16,
    allow_internal: bool,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, GuardError> {
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(literal) => vec![SocketAddr::new(literal, port)],
        Err(_) => {
            let lookup = tokio::net::lookup_host((host, port));
            let found = tokio::time::timeout(timeout, lookup)
                .await
                .map_err(|_| GuardError::Resolve(format!("resolving {host} timed out")))?;
            let found = found.map_err(|error| {
                GuardError::Resolve(format!("resolving {host} failed: {error}"))
            })?;
            found.collect()
        }
    };

    if addresses.is_empty() {
        return Err(GuardError::Resolve(format!("{host} has no addresses")));
    }
    if allow_internal {
        return Ok(addresses);
    }
    for address in &addresses {
        if let Some(reason) = rejection_reason(address.ip()) {
            return Err(GuardError::Rejected(format!(
                "{host} resolves to {}, {reason}; a workspace admin can allow internal hosts \
                 explicitly",
                address.ip()
            )));
        }
    }
    Ok(addresses)
}

/// The reason a destination was not reached.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardError {
    Rejected(String),
    Resolve(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_covers_internal_ranges() {
        let rejected = [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.10.10",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2002:a00:1::1",
        ];
        for text in rejected {
            let address: IpAddr = text.parse().unwrap();
            assert!(
                rejection_reason(address).is_some(),
                "{text} should be rejected"
            );
        }
    }

    #[test]
    fn rejection_allows_public_addresses() {
        for text in [
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            let address: IpAddr = text.parse().unwrap();
            assert_eq!(rejection_reason(address), None, "{text} should be allowed");
        }
    }

    #[tokio::test]
    async fn resolve_rejects_private_literal_without_lookup() {
        let rejected = resolve("10.0.0.1", 80, false, Duration::from_secs(1)).await;
        assert!(matches!(rejected, Err(GuardError::Rejected(_))));
    }

    #[tokio::test]
    async fn resolve_rejects_localhost_name() {
        let rejected = resolve("localhost", 80, false, Duration::from_secs(1)).await;
        assert!(matches!(rejected, Err(GuardError::Rejected(_))));
    }
}
