//! Randomness, time-ordered ids and audit events.

use super::*;

impl PatService {
    pub(super) fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomnessError> {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fill(buf)
    }

    pub(super) fn new_secret(&self) -> Result<TokenSecret, RandomnessError> {
        let mut body = zeroize::Zeroizing::new([0_u8; BODY_BYTES]);
        self.fill_random(body.as_mut())?;
        Ok(self.codec.encode(&body))
    }

    pub(super) fn new_uuid(&self, now: DateTime<Utc>) -> Result<Uuid, RandomnessError> {
        let mut random = [0_u8; 10];
        self.fill_random(&mut random)?;
        Ok(self.monotonic_uuid(now, &random))
    }

    /// UUID v7 that sorts after every id this service issued before, even within one
    /// millisecond, so "newest first" listings keep the order things happened in.
    pub(super) fn monotonic_uuid(&self, now: DateTime<Utc>, random: &[u8; 10]) -> Uuid {
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let candidate = uuid::Builder::from_unix_timestamp_millis(millis, random)
            .into_uuid()
            .as_u128();
        let mut last = self.last_id.lock().unwrap_or_else(PoisonError::into_inner);
        let next = if candidate > *last {
            candidate
        } else {
            uuid::Builder::from_u128(*last + 1)
                .with_version(uuid::Version::SortRand)
                .with_variant(uuid::Variant::RFC4122)
                .into_uuid()
                .as_u128()
        };
        *last = next;
        Uuid::from_u128(next)
    }

    /// The audit event of a change to `token` made by `actor`.
    pub(super) fn token_event(
        &self,
        actor: &Actor,
        at: DateTime<Utc>,
        action: AuditAction,
        token: &Token,
        detail: String,
    ) -> AuditEvent {
        self.event(
            at,
            action,
            Some(actor.user.id),
            Some(token.owner),
            Some(token.id),
            actor.ip,
            detail,
        )
    }

    /// An audit event with a fresh time-ordered id.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn event(
        &self,
        at: DateTime<Utc>,
        action: AuditAction,
        actor: Option<UserId>,
        owner: Option<UserId>,
        token_id: Option<TokenId>,
        ip: Option<IpAddr>,
        detail: String,
    ) -> AuditEvent {
        let mut random = [0_u8; 10];
        // An audit id needs uniqueness, not secrecy; fall back to the token id bits.
        if self.fill_random(&mut random).is_err() {
            random.copy_from_slice(&token_id.map(|t| t.0.into_bytes()).unwrap_or_default()[6..]);
        }
        AuditEvent {
            id: EventId(self.monotonic_uuid(at, &random)),
            at,
            action,
            actor,
            owner,
            token_id,
            ip,
            detail,
        }
    }
}
