//! # pat-core
//!
//! The pure domain of personal access tokens: the token format and its keyed hashing,
//! scopes, the policy (lifetime cap, active limit, roles, the admin switch, no
//! escalation), the ports a host plugs adapters into, and [`PatService`], which runs
//! every use case over them. No I/O happens here.
//!
//! ```
//! use std::sync::Arc;
//! use pat_core::{model::{Actor, Role, User, UserId}, CreateTokenRequest, PatService, ServerKey};
//! # use pat_store_memory::MemoryStore;
//! # pollster::block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let service = PatService::builder()
//!     .storage(pat_core::ports::Storage::from_store(store))
//!     .notifier(Arc::new(pat_core::ports::RecordingNotifier::default()))
//!     .rng(rand::rngs::SysRng)
//!     .server_key(ServerKey::new(vec![7; 32]).unwrap())
//!     .build()
//!     .unwrap();
//! let alice = service
//!     .create_user(None, pat_core::NewUser { email: "alice@example.com".into(), name: "Alice".into(), role: Role::Member }, None)
//!     .await
//!     .unwrap();
//! let issued = service
//!     .create_token(&Actor::session(alice, None), CreateTokenRequest {
//!         name: "ci".into(),
//!         expires_in_days: 30,
//!         scopes: vec!["jobs:list".into()],
//!         ..Default::default()
//!     })
//!     .await
//!     .unwrap();
//! let principal = service.authenticate(issued.secret.expose(), None).await.unwrap();
//! assert!(principal.allows("jobs", "list", None));
//! assert!(!principal.allows("jobs", "delete", None));
//! # });
//! ```

pub mod allowlist;
pub mod cache;
pub mod limits;
pub mod model;
pub mod policy;
pub mod ports;
pub mod scope;
pub mod service;
pub mod session;
pub mod token;

pub use service::{
    AddScopesError, AuthError, BuildError, CreateTokenError, CreateTokenRequest, CreationAllowance,
    DEFAULT_FAILED_AUTHS_PER_MINUTE, DEFAULT_ROTATION_DAYS, Denied, Escalation, InternalError,
    Introspection, IssuedToken, LimitError, ListTokensRequest, LiveSession, NewUser,
    PasswordChangeError, PatService, PatServiceBuilder, QueryError, RandomnessError,
    RegenerateError, ReminderRun, ScopesError, SettingsChangeError, SignInError, SignedIn,
    TokenChangeError, UserChangeError, UserError,
};
pub use token::{ServerKey, TokenCodec, TokenSecret};
