//! Scopes: what a token may do, as `resource:operation[:target,target]`.
//!
//! ```
//! use pat_core::scope::{ResourceCatalog, ScopeSpec};
//!
//! let catalog = ResourceCatalog::open();
//! let scope = ScopeSpec::parse("channels:publish:c1,c2", &catalog).unwrap();
//! assert!(scope.allows("channels", "publish", Some("c1")));
//! assert!(!scope.allows("channels", "publish", Some("c3")));
//! assert!(!scope.allows("channels", "subscribe", Some("c1")));
//! assert_eq!(scope.to_string(), "channels:publish:c1,c2");
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::model::ScopeId;

/// Most target ids one scope may name.
pub const MAX_TARGETS: usize = 100;
/// Longest target id.
pub const MAX_TARGET_LEN: usize = 128;
/// Resources every catalog contains: token management, introspection and admin.
pub const BUILT_IN_RESOURCES: [&str; 3] = ["tokens", "introspection", "admin"];

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Not two or three `:`-separated parts.
    #[error(
        "scope {got:?} is not of the form resource:operation or resource:operation:id,id \
         (e.g. \"jobs:list\", \"channels:publish:c1,c2\", \"*:*\")"
    )]
    Shape {
        /// The refused text.
        got: String,
    },
    /// The resource name does not match `[a-z][a-z0-9_-]{0,31}` or `*`.
    #[error(
        "scope resource {got:?} is invalid: use `*` or a name of 1 to 32 characters, a \
         lowercase letter followed by lowercase letters, digits, `_` or `-`"
    )]
    ResourceName {
        /// The refused resource.
        got: String,
    },
    /// The resource is well-formed but not in the configured catalog.
    #[error("scope resource {got:?} is not offered here; allowed resources: {allowed}")]
    UnknownResource {
        /// The refused resource.
        got: String,
        /// The catalog, comma-separated.
        allowed: String,
    },
    /// The operation is not one of the fixed set.
    #[error(
        "scope operation {got:?} is unknown; allowed: *, create, read, list, update, \
         delete, share, unshare, publish, subscribe"
    )]
    Operation {
        /// The refused operation.
        got: String,
    },
    /// A target id is empty, too long or has a character outside `[A-Za-z0-9._@-]`.
    #[error(
        "scope target {got:?} is invalid: ids are 1 to {MAX_TARGET_LEN} characters of \
         A-Z, a-z, 0-9, `.`, `_`, `@` or `-`, or `*` alone for any"
    )]
    Target {
        /// The refused target.
        got: String,
    },
    /// More than [`MAX_TARGETS`] target ids.
    #[error("a scope names at most {MAX_TARGETS} target ids, got {got}")]
    TooManyTargets {
        /// How many were given.
        got: usize,
    },
}

/// What a scope may do to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Create a resource.
    Create,
    /// Read one resource.
    Read,
    /// List resources.
    List,
    /// Change a resource.
    Update,
    /// Delete a resource.
    Delete,
    /// Share a resource with others.
    Share,
    /// Stop sharing a resource.
    Unshare,
    /// Publish to a resource (e.g. a channel).
    Publish,
    /// Subscribe to a resource.
    Subscribe,
}

impl Operation {
    /// Every operation, in catalog order.
    pub const ALL: [Operation; 9] = [
        Operation::Create,
        Operation::Read,
        Operation::List,
        Operation::Update,
        Operation::Delete,
        Operation::Share,
        Operation::Unshare,
        Operation::Publish,
        Operation::Subscribe,
    ];

    /// The text form, e.g. `list`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::List => "list",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Share => "share",
            Operation::Unshare => "unshare",
            Operation::Publish => "publish",
            Operation::Subscribe => "subscribe",
        }
    }
}

impl FromStr for Operation {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| ScopeError::Operation { got: s.to_owned() })
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which resources scopes may name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ResourceCatalog {
    /// Any well-formed resource name.
    #[default]
    Open,
    /// Only these names (the built-in ones are always added).
    Listed(BTreeSet<String>),
}

impl ResourceCatalog {
    /// A catalog accepting any well-formed resource name.
    pub fn open() -> Self {
        Self::Open
    }

    /// A catalog of exactly these names plus [`BUILT_IN_RESOURCES`].
    ///
    /// # Errors
    /// [`ScopeError::ResourceName`] for a name that is not well-formed.
    pub fn listed<I, S>(names: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set: BTreeSet<String> =
            BUILT_IN_RESOURCES.iter().map(|s| (*s).to_owned()).collect();
        for name in names {
            let name = name.as_ref().trim();
            if !is_resource_name(name) {
                return Err(ScopeError::ResourceName {
                    got: name.to_owned(),
                });
            }
            set.insert(name.to_owned());
        }
        Ok(Self::Listed(set))
    }

