//! Multi-site captures for the site-level findings (diagnosis.md §4.5): each scenario triggers
//! one code, and a `near_miss` variant stays just below its threshold, so tests can assert both.
//! Calls are [`DiagCall`]s placed between the sites of [`SITE_MAP_TOML`]; REGISTER transactions
//! are scripted here (the call generators have none).
//!
//! Sites: `hq` 10.1.0.0/16 (extensions 1001–1003 listed), `warehouse` 10.2.0.0/16, `branch`
//! 10.3.0.0/16, `carrier` 10.9.0.0/16 (the trunk 10.9.0.1).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::diag_scenarios::{script, DiagCall, Script};

/// The site map of these scenarios.
pub const SITE_MAP_TOML: &str = r#"[[site]]
name = "hq"
cidrs = ["10.1.0.0/16"]
extensions = ["1001", "1002", "1003"]

[[site]]
name = "warehouse"
cidrs = ["10.2.0.0/16"]

[[site]]
name = "branch"
cidrs = ["10.3.0.0/16"]

[[site]]
name = "carrier"
cidrs = ["10.9.0.0/16"]
"#;

/// The trunk of [`trunk_saturation`].
pub const TRUNK: &str = "10.9.0.1";

/// `10.<site>.0.<host>:<port>` (site 1 hq, 2 warehouse, 3 branch, 9 carrier).
pub fn addr(site: u8, host: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, site, 0, host)), port)
}

/// An answered call between two SIP hosts with media ports of its own (`k`), starting at `start_ms`.
pub fn site_call(id: &str, caller: SocketAddr, callee: SocketAddr, start_ms: i64, k: u16) -> DiagCall {
    let mut c = DiagCall::answered(id);
    c.caller = caller;
    c.callee = callee;
    c.caller_media = SocketAddr::new(caller.ip(), 20000 + 2 * k);
    c.callee_media = SocketAddr::new(callee.ip(), 30000 + 2 * k);
    c.start_ms = start_ms;
    c.from_user = "1001".into();
    c
}

/// `inter_site_one_way`: five hq → branch calls and three branch → hq calls, all answered;
/// in three hq → branch calls (`near_miss`: one) branch never sends, so branch → hq media fails
/// in 3 of 8 calls (37.5 %; near miss 12.5 %) while hq → branch and hq ↔ warehouse are clean.
/// With `spread`, a warehouse → hq failure makes the problem site-wide rather than one pair's
/// (another near miss).
pub fn inter_site_one_way(near_miss: bool, spread: bool) -> Vec<DiagCall> {
    let mut calls = Vec::new();
    let mut k = 0u16;
    for i in 0..5 {
        let mut c = site_call(&format!("hb{i}@hq"), addr(1, 10, 5060), addr(3, 30, 5060), i64::from(k) * 15_000, k);
        if i < if near_miss { 1 } else { 3 } {
            c.e2c.enabled = false;
        }
        calls.push(c);
        k += 1;
    }
    for i in 0..3 {
        calls.push(site_call(&format!("bh{i}@br"), addr(3, 31, 5060), addr(1, 11, 5060), i64::from(k) * 15_000, k));
        k += 1;
    }
    for i in 0..3 {
        let mut c = site_call(&format!("hw{i}@hq"), addr(1, 12, 5060), addr(2, 20, 5060), i64::from(k) * 15_000, k);
        if spread && i == 0 {
            c.e2c.enabled = false;
        }
        calls.push(c);
        k += 1;
    }
    calls
}

/// `inter_site_qos_mismatch`: four hq → branch calls; hq marks its RTP EF (46) and branch sends
/// DSCP 0 (`near_miss`: branch marks two of four, 50 %, above the 20 % "unmarked" bound).
pub fn qos_mismatch(near_miss: bool) -> Vec<DiagCall> {
    (0..4u16)
        .map(|k| {
            let mut c = site_call(&format!("q{k}@hq"), addr(1, 10, 5060), addr(3, 30, 5060), i64::from(k) * 15_000, k);
            c.e2c.dscp = if near_miss && k < 2 { 46 } else { 0 };
            c
        })
        .collect()
}

/// `busy_hour_degradation`: hq → warehouse calls in `buckets` 15-minute buckets; bucket `b`
/// holds `b + 2` overlapping calls (1 s apart, 10 s talk), so concurrency rises 2, 3, …; calls
/// in buckets with ≥ 6 concurrent calls lose every 10th packet both ways (`lossy`). Eight
/// buckets make 44 answered calls.
pub fn busy_hour(buckets: i64, lossy: bool) -> Vec<DiagCall> {
    let mut calls = Vec::new();
    let mut k = 0u16;
    for b in 0..buckets {
        let n = b + 2;
        for i in 0..n {
            let start = b * 15 * 60_000 + 60_000 + i * 1000;
            let mut c = site_call(&format!("bh{b}-{i}@hq"), addr(1, 10, 5060), addr(2, 20, 5060), start, k);
            if lossy && n >= 6 {
                c.c2e.drop_every = Some(10);
                c.e2c.drop_every = Some(10);
            }
            calls.push(c);
            k += 1;
        }
    }
    calls
}

