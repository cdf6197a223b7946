//! Changes from the token page: scopes added and removed, deletes with their
//! confirmation pages.

use super::*;

/// `POST /tokens/{id}/scopes`: adds one scope from the add-scope form.
pub async fn add_scope(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let Posted { who, form } = posted;
    let resource = form.get("resource").trim();
    let operation = form.get("operation").trim();
    let ids: Vec<&str> = form
        .get("ids")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let scope = if form.checked("full_access") {
        "*:*".to_owned()
    } else if ids.is_empty() {
        format!("{resource}:{operation}")
    } else {
        format!("{resource}:{operation}:{}", ids.join(","))
    };
    match who.state.service.add_scopes(&who.actor, id, &[scope]).await {
        Ok(_) => Ok(see_other(&format!("/tokens/{id}?done=scopes"))),
        Err(err @ (AddScopesError::Scopes(_) | AddScopesError::Escalation(_))) => {
            let errors = TokenPageErrors {
                scope: Some(err.to_string()),
                ..TokenPageErrors::default()
            };
            token_page(
                &who,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                None,
                None,
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /tokens/{id}/scopes/{scope_id}/remove`.
pub async fn remove_scope(posted: Posted, path: Path<(String, String)>) -> PageResult {
    let (id, scope) = path.into_inner();
    let id = token_id(&id)?;
    let scope = ScopeId::from_str(&scope).map_err(|_| WebError::Refused(ApiError::not_found()))?;
    let who = posted.who;
    who.state
        .service
        .remove_scope(&who.actor, id, scope)
        .await?;
    Ok(see_other(&format!("/tokens/{id}?done=scopes")))
}

/// `POST /tokens/{id}/scopes/clear`: removes every scope (the token then allows
/// nothing until scopes are added).
pub async fn clear_scopes(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let who = posted.who;
    who.state.service.clear_scopes(&who.actor, id).await?;
    Ok(see_other(&format!("/tokens/{id}?done=scopes")))
}

/// A confirmation step for destructive actions, usable without JavaScript.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// Layout.
    pub chrome: Chrome,
    /// CSRF token for the form.
    pub csrf: String,
    /// What will happen.
    pub message: String,
    /// Where the form posts.
    pub action: String,
    /// The confirming button's text.
    pub button: &'static str,
    /// Where "Cancel" goes.
    pub cancel: String,
}

/// `GET /tokens/{id}/delete`: asks before deleting.
pub async fn confirm_delete(who: SignedIn, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let token = who.state.service.get_token(&who.actor, id).await?;
    ok(&ConfirmPage {
        chrome: who.chrome("Delete token"),
        csrf: who.csrf.clone(),
        message: format!(
            "Delete the token \u{201c}{}\u{201d}? Anything using it stops working, and its history is kept only in the audit log.",
            token.name.as_str()
        ),
        action: format!("/tokens/{id}/delete"),
        button: "Delete this token",
        cancel: format!("/tokens/{id}"),
    })
}

/// `POST /tokens/{id}/delete`.
pub async fn delete(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let who = posted.who;
    who.state.service.delete_token(&who.actor, id).await?;
    Ok(see_other("/tokens?status=all&done=deleted"))
}

/// `GET /tokens/delete-all`: asks before deleting every token.
pub async fn confirm_delete_all(who: SignedIn) -> PageResult {
    ok(&ConfirmPage {
        chrome: who.chrome("Delete all tokens"),
        csrf: who.csrf.clone(),
        message:
            "Delete all your personal access tokens? Everything using any of them stops working."
                .to_owned(),
        action: "/tokens/delete-all".to_owned(),
        button: "Delete all my tokens",
        cancel: "/tokens".to_owned(),
    })
}

/// `POST /tokens/delete-all`.
pub async fn delete_all(posted: Posted) -> PageResult {
    let who = posted.who;
    who.state.service.delete_all_tokens(&who.actor).await?;
    Ok(see_other("/tokens?status=all&done=deleted_all"))
}
