//! `noglab link ... netem` on a host kernel built without the netem qdisc
//! (CONFIG_NET_SCH_NETEM; minimal cloud and micro-VM kernels leave it
//! out). The same impairments from what such kernels do have, in the node
//! itself:
//!
//! - loss: an iptables rule that drops that share of the packets leaving
//!   the interface (`statistic --mode random`);
//! - delay and jitter: an NFQUEUE rule, and noglab's small delayer
//!   (`netem-delay.pl`, perl-base is in every Debian image) bound to that
//!   queue, which holds each packet and lets it go when its time comes.
//!   The rule has `--queue-bypass`: without the delayer, packets pass
//!   undelayed, never dropped;
//! - rate: a `tbf` queue on the interface.
//!
//! The rules live in one chain per interface, `NOGLAB-NETEM-<iface>`, for
//! IPv4 and IPv6, jumped to from OUTPUT (the node's own packets) and
//! FORWARD (a router's transit); its last rule's comment carries the
//! parameters, which is what `noglab link` reads back. Like a netem queue,
//! all of it goes with the node's network namespace: a `reset` node has
//! none.

use std::collections::BTreeMap;

use crate::cli::NetemArgs;

/// What the kernel says when it has no netem qdisc.
pub(super) fn kernel_lacks_netem(tc_said: &str) -> bool {
    tc_said.contains("qdisc kind is unknown")
}

const DELAYER: &str = include_str!("netem-delay.pl");

/// Removes what an earlier fallback netem left on `$iface`: the chain and
/// its jumps, the delayer, and the tbf queue when the chain set a rate.
const CLEAR: &str = r#"
chain="NOGLAB-NETEM-$iface"
if command -v iptables >/dev/null; then
    if iptables -S "$chain" 2>/dev/null | grep -q -- ' rate '; then
        tc qdisc del dev "$iface" root 2>/dev/null || true
    fi
    for t in iptables ip6tables; do
        while $t -D OUTPUT -o "$iface" -j "$chain" 2>/dev/null; do :; done
        while $t -D FORWARD -o "$iface" -j "$chain" 2>/dev/null; do :; done
        $t -F "$chain" 2>/dev/null || true
        $t -X "$chain" 2>/dev/null || true
    done
fi
for p in $(pgrep -f "^noglab-netem $iface " 2>/dev/null); do kill "$p" 2>/dev/null || true; done
"#;

/// Sets the impairments on `$iface`, replacing earlier ones. The delayer is
/// bound to its queue (the kernel lists it) before any packet is sent
/// there.
const APPLY: &str = r#"
command -v iptables >/dev/null || {
    echo "this node's image has no iptables, which netem needs on a host kernel without the netem qdisc" >&2
    exit 3
}
q=$(cat "/sys/class/net/$iface/ifindex")
if [ "$delay" != 0 ]; then
    log="/tmp/noglab-netem-$iface.log"
    setsid -f perl -e "$delayer" "$iface" "$q" "$delay" "$jitter" </dev/null >"$log" 2>&1
    i=0
    until grep -Eq "^ *$q " /proc/net/netfilter/nfnetlink_queue 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -ge 50 ]; then
            echo "the packet delayer did not start: $(cat "$log")" >&2
            exit 1
        fi
        sleep 0.1
    done
fi
for t in iptables ip6tables; do
    $t -N "$chain"
    if [ "$loss" != 0 ]; then
        $t -A "$chain" -m statistic --mode random --probability "$loss" -j DROP
    fi
    if [ "$delay" != 0 ]; then
        $t -A "$chain" -j NFQUEUE --queue-num "$q" --queue-bypass
    fi
    $t -A "$chain" -m comment --comment "noglab netem: $label" -j RETURN
    $t -I OUTPUT -o "$iface" -j "$chain"
    $t -I FORWARD -o "$iface" -j "$chain"
done
if [ "$rate" != 0 ]; then
    tc qdisc replace dev "$iface" root tbf rate "${rate}kbit" burst "$burst" latency 1s
fi
"#;

