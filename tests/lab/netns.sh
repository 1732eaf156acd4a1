#!/usr/bin/env bash
# Lab topology in network namespaces (all named csl-*), created and removed by this script only.
#
#   site A (routed)          site C (routed)          site B (NAT, private LAN)
#   csl-alice 198.51.100.11  csl-carol 203.0.113.11   csl-bob 192.168.50.11
#   csl-eve   198.51.100.13  csl-loadc 203.0.113.21        |
#   csl-loada 198.51.100.21      |                        |
#       |                    csl-rc 203.0.113.1       csl-rb 192.168.50.1, MASQUERADE out of wan0
#   csl-ra 198.51.100.1          |                        |  (public side 192.0.2.34)
#       |  192.0.2.16/28         | 192.0.2.48/28          | 192.0.2.32/28
#       +------------------- csl-wan ---------------------+      (capture point: tcpdump -Q out
#                                | 192.0.2.0/28                  on wa, wb, wc, wk)
#                            csl-core 192.0.2.10 (kamailio)
#
# csl-loada / csl-loadc run SIPp (load scenario: UAC in site A, UAS in site C, through the proxy).
#
# Addresses are documentation ranges (RFC 5737) so that only site B's LAN is RFC 1918 private; they
# exist only inside these namespaces, which have no link to the host's network.
#
# No route to 192.168.50.0/24 exists outside site B: a private SDP address from bob is unreachable,
# exactly as on the Internet. Traffic never leaves these namespaces (no link to the host's network).
set -euo pipefail

NS_ALL=(csl-wan csl-core csl-ra csl-rb csl-rc csl-alice csl-eve csl-carol csl-bob csl-loada csl-loadc)

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# veth between two namespaces: link NS1 IF1 NS2 IF2
link() {
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
  nsx "$1" ip link set "$2" up
  nsx "$3" ip link set "$4" up
}

router() { nsx "$1" sysctl -qw net.ipv4.ip_forward=1; }

up() {
  down quiet
  for ns in "${NS_ALL[@]}"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    # IPv4 only: no router solicitations or MLD reports in the captures.
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  # WAN links
  link csl-wan wa csl-ra wan0
  link csl-wan wb csl-rb wan0
  link csl-wan wc csl-rc wan0
  link csl-wan wk csl-core eth0
  nsx csl-wan ip addr add 192.0.2.17/28 dev wa
  nsx csl-wan ip addr add 192.0.2.33/28 dev wb
  nsx csl-wan ip addr add 192.0.2.49/28 dev wc
  nsx csl-wan ip addr add 192.0.2.1/28 dev wk
  nsx csl-ra ip addr add 192.0.2.18/28 dev wan0
  nsx csl-rb ip addr add 192.0.2.34/28 dev wan0
  nsx csl-rc ip addr add 192.0.2.50/28 dev wan0
  nsx csl-core ip addr add 192.0.2.10/28 dev eth0
  nsx csl-core ip route add default via 192.0.2.1
  nsx csl-wan ip route add 198.51.100.0/24 via 192.0.2.18
  nsx csl-wan ip route add 203.0.113.0/24 via 192.0.2.50
  for r in csl-wan csl-ra csl-rb csl-rc; do router "$r"; done
  # Site LANs: a bridge in each site router, one veth per phone
  site csl-ra 192.0.2.17 198.51.100 alice:11 eve:13 loada:21
  site csl-rc 192.0.2.49 203.0.113 carol:11 loadc:21
  site csl-rb 192.0.2.33 192.168.50 bob:11
  # Site B hides its LAN behind its WAN address; no SIP/SDP ALG is loaded (nf_nat_sip is not used).
  nsx csl-rb iptables -t nat -A POSTROUTING -o wan0 -s 192.168.50.0/24 -j MASQUERADE
  # A registration is a 15 ms exchange, so its conntrack entry would get the 30 s UDP timeout and the
  # proxy's INVITE to bob would bounce (port unreachable). Keep bindings 5 min, as a phone's keep-alives
  # would; the NAT scenario is about media, not binding expiry.
  nsx csl-rb sysctl -qw net.netfilter.nf_conntrack_udp_timeout=300 net.netfilter.nf_conntrack_udp_timeout_stream=300
}

# site ROUTER_NS WAN_GW LAN_PREFIX name:host...
site() {
  local r=$1 gw=$2 net=$3; shift 3
  nsx "$r" ip route add default via "$gw"
  nsx "$r" ip link add br0 type bridge
  nsx "$r" ip link set br0 up
  nsx "$r" ip addr add "$net.1/24" dev br0
  local p name host
  for p in "$@"; do
    name=${p%%:*}; host=${p##*:}
    link "$r" "p-$name" "csl-$name" eth0
    nsx "$r" ip link set "p-$name" master br0
    nsx "csl-$name" ip addr add "$net.$host/24" dev eth0
    nsx "csl-$name" ip route add default via "$net.1"
  done
}

down() {
  local ns pid
  for ns in "${NS_ALL[@]}"; do
    if ip netns list | grep -qw "$ns"; then
      # End only the processes running inside our own namespaces.
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    fi
  done
  sleep 0.2
  for ns in "${NS_ALL[@]}"; do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  [ "${1:-}" = quiet ] || echo "lab: namespaces removed"
}

case "${1:-}" in
  up) up; echo "lab: namespaces up: ${NS_ALL[*]}" ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
