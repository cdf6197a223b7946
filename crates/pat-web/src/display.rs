//! How the pages show domain values: dates, relative days, token rows, the scope picker.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use pat_core::model::{RevocationReason, Role, Token, TokenStatus};
use pat_core::scope::{BUILT_IN_RESOURCES, Operation, ResourceCatalog};

/// A moment as pages show it: a short UTC date-time and the exact RFC 3339 value for
/// `<time datetime>`.
#[derive(Debug, Clone)]
pub struct Moment {
    /// `2026-11-23 14:05 UTC`.
    pub text: String,
    /// `2026-11-23T14:05:09Z`.
    pub iso: String,
}

impl Moment {
    /// The moment `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            text: at.format("%Y-%m-%d %H:%M UTC").to_string(),
            iso: at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// "in N days", "today" or "expired N days ago" for an expiry at `at`, seen at `now`.
pub fn expiry_phrase(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    if seconds > 0 {
        let whole = seconds / 86_400;
        if whole == 0 {
            "today".to_owned()
        } else {
            format!("in {}", days(whole))
        }
    } else {
        let whole = -seconds / 86_400;
        if whole == 0 {
            "expired today".to_owned()
        } else {
            format!("expired {} ago", days(whole))
        }
    }
}

/// "today" or "N days ago" for a past moment.
pub fn ago_phrase(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let whole = (now - at).num_seconds().max(0) / 86_400;
    if whole == 0 {
        "today".to_owned()
    } else {
        format!("{} ago", days(whole))
    }
}

/// One token as the list and the token page show it.
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
    /// Scopes: id and text.
    pub scopes: Vec<(String, String)>,
    /// Created.
    pub created: Moment,
    /// Last changed.
    pub updated: Moment,
    /// Expiry of the current secret.
    pub expires: Moment,
    /// "in N days" / "expired N days ago".
    pub expires_phrase: String,
    /// Revoked, if it is.
    pub revoked: Option<Moment>,
    /// Who or what revoked it, in words ("by you", "after a leak report").
    pub revoked_by: Option<&'static str>,
    /// Whether its owner may give it a new secret (the API's rule).
    pub may_be_regenerated: bool,
    /// Last use and how long ago, if ever used.
    pub last_used: Option<(Moment, String)>,
    /// Client address of the last use.
    pub last_used_ip: String,
    /// Last 4 characters of the secret.
    pub hint: String,
    /// 1 plus one per regeneration.
    pub generation: u32,
    /// Until when the previous secret still works (a grace period), if it does.
    pub previous_secret_until: Option<Moment>,
    /// When a secret rotated away was last used after its grace period, if since the
    /// last regeneration.
    pub reuse_detected: Option<Moment>,
    /// Revoked because a secret rotated away was used again.
    pub revoked_for_reuse: bool,
}

impl TokenRow {
    /// The row for `token` at `now`.
    pub fn new(token: &Token, now: DateTime<Utc>) -> Self {
        Self {
            id: token.id.to_string(),
            name: token.name.as_str().to_owned(),
            description: token.description.as_str().to_owned(),
            status: status_name(token.status(now)),
            scopes: token
                .scopes
                .iter()
                .map(|s| (s.id.to_string(), s.spec.to_string()))
                .collect(),
            created: Moment::new(token.created_at),
            updated: Moment::new(token.updated_at),
            expires: Moment::new(token.expires_at),
            expires_phrase: expiry_phrase(token.expires_at, now),
            revoked: token.revoked_at.map(Moment::new),
            revoked_by: token.revoked_reason.map(|reason| match reason {
                RevocationReason::Owner => "by you",
                RevocationReason::Admin => "by an administrator",
                RevocationReason::LeakReport => "after a leak report",
                RevocationReason::ReuseDetected => "after a retired secret was used again",
            }),
            may_be_regenerated: token.may_be_regenerated(),
            last_used: token
                .last_used_at
                .map(|at| (Moment::new(at), ago_phrase(at, now))),
            last_used_ip: token
                .last_used_ip
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            hint: token.hint.clone(),
            generation: token.generation,
            previous_secret_until: token.previous_secret_live_until(now).map(Moment::new),
            reuse_detected: token.reuse_detected_at.map(Moment::new),
            revoked_for_reuse: token.revoked_reason == Some(RevocationReason::ReuseDetected),
        }
    }

    /// Whether the token still authenticates.
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }

    /// Whether it was revoked.
    pub fn is_revoked(&self) -> bool {
        self.status == "revoked"
    }
}

/// The status name the pages and the API use.
pub fn status_name(status: TokenStatus) -> &'static str {
    match status {
        TokenStatus::Active => "active",
        TokenStatus::Expired => "expired",
        TokenStatus::Revoked => "revoked",
    }
}

/// One operation checkbox of the scope picker.
#[derive(Debug, Clone)]
pub struct OpChoice {
    /// The form value, e.g. `jobs:list` (or the operation alone in the custom row).
    pub value: String,
    /// The operation, or `any` for `*`.
    pub label: &'static str,
    /// Ticked (kept across a refused submit).
    pub checked: bool,
}

/// One resource of the scope picker: its operations and optional target ids.
#[derive(Debug, Clone)]
pub struct PickerRow {
    /// Resource name.
    pub resource: String,
    /// Operation checkboxes, `any` first.
    pub ops: Vec<OpChoice>,
    /// Comma-separated target ids (empty: any).
    pub ids: String,
}

