//! The site map (`--sites sites.toml`, output-contract.md "Site map"): named sites by CIDR
//! (IPv4 and IPv6), optional VLAN ids and capture interface, expected DSCP, timezone and
//! numbering plan. Loaded once before the run; lookups happen per call record, never per packet.

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
    /// VLAN ids of the site (informational: call records do not carry the VLAN yet, so matching
    /// is by address only).
    pub vlans: Vec<u16>,
    /// Capture interface name (informational, as `vlans`).
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
            if entry.cidrs.is_empty() {
                return Err(invalid(entry_line, "cidrs must list at least one network".into()));
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

    /// The site of an address: the first site with a matching CIDR, else `None` (site `unknown`).
    pub fn site_of(&self, ip: IpAddr) -> Option<&Site> {
        self.sites.iter().find(|s| s.cidrs.iter().any(|c| c.contains(ip)))
    }

    /// Name of the site of an address (`unknown` when in no site).
    pub fn name_of(&self, ip: Option<IpAddr>) -> &str {
        ip.and_then(|ip| self.site_of(ip)).map_or(UNKNOWN_SITE, |s| s.name.as_str())
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
}
