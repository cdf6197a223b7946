//! Where a token may be used from: up to [`MAX_ALLOWED_RANGES`] CIDR ranges, IPv4 and
//! IPv6 (a bare address is one host; none means anywhere), and what a request from
//! elsewhere meets ([`IpPolicy`]). The rules the issue on IP allowlists builds on; the
//! service and the stores wire them in.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Most ranges one token's allowlist may hold.
pub const MAX_ALLOWED_RANGES: usize = 20;

/// Why an allowlist was refused; each names the value and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    /// More than [`MAX_ALLOWED_RANGES`] ranges.
    #[error("allowed_ips holds at most {MAX_ALLOWED_RANGES} ranges, got {0}")]
    TooMany(usize),
    /// Not an address nor `address/prefix`.
    #[error(
        "allowed_ips: {0:?} is not an IP address or CIDR range (e.g. 203.0.113.0/24, 2001:db8::/48, 198.51.100.7)"
    )]
    Malformed(String),
    /// A prefix longer than the address (`/33` for IPv4, `/129` for IPv6).
    #[error("allowed_ips: {value:?}: an {family} prefix is at most /{max}")]
    PrefixTooLong {
        /// The range as written.
        value: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// 32 or 128.
        max: u8,
    },
    /// Bits set after the prefix: most likely a typo for the network.
    #[error("allowed_ips: {value:?} has bits set after its prefix; did you mean {network}?")]
    HostBits {
        /// The range as written.
        value: String,
        /// The network it lies in.
        network: String,
    },
}

/// The ranges a token may be used from; empty: anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Anywhere: no ranges.
    pub fn anywhere() -> Self {
        Self::default()
    }

    /// Parses ranges as an API caller writes them (surrounding spaces ignored,
    /// duplicates kept once, order kept).
    ///
    /// # Errors
    /// [`AllowlistError`] for the first range that breaks a rule, or too many.
    pub fn parse<S: AsRef<str>>(ranges: &[S]) -> Result<Self, AllowlistError> {
        if ranges.len() > MAX_ALLOWED_RANGES {
            return Err(AllowlistError::TooMany(ranges.len()));
        }
        let mut parsed: Vec<IpNet> = Vec::with_capacity(ranges.len());
        for raw in ranges {
            let range = parse_range(raw.as_ref().trim())?;
            if !parsed.contains(&range) {
                parsed.push(range);
            }
        }
        Ok(Self(parsed))
    }

    /// Whether any address may use the token.
    pub fn is_anywhere(&self) -> bool {
        self.0.is_empty()
    }

    /// The ranges, in the order given.
    pub fn ranges(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether `ip` lies in a range (always, for an empty list). An IPv4 address
    /// mapped into IPv6 (`::ffff:a.b.c.d`, as a dual-stack socket reports it) counts
    /// as the IPv4 address.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.is_anywhere() || self.0.iter().any(|range| range.contains(&ip))
    }

    /// Whether every address this list allows, `outer` allows too: no escalation
    /// through a token minting another (an empty `outer` allows anything; an empty
    /// list inside a non-empty `outer` would allow more, so it is not within).
    pub fn is_within(&self, outer: &IpAllowlist) -> bool {
        if outer.is_anywhere() {
            return true;
        }
        !self.is_anywhere()
            && self
                .0
                .iter()
                .all(|inner| outer.0.iter().any(|range| range.contains(inner)))
    }
}

impl fmt::Display for IpAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&texts.join(","))
    }
}

/// One range: `address/prefix`, or a bare address (one host).
fn parse_range(value: &str) -> Result<IpNet, AllowlistError> {
    let malformed = || AllowlistError::Malformed(value.to_owned());
    let (address, prefix) = match value.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (value, None),
    };
    let address = IpAddr::from_str(address).map_err(|_| malformed())?;
    let (family, max) = match address {
        IpAddr::V4(_) => ("IPv4", 32),
        IpAddr::V6(_) => ("IPv6", 128),
    };
    let prefix = match prefix {
        None => max,
        Some(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| AllowlistError::PrefixTooLong {
                value: value.to_owned(),
                family,
                max,
            })?,
        Some(_) => return Err(malformed()),
    };
    let range = IpNet::new(address, prefix).map_err(|_| malformed())?;
    if range.network() != address {
        return Err(AllowlistError::HostBits {
            value: value.to_owned(),
            network: range.trunc().to_string(),
        });
    }
    Ok(range)
}

