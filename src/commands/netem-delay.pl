# noglab-netem: the packet delay of `noglab link ... netem --delay` on a
# kernel without the netem qdisc. Runs in the node (perl-base is in every
# Debian image), reads the packets that an NFQUEUE rule on the interface
# queues, holds each for DELAY (+/- JITTER) microseconds and lets it go.
#
#   perl -e "$SCRIPT" IFACE QUEUE DELAY_US JITTER_US
#
# The rule has --queue-bypass: when this process is gone, packets pass
# undelayed, never dropped. Only the packet's id crosses to user space
# (copy mode meta), so a held packet costs the kernel's queue, not this
# process. Speaks nfnetlink by hand: perl-base has no netfilter module.
use strict;
use warnings;
use Socket qw(SOCK_RAW SOL_SOCKET SO_RCVBUF);
use IO::Select;
use POSIX ();

my ($iface, $queue, $delay_us, $jitter_us) = @ARGV;
die "usage: IFACE QUEUE DELAY_US JITTER_US\n" unless defined $jitter_us;
$0 = "noglab-netem $iface queue $queue delay $delay_us jitter $jitter_us";

use constant {
    AF_NETLINK        => 16,
    NETLINK_NETFILTER => 12,
    NLMSG_ERROR       => 2,
    NLM_F_REQUEST     => 1,
    NLM_F_ACK         => 4,
    SUBSYS_QUEUE      => 3,
    MSG_PACKET        => 0,
    MSG_VERDICT       => 1,
    MSG_CONFIG        => 2,
    NF_ACCEPT         => 1,
};

# Monotonic microseconds: clock_gettime(CLOCK_MONOTONIC) by its syscall
# number, /proc/uptime (centiseconds) where the machine is not known.
my %clock_gettime = (x86_64 => 228, aarch64 => 113);
my $nr = $clock_gettime{ (POSIX::uname())[4] };
sub now_us {
    if (defined $nr) {
        my $ts = "\0" x 16;
        if (syscall($nr, 1, $ts) == 0) {
            my ($s, $ns) = unpack("q q", $ts);
            return $s * 1_000_000 + int($ns / 1000);
        }
    }
    open(my $f, '<', '/proc/uptime') or die "no clock: $!\n";
    my ($up) = split ' ', scalar <$f>;
    return int($up * 1_000_000);
}

socket(my $nl, AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER) or die "netlink socket: $!\n";
bind($nl, pack("S x2 L L", AF_NETLINK, 0, 0)) or die "netlink bind: $!\n";
setsockopt($nl, SOL_SOCKET, SO_RCVBUF, 4 << 20);

my $seq = 1;
sub attr {
    my ($type, $data) = @_;
    my $len = 4 + length $data;
    return pack("S S", $len, $type) . $data . ("\0" x ((4 - $len % 4) % 4));
}
sub message {
    my ($type, $flags, $attrs) = @_;
    my $body = pack("C C n", 0, 0, $queue) . $attrs;
    return pack("L S S L L", 16 + length $body, (SUBSYS_QUEUE << 8) | $type, $flags, $seq++, 0) . $body;
}
# Sends a config message and waits for the kernel's answer to it.
sub configure {
    my ($what, $attrs) = @_;
    send($nl, message(MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, $attrs), 0) or die "$what: $!\n";
    defined recv($nl, my $buf, 8192, 0) or die "$what: $!\n";
    my ($len, $type) = unpack("L S", $buf);
    if ($type == NLMSG_ERROR) {
        my $err = unpack("l", substr($buf, 16, 4));
        die "$what: " . POSIX::strerror(-$err) . "\n" if $err;
    }
}
# Bind to the queue; packet ids only; a queue as long as a second of a
# busy link; when it is full, packets pass rather than drop.
configure("bind queue $queue", attr(1, pack("C x n", 1, 0)));
configure("copy mode", attr(2, pack("N C", 0, 1)));
configure("queue length", attr(3, pack("N", 20000)));
configure("fail open", attr(5, pack("N", 1)) . attr(4, pack("N", 1)));

$SIG{TERM} = $SIG{INT} = sub { exit 0 };

my @held;    # [release time, packet id], soonest first
my $select = IO::Select->new($nl);
while (1) {
    my $timeout;
    if (@held) {
        my $wait = $held[0][0] - now_us();
        $timeout = $wait > 0 ? $wait / 1_000_000 : 0;
    }
    if ($select->can_read($timeout)) {
        # ENOBUFS (the socket's buffer overflowed) loses ids, whose packets
        # the kernel then keeps until the queue fails open; go on.
        if (defined recv($nl, my $buf, 1 << 16, 0)) {
            my $t = now_us();
            my $off = 0;
            while ($off + 16 <= length $buf) {
                my ($len, $type) = unpack("L S", substr($buf, $off, 6));
                last if $len < 16;
                if ($type == ((SUBSYS_QUEUE << 8) | MSG_PACKET)) {
                    my $a = $off + 20;
                    while ($a + 4 <= $off + $len) {
                        my ($alen, $atype) = unpack("S S", substr($buf, $a, 4));
                        last if $alen < 4;
                        if (($atype & 0x7fff) == 1) {
                            my $id = unpack("N", substr($buf, $a + 4, 4));
                            my $d = $delay_us;
                            $d += int(rand(2 * $jitter_us + 1)) - $jitter_us if $jitter_us > 0;
                            my $at = $t + ($d > 0 ? $d : 0);
                            # Mostly in order: insert from the back.
                            my $i = @held;
                            $i-- while $i > 0 && $held[$i - 1][0] > $at;
                            splice(@held, $i, 0, [$at, $id]);
                            last;
                        }
                        $a += ($alen + 3) & ~3;
                    }
                }
                $off += ($len + 3) & ~3;
            }
        }
    }
    my $t = now_us();
    while (@held && $held[0][0] <= $t) {
        my (undef, $id) = @{ shift @held };
        send($nl, message(MSG_VERDICT, NLM_F_REQUEST, attr(2, pack("N N", NF_ACCEPT, $id))), 0);
    }
}
