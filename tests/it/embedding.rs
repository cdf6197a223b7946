//! A host picks its adapters at run time and holds them as `Arc<dyn …>`.

use std::sync::Arc;

use pat_core::model::{Actor, Role};
use pat_core::ports::Notifier;
use pat_core::ports::RecordingNotifier;
use pat_core::{AuthError, CreateTokenRequest, NewUser, PatService, ServerKey};
use pat_store_memory::MemoryStore;
use pat_testkit::Stores;

fn ports_chosen_at_run_time(kind: &str) -> Stores {
    match kind {
        "memory" => Stores::from_store(Arc::new(MemoryStore::new())),
        other => panic!("no adapter {other}"),
    }
}

#[test]
fn a_host_embeds_the_service_with_dyn_ports() {
    let notifier: Arc<dyn Notifier> = Arc::new(RecordingNotifier::default());
    let service = PatService::builder()
        .storage(ports_chosen_at_run_time("memory"))
        .notifier(notifier)
        .rng(rand::rngs::SysRng)
        .server_key(ServerKey::new(vec![9; 32]).expect("key"))
        .build()
        .expect("service");
    pollster::block_on(async {
        let user = service
            .create_user(
                None,
                NewUser {
                    email: "host@example.com".into(),
                    name: "Host".into(),
                    role: Role::Member,
                },
                None,
            )
            .await
            .expect("user");
        let actor = Actor::session(user.clone(), None);
        let issued = service
            .create_token(
                &actor,
                CreateTokenRequest {
                    name: "script".into(),
                    expires_in_days: 7,
                    scopes: vec!["jobs:list".into()],
                    ..Default::default()
                },
            )
            .await
            .expect("token");
        let principal = service
            .authenticate(issued.secret.expose(), None)
            .await
            .expect("valid");
        assert_eq!(principal.user, user);
        assert!(principal.allows("jobs", "list", None));
        service
            .revoke_token(&actor, issued.token.id)
            .await
            .expect("revoke");
        assert_eq!(
            service.authenticate(issued.secret.expose(), None).await,
            Err(AuthError::Revoked)
        );
    });
}
