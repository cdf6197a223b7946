//! `UserDirectory`, `SettingsStore` and `AuditLog` in memory.

use super::*;

#[async_trait]
impl UserDirectory for MemoryStore {
    async fn insert(
        &self,
        user: &User,
        password_hash: Option<&str>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        let email = user.email.to_lowercase();
        if state
            .users
            .values()
            .any(|u| u.user.email.to_lowercase() == email)
        {
            return Err(StoreError::DuplicateEmail);
        }
        state.users.insert(
            user.id,
            UserCredentials {
                user: user.clone(),
                password_hash: password_hash.map(str::to_owned),
            },
        );
        state.write_journal(journal);
        Ok(())
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.read().users.get(&id).map(|c| c.user.clone()))
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<UserCredentials>, StoreError> {
        let email = email.trim().to_lowercase();
        Ok(self
            .read()
            .users
            .values()
            .find(|c| c.user.email.to_lowercase() == email)
            .cloned())
    }

    async fn update(
        &self,
        id: UserId,
        role: Option<Role>,
        active: Option<bool>,
        journal: &Journal,
    ) -> Result<User, StoreError> {
        let mut state = self.write();
        let entry = state.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        if let Some(role) = role {
            entry.user.role = role;
        }
        if let Some(active) = active {
            entry.user.active = active;
        }
        let user = entry.user.clone();
        state.write_journal(journal);
        Ok(user)
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        let entry = state.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        entry.password_hash = Some(password_hash.to_owned());
        state.sessions.retain(|_, s| s.user != id);
        state.spend_links_of(id, now);
        state.write_journal(journal);
        Ok(())
    }

    async fn list(&self, page: PageRequest) -> Result<Page<User>, StoreError> {
        let state = self.read();
        let mut users: Vec<&User> = state.users.values().map(|c| &c.user).collect();
        users.sort_by_key(|u| u.email.to_lowercase());
        Ok(page_of(users, page))
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        Ok(self
            .read()
            .users
            .values()
            .filter(|c| c.user.active && c.user.role == Role::Admin)
            .count() as u64)
    }
}

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn get(&self) -> Result<Settings, StoreError> {
        Ok(self.read().settings.unwrap_or_default())
    }

    async fn put(&self, settings: &Settings, journal: &Journal) -> Result<(), StoreError> {
        let mut state = self.write();
        state.settings = Some(*settings);
        state.write_journal(journal);
        Ok(())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.write().audit.push(event.clone());
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
        let state = self.read();
        let mut matching: Vec<&AuditEvent> = state
            .audit
            .iter()
            .filter(|e| query.token_id.is_none_or(|id| e.token_id == Some(id)))
            .filter(|e| query.owner.is_none_or(|owner| e.owner == Some(owner)))
            .filter(|e| {
                query
                    .action
                    .as_deref()
                    .is_none_or(|a| e.action.as_str() == a)
            })
            .collect();
        matching.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
        Ok(page_of(matching, query.page))
    }
}
