//! Account names for `watch --json`'s `User`, each SID asked once.
//!
//! [`AccountCache`] in front of a resolver (on Windows, `LookupAccountSidW`) keeps each
//! answer, failures included, so that a busy system asks once per account.

use std::collections::HashMap;

use notifyring::user::accounts::AccountNames;
use notifyring::vocab::token::Sid;

/// At most this many SIDs are remembered; past it, the oldest half is forgotten.
pub const ACCOUNT_CACHE: usize = 1024;

/// Caches a resolver's answers (and its failures) by SID.
pub struct AccountCache<F: FnMut(&Sid) -> Option<String>> {
    resolve: F,
    known: HashMap<Sid, (u64, Option<String>)>,
    asked: u64,
    /// Resolver calls made (the rest were answered from the cache).
    pub lookups: u64,
}

impl<F: FnMut(&Sid) -> Option<String>> AccountCache<F> {
    /// A cache in front of `resolve`.
    pub fn new(resolve: F) -> Self {
        Self { resolve, known: HashMap::new(), asked: 0, lookups: 0 }
    }
}

impl<F: FnMut(&Sid) -> Option<String>> AccountNames for AccountCache<F> {
    fn account(&mut self, sid: &Sid) -> Option<String> {
        self.asked += 1;
        if let Some((_, name)) = self.known.get(sid) {
            return name.clone();
        }
        if self.known.len() >= ACCOUNT_CACHE {
            // Forget the oldest half: bounded memory, and the accounts in use come back.
            let mut ages: Vec<u64> = self.known.values().map(|(age, _)| *age).collect();
            ages.sort_unstable();
            let cut = ages.get(ages.len() / 2).copied().unwrap_or(0);
            self.known.retain(|_, (age, _)| *age > cut);
        }
        self.lookups += 1;
        let name = (self.resolve)(sid);
        self.known.insert(*sid, (self.asked, name.clone()));
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_once_per_sid_failures_included() {
        let mut calls = Vec::new();
        let mut cache = AccountCache::new(|sid: &Sid| {
            calls.push(sid.to_string());
            (sid.rid() == Some(18)).then(|| String::from("NT AUTHORITY\\SYSTEM"))
        });
        let system = Sid::parse("S-1-5-18").unwrap();
        let user = Sid::parse("S-1-5-21-1-2-3-1001").unwrap();
        for _ in 0..3 {
            assert_eq!(cache.account(&system).as_deref(), Some("NT AUTHORITY\\SYSTEM"));
            assert_eq!(cache.account(&user), None);
        }
        assert_eq!(cache.lookups, 2);
        drop(cache);
        assert_eq!(calls, ["S-1-5-18", "S-1-5-21-1-2-3-1001"]);
    }

    #[test]
    fn stays_bounded() {
        let mut cache = AccountCache::new(|sid: &Sid| Some(sid.to_string()));
        for rid in 0..5000u32 {
            let sid = Sid::from_parts(5, &[21, 1, 2, 3, rid]).unwrap();
            assert_eq!(cache.account(&sid), Some(sid.to_string()));
        }
        assert!(cache.known.len() <= ACCOUNT_CACHE);
        assert_eq!(cache.lookups, 5000);
    }
}
