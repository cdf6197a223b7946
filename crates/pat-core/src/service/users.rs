//! Users: sign-in credentials, creation, role and active changes, listing.

use super::*;

impl PatService {
    /// A user by id (the admin pages name a user by id).
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.users.get(id).await
    }

    /// A user by email, ignoring case (the CLI names users by email).
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .users
            .find_by_email(email.trim())
            .await?
            .map(|c| c.user))
    }

    /// Whether `actor` may add users. Adapters ask before they hash the new user's
    /// password, so a caller who may not cannot make the server do that work.
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `MissingScope` for an admin's token without
    /// `admin:create`.
    pub fn may_create_users(&self, actor: &Actor) -> Result<(), Denied> {
        require_admin(actor, "create")
    }

    /// Adds a user (admins; or `None` for the trusted bootstrap/CLI path).
    ///
    /// # Errors
    /// `Forbidden`, `InvalidUser`, `DuplicateEmail`.
    pub async fn create_user(
        &self,
        actor: Option<&Actor>,
        new: NewUser,
        password_hash: Option<&str>,
    ) -> Result<User, UserChangeError> {
        if let Some(actor) = actor {
            require_admin(actor, "create")?;
        }
        let email = new.email.trim().to_owned();
        let valid_email = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            });
        if !valid_email {
            return Err(UserError::InvalidEmail(email).into());
        }
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(UserError::InvalidName.into());
        }
        let now = self.clock.now();
        let user = User {
            id: UserId(self.new_uuid(now)?),
            email,
            name,
            role: new.role,
            active: true,
        };
        let journal = Journal::of(self.event(
            now,
            AuditAction::UserCreated,
            actor.map(|a| a.user.id),
            Some(user.id),
            None,
            actor.and_then(|a| a.ip),
            format!("role={}", user.role),
        ));
        self.changing(self.users.insert(&user, password_hash, &journal))
            .await?;
        Ok(user)
    }

    /// Changes a user's role and/or active flag (admins; `None` for the CLI path).
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`, `InvalidUser` when it would leave no active admin.
    pub async fn update_user(
        &self,
        actor: Option<&Actor>,
        id: UserId,
        role: Option<Role>,
        active: Option<bool>,
    ) -> Result<User, UserChangeError> {
        if let Some(actor) = actor {
            require_admin(actor, "update")?;
        }
        let current = self.users.get(id).await?.ok_or(UserChangeError::NotFound)?;
        let demotes_admin = current.role == Role::Admin
            && current.active
            && (role.is_some_and(|r| r != Role::Admin) || active == Some(false));
        if demotes_admin && self.users.count_active_admins().await? <= 1 {
            return Err(UserError::LastAdmin.into());
        }
        let journal = Journal::of(self.event(
            self.clock.now(),
            AuditAction::UserUpdated,
            actor.map(|a| a.user.id),
            Some(id),
            None,
            actor.and_then(|a| a.ip),
            format!(
                "role={} active={}",
                role.unwrap_or(current.role),
                active.unwrap_or(current.active)
            ),
        ));
        let updated = self
            .changing(self.users.update(id, role, active, &journal))
            .await?;
        // A deactivation or a loss of rights ends the user's sessions: pages loaded
        // with the old rights stop working at once, on every instance.
        let demoted = rank(updated.role) < rank(current.role);
        if !updated.active || demoted {
            self.sessions.end_sessions_of(id, None).await?;
        }
        Ok(updated)
    }

    /// One page of users (admins; `None` for the CLI path).
    ///
    /// # Errors
    /// `Forbidden`.
    pub async fn list_users(
        &self,
        actor: Option<&Actor>,
        page: PageRequest,
    ) -> Result<Page<User>, QueryError> {
        if let Some(actor) = actor {
            require_admin(actor, "read")?;
        }
        Ok(self.users.list(page).await?)
    }
}

/// How much a role may do: admin over member over collaborator.
fn rank(role: Role) -> u8 {
    match role {
        Role::Admin => 2,
        Role::Member => 1,
        Role::Collaborator => 0,
    }
}
