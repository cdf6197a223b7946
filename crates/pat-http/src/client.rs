//! The client's address behind trusted proxies: what limits count by and what
//! `last_used_ip` and the audit log record.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{HeaderMap, X_FORWARDED_FOR};
use actix_web::{HttpRequest, web};

use crate::state::ApiState;

/// The client address: what the rate limits count by and what a token's `last_used_ip`
/// and the audit log record.
///
/// The TCP peer, unless the peer is one of the registered [`ApiState`]'s
/// [`trusted_proxies`](crate::ApiConfig::trusted_proxies): then the address those
/// proxies recorded in `X-Forwarded-For` (see [`client_ip_from`]). Without a registered
/// `ApiState`, always the TCP peer.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<web::Data<ApiState>>()
        .map_or(&[][..], |state| state.config.trusted_proxies.as_slice());
    Some(client_ip_from(peer, req.headers(), trusted))
}

/// The client address of a request from `peer` with these headers, believing
/// `X-Forwarded-For` only as far as it was written by `trusted` proxies.
///
/// If `peer` is not trusted, it is the client: its `X-Forwarded-For` is ignored.
/// Otherwise the header's entries (all `X-Forwarded-For` lines, in order) are read
/// from the right — each one was appended by the proxy to its right — skipping trusted
/// proxies; the first address that is not a trusted proxy is the client. Entries to its
/// left are whatever the client sent and are never believed. If an entry is not an IP
/// address, or every entry is a trusted proxy, the last trusted hop reached is taken.
/// IPv4-mapped IPv6 addresses count as IPv4.
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use actix_web::http::header::{HeaderMap, HeaderValue};
///
/// let nginx: IpAddr = "10.0.0.2".parse().unwrap();
/// let mut headers = HeaderMap::new();
/// // The client claimed 6.6.6.6; nginx appended the address it saw.
/// headers.insert(
///     "x-forwarded-for".parse().unwrap(),
///     HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
/// );
/// let client = pat_http::client_ip_from(nginx, &headers, &[nginx]);
/// assert_eq!(client, "203.0.113.7".parse::<IpAddr>().unwrap());
/// ```
pub fn client_ip_from(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.to_canonical() == ip);
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    let lines: Vec<&[u8]> = headers
        .get_all(X_FORWARDED_FOR)
        .map(|value| value.as_bytes())
        .collect();
    let entries = lines
        .iter()
        .rev()
        .flat_map(|line| line.split(|&b| b == b',').rev());
    for entry in entries {
        let Some(ip) = forwarded_address(entry) else {
            return client;
        };
        client = ip;
        if !is_trusted(client) {
            return client;
        }
    }
    client
}

/// One `X-Forwarded-For` entry as an address: `203.0.113.7`, `2001:db8::1`, also with a
/// port (`203.0.113.7:5000`, `[2001:db8::1]:5000`).
fn forwarded_address(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry).ok()?.trim();
    let ip = text
        .parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()?;
    Some(ip.to_canonical())
}

/// The request's `User-Agent`, when it is readable text (for the audit log).
pub fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)?
        .to_str()
        .ok()
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    fn forwarded(lines: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_static(line));
        }
        headers
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client_and_spoofed_leftmost_ones_are_ignored() {
        let proxy = ip("127.0.0.1");
        let trusted = [proxy];
        // The client sent "X-Forwarded-For: 6.6.6.6, 7.7.7.7"; the proxy appended the peer it saw.
        let headers = forwarded(&["6.6.6.6, 7.7.7.7, 203.0.113.7"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), ip("203.0.113.7"));
        // The same entries spread over several header lines, in order.
        let headers = forwarded(&["6.6.6.6", "7.7.7.7,203.0.113.7"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), ip("203.0.113.7"));
    }

    #[test]
    fn an_untrusted_peers_forwarded_for_is_ignored() {
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(
            client_ip_from(ip("198.51.100.1"), &headers, &[ip("127.0.0.1")]),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip_from(ip("127.0.0.1"), &headers, &[]),
            ip("127.0.0.1"),
            "no trusted proxies: the peer, whatever the header says"
        );
    }

    #[test]
    fn chains_of_trusted_proxies_are_walked_from_the_right() {
        let edge = ip("10.0.0.1");
        let inner = ip("10.0.0.2");
        let trusted = [edge, inner];
        // client -> edge -> inner -> patd
        let headers = forwarded(&["6.6.6.6, 203.0.113.7, 10.0.0.1"]);
        assert_eq!(client_ip_from(inner, &headers, &trusted), ip("203.0.113.7"));
        // Only trusted hops: the leftmost trusted one reached.
        let headers = forwarded(&["10.0.0.1"]);
        assert_eq!(client_ip_from(inner, &headers, &trusted), edge);
        // No header: the trusted peer itself.
        assert_eq!(client_ip_from(inner, &HeaderMap::new(), &trusted), inner);
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop_and_ports_and_ipv6_are_read() {
        let proxy = ip("10.0.0.2");
        let trusted = [proxy];
        let headers = forwarded(&["203.0.113.7, not-an-address"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), proxy);
        let headers = forwarded(&["unknown, [2001:db8::7]:5000"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), ip("2001:db8::7"));
        let headers = forwarded(&["203.0.113.7:5000"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), ip("203.0.113.7"));
        // A mapped peer address matches its IPv4 form in the trusted list.
        let headers = forwarded(&["::ffff:203.0.113.9"]);
        assert_eq!(
            client_ip_from(ip("::ffff:10.0.0.2"), &headers, &trusted),
            ip("203.0.113.9")
        );
        let mut bytes = HeaderMap::new();
        bytes.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.8").expect("opaque bytes"),
        );
        assert_eq!(
            client_ip_from(proxy, &bytes, &trusted),
            ip("203.0.113.8"),
            "non-UTF-8 on the client's side of the header does not matter"
        );
    }
}
