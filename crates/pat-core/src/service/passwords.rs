//! Passwords people can change: their own (with the current one, from a session), an
//! admin's reset, and one-time set-password links. Every change ends sessions: the
//! user's others for their own change, all of them otherwise.

use super::*;
use crate::policy::check_password;
use crate::ports::{PasswordLink, Redemption};
use crate::session::{PASSWORD_LINK_LIFETIME, SecretDigest, SessionSecret, well_formed};

impl PatService {
    /// Checks `password` by the rules for the account with `email`, then hashes it:
    /// what a new user's password goes through.
    ///
    /// # Errors
    /// `Weak` naming the rule; `Hashing` (busy).
    pub async fn hash_new_password(
        &self,
        password: &str,
        email: &str,
    ) -> Result<String, PasswordChangeError> {
        check_password(password, email)?;
        Ok(self.password_hasher()?.hash(password).await?)
    }

    /// The user whose password `actor` (an admin; `None` for the CLI) sets.
    async fn password_target(
        &self,
        actor: Option<&Actor>,
        id: UserId,
    ) -> Result<User, PasswordChangeError> {
        if let Some(actor) = actor {
            require_admin(actor, "update")?;
            if actor.user.id == id {
                return Err(Denied::OwnPassword.into());
            }
        }
        self.users
            .get(id)
            .await?
            .ok_or(PasswordChangeError::NotFound)
    }

    fn password_event(&self, actor: Option<&Actor>, user: UserId, how: &str) -> AuditEvent {
        self.event(
            self.clock.now(),
            AuditAction::PasswordChanged,
            actor.map(|a| a.user.id),
            Some(user),
            None,
            actor.and_then(|a| a.ip),
            format!("by={how}"),
        )
    }

    /// Changes the session user's own password, given the current one. Every session of
    /// the user ends, this one included, and a new session is started in its place (a
    /// cookie stolen before the change is worthless after it). Attempts are counted per
    /// user like sign-ins, so a session cannot guess the current password at leisure. A
    /// wrong current password costs the same work as a right one (the new one is hashed
    /// either way), so timing does not tell them apart.
    ///
    /// # Errors
    /// `Weak` for a new password that breaks a rule (checked first, before any work);
    /// `InvalidPassword` for a wrong current password; `RateLimited`; `Hashing` (busy).
    pub async fn change_own_password(
        &self,
        session: &LiveSession,
        current: &str,
        new: &str,
        ip: Option<IpAddr>,
    ) -> Result<SignedIn, PasswordChangeError> {
        let user = &session.user;
        check_password(new, &user.email)?;
        let limit = crate::limits::SharedLimit {
            name: "password_change",
            max: self.session_limits.sign_ins_per_minute,
            window: std::time::Duration::from_secs(60),
        };
        self.count_attempt_of(limit, &format!("password_change:{}", user.id))
            .await?;
        if current.chars().count() > crate::policy::MAX_PASSWORD_CHARS {
            return Err(PasswordChangeError::InvalidPassword);
        }
        let stored = self.users.find_by_email(&user.email).await?;
        let stored_hash = stored
            .as_ref()
            .filter(|s| s.user.id == user.id)
            .and_then(|s| s.password_hash.as_deref());
        let hasher = self.password_hasher()?;
        let matches = hasher.verify(current, stored_hash).await?;
        let new_hash = hasher.hash(new).await?;
        if !matches || stored_hash.is_none() {
            return Err(PasswordChangeError::InvalidPassword);
        }
        let actor = session.actor(ip);
        let journal = Journal::of(self.password_event(Some(&actor), user.id, "self"));
        self.users
            .set_password_hash(user.id, &new_hash, self.clock.now(), &journal)
            .await?;
        self.start_session(user.clone(), &new_hash)
            .await
            .map_err(PasswordChangeError::from)?
            .ok_or(PasswordChangeError::InvalidPassword)
    }

