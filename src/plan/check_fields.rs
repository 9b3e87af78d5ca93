//! What a check's fields must look like once rendered for a pod, so that a
//! check can both pass and fail: a route check whose prefix has no length
//! looks for an entry no router has, and with `present: false` it would
//! pass for ever. Each rule is a pure function of the rendered text that
//! says what is wrong and what to write instead; `checks` calls them where
//! it renders the fields, and reports at the field, per pod.
//!
//! Owns no rendering and no place in the file: only the rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// BGP's finite-state machine (RFC 4271, 8.2.2), as FRR and BIRD name the
/// states.
pub const BGP_STATES: &[&str] = &[
    "Idle",
    "Connect",
    "Active",
    "OpenSent",
    "OpenConfirm",
    "Established",
];

/// The status codes dig prints (RFC 1035, 2136, 6891).
pub const DNS_RCODES: &[&str] = &[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "BADVERS",
];

/// Record types a lab asks dig for; any other as `TYPEnnn` (RFC 3597).
pub const DNS_TYPES: &[&str] = &[
    "A",
    "AAAA",
    "ANY",
    "CAA",
    "CDNSKEY",
    "CDS",
    "CNAME",
    "CSYNC",
    "DNAME",
    "DNSKEY",
    "DS",
    "HINFO",
    "HTTPS",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "OPENPGPKEY",
    "PTR",
    "RRSIG",
    "SMIMEA",
    "SOA",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
    "ZONEMD",
];

/// A route check's prefix: a length, host bits clear, and written as the
/// routers write it (FRR keys its JSON by that text, BIRD prints it).
pub fn route_prefix(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("route prefix is empty once rendered".into());
    }
    if let Ok(addr) = text.parse::<IpAddr>() {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        return Err(format!(
            "route prefix `{text}` has no length: write `{addr}/{len}` for the one address, or the network's prefix"
        ));
    }
    let Ok(net) = text.parse::<IpNet>() else {
        return Err(format!(
            "route prefix `{text}` is not an IPv4 or IPv6 prefix: write it as `100.66.1.0/24` or `2001:db8:66::/48`"
        ));
    };
    let clear = net.trunc();
    if clear != net {
        let host = match net.addr() {
            IpAddr::V4(a) => format!("{a}/32"),
            IpAddr::V6(a) => format!("{a}/128"),
        };
        return Err(format!(
            "route prefix `{text}` has host bits set: write `{clear}`, or `{host}` for the one address"
        ));
    }
    let canonical = net.to_string();
    if canonical != text {
        return Err(format!(
            "route prefix `{text}` is written `{canonical}` by the routers: write that"
        ));
    }
    Ok(())
}

/// A target to ping or a DNS server to ask: an IPv4 or IPv6 address (an
/// IPv6 link-local one with `%INTERFACE`), or a host name.
pub fn host(what: &str, text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("{what} is empty once rendered"));
    }
    if text.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if text.contains(':') {
        return ipv6_with_zone(what, text);
    }
    let labels: Vec<&str> = text.strip_suffix('.').unwrap_or(text).split('.').collect();
    // A name's last label is never all digits (RFC 1123, 2.1): dotted
    // numbers are an IPv4 address, mistyped.
    if labels
        .last()
        .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{what} `{text}` is not an IPv4 address: four numbers from 0 to 255, as `192.0.2.1`"
        ));
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if text.len() > 253 || !labels.iter().all(label_ok) {
        return Err(format!(
            "{what} `{text}` is neither an IPv4 or IPv6 address nor a host name"
        ));
    }
    Ok(())
}

/// `fe80::1%eth1`: a link-local address needs its interface.
fn ipv6_with_zone(what: &str, text: &str) -> Result<(), String> {
    let zoned = text.split_once('%').and_then(|(a, zone)| {
        let a: Ipv6Addr = a.parse().ok()?;
        let zone_ok = !zone.is_empty()
            && zone.len() <= 15
            && zone
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
        zone_ok.then_some(a)
    });
    match zoned {
        Some(_) => Ok(()),
        None => Err(format!("{what} `{text}` is not an IPv6 address")),
    }
}

/// A BGP check's neighbor, as the router names the session: its address,
/// written as the router writes it, or on FRR an interface of the node
/// (an unnumbered session); `interfaces` are the node's.
pub fn bgp_neighbor(text: &str, frr: bool, interfaces: &[String]) -> Result<(), String> {
    if text.is_empty() {
        return Err("bgp neighbor is empty once rendered".into());
    }
    if frr && interfaces.iter().any(|i| i == text) {
        return Ok(());
    }
    let unnumbered = if frr {
        " (or, for an unnumbered session, one of the node's interfaces)"
    } else {
        ""
    };
    match text.parse::<IpAddr>() {
        Ok(addr) if addr.to_string() != text => Err(format!(
            "bgp neighbor `{text}` is written `{addr}` by the routers: write that"
        )),
        Ok(_) => Ok(()),
        Err(_) if looks_like_ipv4(text) => Err(format!(
            "bgp neighbor `{text}` is not an IPv4 address: four numbers from 0 to 255, as `192.0.2.1`"
        )),
        Err(_) => Err(format!(
            "bgp neighbor `{text}` is not an IPv4 or IPv6 address{unnumbered}"
        )),
    }
}

