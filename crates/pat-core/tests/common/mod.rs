//! The harness the service tests share: a `PatService` over the memory store with a
//! manual clock and a recording notifier, and helpers that say what a test does.

#![allow(dead_code, unused_imports, clippy::unwrap_used)] // each test binary uses part of it

pub use std::future::Future;
pub use std::net::{IpAddr, Ipv4Addr};
pub use std::sync::Arc;

pub use chrono::{DateTime, Duration, TimeZone, Utc};
pub use pat_core::model::{
    Actor, AuditAction, AuditQuery, AuthFailure, DeliveryStatus, NoticeKind, PageRequest,
    RevocationReason, Role, StatusFilter, TokenStatus, User,
};
pub use pat_core::policy::{NameError, Settings};
pub use pat_core::ports::RecordingNotifier;
pub use pat_core::ports::{ManualClock, NotifyError, TokenStore};
pub use pat_core::scope::{ResourceCatalog, ScopeError};
pub use pat_core::{
    AddScopesError, AuthError, CreateTokenError, CreateTokenRequest, Denied, Escalation,
    IssuedToken, ListTokensRequest, NewUser, PatService, QueryError, RegenerateError, ScopesError,
    ServerKey, SettingsChangeError, TokenChangeError, UserChangeError, UserError,
};
pub use pat_store_memory::MemoryStore;
pub use rand::SeedableRng;
pub use rand::rngs::StdRng;

pub fn run<F: Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

pub struct Harness {
    pub service: PatService,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub notifier: Arc<RecordingNotifier>,
    pub admin: Actor,
}

pub const IP: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));

impl Harness {
    pub fn new() -> Self {
        Self::with_catalog(ResourceCatalog::open())
    }

    pub fn with_catalog(catalog: ResourceCatalog) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(start()));
        let notifier = Arc::new(RecordingNotifier::default());
        let service = PatService::builder()
            .storage(pat_core::ports::Storage::from_store(store.clone()))
            .notifier(notifier.clone())
            .clock(clock.clone())
            .rng(StdRng::seed_from_u64(7))
            .server_key(ServerKey::new(vec![42; 32]).expect("key"))
            .catalog(catalog)
            .build()
            .expect("complete builder");
        let admin_user = run(service.create_user(
            None,
            NewUser {
                email: "admin@example.com".into(),
                name: "Admin".into(),
                role: Role::Admin,
            },
            None,
        ))
        .expect("admin");
        Self {
            service,
            store,
            clock,
            notifier,
            admin: Actor::session(admin_user, IP),
        }
    }

    pub fn user(&self, email: &str, role: Role) -> Actor {
        let user = run(self.service.create_user(
            Some(&self.admin),
            NewUser {
                email: email.into(),
                name: email.into(),
                role,
            },
            None,
        ))
        .expect("new user");
        Actor::session(user, IP)
    }

    pub fn member(&self) -> Actor {
        self.user("member@example.com", Role::Member)
    }

    pub fn create(
        &self,
        actor: &Actor,
        name: &str,
        days: i64,
        scopes: &[&str],
    ) -> Result<IssuedToken, CreateTokenError> {
        run(self.service.create_token(
            actor,
            CreateTokenRequest {
                name: name.into(),
                description: String::new(),
                expires_in_days: days,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            },
        ))
    }

    pub fn issue(&self, actor: &Actor, name: &str, scopes: &[&str]) -> IssuedToken {
        self.create(actor, name, 30, scopes).expect("token created")
    }

    pub fn auth(&self, issued: &IssuedToken) -> Result<pat_core::model::Principal, AuthError> {
        run(self.service.authenticate(issued.secret.expose(), IP))
    }

    pub fn as_pat(&self, issued: &IssuedToken) -> Actor {
        Actor::from_principal(&self.auth(issued).expect("token authenticates"), IP)
    }

    pub fn set(&self, change: impl FnOnce(&mut Settings)) {
        let mut settings = run(self.service.current_settings()).expect("settings");
        change(&mut settings);
        run(self.service.update_settings(&self.admin, settings)).expect("settings saved");
    }

    pub fn list(&self, actor: &Actor, status: StatusFilter) -> Vec<String> {
        let page = run(self.service.list_tokens(
            actor,
            ListTokensRequest {
                status,
                ..Default::default()
            },
        ))
        .expect("list");
        page.items
            .iter()
            .map(|t| t.name.as_str().to_owned())
            .collect()
    }

    pub fn actions(&self) -> Vec<AuditAction> {
        let page = run(self.service.audit_log(
            &self.admin,
            AuditQuery {
                page: PageRequest::new(1, 100).expect("page"),
                ..Default::default()
            },
        ))
        .expect("audit");
        page.items.into_iter().rev().map(|e| e.action).collect()
    }
}
