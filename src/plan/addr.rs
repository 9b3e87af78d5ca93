//! Address arithmetic for lab links: which addresses of a subnet are usable
//! and which one the k-th endpoint gets.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// Parses a rendered subnet and insists on a network address, so
/// `100.64.1.5/29` is caught rather than silently moved.
pub fn parse_v4(text: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv4 subnet like 100.64.1.0/29"))?;
    if net.network() != net.addr() {
        return Err(format!(
            "`{text}` has host bits set; the subnet is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

pub fn parse_v6(text: &str) -> Result<Ipv6Net, String> {
    let net: Ipv6Net = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv6 subnet like 2001:db8:1::/64"))?;
    if net.network() != net.addr() {
        return Err(format!(
            "`{text}` has host bits set; the subnet is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// How many endpoints a subnet can address.
pub fn usable_v4(net: Ipv4Net) -> u64 {
    match net.prefix_len() {
        32 => 0,
        31 => 2, // RFC 3021
        p => (1u64 << (32 - p)) - 2,
    }
}

pub fn usable_v6(net: Ipv6Net) -> u128 {
    match net.prefix_len() {
        128 => 0,
        127 => 2, // RFC 6164
        0 => u128::MAX,
        p => (1u128 << (128 - p)) - 1,
    }
}

/// Insists that `net` has an address for each of `n` endpoints, naming
/// the smallest subnet that would.
pub fn fits_v4(net: Ipv4Net, n: u32) -> Result<Ipv4Net, String> {
    if usable_v4(net) >= u64::from(n) {
        return Ok(net);
    }
    let fit = (0..=31u8)
        .rev()
        .find(|&p| usable_v4(Ipv4Net::new(net.network(), p).unwrap_or(net)) >= u64::from(n))
        .unwrap_or(0);
    Err(format!(
        "subnet {net} has {} usable address{} for {n} endpoints; use a /{fit} or larger",
        usable_v4(net),
        if usable_v4(net) == 1 { "" } else { "es" }
    ))
}

pub fn fits_v6(net: Ipv6Net, n: u32) -> Result<Ipv6Net, String> {
    if usable_v6(net) >= u128::from(n) {
        return Ok(net);
    }
    let fit = (0..=127u8)
        .rev()
        .find(|&p| usable_v6(Ipv6Net::new(net.network(), p).unwrap_or(net)) >= u128::from(n))
        .unwrap_or(0);
    Err(format!(
        "subnet {net} has {} usable address{} for {n} endpoints; use a /{fit} or larger",
        usable_v6(net),
        if usable_v6(net) == 1 { "" } else { "es" }
    ))
}

/// The address endpoint `k` (from 0) gets: the (k+1)-th usable address.
pub fn nth_v4(net: Ipv4Net, k: u32) -> Option<Ipv4Addr> {
    if u64::from(k) >= usable_v4(net) {
        return None;
    }
    let base = u32::from(net.network());
    let first = if net.prefix_len() == 31 { 0 } else { 1 };
    Some(Ipv4Addr::from(base + first + k))
}

pub fn nth_v6(net: Ipv6Net, k: u32) -> Option<Ipv6Addr> {
    if u128::from(k) >= usable_v6(net) {
        return None;
    }
    let base = u128::from(net.network());
    let first = if net.prefix_len() == 127 { 0 } else { 1 };
    Some(Ipv6Addr::from(base + first + u128::from(k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Net {
        parse_v4(s).expect("valid")
    }

    #[test]
    fn slash31_uses_both_addresses() {
        let n = v4("100.64.3.0/31");
        assert_eq!(nth_v4(n, 0), Some("100.64.3.0".parse().expect("ip")));
        assert_eq!(nth_v4(n, 1), Some("100.64.3.1".parse().expect("ip")));
        assert_eq!(nth_v4(n, 2), None);
    }

    #[test]
    fn slash29_skips_network_and_broadcast() {
        let n = v4("100.64.1.0/29");
        assert_eq!(usable_v4(n), 6);
        assert_eq!(nth_v4(n, 0), Some("100.64.1.1".parse().expect("ip")));
        assert_eq!(nth_v4(n, 5), Some("100.64.1.6".parse().expect("ip")));
        assert_eq!(nth_v4(n, 6), None);
        assert_eq!(usable_v4(v4("100.64.1.1/32")), 0);
    }

    #[test]
    fn ipv6_counts_from_one_except_slash127() {
        let n = parse_v6("2001:db8:1:1::/64").expect("valid");
        assert_eq!(nth_v6(n, 0), Some("2001:db8:1:1::1".parse().expect("ip")));
        let p = parse_v6("2001:db8:1::/127").expect("valid");
        assert_eq!(nth_v6(p, 0), Some("2001:db8:1::".parse().expect("ip")));
        assert_eq!(nth_v6(p, 1), Some("2001:db8:1::1".parse().expect("ip")));
        assert_eq!(nth_v6(p, 2), None);
    }

    #[test]
    fn too_small_names_the_size_that_fits() {
        let e = fits_v4(v4("100.64.1.0/30"), 3).expect_err("3 on a /30");
        assert!(e.ends_with("use a /29 or larger"), "{e}");
        let e = fits_v4(v4("100.64.1.1/32"), 2).expect_err("2 on a /32");
        assert!(e.ends_with("use a /31 or larger"), "{e}");
        let e = fits_v6(parse_v6("2001:db8::/128").expect("valid"), 2).expect_err("/128");
        assert!(e.ends_with("use a /127 or larger"), "{e}");
        let e = fits_v6(parse_v6("2001:db8::/127").expect("valid"), 3).expect_err("/127");
        assert!(e.ends_with("use a /126 or larger"), "{e}");
        assert!(fits_v4(v4("100.64.1.0/29"), 6).is_ok());
    }

    #[test]
    fn host_bits_are_an_error() {
        let e = parse_v4("100.64.1.5/29").expect_err("host bits");
        assert!(e.contains("100.64.1.0/29"), "{e}");
        assert!(parse_v4("100.64.1/29").is_err());
        assert!(parse_v6("2001:db8::1/64").is_err());
    }
}
