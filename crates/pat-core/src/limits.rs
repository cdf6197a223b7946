//! Per-address limits: refusing a client address that keeps failing token
//! authentication ([`FailedAuthLimiter`], which [`crate::PatService::authenticate`]
//! applies itself, per instance: it guards the hot path), and the limits counted in the
//! store's fixed windows ([`SharedLimit`]: sign-ins and leak reports, shared by every
//! instance). IPv6 is counted by its /64 network. Memory stays bounded, and no request
//! ever scans a table.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A refusal by a limit: the whole seconds until a retry is accepted (never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests; retry after {seconds} seconds")]
pub struct RetryAfter {
    /// Seconds to wait, rounded up.
    pub seconds: u64,
}

/// Most client addresses (IPv4, or IPv6 /64 networks) each limiter tracks at once;
/// beyond it, the address whose window started longest ago is forgotten.
const MAX_TRACKED: usize = 100_000;

/// Counts failed token authentications per client address in fixed windows; an
/// address with `max` failures in its window is refused until the window ends.
///
/// Refusing is checked on every token authentication, so the check is one atomic load
/// while no address is refused; the lock is taken only on failures and while some
/// address is refused.
#[derive(Debug)]
pub struct FailedAuthLimiter {
    /// Failures allowed per window; 0 switches the limiter off.
    max: u32,
    window: Duration,
    /// Time zero for `refusing_until_ms`.
    origin: Instant,
    /// No address is refused at or after this many milliseconds since `origin`.
    refusing_until_ms: AtomicU64,
    /// Per address key: window start and failures in it.
    failures: Mutex<FixedWindows>,
}

