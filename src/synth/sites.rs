//! A three-site capture with known per-site truth, for the sites stage and the report.
//!
//! Sites (see [`THREE_SITES_TOML`], also `fixtures/sites.toml`): `hq` 10.1.0.0/16 +
//! 2001:db8:1::/48, `warehouse` 10.2.0.0/16, `branch` 10.3.0.0/16 + 2001:db8:3::/48 (expects
//! DSCP 34, so its EF-marked RTP is non-compliant). The capture starts 2024-03-01T08:20:00Z:
//!
//! * 08:20:00, 08:20:01, 08:20:02 — three clean hq → warehouse calls (the morning);
//! * 09:00:01 … 09:00:16 — sixteen hq → warehouse calls, one per second, all overlapping
//!   (answer 3 s, talk 20 s): the warehouse WAN saturates, so calls 11–16 (started with ≥ 11
//!   calls in progress) lose every 20th packet in both directions (5 %);
//! * 09:01:00 … 09:01:03 — four hq → branch calls with one-way audio: branch never sends;
//! * 09:01:20, 09:01:21 — two branch → hq calls over IPv6, clean both ways;
//! * 09:01:40 — branch → warehouse 486 Busy; 09:01:41 — branch → warehouse 404 Not Found
//!   (both without ringing);
//! * 09:01:50 — 192.0.2.50 (in no site: `unknown`) → hq, clean.
//!
//! Every answered call rings at 800 ms (post-dial delay 800 ms) and answers at 3 s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::rtp::Loss;
use super::scenario::{CallSpec, OutcomeSpec, Scenario, DEFAULT_START};
use crate::time::Timestamp;

/// The site map of [`three_sites`] (identical to `fixtures/sites.toml`).
pub const THREE_SITES_TOML: &str = include_str!("../../fixtures/sites.toml");

/// Calls of the warehouse burst.
pub const BURST_CALLS: usize = 16;
/// Burst calls started with at least this many calls in progress (themselves included) lose packets.
pub const LOSSY_FROM_CONCURRENT: usize = 11;
/// Talk time of the burst and morning calls, ms.
pub const TALK_MS: u64 = 20_000;
/// Offset of the burst from the capture start, ms (09:00:00Z).
pub const BURST_OFFSET_MS: u64 = 40 * 60 * 1000;

fn v4(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)
}

fn v6(site: u16, host: u16, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, site, 0, 0, 0, 0, host)), port)
}

/// An answered call between two SIP addresses (media on the same hosts, ports 40000/50000
/// plus `n` so concurrent calls of one host pair do not share a 5-tuple).
fn call(id: &str, caller: SocketAddr, callee: SocketAddr, start_ms: u64, talk_ms: u64, n: u16) -> CallSpec {
    let mut c = CallSpec::answered(&format!("{id}@{}", caller.ip()), caller, callee, start_ms, talk_ms);
    c.caller_media = SocketAddr::new(caller.ip(), 40000 + 2 * n);
    c.callee_media = SocketAddr::new(callee.ip(), 50000 + 2 * n);
    c
}

/// Every 20th slot (offset 10, so the first and last packets are never dropped): 5 % loss.
fn every_twentieth(talk_ms: u64) -> Loss {
    let slots = usize::try_from(talk_ms / 20).unwrap_or(0);
    Loss::Indexes((0..slots).filter(|i| i % 20 == 10).collect())
}

/// The three-site scenario described in the module docs.
pub fn three_sites() -> Scenario {
    let mut s = Scenario::new("three_sites", 42);
    s.start = Timestamp(DEFAULT_START.0 - 40 * 60 * 1_000_000_000);
    let hq = |host: u8, port: u16| v4([10, 1, 0, host], port);
    let wh = |host: u8, port: u16| v4([10, 2, 0, host], port);
    let br = |host: u8, port: u16| v4([10, 3, 0, host], port);
    for k in 0..3u16 {
        s = s.call(call(&format!("morning-{k}"), hq(10, 5060), wh(20, 5060), u64::from(k) * 1000, TALK_MS, k));
    }
    for k in 1..=BURST_CALLS {
        let n = u16::try_from(k).unwrap_or(0);
        let mut c =
            call(&format!("burst-{k}"), hq(11, 5060), wh(21, 5060), BURST_OFFSET_MS + 1000 * k as u64, TALK_MS, n);
        if k >= LOSSY_FROM_CONCURRENT {
            c.media.caller_to_callee.faults.loss = every_twentieth(TALK_MS);
            c.media.callee_to_caller.faults.loss = every_twentieth(TALK_MS);
        }
        s = s.call(c);
    }
    let after = BURST_OFFSET_MS + 60_000;
    for k in 0..4u16 {
        let mut c = call(&format!("oneway-{k}"), hq(12, 5060), br(30, 5060), after + u64::from(k) * 1000, 10_000, k);
        c.media.callee_to_caller.enabled = false;
        s = s.call(c);
    }
    for k in 0..2u16 {
        s = s.call(call(
            &format!("v6-{k}"),
            v6(3, 0x31, 5060),
            v6(1, 0x13, 5060),
            after + 20_000 + u64::from(k) * 1000,
            10_000,
            k,
        ));
    }
    let mut busy = call("busy", br(32, 5060), wh(22, 5060), after + 40_000, 0, 0);
    busy.outcome = OutcomeSpec::busy(300);
    busy.ringing_ms = None;
    s = s.call(busy);
    let mut not_found = call("notfound", br(32, 5060), wh(23, 5060), after + 41_000, 0, 1);
    not_found.outcome = OutcomeSpec::not_found(300);
    not_found.ringing_ms = None;
    s = s.call(not_found);
    s.call(call("stranger", v4([192, 0, 2, 50], 5060), hq(14, 5060), after + 50_000, 5_000, 0))
}