/// What a request from outside a token's allowlist meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpPolicy {
    /// Refused with the same 401 as any bad token.
    #[default]
    Enforce,
    /// Let through, counted and audited: what would have been refused.
    Report,
}

impl IpPolicy {
    /// The text form: `enforce` or `report`.
    pub fn as_str(self) -> &'static str {
        match self {
            IpPolicy::Enforce => "enforce",
            IpPolicy::Report => "report",
        }
    }
}

/// An `ip_policy` other than the two words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ip_policy must be \"enforce\" or \"report\", got {0:?}")]
pub struct IpPolicyError(pub String);

impl FromStr for IpPolicy {
    type Err = IpPolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enforce" => Ok(IpPolicy::Enforce),
            "report" => Ok(IpPolicy::Report),
            other => Err(IpPolicyError(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ranges: &[&str]) -> IpAllowlist {
        IpAllowlist::parse(ranges).expect("a valid allowlist")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn ranges_and_bare_addresses_allow_what_they_cover() {
        let allowed = list(&["203.0.113.0/24", "2001:db8::/48", " 198.51.100.7 "]);
        for inside in [
            "203.0.113.0",
            "203.0.113.255",
            "2001:db8:0:ffff::1",
            "198.51.100.7",
            "::ffff:203.0.113.9",
        ] {
            assert!(allowed.allows(ip(inside)), "{inside}");
        }
        for outside in ["203.0.114.1", "2001:db9::1", "198.51.100.8", "10.0.0.1"] {
            assert!(!allowed.allows(ip(outside)), "{outside}");
        }
        assert!(IpAllowlist::anywhere().allows(ip("192.0.2.1")));
        assert_eq!(
            allowed.to_string(),
            "203.0.113.0/24,2001:db8::/48,198.51.100.7/32"
        );
        assert_eq!(
            list(&["10.0.0.0/8", "10.0.0.0/8"]).ranges().len(),
            1,
            "duplicates once"
        );
    }

    #[test]
    fn bad_ranges_are_refused_naming_the_rule() {
        let refused =
            |ranges: &[&str]| IpAllowlist::parse(ranges).expect_err("refused").to_string();
        assert!(refused(&["10.0.0.0/33"]).contains("an IPv4 prefix is at most /32"));
        assert!(refused(&["2001:db8::/129"]).contains("an IPv6 prefix is at most /128"));
        assert!(refused(&["10.0.0.1/24"]).contains("did you mean 10.0.0.0/24"));
        for bad in [
            "",
            "10.0.0",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "example.com",
            "10.0.0.0/ 8",
        ] {
            assert!(
                refused(&[bad]).contains("is not an IP address or CIDR range"),
                "{bad:?}"
            );
        }
        let many: Vec<String> = (0..21).map(|i| format!("10.0.{i}.0/24")).collect();
        assert_eq!(IpAllowlist::parse(&many), Err(AllowlistError::TooMany(21)));
        assert!(IpAllowlist::parse(&many[..20]).is_ok());
    }

    #[test]
    fn a_list_is_within_another_only_if_it_allows_no_more() {
        let outer = list(&["10.0.0.0/8", "2001:db8::/32"]);
        assert!(list(&["10.1.0.0/16", "10.2.3.4"]).is_within(&outer));
        assert!(list(&["2001:db8:1::/48"]).is_within(&outer));
        assert!(!list(&["10.0.0.0/7"]).is_within(&outer), "wider");
        assert!(!list(&["192.168.0.0/16"]).is_within(&outer), "elsewhere");
        assert!(
            !IpAllowlist::anywhere().is_within(&outer),
            "anywhere is more"
        );
        assert!(IpAllowlist::anywhere().is_within(&IpAllowlist::anywhere()));
        assert!(outer.is_within(&IpAllowlist::anywhere()));
    }

    #[test]
    fn policies_are_the_two_words() {
        assert_eq!("enforce".parse(), Ok(IpPolicy::Enforce));
        assert_eq!("report".parse(), Ok(IpPolicy::Report));
        assert_eq!(IpPolicy::Report.as_str(), "report");
        let err = "Enforce".parse::<IpPolicy>().expect_err("case matters");
        assert_eq!(
            err.to_string(),
            "ip_policy must be \"enforce\" or \"report\", got \"Enforce\""
        );
    }
}
