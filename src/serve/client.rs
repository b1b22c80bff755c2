//! Who is delivering: the client address, believing one forwarding header
//! (`server.clientIpHeader`) and only from `server.trustedProxies`, and each hook's
//! `ipAllowlist`.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::config::{ClientIpHeader, ServerConfig};

/// The client's address. The peer is the client unless it is a trusted proxy; then the one
/// header `server.clientIpHeader` names is believed, and no other: a proxy passes through
/// whatever its client sent in the others. For `X-Forwarded-For` that is the right-most entry
/// that is not itself a trusted proxy (entries further left could be forged by the client);
/// for the single-address headers it is the last value, the one the nearest proxy wrote.
/// Without a usable header the proxy itself is the client.
pub fn address(peer: IpAddr, headers: &HeaderMap, server: &ServerConfig) -> IpAddr {
    let trusted = &server.trusted_proxies;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut values = headers
        .get_all(server.client_ip_header.name())
        .iter()
        .filter_map(|v| v.to_str().ok());
    if server.client_ip_header != ClientIpHeader::XForwardedFor {
        return values
            .next_back()
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
            .unwrap_or(peer);
    }
    let forwarded: Vec<IpAddr> = values
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

/// Whether the client reached the hub over https: only a trusted proxy can say so, with
/// `X-Forwarded-Proto: https` (nginx, ngrok) or Cloudflare's `CF-Visitor: {"scheme":"https"}`.
/// The hub itself serves plain http.
pub fn via_https(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> bool {
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return false;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let proto = header("x-forwarded-proto")
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let visitor =
        header("cf-visitor").is_some_and(|v| v.replace(' ', "").contains("\"scheme\":\"https\""));
    proto || visitor
}

/// True when `allowlist` is empty or contains `client`.
pub fn allowed(client: IpAddr, allowlist: &[IpNet]) -> bool {
    allowlist.is_empty() || allowlist.iter().any(|net| net.contains(&client))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            let name = axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
            h.append(name, v.parse().unwrap());
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn server(trusted: &[&str], header: ClientIpHeader) -> ServerConfig {
        ServerConfig {
            trusted_proxies: nets(trusted),
            client_ip_header: header,
            ..ServerConfig::default()
        }
    }

    #[test]
    fn forwarding_headers_are_ignored_from_untrusted_peers() {
        let peer: IpAddr = "198.51.100.7".parse().unwrap();
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("cf-connecting-ip", "1.2.3.4"),
        ]);
        for header in [
            ClientIpHeader::XForwardedFor,
            ClientIpHeader::CfConnectingIp,
        ] {
            assert_eq!(address(peer, &h, &server(&["127.0.0.1/32"], header)), peer);
        }
    }

    #[test]
    fn trusted_proxies_reveal_the_client() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let xff = server(
            &["127.0.0.0/8", "10.0.0.0/8"],
            ClientIpHeader::XForwardedFor,
        );
        // The client wrote the left-most entry itself; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(address(proxy, &h, &xff).to_string(), "203.0.113.9");
        assert_eq!(address(proxy, &headers(&[]), &xff), proxy);
        let cf = server(&["127.0.0.0/8"], ClientIpHeader::CfConnectingIp);
        let h = headers(&[("cf-connecting-ip", "203.0.113.9")]);
        assert_eq!(address(proxy, &h, &cf).to_string(), "203.0.113.9");
        let real = server(&["127.0.0.0/8"], ClientIpHeader::XRealIp);
        let h = headers(&[("x-real-ip", "6.6.6.6"), ("x-real-ip", "203.0.113.9")]);
        assert_eq!(address(proxy, &h, &real).to_string(), "203.0.113.9");
    }

    #[test]
    fn only_the_configured_header_is_believed() {
        // Behind nginx, a client-sent CF-Connecting-IP passes through untouched.
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let h = headers(&[
            ("cf-connecting-ip", "1.2.3.4"),
            ("x-real-ip", "5.6.7.8"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        let xff = server(&["127.0.0.0/8"], ClientIpHeader::XForwardedFor);
        assert_eq!(address(proxy, &h, &xff).to_string(), "203.0.113.9");
        // Behind cloudflared, X-Forwarded-For is the client's to write.
        let cf = server(&["127.0.0.0/8"], ClientIpHeader::CfConnectingIp);
        assert_eq!(address(proxy, &h, &cf).to_string(), "1.2.3.4");
        let missing = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(address(proxy, &missing, &cf), proxy);
    }

    #[test]
    fn https_is_believed_only_from_trusted_proxies() {
        let trusted = nets(&["127.0.0.1/32"]);
        let (proxy, stranger): (IpAddr, IpAddr) = (
            "127.0.0.1".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
        );
        let forwarded = headers(&[("x-forwarded-proto", "https")]);
        assert!(via_https(proxy, &forwarded, &trusted));
        assert!(!via_https(stranger, &forwarded, &trusted));
        assert!(!via_https(
            proxy,
            &headers(&[("x-forwarded-proto", "http")]),
            &trusted
        ));
        let cf = headers(&[("cf-visitor", r#"{"scheme": "https"}"#)]);
        assert!(via_https(proxy, &cf, &trusted));
    }

    #[test]
    fn allowlists_match_networks() {
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(allowed(ip, &[]));
        assert!(allowed(ip, &nets(&["203.0.113.0/24"])));
        assert!(!allowed(ip, &nets(&["198.51.100.0/24", "::1/128"])));
    }
}