fn looks_like_ipv4(text: &str) -> bool {
    text.split('.').count() == 4 && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || text.parse::<Ipv4Addr>().is_ok()
}

/// A BGP check's state: one the routers print, spelled as they do.
pub fn bgp_state(text: &str) -> Result<(), String> {
    if BGP_STATES.contains(&text) {
        return Ok(());
    }
    let hint = BGP_STATES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(text))
        .map(|s| format!(": write `{s}`"))
        .unwrap_or_else(|| format!(": one of {}", BGP_STATES.join(", ")));
    Err(format!("bgp state `{text}` is not a BGP state{hint}"))
}

/// A JSON pointer (RFC 6901): empty for the whole document, else `/` and
/// keys, `~0` for `~` and `~1` for `/` inside a key.
pub fn json_pointer(text: &str) -> Result<(), String> {
    if !text.is_empty() && !text.starts_with('/') {
        return Err(format!(
            "JSON pointer `{text}` does not start with `/` (RFC 6901): write `/{text}`"
        ));
    }
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "JSON pointer `{text}` has a `~` that is not `~0` (for `~`) or `~1` (for `/`)"
            ));
        }
    }
    Ok(())
}

/// A DNS check's expected status: one dig prints.
pub fn dns_rcode(text: &str) -> Result<(), String> {
    if DNS_RCODES.contains(&text.to_uppercase().as_str()) {
        return Ok(());
    }
    Err(format!(
        "dns rcode `{text}` is not a DNS status: one of {}",
        DNS_RCODES.join(", ")
    ))
}

/// A DNS check's record type: a known type, or `TYPEnnn`.
pub fn dns_type(text: &str) -> Result<(), String> {
    let upper = text.to_uppercase();
    let numbered = upper
        .strip_prefix("TYPE")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if numbered || DNS_TYPES.contains(&upper.as_str()) {
        return Ok(());
    }
    Err(format!(
        "dns type `{text}` is not a record type noglab knows (A, AAAA, NS, SOA, DS, DNSKEY, ...): write `TYPEnnn` for another"
    ))
}

/// A DNS check's name: a domain name, as dig takes it.
pub fn dns_name(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("dns name is empty once rendered".into());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("dns name `{text}` has a space in it"));
    }
    Ok(())
}

