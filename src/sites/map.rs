//! The site map (`--sites sites.toml`, output-contract.md "Site map"): named sites by CIDR
//! (IPv4 and IPv6), VLAN ids and/or capture interface, expected DSCP, timezone and numbering
//! plan. Loaded once before the run; lookups happen per call record, never per packet.
//!
//! Matching an endpoint (address, VLAN id and capture interface of the frame that showed it —
//! the initial INVITE for a call's parties, a stream's first packet for its ends), first site in
//! file order wins. Each criterion a site lists must hold:
//! - `cidrs`: the address is inside one of them;
//! - `vlans`: the frame's outermost VLAN id is one of them;
//! - `interface`: the frame's capture interface (pcapng `if_name`) has that name.
//!
//! A frame without a VLAN tag (or without a known interface, as in pcap files) cannot contradict
//! a site that also lists CIDRs: the address alone decides, so a map written for a tagged trunk
//! still works on an untagged SPAN copy. A site without CIDRs needs positive evidence: its VLAN
//! or interface must be seen. VLANs and interfaces thus split overlapping address plans (two
//! branches both on 192.168.1.0/24, told apart by VLAN) and name sites whose addresses are not
//! known (everything on VLAN 300 is the warehouse).

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

/// The site of an address in no site (output-contract.md).
pub const UNKNOWN_SITE: &str = "unknown";

/// Voice RTP marking when a site does not say (EF, RFC 4594 §4.1; quality-metrics.md §7).
pub const DEFAULT_EXPECTED_DSCP: u8 = 46;

/// Most sites a map may hold: a map is written by hand; a huge one is a mistake.
pub const MAX_SITES: usize = 4096;

/// A site map could not be used; the message names the line.
#[derive(Debug, thiserror::Error)]
pub enum SiteMapError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax or a field of the wrong type.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// File path.
        path: String,
        /// 1-based line of the error.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value that parses but makes no sense (bad CIDR, duplicate name, DSCP > 63…).
    #[error("{path}:{line}: site {site:?}: {message}")]
    Invalid {
        /// File path.
        path: String,
        /// 1-based line of the offending `[[site]]` entry (or of the value when found).
        line: usize,
        /// Site name.
        site: String,
        /// What is wrong.
        message: String,
    },
}

