//! The rules for names a topology gives: labs, nodes, shared networks,
//! check ids and interfaces. Each rule is written once, here, as a check
//! and as the pattern the JSON Schema carries; validation, the schema and
//! the state directory (a lab name typed on the command line becomes a
//! folder) all read it, and a test holds the two forms together.

/// The longest lab name: it prefixes every container and network name.
pub const MAX_LAB_NAME: usize = 24;
/// The longest node name: it becomes a host name and part of a container name.
pub const MAX_NODE_NAME: usize = 24;
/// The longest shared network name (it becomes part of Docker names).
pub const MAX_NETWORK_NAME: usize = 15;
/// The longest check id (a column of the scoreboard).
pub const MAX_CHECK_ID: usize = 32;
/// The most lab interfaces one node may have: eth1 to eth64.
pub const MAX_INTERFACES: u32 = 64;

/// Lab, node, network and check names: lowercase letters, digits and `-`,
/// starting with a letter, not ending with `-`.
pub const NAME_PATTERN: &str = "^[a-z]([a-z0-9-]*[a-z0-9])?$";
/// A lab interface: eth1 to eth64 (eth0 is noglab's management interface).
pub const INTERFACE_PATTERN: &str = "^eth([1-9]|[1-5][0-9]|6[0-4])$";
/// A link endpoint: `node` or `node:ethN`.
pub const ENDPOINT_PATTERN: &str = "^[a-z]([a-z0-9-]*[a-z0-9])?(:eth([1-9]|[1-5][0-9]|6[0-4]))?$";

/// The interface noglab adds to every node for management; lab links
/// start at eth1.
pub const MGMT_INTERFACE: &str = "eth0";

/// Checks a name against [`NAME_PATTERN`] and a length; `Err` says why not.
pub fn check(name: &str, max: usize) -> Result<(), String> {
    const RULE: &str = "use lowercase letters, digits and `-`, starting with a letter";
    if name.is_empty() {
        return Err(RULE.into());
    }
    if name.len() > max {
        return Err(format!(
            "at most {max} characters, this one has {}",
            name.len()
        ));
    }
    let first_ok = name.starts_with(|c: char| c.is_ascii_lowercase());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(RULE.into());
    }
    if name.ends_with('-') {
        return Err("it must not end with `-`".into());
    }
    Ok(())
}

/// The message for a name [`check`] refused: `bad node name `R1`: why`.
pub fn bad_name(what: &str, name: &str, why: &str) -> String {
    if name.is_empty() {
        format!("empty {what} name; {why}")
    } else {
        format!("bad {what} name `{name}`: {why}")
    }
}

/// The number of an interface name `ethN`, N from 1 to [`MAX_INTERFACES`]
/// written without leading zeros.
pub fn interface_number(iface: &str) -> Option<u32> {
    let digits = iface.strip_prefix("eth")?;
    let plain = !digits.is_empty()
        && digits.len() <= 3
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    let n = digits.parse::<u32>().ok().filter(|_| plain)?;
    (1..=MAX_INTERFACES).contains(&n).then_some(n)
}

/// Splits `node` or `node:ethN`, checking the interface name.
pub fn parse_endpoint(ep: &str) -> Result<(&str, Option<&str>), String> {
    let Some((node, iface)) = ep.split_once(':') else {
        return Ok((ep, None));
    };
    if interface_number(iface).is_some() {
        return Ok((node, Some(iface)));
    }
    Err(if iface == MGMT_INTERFACE {
        format!("`{ep}`: eth0 is the management interface noglab adds; lab links start at eth1")
    } else if iface.is_empty() {
        format!(
            "`{ep}` has no interface name after `:`; write `{node}` for its next free interface, or `{node}:eth1` to `{node}:eth{MAX_INTERFACES}`"
        )
    } else {
        format!("`{ep}`: interface names are eth1 to eth{MAX_INTERFACES}, not `{iface}`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check and the schema's pattern say the same of every name.
    #[test]
    fn the_check_and_the_pattern_agree() {
        let pattern = regex::Regex::new(NAME_PATTERN).expect("pattern");
        for name in [
            "r1", "a", "bgp-lab", "x9", "a-b-c", "R1", "1r", "r-", "-r", "r_1", "", "lab-", "a--b",
            "a.b", "é",
        ] {
            assert_eq!(
                check(name, MAX_LAB_NAME).is_ok(),
                pattern.is_match(name),
                "{name:?}"
            );
        }
        assert!(check(&"a".repeat(MAX_LAB_NAME + 1), MAX_LAB_NAME).is_err());
    }

    #[test]
    fn endpoints_agree_with_their_pattern() {
        let ep = regex::Regex::new(ENDPOINT_PATTERN).expect("pattern");
        for ok in ["r1", "r1:eth1", "r1:eth64", "r1:eth10"] {
            assert!(ep.is_match(ok), "{ok}");
            assert!(parse_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "r1:eth0",
            "r1:eth65",
            "r1:eth01",
            "r1:",
            "r1:lo",
            "r1:eth1000",
        ] {
            assert!(!ep.is_match(bad), "{bad}");
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
        let iface = regex::Regex::new(INTERFACE_PATTERN).expect("pattern");
        for n in 0..=100 {
            let name = format!("eth{n}");
            assert_eq!(
                iface.is_match(&name),
                interface_number(&name).is_some(),
                "{name}"
            );
        }
    }
}