/// `expect.matches` rendered: a regular expression.
pub fn regex(text: &str) -> Result<(), String> {
    regex::Regex::new(text).map(|_| ()).map_err(|e| {
        format!(
            "bad regular expression: {}",
            e.to_string().lines().last().unwrap_or_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_prefixes_need_a_length_clear_host_bits_and_the_routers_spelling() {
        assert_eq!(route_prefix("10.255.1.0/24"), Ok(()));
        assert_eq!(route_prefix("10.255.1.3/32"), Ok(()));
        assert_eq!(route_prefix("::/0"), Ok(()));
        assert_eq!(route_prefix("2001:db8:1::/48"), Ok(()));
        assert_eq!(
            route_prefix("10.255.1.3").expect_err("refused"),
            "route prefix `10.255.1.3` has no length: write `10.255.1.3/32` for the one address, or the network's prefix"
        );
        assert!(route_prefix("2001:db8::1")
            .expect_err("refused")
            .contains("write `2001:db8::1/128`"));
        assert_eq!(
            route_prefix("10.255.1.3/24").expect_err("refused"),
            "route prefix `10.255.1.3/24` has host bits set: write `10.255.1.0/24`, or `10.255.1.3/32` for the one address"
        );
        assert_eq!(
            route_prefix("2001:DB8:0::/48").expect_err("refused"),
            "route prefix `2001:DB8:0::/48` is written `2001:db8::/48` by the routers: write that"
        );
        assert!(route_prefix("10.255.1.0/33")
            .expect_err("refused")
            .contains("is not an IPv4 or IPv6 prefix"));
        assert!(route_prefix("r2-loopback")
            .expect_err("refused")
            .contains("is not an IPv4 or IPv6 prefix"));
        assert_eq!(
            route_prefix("").expect_err("refused"),
            "route prefix is empty once rendered"
        );
    }

    #[test]
    fn hosts_are_addresses_or_names() {
        for ok in [
            "192.0.2.1",
            "2001:db8::1",
            "fe80::1%eth1",
            "r1",
            "ns1.example.",
            "www.example.com",
            "_dns.example",
        ] {
            assert_eq!(host("ping target", ok), Ok(()), "{ok}");
        }
        assert_eq!(
            host("ping target", "10.255.1.256").expect_err("refused"),
            "ping target `10.255.1.256` is not an IPv4 address: four numbers from 0 to 255, as `192.0.2.1`"
        );
        assert!(host("ping target", "10.255.1")
            .expect_err("refused")
            .contains("is not an IPv4 address"));
        assert_eq!(
            host("ping target", "2001:db8::g").expect_err("refused"),
            "ping target `2001:db8::g` is not an IPv6 address"
        );
        assert!(host("ping target", "fe80::1%").is_err());
        assert_eq!(
            host("dns server", "a b").expect_err("refused"),
            "dns server `a b` is neither an IPv4 or IPv6 address nor a host name"
        );
        assert!(host("ping target", "-r1").is_err());
        assert!(host("ping target", "a..b").is_err());
        assert_eq!(
            host("ping target", "").expect_err("refused"),
            "ping target is empty once rendered"
        );
    }

    #[test]
    fn bgp_neighbors_are_addresses_as_routers_write_them_or_frr_interfaces() {
        let ifaces = ["eth1".to_string()];
        assert_eq!(bgp_neighbor("192.0.2.1", false, &[]), Ok(()));
        assert_eq!(bgp_neighbor("2001:db8::1", true, &[]), Ok(()));
        assert_eq!(bgp_neighbor("eth1", true, &ifaces), Ok(()));
        assert_eq!(
            bgp_neighbor("eth1", false, &ifaces).expect_err("refused"),
            "bgp neighbor `eth1` is not an IPv4 or IPv6 address"
        );
        assert_eq!(
            bgp_neighbor("eth9", true, &ifaces).expect_err("refused"),
            "bgp neighbor `eth9` is not an IPv4 or IPv6 address (or, for an unnumbered session, one of the node's interfaces)"
        );
        assert_eq!(
            bgp_neighbor("2001:DB8::1", true, &[]).expect_err("refused"),
            "bgp neighbor `2001:DB8::1` is written `2001:db8::1` by the routers: write that"
        );
        assert!(bgp_neighbor("10.0.0.300", true, &[])
            .expect_err("refused")
            .contains("is not an IPv4 address: four numbers"));
        assert!(bgp_neighbor("", true, &[]).is_err());
    }

    #[test]
    fn bgp_states_are_the_routers_own_words() {
        for s in BGP_STATES {
            assert_eq!(bgp_state(s), Ok(()));
        }
        assert_eq!(
            bgp_state("established").expect_err("refused"),
            "bgp state `established` is not a BGP state: write `Established`"
        );
        assert_eq!(
            bgp_state("Up").expect_err("refused"),
            "bgp state `Up` is not a BGP state: one of Idle, Connect, Active, OpenSent, OpenConfirm, Established"
        );
    }

    #[test]
    fn json_pointers_start_with_a_slash_and_escape_tildes() {
        for ok in ["", "/", "/a/b/0", "/a~1b", "/x~0y"] {
            assert_eq!(json_pointer(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            json_pointer("neighbors/10.0.0.1").expect_err("refused"),
            "JSON pointer `neighbors/10.0.0.1` does not start with `/` (RFC 6901): write `/neighbors/10.0.0.1`"
        );
        assert_eq!(
            json_pointer("/a~2").expect_err("refused"),
            "JSON pointer `/a~2` has a `~` that is not `~0` (for `~`) or `~1` (for `/`)"
        );
        assert!(json_pointer("/a~").is_err());
    }

    #[test]
    fn dns_fields() {
        assert_eq!(dns_rcode("NOERROR"), Ok(()));
        assert_eq!(dns_rcode("nxdomain"), Ok(()));
        assert!(dns_rcode("NOERR").expect_err("refused").starts_with(
            "dns rcode `NOERR` is not a DNS status: one of NOERROR, FORMERR, SERVFAIL, NXDOMAIN"
        ));
        assert_eq!(dns_type("aaaa"), Ok(()));
        assert_eq!(dns_type("TYPE65"), Ok(()));
        assert!(dns_type("AAA").is_err());
        assert!(dns_type("TYPE").is_err());
        assert_eq!(dns_name("example."), Ok(()));
        assert!(dns_name("a b.").is_err());
        assert!(dns_name("").is_err());
    }

    #[test]
    fn rendered_regular_expressions_compile() {
        assert_eq!(regex("^a+$"), Ok(()));
        assert!(regex("([x")
            .expect_err("refused")
            .starts_with("bad regular expression"));
    }
}