impl FailedAuthLimiter {
    /// `max` failures per `window` per address (0: no limit).
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            origin: Instant::now(),
            refusing_until_ms: AtomicU64::new(0),
            failures: Mutex::new(FixedWindows::new(window, MAX_TRACKED)),
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether `ip` may try to authenticate now.
    ///
    /// # Errors
    /// [`RetryAfter`]: the seconds until the address's window ends.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), RetryAfter> {
        let Some(ip) = ip else { return Ok(()) };
        let now = Instant::now();
        if self.millis(now) >= self.refusing_until_ms.load(Ordering::Relaxed) {
            return Ok(());
        }
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match failures.get(limiter_key(ip)) {
            Some((start, count)) if self.max > 0 && count >= self.max => {
                let left = self.window.saturating_sub(now.duration_since(start));
                if left.is_zero() {
                    Ok(())
                } else {
                    // Whole seconds, rounded up: never invite a retry that is refused.
                    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                    Err(RetryAfter { seconds })
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts one failed authentication from `ip`; returns `true` when this failure
    /// used up the address's allowance (it is refused from now on, until its window
    /// ends).
    pub fn record_failure(&self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip else { return false };
        if self.max == 0 {
            return false;
        }
        let now = Instant::now();
        let (start, count) = self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hit(limiter_key(ip), now);
        if count == self.max {
            // +1: the window's end in whole milliseconds, rounded up.
            let until = self.millis(start + self.window).saturating_add(1);
            self.refusing_until_ms.fetch_max(until, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// A limit per client address counted in the store ([`crate::ports::AttemptCounter`]),
/// so every instance adds to one count: three instances allow what one does. A window
/// starts with an address's first attempt. For low-volume requests (sign-ins, leak
/// reports); each attempt is one store write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedLimit {
    /// Names the limit in the counter's keys (`sign_in`, `leak_report`).
    pub name: &'static str,
    /// Attempts allowed per window; 0 switches the limit off.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

impl SharedLimit {
    /// The counter's key for `ip`: the limit's name and the address (IPv6: its /64).
    pub fn key(&self, ip: IpAddr) -> String {
        format!("{}:{}", self.name, limiter_key(ip))
    }

    /// The window as a signed duration.
    pub fn span(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX)
    }

    /// Judges an attempt that made the count of the window started at `start` `count`.
    ///
    /// # Errors
    /// [`RetryAfter`] with the seconds until the window ends, once `count > max`.
    pub fn judge(
        &self,
        start: chrono::DateTime<chrono::Utc>,
        count: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), RetryAfter> {
        if self.max == 0 || count <= self.max {
            return Ok(());
        }
        let left_ms = u64::try_from((start + self.span() - now).num_milliseconds()).unwrap_or(0);
        Err(RetryAfter {
            seconds: left_ms.div_ceil(1000).max(1),
        })
    }
}

/// Counts per key in fixed windows, bounded in memory: at most `capacity` keys. When a
/// new key finds it full, the key whose window started longest ago is forgotten —
/// found at the front of a queue of window starts, so no request ever scans the map.
#[derive(Debug)]
struct FixedWindows {
    window: Duration,
    capacity: usize,
    counts: HashMap<IpAddr, (Instant, u32)>,
    /// Window starts, oldest first; an entry whose key has since started a newer
    /// window (or was forgotten) is stale and skipped.
    starts: VecDeque<(Instant, IpAddr)>,
}

impl FixedWindows {
    fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity: capacity.max(1),
            counts: HashMap::new(),
            starts: VecDeque::new(),
        }
    }

    /// Counts one hit of `key` at `now`; returns its window's start and count.
    fn hit(&mut self, key: IpAddr, now: Instant) -> (Instant, u32) {
        self.forget_ended(now);
        if !self.counts.contains_key(&key) && self.counts.len() >= self.capacity {
            self.forget_oldest();
        }
        let entry = self.counts.entry(key).or_insert((now, 0));
        if entry.1 == 0 || now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
            self.starts.push_back((now, key));
        }
        entry.1 = entry.1.saturating_add(1);
        *entry
    }

    /// The window start and count of `key`, if it is tracked.
    fn get(&self, key: IpAddr) -> Option<(Instant, u32)> {
        self.counts.get(&key).copied()
    }

    /// Keys tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.counts.len()
    }

    fn is_current(&self, start: Instant, key: IpAddr) -> bool {
        self.counts.get(&key).is_some_and(|(s, _)| *s == start)
    }

    /// Drops the keys whose window has ended (and stale queue entries before them).
    fn forget_ended(&mut self, now: Instant) {
        while let Some(&(start, key)) = self.starts.front() {
            let current = self.is_current(start, key);
            if current && now.duration_since(start) < self.window {
                return;
            }
            self.starts.pop_front();
            if current {
                self.counts.remove(&key);
            }
        }
    }

    /// Drops the key whose window started first.
    fn forget_oldest(&mut self) {
        while let Some((start, key)) = self.starts.pop_front() {
            if self.is_current(start, key) {
                self.counts.remove(&key);
                return;
            }
        }
    }
}

/// The address a limiter counts by: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its
/// /64 network, since one host usually holds a whole /64.
fn limiter_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn a_shared_limit_refuses_past_max_until_its_window_ends() {
        let limit = SharedLimit {
            name: "sign_in",
            max: 3,
            window: Duration::from_secs(60),
        };
        let start = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let now = start + chrono::Duration::seconds(15);
        assert_eq!(limit.judge(start, 3, now), Ok(()));
        assert_eq!(limit.judge(start, 4, now), Err(RetryAfter { seconds: 45 }));
        let v6: IpAddr = "2001:db8::1".parse().expect("ip");
        let same_64: IpAddr = "2001:db8::ffff".parse().expect("ip");
        assert_eq!(limit.key(v6), limit.key(same_64));
        let off = SharedLimit { max: 0, ..limit };
        assert_eq!(off.judge(start, 1000, now), Ok(()));
    }

    fn v4(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)))
    }

    fn retry_after(refusal: &RetryAfter) -> u64 {
        refusal.seconds
    }

    #[test]
    fn an_address_is_refused_after_max_failures_and_others_are_not() {
        let limiter = FailedAuthLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limiter.check(v4(1)).is_ok(), "under the limit");
            limiter.record_failure(v4(1));
        }
        let refused = limiter
            .check(v4(1))
            .expect_err("three failures in the window");
        let seconds = retry_after(&refused);
        assert!((59..=60).contains(&seconds), "{seconds}");
        assert!(
            limiter.check(v4(2)).is_ok(),
            "another address is not refused"
        );
        assert!(
            limiter.check(None).is_ok(),
            "no address: nothing to count by"
        );
        limiter.record_failure(v4(2));
        assert!(
            limiter.check(v4(2)).is_ok(),
            "one failure is under the limit"
        );
    }

    #[test]
    fn the_refusal_ends_with_the_window() {
        let limiter = FailedAuthLimiter::new(1, Duration::from_millis(40));
        limiter.record_failure(v4(1));
        assert_eq!(
            retry_after(&limiter.check(v4(1)).expect_err("refused")),
            1,
            "under a second left rounds up to 1"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.check(v4(1)).is_ok(), "the window has passed");
        limiter.record_failure(v4(1));
        assert!(limiter.check(v4(1)).is_err(), "a new window counts afresh");
    }

    #[test]
    fn no_refusal_is_checked_without_the_lock_and_zero_switches_it_off() {
        let limiter = FailedAuthLimiter::new(2, Duration::from_secs(60));
        limiter.record_failure(v4(1));
        assert_eq!(
            limiter.refusing_until_ms.load(Ordering::Relaxed),
            0,
            "nobody is refused yet: the fast path stays open"
        );
        limiter.record_failure(v4(1));
        assert!(limiter.refusing_until_ms.load(Ordering::Relaxed) > 0);

        let off = FailedAuthLimiter::new(0, Duration::from_secs(60));
        for _ in 0..10 {
            off.record_failure(v4(1));
        }
        assert!(off.check(v4(1)).is_ok());
    }

    #[test]
    fn ipv6_counts_by_its_64_network_and_mapped_ipv4_as_ipv4() {
        let limiter = FailedAuthLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("IPv6");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("IPv6");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("IPv6");
        limiter.record_failure(Some(a));
        limiter.record_failure(Some(b));
        assert!(limiter.check(Some(a)).is_err(), "same /64");
        assert!(limiter.check(Some(other)).is_ok(), "another /64");

        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("mapped");
        assert_eq!(limiter_key(mapped), v4(7).expect("v4"));
    }

    #[test]
    fn windows_stay_bounded_and_forget_the_oldest_first() {
        let mut windows = FixedWindows::new(Duration::from_secs(60), 3);
        let start = Instant::now();
        for n in 1..=3 {
            windows.hit(v4(n).expect("v4"), start);
        }
        windows.hit(v4(1).expect("v4"), start + Duration::from_secs(1));
        windows.hit(v4(4).expect("v4"), start + Duration::from_secs(2));
        assert_eq!(windows.len(), 3, "the capacity holds");
        assert!(
            windows.get(v4(1).expect("v4")).is_none(),
            "the window that started first is forgotten"
        );
        for kept in [2, 3, 4] {
            assert!(windows.get(v4(kept).expect("v4")).is_some(), "{kept}");
        }

        let mut many = FixedWindows::new(Duration::from_secs(60), 1000);
        for n in 0..200_000_u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(n));
            many.hit(ip, start);
            assert!(many.len() <= 1000);
        }
        assert!(many.starts.len() <= 2000, "the queue stays bounded too");
        // A later window forgets every ended key without any scan of the map.
        many.hit(v4(9).expect("v4"), start + Duration::from_secs(61));
        assert_eq!(many.len(), 1);
    }
}
