//! Which address a request comes from: the TCP peer by default; forwarding
//! headers only when the app says its proxies set them (decisions D10).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::Extensions;
use http::HeaderMap;

/// The TCP peer address of a request. Insert it into the request extensions
/// when serving with bare hyper, or with tonic (map tonic's `TcpConnectInfo`
/// to it in a layer outside Kernia); axum's `ConnectInfo<SocketAddr>` is read
/// as is. Without an address, all clients share one rate-limit bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Where the client IP comes from.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientIpConfig {
    /// Headers to read, in order (e.g. `x-forwarded-for`); empty = peer only.
    pub(crate) headers: Vec<String>,
    /// Proxy addresses trusted to append to `X-Forwarded-For`.
    pub(crate) trusted_proxies: Vec<IpAddr>,
    /// Don't track IPs at all (rate limits share one bucket).
    pub(crate) disabled: bool,
}

impl ClientIpConfig {
    pub(crate) fn resolve(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<String> {
        if self.disabled {
            return None;
        }
        let from_headers = self.headers.iter().find_map(|name| {
            let value = headers.get(name.as_str())?.to_str().ok()?;
            self.pick(value)
        });
        from_headers.or_else(|| peer(extensions)).map(normalize)
    }

    fn pick(&self, value: &str) -> Option<IpAddr> {
        let hops: Vec<&str> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if self.trusted_proxies.is_empty() {
            return match hops.as_slice() {
                [only] => only.parse().ok(),
                _ => None,
            };
        }
        hops.iter()
            .rev()
            .filter_map(|hop| hop.parse::<IpAddr>().ok())
            .find(|ip| !self.trusted_proxies.contains(ip))
    }
}

fn peer(extensions: &Extensions) -> Option<IpAddr> {
    if let Some(ClientAddr(addr)) = extensions.get::<ClientAddr>() {
        return Some(addr.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    None
}

/// IPv4 as is; IPv4-mapped IPv6 as IPv4; other IPv6 expanded and cut to /64.
fn normalize(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let masked = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                masked.segments().iter().map(|g| format!("{g:04x}")).collect::<Vec<_>>().join(":")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_cut_to_64_and_expanded() {
        assert_eq!(normalize("2001:db8::1".parse().unwrap()), "2001:0db8:0000:0000:0000:0000:0000:0000");
        assert_eq!(normalize("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
    }

    #[test]
    fn forwarded_header_is_ignored_unless_configured() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "9.9.9.9".parse().unwrap());
        let mut ext = Extensions::new();
        ext.insert(ClientAddr("1.2.3.4:5".parse().unwrap()));
        assert_eq!(ClientIpConfig::default().resolve(&headers, &ext).as_deref(), Some("1.2.3.4"));
        let config = ClientIpConfig { headers: vec!["x-forwarded-for".into()], ..Default::default() };
        assert_eq!(config.resolve(&headers, &ext).as_deref(), Some("9.9.9.9"));
        headers.insert("x-forwarded-for", "8.8.8.8, 9.9.9.9".parse().unwrap());
        assert_eq!(config.resolve(&headers, &ext).as_deref(), Some("1.2.3.4"));
    }
}