/// `trunk_saturation`: four long hq → trunk calls up from 0–3 s, then `refused` calls to the
/// trunk answered 503 at 10, 11, 12 … s while the four are still up.
pub fn trunk_saturation(refused: u16) -> Vec<DiagCall> {
    let trunk = addr(9, 1, 5060);
    let mut calls = Vec::new();
    for k in 0..4u16 {
        let mut c = site_call(&format!("t{k}@hq"), addr(1, 10 + k as u8, 5060), trunk, i64::from(k) * 1000, k);
        c.talk_ms = 40_000;
        calls.push(c);
    }
    for k in 0..refused {
        let mut c =
            site_call(&format!("r{k}@hq"), addr(1, 20 + k as u8, 5060), trunk, 10_000 + i64::from(k) * 1000, 10 + k);
        c.final_status = (503, 200);
        calls.push(c);
    }
    calls
}

/// One REGISTER transaction step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterStep {
    /// Offset of the REGISTER, ms.
    pub at_ms: i64,
    /// The phone (source of the REGISTER; its port is the Contact port too).
    pub phone: SocketAddr,
    /// Extension (AOR user).
    pub user: String,
    /// Call-ID of the registration dialog.
    pub call_id: String,
    /// CSeq.
    pub cseq: u32,
    /// Requested expiry.
    pub expires: u32,
    /// Final response (None: the registrar never answers), sent 20 ms later.
    pub answer: Option<u16>,
}

/// The registrar of the registration scenarios (hq's PBX).
pub fn registrar() -> SocketAddr {
    addr(1, 1, 5060)
}

/// Adds REGISTER transactions to a script.
pub fn add_registers(s: &mut Script, steps: &[RegisterStep]) {
    let reg = registrar();
    for r in steps {
        let common = format!(
            "Via: SIP/2.0/UDP {phone};branch=z9hG4bKr{cid}{cseq}\r\nFrom: <sip:{u}@{rip}>;tag=rt{cid}\r\nTo: <sip:{u}@{rip}>{{TT}}\r\n\
             Call-ID: {cid}\r\nCSeq: {cseq} REGISTER\r\n",
            phone = r.phone,
            cid = r.call_id,
            cseq = r.cseq,
            u = r.user,
            rip = reg.ip()
        );
        let req = format!(
            "REGISTER sip:{rip} SIP/2.0\r\n{h}Contact: <sip:{u}@{phone}>\r\nExpires: {e}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            rip = reg.ip(),
            h = common.replace("{TT}", ""),
            u = r.user,
            phone = r.phone,
            e = r.expires
        );
        s.udp(r.at_ms, r.phone, reg, 24, req.into_bytes());
        let Some(code) = r.answer else { continue };
        let extra = match code {
            200..=299 => format!("Contact: <sip:{}@{}>;expires={}\r\n", r.user, r.phone, r.expires),
            401 => "WWW-Authenticate: Digest realm=\"hq\", nonce=\"1\"\r\n".to_owned(),
            423 => "Min-Expires: 600\r\n".to_owned(),
            _ => String::new(),
        };
        let resp = format!(
            "SIP/2.0 {code} {}\r\n{h}{extra}Content-Length: 0\r\n\r\n",
            super::sip::reason_phrase(code),
            h = common.replace("{TT}", &format!(";tag=reg{}", r.call_id))
        );
        s.udp(r.at_ms + 20, reg, r.phone, 24, resp.into_bytes());
    }
}

/// A step of `user` from `phone` (Call-ID per user).
pub fn step(at_ms: i64, phone: SocketAddr, user: &str, cseq: u32, expires: u32, answer: Option<u16>) -> RegisterStep {
    RegisterStep { at_ms, phone, user: user.into(), call_id: format!("reg-{user}"), cseq, expires, answer }
}

/// An end marker (OPTIONS between two hosts in no site) at `at_ms`: the capture runs that long.
pub fn end_marker(s: &mut Script, at_ms: i64) {
    let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200)), 5060);
    let b = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 201)), 5060);
    let opts = format!(
        "OPTIONS sip:x@{b} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKend\r\nFrom: <sip:m@{a}>;tag=1\r\nTo: <sip:x@{b}>\r\n\
         Call-ID: end-marker\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    s.udp(at_ms, a, b, 0, opts.into_bytes());
}

