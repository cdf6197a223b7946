//! What the token lists share with the admin pages: ids from paths, notices, status
//! tabs, paging.

use super::*;

/// Parses a token id from the path; any malformed id is simply not found.
pub fn token_id(raw: &str) -> Result<TokenId, WebError> {
    TokenId::from_str(raw).map_err(|_| WebError::Refused(ApiError::not_found()))
}

/// The confirmation text of a finished action, by the `done` query value.
pub fn notice(params: &HashMap<String, String>) -> Option<&'static str> {
    Some(match params.get("done")?.as_str() {
        "revoked" => "The token was revoked. Requests using it are refused from now on.",
        "deleted" => "The token was deleted.",
        "lifted" => {
            "The reuse revocation was lifted: the token is active with a new secret nobody has seen. Its owner was mailed and must regenerate it to use it again."
        }
        "deleted_all" => "All your tokens were deleted.",
        "scopes" => "The token's scopes were changed.",
        "settings" => "Settings saved.",
        "user_added" => "User added.",
        "user_updated" => "User updated.",
        "password_set" => "Password set. The user's sessions were signed out.",
        _ => return None,
    })
}

/// A status tab of the list.
pub struct Tab {
    /// Shown text.
    pub label: &'static str,
    /// Link.
    pub href: String,
    /// The tab being shown.
    pub current: bool,
}

/// The four status tabs, `current` marked, each linking to `href(status)`.
pub fn status_tabs(current: &str, href: impl Fn(&str) -> String) -> Vec<Tab> {
    [
        ("active", "Active"),
        ("expired", "Expired"),
        ("revoked", "Revoked"),
        ("all", "All"),
    ]
    .into_iter()
    .map(|(name, label)| Tab {
        label,
        href: href(name),
        current: name == current,
    })
    .collect()
}

/// The status filter of `?status=`, defaulting to active.
pub fn status_param(params: &HashMap<String, String>) -> (&'static str, StatusFilter) {
    match params.get("status").map(String::as_str) {
        Some("expired") => ("expired", StatusFilter::Only(TokenStatus::Expired)),
        Some("revoked") => ("revoked", StatusFilter::Only(TokenStatus::Revoked)),
        Some("all") => ("all", StatusFilter::All),
        _ => ("active", StatusFilter::Only(TokenStatus::Active)),
    }
}

/// `?page=`, defaulting to 1.
pub fn page_param(params: &HashMap<String, String>, size: u32) -> Result<PageRequest, WebError> {
    let number = params
        .get("page")
        .map_or(Ok(1), |p| p.parse::<u32>())
        .map_err(|_| {
            ApiError::unprocessable("invalid_page", "page must be a whole number from 1")
        })?;
    PageRequest::new(number, size)
        .map_err(|e| WebError::Refused(ApiError::unprocessable("invalid_page", e.to_string())))
}

/// Previous/next links of a paged list.
pub struct Pager {
    /// 1-based current page.
    pub page: u32,
    /// Pages in all (at least 1).
    pub pages: u32,
    /// Link to the previous page.
    pub prev: Option<String>,
    /// Link to the next page.
    pub next: Option<String>,
}

impl Pager {
    /// Links for `page` of `total` items, `href(n)` giving page n's address.
    pub fn new(page: u32, size: u32, total: u64, href: impl Fn(u32) -> String) -> Self {
        let pages = u32::try_from(total.div_ceil(u64::from(size)))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            page,
            pages,
            prev: (page > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
        }
    }
}

/// Percent-encodes a query value.
pub fn query_value(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}