/// The scope picker: "full access", one row per known resource and, for an open
/// catalog, one row for a resource named by hand.
#[derive(Debug, Clone)]
pub struct ScopePicker {
    /// "Full access" ticked.
    pub full_access: bool,
    /// Known resources.
    pub rows: Vec<PickerRow>,
    /// The hand-named resource row, when the catalog is open.
    pub custom: Option<PickerRow>,
}

fn operation_labels() -> impl Iterator<Item = &'static str> {
    std::iter::once("*").chain(Operation::ALL.iter().map(|op| op.as_str()))
}

fn label_of(op: &'static str) -> &'static str {
    if op == "*" { "any" } else { op }
}

/// What the scope picker form sent, kept to re-show it.
#[derive(Debug, Clone, Default)]
pub struct PickerInput {
    /// "Full access" ticked.
    pub full_access: bool,
    /// Ticked `resource:operation` values of the known rows.
    pub checked: BTreeSet<String>,
    /// Target ids by resource.
    pub ids: HashMap<String, String>,
    /// Hand-named resource.
    pub custom_resource: String,
    /// Ticked operations of the hand-named row.
    pub custom_ops: BTreeSet<String>,
    /// Target ids of the hand-named row.
    pub custom_ids: String,
}

impl PickerInput {
    /// The scope texts this input asks for, e.g. `["jobs:list", "jobs:read:7,9"]`.
    pub fn scope_texts(&self) -> Vec<String> {
        let mut texts = Vec::new();
        if self.full_access {
            texts.push("*:*".to_owned());
        }
        for value in &self.checked {
            let resource = value.split(':').next().unwrap_or_default();
            texts.push(with_ids(
                value,
                self.ids.get(resource).map_or("", String::as_str),
            ));
        }
        let custom = self.custom_resource.trim();
        if !custom.is_empty() {
            for op in &self.custom_ops {
                texts.push(with_ids(&format!("{custom}:{op}"), &self.custom_ids));
            }
        }
        texts
    }
}

/// `resource:operation` with `:id1,id2` appended when ids were given.
fn with_ids(scope: &str, ids: &str) -> String {
    let ids: Vec<&str> = ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    if ids.is_empty() {
        scope.to_owned()
    } else {
        format!("{scope}:{}", ids.join(","))
    }
}

impl ScopePicker {
    /// The picker for `role` over `catalog`, showing `input`.
    pub fn new(catalog: &ResourceCatalog, role: Role, input: &PickerInput) -> Self {
        let names: Vec<String> = match catalog.names() {
            Some(names) => names.map(str::to_owned).collect(),
            None => BUILT_IN_RESOURCES.iter().map(|s| (*s).to_owned()).collect(),
        };
        let rows = names
            .into_iter()
            .filter(|name| role == Role::Admin || name != "admin")
            .map(|resource| PickerRow {
                ops: operation_labels()
                    .map(|op| {
                        let value = format!("{resource}:{op}");
                        OpChoice {
                            checked: input.checked.contains(&value),
                            value,
                            label: label_of(op),
                        }
                    })
                    .collect(),
                ids: input.ids.get(&resource).cloned().unwrap_or_default(),
                resource,
            })
            .collect();
        let custom = matches!(catalog, ResourceCatalog::Open).then(|| PickerRow {
            resource: input.custom_resource.clone(),
            ops: operation_labels()
                .map(|op| OpChoice {
                    value: op.to_owned(),
                    label: label_of(op),
                    checked: input.custom_ops.contains(op),
                })
                .collect(),
            ids: input.custom_ids.clone(),
        });
        Self {
            full_access: input.full_access,
            rows,
            custom,
        }
    }
}

/// Every operation name with `*` first, for the add-scope select.
pub fn operation_options() -> Vec<(&'static str, &'static str)> {
    operation_labels().map(|op| (op, label_of(op))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn expiry_phrases_count_whole_days() {
        let now = Utc::now();
        assert_eq!(expiry_phrase(now + Duration::days(30), now), "in 30 days");
        assert_eq!(expiry_phrase(now + Duration::hours(36), now), "in 1 day");
        assert_eq!(expiry_phrase(now + Duration::hours(3), now), "today");
        assert_eq!(
            expiry_phrase(now - Duration::hours(3), now),
            "expired today"
        );
        assert_eq!(
            expiry_phrase(now - Duration::days(2), now),
            "expired 2 days ago"
        );
        assert_eq!(ago_phrase(now - Duration::days(1), now), "1 day ago");
    }

    #[test]
    fn picker_input_builds_scope_texts_with_ids() {
        let input = PickerInput {
            full_access: false,
            checked: ["jobs:list".to_owned(), "tokens:read".to_owned()].into(),
            ids: [("jobs".to_owned(), " 7, ,9 ".to_owned())].into(),
            custom_resource: "channels".to_owned(),
            custom_ops: ["publish".to_owned()].into(),
            custom_ids: "c1".to_owned(),
        };
        assert_eq!(
            input.scope_texts(),
            ["jobs:list:7,9", "tokens:read", "channels:publish:c1"]
        );
        let full = PickerInput {
            full_access: true,
            ..PickerInput::default()
        };
        assert_eq!(full.scope_texts(), ["*:*"]);
    }

    #[test]
    fn the_admin_resource_is_offered_to_admins_only() {
        let catalog = ResourceCatalog::open();
        let input = PickerInput::default();
        let member = ScopePicker::new(&catalog, Role::Member, &input);
        assert!(member.rows.iter().all(|r| r.resource != "admin"));
        assert!(member.custom.is_some());
        let admin = ScopePicker::new(&catalog, Role::Admin, &input);
        assert!(admin.rows.iter().any(|r| r.resource == "admin"));
    }
}