    /// The listed names, or `None` for an open catalog.
    pub fn names(&self) -> Option<impl Iterator<Item = &str>> {
        match self {
            Self::Open => None,
            Self::Listed(set) => Some(set.iter().map(String::as_str)),
        }
    }

    fn check(&self, resource: &str) -> Result<(), ScopeError> {
        if !is_resource_name(resource) {
            return Err(ScopeError::ResourceName {
                got: resource.to_owned(),
            });
        }
        match self {
            Self::Open => Ok(()),
            Self::Listed(set) if set.contains(resource) => Ok(()),
            Self::Listed(set) => Err(ScopeError::UnknownResource {
                got: resource.to_owned(),
                allowed: set
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

fn is_resource_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=32).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

fn is_target_id(id: &str) -> bool {
    (1..=MAX_TARGET_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// Which instances of a resource a scope covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Targets {
    /// Every instance (`*`, or no third part).
    Any,
    /// Only these ids (sorted, without duplicates, 1..=100 of them).
    Ids(Vec<String>),
}

impl Targets {
    /// True when `self` covers every target `other` covers.
    pub fn covers(&self, other: &Targets) -> bool {
        match (self, other) {
            (Targets::Any, _) => true,
            (Targets::Ids(_), Targets::Any) => false,
            (Targets::Ids(mine), Targets::Ids(theirs)) => {
                theirs.iter().all(|t| mine.binary_search(t).is_ok())
            }
        }
    }

    /// The text list: `["*"]` or the ids.
    pub fn to_strings(&self) -> Vec<String> {
        match self {
            Targets::Any => vec!["*".to_owned()],
            Targets::Ids(ids) => ids.clone(),
        }
    }
}

/// A validated scope without an id yet: what a request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeSpec {
    resource: Option<String>,
    operation: Option<Operation>,
    targets: Targets,
}

impl ScopeSpec {
    /// Parses the text form and checks the resource against `catalog`.
    ///
    /// # Errors
    /// [`ScopeError`] saying which part is wrong and what is allowed.
    pub fn parse(text: &str, catalog: &ResourceCatalog) -> Result<Self, ScopeError> {
        let trimmed = text.trim();
        let mut parts = trimmed.splitn(3, ':');
        let (Some(resource), Some(operation)) = (parts.next(), parts.next()) else {
            return Err(ScopeError::Shape {
                got: text.to_owned(),
            });
        };
        let targets = parts.next();
        let resource = if resource == "*" {
            None
        } else {
            catalog.check(resource)?;
            Some(resource.to_owned())
        };
        let operation = if operation == "*" {
            None
        } else {
            Some(operation.parse()?)
        };
        let targets = match targets {
            None | Some("*") => Targets::Any,
            Some(list) => {
                let ids: BTreeSet<&str> = list.split(',').collect();
                if let Some(bad) = ids.iter().find(|id| !is_target_id(id)) {
                    return Err(ScopeError::Target {
                        got: (*bad).to_owned(),
                    });
                }
                if ids.len() > MAX_TARGETS {
                    return Err(ScopeError::TooManyTargets { got: ids.len() });
                }
                Targets::Ids(ids.into_iter().map(str::to_owned).collect())
            }
        };
        Ok(Self {
            resource,
            operation,
            targets,
        })
    }

    /// Full access as the user: `*:*`.
    pub fn full_access() -> Self {
        Self {
            resource: None,
            operation: None,
            targets: Targets::Any,
        }
    }

    /// The resource, or `None` for `*`.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The operation, or `None` for `*`.
    pub fn operation(&self) -> Option<Operation> {
        self.operation
    }

    /// The targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Deny-by-default check: does this scope permit `operation` on `resource`
    /// (and on `target`, when the request names one)?
    ///
    /// A scope limited to ids permits nothing when no target is named.
    pub fn allows(&self, resource: &str, operation: &str, target: Option<&str>) -> bool {
        let resource_ok = self.resource.as_deref().is_none_or(|r| r == resource);
        let operation_ok = self.operation.is_none_or(|op| op.as_str() == operation);
        let target_ok = match (&self.targets, target) {
            (Targets::Any, _) => true,
            (Targets::Ids(_), None) => false,
            (Targets::Ids(ids), Some(t)) => ids.binary_search_by(|id| id.as_str().cmp(t)).is_ok(),
        };
        resource_ok && operation_ok && target_ok
    }

    /// True when this scope permits everything `other` permits (no escalation).
    pub fn covers(&self, other: &ScopeSpec) -> bool {
        let resource_ok = match (&self.resource, &other.resource) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => mine == theirs,
        };
        let operation_ok = match (self.operation, other.operation) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => mine == theirs,
        };
        resource_ok && operation_ok && self.targets.covers(&other.targets)
    }
}

impl fmt::Display for ScopeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.resource.as_deref().unwrap_or("*"))?;
        f.write_str(":")?;
        match self.operation {
            Some(op) => f.write_str(op.as_str())?,
            None => f.write_str("*")?,
        }
        if let Targets::Ids(ids) = &self.targets {
            write!(f, ":{}", ids.join(","))?;
        }
        Ok(())
    }
}