/// An IP network: address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// Network address (host bits are zeroed when parsing).
    pub addr: IpAddr,
    /// Prefix length (≤ 32 for IPv4, ≤ 128 for IPv6).
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::y/n`; a bare address is a host route (/32 or /128).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.trim().parse().map_err(|_| format!("{text:?} is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("{text:?}: prefix length must be 0..={max}"))?,
            None => max,
        };
        Ok(Cidr { addr: mask(addr, prefix), prefix })
    }

    /// Whether `ip` is inside. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) matches IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Numbering plan of a site, for the caller-ID and routing checks (another stage reads it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Numbering {
    /// Length of internal extensions.
    pub extension_digits: Option<u8>,
    /// E.164 prefix of the site's DIDs (e.g. `+49301234`).
    pub e164_prefix: Option<String>,
    /// DID ranges as `["+4930123400", "+4930123499"]` pairs.
    #[serde(default)]
    pub did_ranges: Vec<[String; 2]>,
}

/// One site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Name, unique in the map.
    pub name: String,
    /// Networks of the site.
    pub cidrs: Vec<Cidr>,
    /// VLAN ids of the site (outermost 802.1Q tag of the frame); empty = any.
    pub vlans: Vec<u16>,
    /// Capture interface name (pcapng `if_name`, e.g. `eth1`); None = any.
    pub interface: Option<String>,
    /// IANA timezone for local times in evidence bundles.
    pub timezone: Option<String>,
    /// DSCP the site's voice RTP should carry.
    pub expected_dscp: u8,
    /// Numbering plan.
    pub numbering: Numbering,
    /// Extensions (user parts) provisioned at the site, for `unregistered_extensions`
    /// (diagnosis.md §4.5); empty: callees of 404/480 never seen registering are used instead.
    pub extensions: Vec<String>,
}

/// Where an address was seen: the address and the VLAN id / capture interface of its frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Endpoint<'a> {
    /// The address (None: not seen).
    pub ip: Option<IpAddr>,
    /// Outermost VLAN id of the frame (None: untagged).
    pub vlan: Option<u16>,
    /// Capture interface name (None: unknown, e.g. a pcap file).
    pub interface: Option<&'a str>,
}

impl Site {
    /// Whether an endpoint belongs to this site (module docs: every listed criterion holds; a
    /// missing VLAN/interface only passes when the site also has CIDRs).
    pub fn matches(&self, at: &Endpoint<'_>) -> bool {
        let has_cidrs = !self.cidrs.is_empty();
        let cidr_ok = !has_cidrs || at.ip.is_some_and(|ip| self.cidrs.iter().any(|c| c.contains(ip)));
        let vlan_ok = self.vlans.is_empty()
            || match at.vlan {
                Some(v) => self.vlans.contains(&v),
                None => has_cidrs,
            };
        let interface_ok = match (self.interface.as_deref(), at.interface) {
            (None, _) => true,
            (Some(want), Some(seen)) => want == seen,
            (Some(_), None) => has_cidrs,
        };
        cidr_ok && vlan_ok && interface_ok
    }
}

/// All sites, in file order (first match wins).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteMap {
    /// Sites in file order.
    pub sites: Vec<Site>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    site: Vec<toml::Spanned<SiteEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteEntry {
    name: String,
    #[serde(default)]
    cidrs: Vec<toml::Spanned<String>>,
    #[serde(default)]
    vlans: Vec<u16>,
    interface: Option<String>,
    timezone: Option<String>,
    expected_dscp: Option<u8>,
    #[serde(default)]
    numbering: Numbering,
    #[serde(default)]
    extensions: Vec<String>,
}

impl SiteMap {
    /// Reads and validates a site map file.
    pub fn load(path: &Path) -> Result<SiteMap, SiteMapError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SiteMapError::Io { path: shown.clone(), source })?;
        SiteMap::parse(&text, &shown)
    }

    /// Parses a site map from TOML text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &str) -> Result<SiteMap, SiteMapError> {
        let line_of = |offset: usize| text.get(..offset).map_or(1, |t| t.bytes().filter(|&b| b == b'\n').count() + 1);
        let doc: FileDoc = toml::from_str(text).map_err(|e| SiteMapError::Syntax {
            path: path.to_owned(),
            line: e.span().map_or(1, |s| line_of(s.start)),
            message: e.message().trim().to_owned(),
        })?;
        let mut sites: Vec<Site> = Vec::with_capacity(doc.site.len());
        for spanned in doc.site {
            let entry_line = line_of(spanned.span().start);
            let entry = spanned.into_inner();
            let invalid = |line: usize, message: String| SiteMapError::Invalid {
                path: path.to_owned(),
                line,
                site: entry.name.clone(),
                message,
            };
            if sites.len() >= MAX_SITES {
                return Err(invalid(entry_line, format!("more than {MAX_SITES} sites")));
            }
            if entry.name.trim().is_empty() || entry.name == UNKNOWN_SITE || entry.name.contains("->") {
                return Err(invalid(entry_line, "name must be non-empty, not \"unknown\" and without \"->\"".into()));
            }
            if sites.iter().any(|s| s.name == entry.name) {
                return Err(invalid(entry_line, "duplicate site name".into()));
            }
            if entry.cidrs.is_empty() && entry.vlans.is_empty() && entry.interface.is_none() {
                return Err(invalid(entry_line, "a site needs cidrs, vlans or interface".into()));
            }
            if entry.interface.as_deref().is_some_and(|i| i.trim().is_empty()) {
                return Err(invalid(entry_line, "interface must be a non-empty name".into()));
            }
            let mut cidrs = Vec::with_capacity(entry.cidrs.len());
            for c in &entry.cidrs {
                cidrs.push(Cidr::parse(c.get_ref()).map_err(|m| invalid(line_of(c.span().start), m))?);
            }
            if let Some(v) = entry.vlans.iter().find(|&&v| v == 0 || v > 4094) {
                return Err(invalid(entry_line, format!("VLAN id {v} outside 1..=4094 (IEEE 802.1Q)")));
            }
            let expected_dscp = entry.expected_dscp.unwrap_or(DEFAULT_EXPECTED_DSCP);
            if expected_dscp > 63 {
                return Err(invalid(entry_line, format!("expected_dscp {expected_dscp} is not a 6-bit DSCP")));
            }
            if let Some(tz) = &entry.timezone {
                if !is_plausible_timezone(tz) {
                    return Err(invalid(entry_line, format!("timezone {tz:?} is not an IANA name like Europe/Berlin")));
                }
            }
            sites.push(Site {
                name: entry.name,
                cidrs,
                vlans: entry.vlans,
                interface: entry.interface,
                timezone: entry.timezone,
                expected_dscp,
                numbering: entry.numbering,
                extensions: entry.extensions,
            });
        }
        Ok(SiteMap { sites })
    }

    /// The site of an address seen without VLAN or interface: the first site with a matching
    /// CIDR, else `None` (site `unknown`). Sites defined only by VLAN or interface never match.
    pub fn site_of(&self, ip: IpAddr) -> Option<&Site> {
        self.site_for(&Endpoint { ip: Some(ip), ..Endpoint::default() })
    }

    /// Name of the site of an address (`unknown` when in no site).
    pub fn name_of(&self, ip: Option<IpAddr>) -> &str {
        self.name_for(&Endpoint { ip, ..Endpoint::default() })
    }

    /// The first site matching an endpoint by CIDR, VLAN and interface (module docs), else None.
    pub fn site_for(&self, at: &Endpoint<'_>) -> Option<&Site> {
        self.sites.iter().find(|s| s.matches(at))
    }

    /// Name of the site of an endpoint (`unknown` when in no site).
    pub fn name_for(&self, at: &Endpoint<'_>) -> &str {
        self.site_for(at).map_or(UNKNOWN_SITE, |s| s.name.as_str())
    }

    /// Expected DSCP of a named site (the default for `unknown`).
    pub fn expected_dscp(&self, name: &str) -> u8 {
        self.sites.iter().find(|s| s.name == name).map_or(DEFAULT_EXPECTED_DSCP, |s| s.expected_dscp)
    }
}

/// IANA names are `Area/Location` (or `UTC`); without a tz database in the binary this catches
/// typos like a UTC offset or an empty string, not misspelt cities.
fn is_plausible_timezone(tz: &str) -> bool {
    tz == "UTC"
        || (tz.contains('/')
            && !tz.starts_with('/')
            && !tz.ends_with('/')
            && tz.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[[site]]
name = "hq"
cidrs = ["10.1.0.0/16", "2001:db8:1::/48"]
vlans = [100, 101]
timezone = "Europe/Berlin"
expected_dscp = 46
[site.numbering]
extension_digits = 4
e164_prefix = "+49301234"

[[site]]
name = "warehouse"
cidrs = ["10.2.0.0/16"]
expected_dscp = 34
"#;

    #[test]
    fn parses_the_contract_example_and_matches_first_site() {
        let map = SiteMap::parse(EXAMPLE, "sites.toml").unwrap();
        assert_eq!(map.sites.len(), 2);
        assert_eq!(map.sites[0].vlans, vec![100, 101]);
        assert_eq!(map.sites[0].numbering.extension_digits, Some(4));
        assert_eq!(map.name_of(Some("10.1.200.3".parse().unwrap())), "hq");
        assert_eq!(map.name_of(Some("2001:db8:1:ffff::9".parse().unwrap())), "hq");
        assert_eq!(map.name_of(Some("2001:db8:2::9".parse().unwrap())), "unknown");
        assert_eq!(map.name_of(Some("10.2.0.1".parse().unwrap())), "warehouse");
        assert_eq!(map.name_of(Some("::ffff:10.2.0.1".parse().unwrap())), "warehouse");
        assert_eq!(map.name_of(Some("10.3.0.1".parse().unwrap())), "unknown");
        assert_eq!(map.name_of(None), "unknown");
        assert_eq!(map.expected_dscp("warehouse"), 34);
        assert_eq!(map.expected_dscp("unknown"), 46);
    }

    #[test]
    fn cidr_zeroes_host_bits_and_handles_edges() {
        assert_eq!(Cidr::parse("10.1.2.3/16").unwrap().to_string(), "10.1.0.0/16");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("203.0.113.9".parse().unwrap()));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains("::1".parse().unwrap()));
        assert_eq!(Cidr::parse("192.0.2.7").unwrap().prefix, 32);
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("2001:db8::/129").is_err());
        assert!(Cidr::parse("10.0.0/8").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let bad_cidr = "[[site]]\nname = \"a\"\ncidrs = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/40\",\n]\n";
        let e = SiteMap::parse(bad_cidr, "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:5: site \"a\": "), "{e}");
        let syntax = "[[site]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\"]\nexpected_dscp = \"ef\"\n";
        let e = SiteMap::parse(syntax, "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:4: "), "{e}");
        let dup =
            "[[site]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\"]\n\n[[site]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\"]\n";
        let e = SiteMap::parse(dup, "m.toml").unwrap_err().to_string();
        assert_eq!(e, "m.toml:5: site \"a\": duplicate site name");
        let unknown_key = "[[site]]\nname = \"a\"\ncidr = [\"10.0.0.0/8\"]\n";
        let e = SiteMap::parse(unknown_key, "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:"), "{e}");
        let vlan = "[[site]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\"]\nvlans = [4095]\n";
        assert!(SiteMap::parse(vlan, "m.toml").unwrap_err().to_string().contains("4095"));
    }

    const BY_LINK: &str = r#"
[[site]]
name = "branch-a"
cidrs = ["192.168.1.0/24"]
vlans = [110]

[[site]]
name = "branch-b"
cidrs = ["192.168.1.0/24"]
vlans = [120]

[[site]]
name = "warehouse"
vlans = [300]

[[site]]
name = "dmz"
interface = "eth2"
"#;

    fn at(ip: &str, vlan: Option<u16>, interface: Option<&'static str>) -> Endpoint<'static> {
        Endpoint { ip: Some(ip.parse().unwrap()), vlan, interface }
    }

    #[test]
    fn vlan_and_interface_split_overlapping_address_plans() {
        let map = SiteMap::parse(BY_LINK, "m.toml").unwrap();
        assert_eq!(map.sites[2].cidrs, vec![]);
        assert_eq!(map.sites[3].interface.as_deref(), Some("eth2"));
        // Same address, told apart by the VLAN.
        assert_eq!(map.name_for(&at("192.168.1.5", Some(110), None)), "branch-a");
        assert_eq!(map.name_for(&at("192.168.1.5", Some(120), None)), "branch-b");
        // A VLAN no site lists contradicts both CIDR sites.
        assert_eq!(map.name_for(&at("192.168.1.5", Some(999), None)), "unknown");
        // Untagged: the address decides, first CIDR site wins.
        assert_eq!(map.name_for(&at("192.168.1.5", None, None)), "branch-a");
        assert_eq!(map.name_of(Some("192.168.1.5".parse().unwrap())), "branch-a");
        // VLAN-only site: any address on VLAN 300, never an untagged frame.
        assert_eq!(map.name_for(&at("10.9.9.9", Some(300), None)), "warehouse");
        assert_eq!(map.name_for(&at("10.9.9.9", None, None)), "unknown");
        // Interface-only site: the pcapng interface name must be seen.
        assert_eq!(map.name_for(&at("203.0.113.7", None, Some("eth2"))), "dmz");
        assert_eq!(map.name_for(&at("203.0.113.7", None, Some("eth1"))), "unknown");
        assert_eq!(map.name_for(&at("203.0.113.7", None, None)), "unknown");
        assert_eq!(map.name_for(&Endpoint { ip: None, vlan: Some(300), interface: None }), "warehouse");
    }

    #[test]
    fn cidr_site_with_interface_needs_both_when_the_interface_is_known() {
        let text = "[[site]]\nname = \"hq\"\ncidrs = [\"10.1.0.0/16\"]\ninterface = \"eth1\"\n";
        let map = SiteMap::parse(text, "m.toml").unwrap();
        assert_eq!(map.name_for(&at("10.1.2.3", None, Some("eth1"))), "hq");
        assert_eq!(map.name_for(&at("10.1.2.3", None, Some("eth0"))), "unknown");
        assert_eq!(map.name_for(&at("10.1.2.3", None, None)), "hq");
        assert_eq!(map.name_for(&at("10.2.2.3", None, Some("eth1"))), "unknown");
    }

    #[test]
    fn a_site_needs_some_criterion() {
        let e = SiteMap::parse("[[site]]\nname = \"a\"\nexpected_dscp = 46\n", "m.toml").unwrap_err().to_string();
        assert_eq!(e, "m.toml:1: site \"a\": a site needs cidrs, vlans or interface");
        let e = SiteMap::parse("\n[[site]]\nname = \"a\"\ninterface = \" \"\n", "m.toml").unwrap_err().to_string();
        assert_eq!(e, "m.toml:2: site \"a\": interface must be a non-empty name");
    }

    /// End to end: a call on QinQ (outer VLAN 100) gets its sites from a VLAN-only map; the VLAN
    /// travels decode → SIP dialog / RTP stream → records → site resolution.
    #[test]
    fn vlan_of_the_frames_reaches_calls_streams_and_sites() {
        let dir = std::env::temp_dir().join(format!("callscope-map-vlan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vlan_call.pcap");
        crate::synth::fixtures::vlan_call().write_file(&path).unwrap();
        let analysis =
            crate::pipeline::analyze(&[path.to_string_lossy().into_owned()], &crate::config::Config::default())
                .unwrap();
        let mut doc = crate::report::build(&analysis);
        assert_eq!(doc.calls.len(), 1);
        assert_eq!(doc.calls[0].vlan, Some(100));
        assert_eq!(doc.calls[0].interface, None); // pcap files name no interface
        assert_eq!(doc.streams.len(), 2);
        assert!(doc.streams.iter().all(|s| s.vlan == Some(100)), "{:?}", doc.streams.iter().map(|s| s.vlan));
        let map = SiteMap::parse("[[site]]\nname = \"voice-vlan\"\nvlans = [100]\n", "m.toml").unwrap();
        let report = crate::sites::attach(&mut doc, &map, &crate::sites::SiteOptions::default());
        assert_eq!(
            (doc.calls[0].caller_site.as_str(), doc.calls[0].callee_site.as_str()),
            ("voice-vlan", "voice-vlan")
        );
        let pair = report.summaries.iter().find(|s| s.peer_site.as_deref() == Some("voice-vlan")).unwrap();
        assert_eq!((pair.calls, pair.streams), (1, 2));
        // The inner tag (200) is not the one matched: 802.1ad outer tag = the service VLAN.
        let inner = SiteMap::parse("[[site]]\nname = \"inner\"\nvlans = [200]\n", "m.toml").unwrap();
        crate::sites::attach(&mut doc, &inner, &crate::sites::SiteOptions::default());
        assert_eq!(doc.calls[0].caller_site, "unknown");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