/// The command that sets `args` on `iface` without the netem qdisc.
pub(super) fn apply(iface: &str, args: &NetemArgs) -> Vec<String> {
    let delay = args.delay.map_or(0, |d| d.micros());
    let jitter = args.jitter.map_or(0, |d| d.micros());
    let loss = args
        .loss
        .map_or("0".to_string(), |l| format!("{:.6}", l.fraction()));
    let rate = args.rate.map_or(0, |r| r.kbit());
    // Ten milliseconds of the rate, and never less than a full frame.
    let burst = (rate * 1000 / 8 / 100).max(1600);
    let label = super::link::netem_words(args).join(" ");
    let script = format!(
        "set -e\niface=$1 delay=$2 jitter=$3 loss=$4 rate=$5 burst=$6 label=$7 delayer=$8\n{CLEAR}{APPLY}"
    );
    [
        "sh",
        "-c",
        &script,
        "noglab-netem",
        iface,
        &delay.to_string(),
        &jitter.to_string(),
        &loss,
        &rate.to_string(),
        &burst.to_string(),
        &label,
        DELAYER,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The command that removes what [`apply`] set on `iface`.
pub(super) fn clear(iface: &str) -> Vec<String> {
    let script = format!("iface=$1\n{CLEAR}");
    ["sh", "-c", &script, "noglab-netem", iface]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The shell lines that print what [`parse`] reads, appended to the
/// node's `tc qdisc show`.
pub(super) const SHOW: &str =
    "iptables -S 2>/dev/null; pgrep -a -f '^noglab-netem ' 2>/dev/null; true";

/// Interface -> the impairments a fallback netem set there, as `netem`
/// was given them, from `iptables -S` and the running delayers.
pub(super) fn parse(text: &str) -> BTreeMap<String, String> {
    let delaying: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.next()?.parse::<u32>().ok()?;
            (words.next()? == "noglab-netem").then_some(())?;
            words.next()
        })
        .collect();
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("-A NOGLAB-NETEM-")?;
            let (iface, rest) = rest.split_once(' ')?;
            let (_, label) = rest.split_once("--comment \"noglab netem: ")?;
            let (label, _) = label.split_once('"')?;
            let note = if label.contains("delay") && !delaying.contains(&iface) {
                " (user space; its delayer is not running: set netem again)"
            } else {
                " (user space)"
            };
            Some((iface.to_string(), format!("{label}{note}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        delay: Option<&str>,
        jitter: Option<&str>,
        loss: Option<&str>,
        rate: Option<&str>,
    ) -> NetemArgs {
        NetemArgs {
            delay: delay.map(|d| d.parse().expect("delay")),
            jitter: jitter.map(|d| d.parse().expect("jitter")),
            loss: loss.map(|d| d.parse().expect("loss")),
            rate: rate.map(|d| d.parse().expect("rate")),
        }
    }

    #[test]
    fn the_kernels_refusal_is_told_from_other_failures() {
        assert!(kernel_lacks_netem(
            "Error: Specified qdisc kind is unknown.\n"
        ));
        assert!(!kernel_lacks_netem("Cannot find device \"eth9\"\n"));
    }

    #[test]
    fn the_parameters_reach_the_script_as_numbers_tc_and_iptables_take() {
        let cmd = apply(
            "eth1",
            &args(Some("200ms"), Some("20ms"), Some("5%"), Some("10mbit")),
        );
        assert_eq!(&cmd[..2], ["sh", "-c"]);
        assert_eq!(
            &cmd[3..11],
            [
                "noglab-netem",
                "eth1",
                "200000",
                "20000",
                "0.050000",
                "10000",
                "12500",
                "delay 200ms 20ms loss 5% rate 10000kbit"
            ]
        );
        assert_eq!(cmd[11], DELAYER);
        // Nothing asked is zero, which the script reads as "not this one";
        // a slow rate still lets a full frame through.
        let cmd = apply("eth2", &args(None, None, Some("100%"), Some("8kbit")));
        assert_eq!(&cmd[5..10], ["0", "0", "1.000000", "8", "1600"]);
    }

    #[test]
    fn the_view_reads_the_chains_comment_and_whether_its_delayer_runs() {
        let text = "\
qdisc noqueue 0: dev eth1 root refcnt 2
-P INPUT ACCEPT
-N NOGLAB-NETEM-eth1
-N NOGLAB-NETEM-eth2
-A OUTPUT -o eth1 -j NOGLAB-NETEM-eth1
-A NOGLAB-NETEM-eth1 -j NFQUEUE --queue-num 31 --queue-bypass
-A NOGLAB-NETEM-eth1 -m comment --comment \"noglab netem: delay 200ms\" -j RETURN
-A NOGLAB-NETEM-eth2 -m statistic --mode random --probability 0.05000000000 -j DROP
-A NOGLAB-NETEM-eth2 -m comment --comment \"noglab netem: delay 5ms loss 5%\" -j RETURN
412 noglab-netem eth1 queue 31 delay 200000 jitter 0
";
        let found = parse(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found["eth1"], "delay 200ms (user space)");
        assert_eq!(
            found["eth2"],
            "delay 5ms loss 5% (user space; its delayer is not running: set netem again)"
        );
        assert!(parse("qdisc noqueue 0: dev eth1 root refcnt 2\n").is_empty());
    }
}