/// `registration_failed`: 1001 is challenged (401), retries and gets 403 (`near_miss`: 200);
/// 1002 gets 423, retries with a longer expiry and is granted (never a failure); 1003 is
/// granted 60 s at 1 s and never refreshes while the capture runs to 120 s (subcode `expired`;
/// `near_miss`: refreshed at 50 s for 3600 s). Capture length 120 s.
pub fn registration_failed(near_miss: bool) -> Script {
    let p1 = addr(1, 101, 5060);
    let p2 = addr(1, 102, 5060);
    let p3 = addr(1, 103, 5060);
    let mut steps = vec![
        step(0, p1, "1001", 1, 3600, Some(401)),
        step(100, p1, "1001", 2, 3600, Some(if near_miss { 200 } else { 403 })),
        step(200, p2, "1002", 1, 300, Some(423)),
        step(300, p2, "1002", 2, 600, Some(200)),
        step(1000, p3, "1003", 1, 60, Some(200)),
    ];
    if near_miss {
        steps.push(step(50_000, p3, "1003", 2, 3600, Some(200)));
    }
    let mut s = Script::new();
    add_registers(&mut s, &steps);
    end_marker(&mut s, 120_000);
    s
}

/// `registration_churn`: five hq phones register once for 3600 s; 1005 re-registers every
/// 60 s for 10 minutes (10 transactions in an hour, above max(6, 2 × 1)); `near_miss`: 6 times
/// (at the limit, not above). With `nat`, 1005 instead registers 4 times, each from a new
/// source port (3 rebinding changes).
pub fn registration_churn(near_miss: bool, nat: bool) -> Script {
    let mut steps = Vec::new();
    for (i, user) in ["1001", "1002", "1003", "1004"].iter().enumerate() {
        steps.push(step(i as i64 * 100, addr(1, 101 + i as u8, 5060), user, 1, 3600, Some(200)));
    }
    let churner = addr(1, 105, 5060);
    let times: u32 = if nat {
        4
    } else if near_miss {
        6
    } else {
        10
    };
    for n in 0..times {
        let phone = if nat { SocketAddr::new(churner.ip(), 5060 + 2 * n as u16) } else { churner };
        steps.push(step(1000 + i64::from(n) * 60_000, phone, "1005", n + 1, 3600, Some(200)));
    }
    let mut s = Script::new();
    add_registers(&mut s, &steps);
    end_marker(&mut s, 1000 + i64::from(times) * 60_000);
    s
}

/// `unregistered_extensions`: at hq (extensions 1001–1003 listed) 1001 registers; 1002's
/// REGISTER is refused 403 (`near_miss`: granted); 1003 never registers and a branch → hq call
/// to it ends 480 (`near_miss`: answered). At branch (no list) a call to 2002 ends 404 and 2002
/// never registers (`near_miss`: 2002 registers first). Capture length ≈ 1 min, so the missing
/// REGISTER alone proves nothing.
pub fn unregistered_extensions(near_miss: bool) -> Script {
    let mut steps = vec![
        step(0, addr(1, 101, 5060), "1001", 1, 3600, Some(200)),
        step(100, addr(1, 102, 5060), "1002", 1, 3600, Some(if near_miss { 200 } else { 403 })),
    ];
    if near_miss {
        steps.push(step(200, addr(3, 102, 5060), "2002", 1, 3600, Some(200)));
    }
    let mut to_1003 = site_call("u1003@br", addr(3, 40, 5060), addr(1, 1, 5060), 5_000, 1);
    to_1003.to_user = "1003".into();
    if !near_miss {
        to_1003.final_status = (480, 300);
    }
    let mut to_2002 = site_call("u2002@hq", addr(1, 40, 5060), addr(3, 1, 5060), 20_000, 2);
    to_2002.to_user = "2002".into();
    to_2002.final_status = (if near_miss { 200 } else { 404 }, if near_miss { 2000 } else { 300 });
    let mut s = script(&[to_1003, to_2002]);
    add_registers(&mut s, &steps);
    end_marker(&mut s, 60_000);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_have_the_documented_shape() {
        assert_eq!(busy_hour(8, true).len(), 44);
        assert_eq!(inter_site_one_way(false, false).iter().filter(|c| !c.e2c.enabled).count(), 3);
        assert_eq!(trunk_saturation(3).iter().filter(|c| c.final_status.0 == 503).count(), 3);
        let map = crate::sites::SiteMap::parse(SITE_MAP_TOML, "m").expect("map parses");
        assert_eq!(map.name_of(Some(TRUNK.parse().expect("ip"))), "carrier");
        assert_eq!(map.sites[0].extensions, vec!["1001", "1002", "1003"]);
    }
}