/// A scope granted to a token, with its own id so it can be removed alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The scope's id.
    pub id: ScopeId,
    /// What it grants.
    pub spec: ScopeSpec,
}

impl Scope {
    /// See [`ScopeSpec::allows`].
    pub fn allows(&self, resource: &str, operation: &str, target: Option<&str>) -> bool {
        self.spec.allows(resource, operation, target)
    }
}

/// True when any scope in `scopes` permits the request (deny-by-default).
pub fn any_allows(scopes: &[Scope], resource: &str, operation: &str, target: Option<&str>) -> bool {
    scopes.iter().any(|s| s.allows(resource, operation, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ScopeSpec, ScopeError> {
        ScopeSpec::parse(text, &ResourceCatalog::open())
    }

    #[test]
    fn text_forms_round_trip() {
        for text in [
            "jobs:list",
            "channels:publish:c1,c2",
            "*:*",
            "*:read",
            "jobs:*:j-1",
        ] {
            assert_eq!(parse(text).expect(text).to_string(), text);
        }
        assert_eq!(parse("jobs:list:*").expect("any").to_string(), "jobs:list");
        assert_eq!(
            parse("c:read:b,a,b").expect("dedup").to_string(),
            "c:read:a,b"
        );
    }

    #[test]
    fn each_bad_part_is_named() {
        assert!(matches!(parse("jobs"), Err(ScopeError::Shape { .. })));
        assert!(matches!(parse(""), Err(ScopeError::Shape { .. })));
        assert!(matches!(
            parse("Jobs:list"),
            Err(ScopeError::ResourceName { .. })
        ));
        assert!(matches!(
            parse(":list"),
            Err(ScopeError::ResourceName { .. })
        ));
        assert!(matches!(
            parse("jobs:fly"),
            Err(ScopeError::Operation { .. })
        ));
        assert!(matches!(
            parse("jobs:list:"),
            Err(ScopeError::Target { .. })
        ));
        assert!(matches!(
            parse("jobs:list:a,,b"),
            Err(ScopeError::Target { .. })
        ));
        assert!(matches!(
            parse("jobs:list:a b"),
            Err(ScopeError::Target { .. })
        ));
        let many = (0..101)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            parse(&format!("jobs:list:{many}")).unwrap_err(),
            ScopeError::TooManyTargets { got: 101 }
        );
        let message = parse("jobs:fly").unwrap_err().to_string();
        assert!(message.contains("publish"), "{message}");
    }

    #[test]
    fn listed_catalog_refuses_other_resources() {
        let catalog = ResourceCatalog::listed(["jobs"]).expect("valid names");
        assert!(ScopeSpec::parse("jobs:list", &catalog).is_ok());
        assert!(ScopeSpec::parse("tokens:create", &catalog).is_ok());
        assert!(ScopeSpec::parse("*:*", &catalog).is_ok());
        let err = ScopeSpec::parse("files:read", &catalog).unwrap_err();
        assert!(matches!(err, ScopeError::UnknownResource { .. }));
        assert!(err.to_string().contains("jobs"), "{err}");
        assert!(ResourceCatalog::listed(["Bad Name"]).is_err());
    }

    #[test]
    fn allows_is_deny_by_default() {
        let s = parse("jobs:list").expect("valid");
        assert!(s.allows("jobs", "list", None));
        assert!(s.allows("jobs", "list", Some("any")));
        assert!(!s.allows("jobs", "read", None));
        assert!(!s.allows("files", "list", None));
        let t = parse("channels:publish:c1").expect("valid");
        assert!(t.allows("channels", "publish", Some("c1")));
        assert!(!t.allows("channels", "publish", Some("c2")));
        assert!(!t.allows("channels", "publish", None));
        let all = parse("*:*").expect("valid");
        assert!(all.allows("anything", "delete", Some("x")));
        assert!(!any_allows(&[], "jobs", "list", None));
    }

    #[test]
    fn covers_forbids_escalation() {
        let full = ScopeSpec::full_access();
        let jobs = parse("jobs:*").expect("valid");
        let list = parse("jobs:list").expect("valid");
        let list_a = parse("jobs:list:a").expect("valid");
        let list_ab = parse("jobs:list:a,b").expect("valid");
        assert!(full.covers(&jobs) && jobs.covers(&list) && list.covers(&list_a));
        assert!(list_ab.covers(&list_a));
        assert!(!list_a.covers(&list_ab));
        assert!(!list_a.covers(&list));
        assert!(!list.covers(&jobs));
        assert!(!jobs.covers(&full));
        assert!(!parse("files:*").expect("valid").covers(&list));
    }
}
