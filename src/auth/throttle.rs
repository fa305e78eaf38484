//! Failed sign-ins throttled per client address and per username, in memory, before any
//! password is hashed: argon2 costs ~50 ms of a core on purpose, so an unthrottled `login` lets
//! anyone burn the cores the recorders need, and lets one address lock any account out.
//!
//! Each key has a token bucket: an attempt takes a token before hashing and gives it back when
//! the password matched, so only failures count. The address bucket is smaller than the
//! account lockout threshold: a single address is slowed down before it can lock anyone out.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The client address of a request (the TCP peer), as request data for the sign-in mutations
/// and the rate limit.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The address limits are counted by: IPv4 as is, IPv6 by its /64 (one subscriber's
    /// network, which hands out addresses freely).
    pub fn key(self) -> IpAddr {
        match self.0 {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
        }
    }
}

/// Most keys remembered per table; past this the table starts over (a cheap bound).
const MAX_KEYS: usize = 50_000;

/// A token bucket's shape: how many failures at once, and one more every `refill`.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Failures allowed in a burst.
    pub burst: u32,
    /// Time to earn one more.
    pub refill: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Rate,
    table: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    /// Buckets of this shape, each full when first used.
    pub fn new(rate: Rate) -> Self {
        Buckets {
            rate,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The bucket of `key` as of `now`, refilled.
    fn current(&self, table: &HashMap<K, Bucket>, key: &K, now: Instant) -> Bucket {
        let burst = f64::from(self.rate.burst);
        match table.get(key) {
            Some(b) => {
                let earned = now.duration_since(b.at).as_secs_f64()
                    / self.rate.refill.as_secs_f64().max(0.001);
                Bucket {
                    tokens: (b.tokens + earned).min(burst),
                    at: now,
                }
            }
            None => Bucket {
                tokens: burst,
                at: now,
            },
        }
    }

    /// How long until `key` has a token (zero if it has one now).
    fn wait(&self, key: &K, now: Instant) -> Duration {
        let Ok(table) = self.table.lock() else {
            return Duration::ZERO;
        };
        let bucket = self.current(&table, key, now);
        if bucket.tokens >= 1.0 {
            Duration::ZERO
        } else {
            self.rate.refill.mul_f64(1.0 - bucket.tokens)
        }
    }

    /// Forgets the buckets that have refilled (a new key starts full anyway), so a flood of new
    /// keys cannot wipe the state of the keys being limited; only if every bucket is in use is
    /// the table started over.
    fn make_room(&self, table: &mut HashMap<K, Bucket>, now: Instant) {
        let burst = f64::from(self.rate.burst);
        let refill = self.rate.refill.as_secs_f64().max(0.001);
        table.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() / refill < burst);
        if table.len() >= MAX_KEYS {
            table.clear();
        }
    }

    /// Takes `tokens` from `key`'s bucket, or says how long until they are there (a request
    /// costlier than the whole burst waits for a full bucket and then takes it all).
    pub fn take(&self, key: &K, tokens: f64) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut table) = self.table.lock() else {
            return Ok(());
        };
        if table.len() >= MAX_KEYS && !table.contains_key(key) {
            self.make_room(&mut table, now);
        }
        let mut bucket = self.current(&table, key, now);
        let needed = tokens.min(f64::from(self.rate.burst));
        if bucket.tokens < needed {
            return Err(self.rate.refill.mul_f64(needed - bucket.tokens));
        }
        bucket.tokens -= tokens;
        table.insert(key.clone(), bucket);
        Ok(())
    }

    /// Adds `delta` tokens to `key` (negative to take).
    fn add(&self, key: &K, delta: f64, now: Instant) {
        if let Ok(mut table) = self.table.lock() {
            if table.len() >= MAX_KEYS && !table.contains_key(key) {
                self.make_room(&mut table, now);
            }
            let mut bucket = self.current(&table, key, now);
            bucket.tokens = (bucket.tokens + delta).min(f64::from(self.rate.burst));
            table.insert(key.clone(), bucket);
        }
    }
}

/// The sign-in throttle: one table of buckets per client address, one per username.
#[derive(Debug)]
pub struct LoginThrottle {
    addresses: Buckets<IpAddr>,
    usernames: Buckets<String>,
    /// Serialises take-if-available across both tables.
    gate: Mutex<()>,
}

/// A reserved attempt: give it back with [`LoginThrottle::succeeded`] when the password matched.
#[derive(Debug)]
pub struct Attempt {
    address: Option<IpAddr>,
    username: String,
}

impl LoginThrottle {
    /// A throttle with these rates per address and per username.
    pub fn new(per_address: Rate, per_username: Rate) -> Self {
        LoginThrottle {
            addresses: Buckets::new(per_address),
            usernames: Buckets::new(per_username),
            gate: Mutex::new(()),
        }
    }

    /// Takes one attempt for `address` and `username` (case-insensitive), or says how long to
    /// wait. Called before the password is hashed.
    pub fn reserve(&self, address: Option<IpAddr>, username: &str) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let address = address.map(|a| ClientAddress(a).key());
        let username = username.to_lowercase();
        let _gate = self.gate.lock();
        let wait = address
            .map(|a| self.addresses.wait(&a, now))
            .unwrap_or_default()
            .max(self.usernames.wait(&username, now));
        if !wait.is_zero() {
            return Err(wait);
        }
        if let Some(address) = address {
            self.addresses.add(&address, -1.0, now);
        }
        self.usernames.add(&username, -1.0, now);
        Ok(Attempt { address, username })
    }

    /// The password matched: the attempt does not count.
    pub fn succeeded(&self, attempt: Attempt) {
        let now = Instant::now();
        if let Some(address) = attempt.address {
            self.addresses.add(&address, 1.0, now);
        }
        self.usernames.add(&attempt.username, 1.0, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(burst: u32, secs: u64) -> Rate {
        Rate {
            burst,
            refill: Duration::from_secs(secs),
        }
    }

    #[test]
    fn failures_are_limited_per_address_and_per_username_and_successes_are_free() {
        let throttle = LoginThrottle::new(rate(2, 60), rate(3, 60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        // Successes give their token back.
        for _ in 0..10 {
            let ok = throttle.reserve(Some(a), "admin").unwrap();
            throttle.succeeded(ok);
        }
        throttle.reserve(Some(a), "admin").unwrap();
        throttle.reserve(Some(a), "ADMIN").unwrap();
        let wait = throttle.reserve(Some(a), "other").unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        // Another address may still try, until the username's own budget is spent.
        throttle.reserve(Some(b), "admin").unwrap();
        assert!(throttle.reserve(Some(b), "admin").is_err());
        assert!(throttle.reserve(Some(b), "someone-else").is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_a_flood_of_keys_keeps_limited_ones() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(ClientAddress(one).key(), ClientAddress(other).key());
        let buckets: Buckets<u32> = Buckets::new(rate(1, 3600));
        buckets.take(&0, 1.0).unwrap();
        assert!(buckets.take(&0, 1.0).is_err());
        for key in 1..=(MAX_KEYS as u32 + 10) {
            let _ = buckets.take(&key, 0.0);
        }
        assert!(
            buckets.take(&0, 1.0).is_err(),
            "the spent bucket survived the flood"
        );
    }
}
