//! Simulated process objects with reference counts, for the token facts' references.
//!
//! The process callback references the new process once its record has a place in the
//! ring ([`crate::Pipeline::record_holding`]); the worker reads the token through that
//! reference and drops it ([`crate::Host::release_process`]). Here each object
//! counts its references like the object manager does, and every misuse is recorded
//! as a violation instead of corrupting memory: a reference or a token read on a freed
//! object (use after free), a release below zero (double release), and, at the end,
//! any object still alive (a leak). The kernel's own reference is dropped as soon as
//! the callback returns ([`SimObjects::exit`]), the worst case: the process is gone
//! before the worker runs, and only the record's reference keeps its token readable.

use crate::vocab::token::TokenFacts;
use std::collections::HashMap;
use std::string::String;
use std::sync::{Mutex, PoisonError};
use std::vec::Vec;

/// Where the made-up object addresses start (a kernel-looking, non-zero value).
const FIRST: u64 = 0xffff_c000_0000_0000;
/// Distance between two objects' addresses.
const STRIDE: u64 = 0x1000;

struct Object {
    references: u64,
    token: TokenFacts,
}

#[derive(Default)]
struct Table {
    next: u64,
    live: HashMap<u64, Object>,
    report: ObjectsReport,
}

/// What the objects saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectsReport {
    /// Objects created.
    pub created: u64,
    /// Objects freed (their last reference dropped).
    pub freed: u64,
    /// References taken on live objects (the callbacks' `ObfReferenceObject`).
    pub referenced: u64,
    /// References dropped (the kernel's own at exit, and the worker's releases).
    pub dereferenced: u64,
    /// Token reads on live objects.
    pub token_reads: u64,
    /// Misuses, in order: use after free, double release.
    pub violations: Vec<String>,
}

impl ObjectsReport {
    /// Objects still alive.
    #[must_use]
    pub const fn live(&self) -> u64 {
        self.created.saturating_sub(self.freed)
    }

    /// `Ok` if no misuse happened and every object was freed; else what went wrong.
    ///
    /// # Errors
    /// The violations and the leak, one per line.
    pub fn balanced(&self) -> Result<(), String> {
        let mut problems = self.violations.clone();
        if self.live() != 0 {
            problems.push(std::format!("leak: {} of {} process objects still referenced", self.live(), self.created));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
    }
}

/// A table of simulated process objects; shared by the producers and the worker.
#[derive(Default)]
pub struct SimObjects(Mutex<Table>);

impl SimObjects {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new process whose token holds `token`, with the kernel's own reference.
    pub fn create(&self, token: TokenFacts) -> u64 {
        let mut t = self.table();
        let address = FIRST.wrapping_add(t.next.wrapping_mul(STRIDE));
        t.next = t.next.wrapping_add(1);
        t.live.insert(address, Object { references: 1, token });
        t.report.created += 1;
        address
    }

    /// `ObfReferenceObject`.
    pub fn reference(&self, object: u64) {
        let mut t = self.table();
        if let Some(o) = t.live.get_mut(&object) {
            o.references += 1;
            t.report.referenced += 1;
        } else {
            t.report.violations.push(std::format!("reference on freed or unknown object {object:#x}"));
        }
        drop(t);
    }

    /// `ObfDereferenceObject`: the last reference frees the object.
    pub fn dereference(&self, object: u64) {
        let mut t = self.table();
        let Some(o) = t.live.get_mut(&object) else {
            t.report.violations.push(std::format!("double release of object {object:#x}"));
            return;
        };
        o.references -= 1;
        let freed = o.references == 0;
        t.report.dereferenced += 1;
        if freed {
            t.live.remove(&object);
            t.report.freed += 1;
        }
    }

    /// The process exits: the kernel drops its own reference.
    pub fn exit(&self, object: u64) {
        self.dereference(object);
    }

    /// The token of a live object (`PsReferencePrimaryToken` and the queries); `None`,
    /// and a violation, for a freed one.
    pub fn token(&self, object: u64) -> Option<TokenFacts> {
        let mut t = self.table();
        let token = t.live.get(&object).map(|o| o.token);
        if token.is_some() {
            t.report.token_reads += 1;
        } else {
            t.report.violations.push(std::format!("token read on freed or unknown object {object:#x}"));
        }
        drop(t);
        token
    }

    /// What happened so far.
    #[must_use]
    pub fn report(&self) -> ObjectsReport {
        self.table().report.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_object_outlives_its_exit_and_is_freed_by_the_last_release() {
        let objects = SimObjects::new();
        let token = TokenFacts { logon_id: Some(0x3e7), ..TokenFacts::default() };
        let o = objects.create(token);
        objects.reference(o);
        objects.exit(o);
        assert_eq!(objects.token(o), Some(token), "the record's reference keeps it readable");
        objects.dereference(o);
        let report = objects.report();
        assert_eq!((report.created, report.freed, report.referenced, report.dereferenced), (1, 1, 1, 2));
        assert_eq!(report.balanced(), Ok(()));
    }

    #[test]
    fn misuse_is_reported_not_hidden() {
        let objects = SimObjects::new();
        let o = objects.create(TokenFacts::default());
        objects.exit(o);
        assert_eq!(objects.token(o), None);
        objects.dereference(o);
        objects.reference(o);
        let leaked = objects.create(TokenFacts::default());
        objects.reference(leaked);
        let err = objects.report().balanced().unwrap_err();
        assert!(err.contains("token read on freed"), "{err}");
        assert!(err.contains("double release"), "{err}");
        assert!(err.contains("reference on freed"), "{err}");
        assert!(err.contains("leak: 1 of 2"), "{err}");
    }
}