    /// Sets another user's password (admins; `None` for the trusted CLI path), ending
    /// all their sessions and spending their set-password links. Admins change their
    /// own password with the current one ([`PatService::change_own_password`]).
    ///
    /// # Errors
    /// `Denied` (also for an admin's own account), `NotFound`, `Weak`, `Hashing` (busy).
    pub async fn set_user_password(
        &self,
        actor: Option<&Actor>,
        id: UserId,
        new: &str,
    ) -> Result<User, PasswordChangeError> {
        let user = self.password_target(actor, id).await?;
        let hash = self.hash_new_password(new, &user.email).await?;
        let journal = Journal::of(self.password_event(actor, id, "admin"));
        self.users
            .set_password_hash(id, &hash, self.clock.now(), &journal)
            .await?;
        Ok(user)
    }

    /// Issues a one-time set-password link secret for a user (admins; `None` for the
    /// CLI path): usable once, for [`PASSWORD_LINK_LIFETIME`]. The store keeps only its
    /// digest.
    ///
    /// # Errors
    /// `Denied`, `NotFound`, randomness and storage failures.
    pub async fn issue_password_link(
        &self,
        actor: Option<&Actor>,
        id: UserId,
    ) -> Result<(User, SessionSecret), PasswordChangeError> {
        let user = self.password_target(actor, id).await?;
        let secret = self.new_session_secret()?;
        let now = self.clock.now();
        let link = PasswordLink {
            digest: secret.digest(),
            user: id,
            created_at: now,
            expires_at: now
                + chrono::Duration::from_std(PASSWORD_LINK_LIFETIME).unwrap_or_default(),
            used_at: None,
        };
        let journal = Journal::of(self.event(
            now,
            AuditAction::PasswordLinkIssued,
            actor.map(|a| a.user.id),
            Some(id),
            None,
            actor.and_then(|a| a.ip),
            String::new(),
        ));
        self.password_links.insert_link(&link, &journal).await?;
        Ok((user, secret))
    }

    /// The user a set-password link is for, while it can still be used (the page that
    /// asks for the new password).
    ///
    /// # Errors
    /// `UnknownLink`, `SpentLink` (used or expired), storage failures.
    pub async fn password_link_user(&self, secret: &str) -> Result<User, PasswordChangeError> {
        let link = self.usable_link(secret).await?;
        self.users
            .get(link.user)
            .await?
            .ok_or(PasswordChangeError::UnknownLink)
    }

    async fn usable_link(&self, secret: &str) -> Result<PasswordLink, PasswordChangeError> {
        if !well_formed(secret) {
            return Err(PasswordChangeError::UnknownLink);
        }
        let link = self
            .password_links
            .find_link(&SecretDigest::of(secret))
            .await?
            .ok_or(PasswordChangeError::UnknownLink)?;
        if link.used_at.is_some() || link.expires_at <= self.clock.now() {
            return Err(PasswordChangeError::SpentLink);
        }
        Ok(link)
    }

    /// Sets a password through a one-time link: the link is used up, the password set
    /// and the user's sessions ended in one atomic step. A weak password leaves the link
    /// usable.
    ///
    /// # Errors
    /// `UnknownLink`, `SpentLink` (used, also by a concurrent call, or expired), `Weak`,
    /// `Hashing` (busy).
    pub async fn set_password_with_link(
        &self,
        secret: &str,
        new: &str,
    ) -> Result<User, PasswordChangeError> {
        let user = self.password_link_user(secret).await?;
        let hash = self.hash_new_password(new, &user.email).await?;
        let journal = Journal::of(self.password_event(None, user.id, "link"));
        let now = self.clock.now();
        match self
            .password_links
            .redeem_link(&SecretDigest::of(secret), &hash, now, &journal)
            .await?
        {
            Redemption::Done(_) => Ok(user),
            Redemption::Unknown => Err(PasswordChangeError::UnknownLink),
            Redemption::Spent => Err(PasswordChangeError::SpentLink),
        }
    }
}
