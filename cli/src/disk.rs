//! The CLI's file facts: [`DiskFacts`], a [`FileFactsSource`] that reads the image file
//! on disk after the event arrives, as Sysmon does.
//!
//! * **Cache.** Results are kept per path (ASCII-lowercased: Windows paths ignore case)
//!   together with the file's identity when it was read ([`Identity`]: size,
//!   modification time and, where the platform gives it, a [`FileId`]: the volume serial
//!   number and file index on Windows, from the CLI's `Files`; device and inode on Unix,
//!   from [`StdFiles`]). The same path with the same identity is never read again;
//!   another identity (the file was replaced, even by one of the same size and
//!   modification time) is read anew. At most
//!   [`DiskConfig::cache`] paths are kept; the oldest go first.
//! * **Never stalls the stream.** Reading, hashing and signature checks run on one
//!   background thread fed through a bounded queue ([`DiskConfig::queue`]). The event
//!   waits for its facts at most [`DiskConfig::wait`]; if they are not ready by then it
//!   is emitted without them and counted ([`DiskStats::late`]), and the result, when it
//!   comes, serves the file's next event. A full queue is counted
//!   ([`DiskStats::queue_full`]) and the event goes out without facts at once.
//!   The trade-off, for a SIEM user: every event arrives, in order and on time, and a
//!   few (a large file's first load) lack facts Sysmon would have given — the counters
//!   say how many. Holding events until every file is hashed would let one slow file
//!   (a network share, a huge installer) hold back everything behind it, and the
//!   driver's buffer would overflow and lose events instead. The only work on the
//!   event's thread is one `metadata` call (the identity) and a map lookup.
//! * **Failures.** A file that is gone or unreadable yields `None` and bumps
//!   [`DiskStats::unreadable`]; it is not cached (the next event tries again). Files
//!   larger than [`DiskConfig::max_bytes`] count as unreadable.
//! * **Signature.** A [`Signature`] hook (the CLI's `WinVerifyTrust` on Windows; none
//!   elsewhere) runs on the same thread. Its fields are given for image loads only, as
//!   Sysmon prints them (events 6 and 7, not 1).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read as _};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use notifyring::event::Kind;
use notifyring::user::facts::{FileEvent, FileFacts, FileFactsSource};
use notifyring::user::pe::{self, Hashes};

/// What tells one version of a file from another at the same path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Size in bytes.
    pub len: u64,
    /// Last modification time, where the file system has one.
    pub modified: Option<SystemTime>,
    /// Which file the path named, where the platform says: a file replaced at the same
    /// path (written elsewhere and renamed over it) has another, even with the same size
    /// and modification time.
    pub file_id: Option<FileId>,
}

impl Identity {
    /// The size and modification time of `meta`, with `file_id`.
    #[must_use]
    pub fn from_metadata(meta: &std::fs::Metadata, file_id: Option<FileId>) -> Self {
        Self { len: meta.len(), modified: meta.modified().ok(), file_id }
    }
}

/// A file's identity on its machine: the volume and the file's number on it.
///
/// Windows: the volume serial number and the file index (`GetFileInformationByHandle`,
/// the CLI's `Files`); Unix: the device and the inode (`std`'s metadata, [`StdFiles`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Volume serial number (Windows) or device (Unix).
    pub volume: u64,
    /// File index (Windows) or inode (Unix).
    pub index: u64,
}

/// The device and inode of `meta` (Unix).
#[cfg(unix)]
#[allow(clippy::unnecessary_wraps, reason = "the same signature as elsewhere, where there is none")]
fn std_file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt as _;
    Some(FileId { volume: meta.dev(), index: meta.ino() })
}

/// Nothing `std` gives portably (on Windows its file index is unstable): the CLI's own
/// `Files` adds it there.
#[cfg(not(unix))]
const fn std_file_id(_meta: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// How [`DiskFacts`] reaches files (a trait so that tests can count and delay reads).
pub trait Files: Send + Sync + 'static {
    /// The file's identity.
    ///
    /// # Errors
    /// The file is missing or its metadata unreadable.
    fn identity(&self, path: &str) -> io::Result<Identity>;

    /// The file's bytes, at most `limit` of them.
    ///
    /// # Errors
    /// Missing or unreadable, or larger than `limit`.
    fn read(&self, path: &str, limit: u64) -> io::Result<Vec<u8>>;
}

/// The real file system (`std::fs`); the identity's [`FileId`] is the device and inode on
/// Unix, none elsewhere.
pub struct StdFiles;

impl Files for StdFiles {
    fn identity(&self, path: &str) -> io::Result<Identity> {
        let meta = std::fs::metadata(path)?;
        if !meta.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a file"));
        }
        Ok(Identity::from_metadata(&meta, std_file_id(&meta)))
    }

    fn read(&self, path: &str, limit: u64) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        std::fs::File::open(path)?.take(limit.saturating_add(1)).read_to_end(&mut data)?;
        if data.len() as u64 > limit {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "larger than the limit"));
        }
        Ok(data)
    }
}

/// What a signature check says, in Sysmon's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureFacts {
    /// `Signed`.
    pub signed: bool,
    /// `Signature`: the signer's name, if known.
    pub signature: Option<String>,
    /// `SignatureStatus`: `Valid`, `Unavailable`, `Expired`, …
    pub status: String,
}

/// `WinVerifyTrust` results by name (`HRESULT`s, from winerror.h).
pub mod trust {
    /// `TRUST_E_NOSIGNATURE`: no signature (or none this provider reads).
    pub const NOSIGNATURE: i32 = 0x800B_0100_u32.cast_signed();
    /// `TRUST_E_SUBJECT_FORM_UNKNOWN`: a file type with no signature format.
    pub const SUBJECT_FORM_UNKNOWN: i32 = 0x800B_0003_u32.cast_signed();
    /// `TRUST_E_PROVIDER_UNKNOWN`.
    pub const PROVIDER_UNKNOWN: i32 = 0x800B_0001_u32.cast_signed();
    /// `CERT_E_EXPIRED`.
    pub const EXPIRED: i32 = 0x800B_0101_u32.cast_signed();
    /// `CERT_E_REVOKED`.
    pub const REVOKED: i32 = 0x800B_010C_u32.cast_signed();
}

/// What a `WinVerifyTrust` result means in Sysmon's words.
///
/// 0 is `Valid`; no signature is `Signed=false`, `SignatureStatus=Unavailable` (as in the recorded traces: every
/// unsigned image there is `false`/`Unavailable`, without a `Signature`);
/// `CERT_E_EXPIRED` is `Expired`, `CERT_E_REVOKED` `Revoked`; any other failure is a
/// signature that did not verify: `Signed=true` and the code as `0x…` (the traces hold
/// no other status, so Sysmon's words for the rest are not known here).
#[must_use]
pub fn signature_facts(code: i32, signer_name: Option<String>) -> SignatureFacts {
    let (signed, status) = match code {
        0 => (true, String::from("Valid")),
        trust::NOSIGNATURE | trust::SUBJECT_FORM_UNKNOWN | trust::PROVIDER_UNKNOWN => {
            (false, String::from("Unavailable"))
        }
        trust::EXPIRED => (true, String::from("Expired")),
        trust::REVOKED => (true, String::from("Revoked")),
        _ => (true, format!("0x{:08X}", code.cast_unsigned())),
    };
    SignatureFacts { signed, signature: if signed { signer_name } else { None }, status }
}

/// Windows' signature verification of a file (the CLI's; none on other systems).
pub trait Signature: Send + 'static {
    /// The signature facts of the file at `path`, or `None` if the check itself failed.
    fn verify(&self, path: &str) -> Option<SignatureFacts>;
}

/// [`DiskFacts`]' settings.
#[derive(Clone, Copy, Debug)]
pub struct DiskConfig {
    /// Which hashes (default: all four, as the recorded Sysmon traces carry).
    pub hashes: Hashes,
    /// How long an event waits for facts being computed (default 5 ms).
    pub wait: Duration,
    /// Paths cached (default 4096).
    pub cache: usize,
    /// Files waiting to be read (default 256).
    pub queue: usize,
    /// Larger files are not read (default 256 MiB).
    pub max_bytes: u64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        Self { hashes: Hashes::ALL, wait: Duration::from_millis(5), cache: 4096, queue: 256, max_bytes: 256 << 20 }
    }
}

/// What [`DiskFacts`] did, for the watch's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Answered from the cache.
    pub hits: u64,
    /// Files read and parsed.
    pub computed: u64,
    /// Files missing or unreadable (events without facts).
    pub unreadable: u64,
    /// Events emitted without facts because they were not ready within the wait.
    pub late: u64,
    /// Events emitted without facts because the queue was full.
    pub queue_full: u64,
}

/// Reads a [`DiskFacts`]' counters from elsewhere.
pub struct StatsHandle(Arc<Shared>);

impl StatsHandle {
    /// The counters now.
    #[must_use]
    pub fn disk_stats(&self) -> DiskStats {
        self.0.lock().stats
    }
}

impl core::fmt::Display for DiskStats {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "notifyring: file facts: {} files read, {} from cache, {} unreadable, {} events without them (not ready in time), {} (queue full)",
            self.computed, self.hits, self.unreadable, self.late, self.queue_full
        )
    }
}

enum Slot {
    /// Queued or being read, for this identity.
    Pending(Identity),
    /// Read.
    Ready(Identity, FileFacts),
}

struct State {
    cache: HashMap<String, Slot>,
    /// Cached paths, oldest first.
    order: VecDeque<String>,
    stats: DiskStats,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled whenever a slot is filled or dropped.
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the map inconsistent in a way that matters here.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The file facts of image files on disk (see the module doc).
pub struct DiskFacts {
    shared: Arc<Shared>,
    jobs: Option<SyncSender<(String, String, Identity)>>,
    files: Arc<dyn Files>,
    config: DiskConfig,
}

impl DiskFacts {
    /// Facts from the real file system, with the signature hook `signature` (if any).
    #[must_use]
    pub fn new(config: DiskConfig, signature: Option<Box<dyn Signature>>) -> Self {
        Self::with_files(config, Arc::new(StdFiles), signature)
    }

    /// Facts from `files`. Starts the background thread; if it cannot be started every
    /// event goes out without facts (counted as `queue_full`).
    #[must_use]
    pub fn with_files(config: DiskConfig, files: Arc<dyn Files>, signature: Option<Box<dyn Signature>>) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { cache: HashMap::new(), order: VecDeque::new(), stats: DiskStats::default() }),
            done: Condvar::new(),
        });
        let (tx, rx) = mpsc::sync_channel::<(String, String, Identity)>(config.queue.max(1));
        let worker_shared = Arc::clone(&shared);
        let worker_files = Arc::clone(&files);
        let spawned = std::thread::Builder::new().name(String::from("notifyring-file-facts")).spawn(move || {
            // Ends when the DiskFacts (the sender) is dropped; never joined, so a file
            // stuck in a read cannot hold up the CLI's exit.
            for (key, path, identity) in rx {
                let result = worker_files.read(&path, config.max_bytes).map(|data| {
                    let mut facts = pe::file_facts(&data, config.hashes);
                    if let Some(sig) = signature.as_ref().and_then(|s| s.verify(&path)) {
                        facts.signed = Some(sig.signed);
                        facts.signature = sig.signature;
                        facts.signature_status = Some(sig.status);
                    }
                    facts
                });
                let mut state = worker_shared.lock();
                let ours = matches!(state.cache.get(&key), Some(Slot::Pending(id)) if *id == identity);
                if let Ok(facts) = result {
                    state.stats.computed += 1;
                    if ours {
                        state.cache.insert(key, Slot::Ready(identity, facts));
                    }
                } else {
                    state.stats.unreadable += 1;
                    if ours {
                        state.cache.remove(&key);
                    }
                }
                drop(state);
                worker_shared.done.notify_all();
            }
        });
        Self { shared, jobs: spawned.is_ok().then_some(tx), files, config }
    }

    /// What was done so far.
    #[must_use]
    pub fn stats(&self) -> DiskStats {
        self.shared.lock().stats
    }

    /// A handle that reads [`Self::stats`] after the source is handed away (to the watch).
    #[must_use]
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::clone(&self.shared))
    }

    /// Makes room for one more path: drops the oldest cached ones.
    fn evict(&self, state: &mut State) {
        while state.cache.len() >= self.config.cache.max(1) {
            let Some(old) = state.order.pop_front() else { break };
            state.cache.remove(&old);
        }
    }
}

impl FileFactsSource for DiskFacts {
    fn file_facts(&mut self, event: &FileEvent<'_>) -> Option<FileFacts> {
        if !matches!(event.kind, Kind::ProcessCreate | Kind::ImageLoad) || event.win32_path.is_empty() {
            return None;
        }
        let path = event.win32_path;
        let Ok(identity) = self.files.identity(path) else {
            self.shared.lock().stats.unreadable += 1;
            return None;
        };
        let key = path.to_ascii_lowercase();
        let mut state = self.shared.lock();
        match state.cache.get(&key) {
            Some(Slot::Ready(id, facts)) if *id == identity => {
                let facts = facts.clone();
                state.stats.hits += 1;
                return Some(for_event(facts, event.kind));
            }
            Some(Slot::Pending(id)) if *id == identity => {}
            known => {
                if known.is_none() {
                    self.evict(&mut state);
                    state.order.push_back(key.clone());
                }
                let sent = self.jobs.as_ref().map(|jobs| jobs.try_send((key.clone(), String::from(path), identity)));
                if !matches!(sent, Some(Ok(()))) {
                    // Full, or no thread: go on without facts (a stale entry stays stale).
                    state.stats.queue_full += 1;
                    if matches!(sent, Some(Err(TrySendError::Disconnected(_)))) {
                        self.jobs = None;
                    }
                    return None;
                }
                state.cache.insert(key.clone(), Slot::Pending(identity));
            }
        }
        let deadline = Instant::now().checked_add(self.config.wait);
        loop {
            match state.cache.get(&key) {
                Some(Slot::Ready(id, facts)) if *id == identity => return Some(for_event(facts.clone(), event.kind)),
                Some(Slot::Pending(id)) if *id == identity => {}
                // Dropped: unreadable (counted by the thread) or evicted.
                _ => return None,
            }
            let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                state.stats.late += 1;
                return None;
            }
            state = self.shared.done.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

/// The facts an event of `kind` carries: Sysmon's process-create (event 1) has no
/// signature fields.
fn for_event(mut facts: FileFacts, kind: Kind) -> FileFacts {
    if matches!(kind, Kind::ProcessCreate) {
        facts.signed = None;
        facts.signature = None;
        facts.signature_status = None;
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Files in memory, names in any case (as on Windows); counts reads; a gated path's read waits for the test's go.
    #[derive(Default)]
    struct FakeFiles {
        files: Mutex<HashMap<String, (Identity, Vec<u8>)>>,
        reads: AtomicUsize,
        gate: Mutex<Option<(String, mpsc::Receiver<()>)>>,
    }

    impl FakeFiles {
        fn put(&self, path: &str, modified: u64, data: &[u8]) {
            let modified = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(modified));
            let id = Identity { len: data.len() as u64, modified, file_id: None };
            self.files.lock().unwrap().insert(path.to_ascii_lowercase(), (id, data.to_vec()));
        }
        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    impl Files for FakeFiles {
        fn identity(&self, path: &str) -> io::Result<Identity> {
            self.files
                .lock()
                .unwrap()
                .get(&path.to_ascii_lowercase())
                .map(|f| f.0)
                .ok_or_else(|| io::ErrorKind::NotFound.into())
        }
        fn read(&self, path: &str, _limit: u64) -> io::Result<Vec<u8>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let gate = self.gate.lock().unwrap().take();
            match gate {
                Some((gated, go)) if gated == path => go.recv().map_err(|_| io::Error::other("gate dropped"))?,
                other => *self.gate.lock().unwrap() = other,
            }
            self.files
                .lock()
                .unwrap()
                .get(&path.to_ascii_lowercase())
                .map(|f| f.1.clone())
                .ok_or_else(|| io::ErrorKind::NotFound.into())
        }
    }

    struct FakeSignature;
    impl Signature for FakeSignature {
        fn verify(&self, _: &str) -> Option<SignatureFacts> {
            Some(SignatureFacts { signed: true, signature: Some("Microsoft Windows".into()), status: "Valid".into() })
        }
    }

    /// Waits without a deadline that could fail a slow machine (the tests assert
    /// behaviour, not speed): an hour.
    const PATIENT: DiskConfig = DiskConfig {
        hashes: Hashes { sha1: false, md5: true, sha256: false, imphash: false },
        wait: Duration::from_hours(1),
        cache: 16,
        queue: 4,
        max_bytes: 1 << 20,
    };

    fn event(kind: Kind, path: &str) -> FileEvent<'_> {
        FileEvent { kind, pid: 4, ticks: 0, path, win32_path: path }
    }

    fn md5(data: &[u8]) -> String {
        Hashes { sha1: false, md5: true, sha256: false, imphash: false }.format(data).unwrap()
    }

    fn source(files: &Arc<FakeFiles>, config: DiskConfig) -> DiskFacts {
        DiskFacts::with_files(config, Arc::clone(files) as Arc<dyn Files>, Some(Box::new(FakeSignature)))
    }

    #[test]
    fn the_same_file_is_read_once_and_a_changed_one_again() {
        let files = Arc::new(FakeFiles::default());
        files.put(r"C:\Windows\a.dll", 1, b"first");
        let mut disk = source(&files, PATIENT);
        let facts = disk.file_facts(&event(Kind::ImageLoad, r"C:\Windows\a.dll")).expect("facts");
        assert_eq!(facts.hashes, Some(md5(b"first")));
        assert_eq!((facts.signed, facts.signature_status.as_deref()), (Some(true), Some("Valid")));
        // Another case of the same path, same identity: from the cache.
        let again = disk.file_facts(&event(Kind::ImageLoad, r"c:\windows\A.DLL")).expect("facts");
        assert_eq!(again, facts);
        assert_eq!((files.reads(), disk.stats().hits, disk.stats().computed), (1, 1, 1));
        // Replaced (same size, new mtime): read again, new hashes.
        files.put(r"C:\Windows\a.dll", 2, b"other");
        let new = disk.file_facts(&event(Kind::ImageLoad, r"C:\Windows\a.dll")).expect("facts");
        assert_eq!(new.hashes, Some(md5(b"other")));
        assert_eq!(files.reads(), 2);
    }

    #[test]
    fn a_missing_file_has_no_facts_and_is_counted() {
        let files = Arc::new(FakeFiles::default());
        let mut disk = source(&files, PATIENT);
        assert_eq!(disk.file_facts(&event(Kind::ProcessCreate, r"C:\gone.exe")), None);
        assert_eq!(disk.stats(), DiskStats { unreadable: 1, ..DiskStats::default() });
        assert_eq!(files.reads(), 0);
    }

    #[test]
    fn only_process_creates_and_image_loads_have_facts_and_only_loads_signatures() {
        let files = Arc::new(FakeFiles::default());
        files.put(r"C:\x.exe", 1, b"MZ");
        let mut disk = source(&files, PATIENT);
        for kind in [Kind::ProcessExit, Kind::ThreadCreate, Kind::ThreadExit] {
            assert_eq!(disk.file_facts(&event(kind, r"C:\x.exe")), None);
        }
        assert_eq!(files.reads(), 0);
        let create = disk.file_facts(&event(Kind::ProcessCreate, r"C:\x.exe")).expect("facts");
        assert_eq!((create.hashes, create.signed, create.signature_status), (Some(md5(b"MZ")), None, None));
        let load = disk.file_facts(&event(Kind::ImageLoad, r"C:\x.exe")).expect("facts");
        assert_eq!(load.signature.as_deref(), Some("Microsoft Windows"));
    }

    #[test]
    fn a_slow_file_does_not_stall_the_event() {
        let files = Arc::new(FakeFiles::default());
        files.put(r"C:\slow.dll", 1, b"slow");
        let (go, gate) = mpsc::channel();
        *files.gate.lock().unwrap() = Some((r"C:\slow.dll".into(), gate));
        let mut disk = source(&files, DiskConfig { wait: Duration::ZERO, ..PATIENT });
        // The read is blocked until `go`: the event returns without facts, counted late.
        assert_eq!(disk.file_facts(&event(Kind::ImageLoad, r"C:\slow.dll")), None);
        assert_eq!(disk.stats().late, 1);
        // A second event for it while it is still being read: no second read queued.
        assert_eq!(disk.file_facts(&event(Kind::ImageLoad, r"C:\slow.dll")), None);
        assert_eq!(disk.stats().late, 2);
        go.send(()).expect("gate");
        while disk.stats().computed == 0 {
            std::thread::yield_now();
        }
        // The result serves the next event.
        let facts = disk.file_facts(&event(Kind::ImageLoad, r"C:\slow.dll")).expect("facts now");
        assert_eq!(facts.hashes, Some(md5(b"slow")));
        assert_eq!(files.reads(), 1);
    }

    #[test]
    fn a_full_queue_drops_the_facts_not_the_event() {
        let files = Arc::new(FakeFiles::default());
        for name in ["a", "b", "c", "d"] {
            files.put(name, 1, name.as_bytes());
        }
        let (go, gate) = mpsc::channel();
        *files.gate.lock().unwrap() = Some(("a".into(), gate));
        let mut disk = source(&files, DiskConfig { wait: Duration::ZERO, queue: 1, ..PATIENT });
        assert_eq!(disk.file_facts(&event(Kind::ImageLoad, "a")), None); // being read (blocked)
        while files.reads() == 0 {
            std::thread::yield_now();
        }
        assert_eq!(disk.file_facts(&event(Kind::ImageLoad, "b")), None); // queued
        assert_eq!(disk.file_facts(&event(Kind::ImageLoad, "c")), None); // queue full
        assert_eq!(disk.stats().queue_full, 1);
        assert_eq!(disk.stats().late, 2);
        drop(go);
    }

    #[test]
    fn the_cache_is_bounded() {
        let files = Arc::new(FakeFiles::default());
        files.put("a", 1, b"a");
        files.put("b", 1, b"b");
        let mut disk = source(&files, DiskConfig { cache: 1, ..PATIENT });
        for path in ["a", "b", "a"] {
            assert!(disk.file_facts(&event(Kind::ImageLoad, path)).is_some());
        }
        assert_eq!((files.reads(), disk.stats().hits), (3, 0));
    }

    #[test]
    fn trust_results_in_sysmon_words() {
        let name = || Some(String::from("Microsoft Windows"));
        let valid = signature_facts(0, name());
        assert_eq!(
            (valid.signed, valid.signature.as_deref(), valid.status.as_str()),
            (true, Some("Microsoft Windows"), "Valid")
        );
        let unsigned = signature_facts(trust::NOSIGNATURE, name());
        assert_eq!((unsigned.signed, unsigned.signature, unsigned.status.as_str()), (false, None, "Unavailable"));
        assert_eq!(signature_facts(trust::EXPIRED, name()).status, "Expired");
        assert_eq!(signature_facts(trust::REVOKED, None).status, "Revoked");
        let bad = signature_facts(0x8009_6010_u32.cast_signed(), name());
        assert_eq!((bad.signed, bad.status.as_str()), (true, "0x80096010"));
    }

    /// A file replaced at its path by another of the same size and modification time
    /// (written beside it and renamed over it, as installers do): only the inode tells
    /// them apart, and the new one is read.
    #[cfg(unix)]
    #[test]
    fn a_replaced_file_of_the_same_size_and_time_is_read_again() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("notifyring-disk-replaced-{}.dll", std::process::id()));
        let beside = dir.join(format!("notifyring-disk-replaced-{}.new", std::process::id()));
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let write = |at: &std::path::Path, data: &[u8]| {
            std::fs::write(at, data).expect("write");
            std::fs::File::options().write(true).open(at).expect("open").set_modified(when).expect("mtime");
        };
        write(&path, b"first!");
        let path_str = path.to_str().expect("utf-8 temp path");
        let mut disk = DiskFacts::new(PATIENT, None);
        let first = disk.file_facts(&event(Kind::ImageLoad, path_str)).expect("facts");
        assert_eq!(first.hashes, Some(md5(b"first!")));
        let before = StdFiles.identity(path_str).expect("identity");
        assert_eq!(disk.file_facts(&event(Kind::ImageLoad, path_str)), Some(first));
        assert_eq!((disk.stats().computed, disk.stats().hits), (1, 1));

        write(&beside, b"other!");
        std::fs::rename(&beside, &path).expect("rename over");
        let after = StdFiles.identity(path_str).expect("identity");
        // Size and time alone would call it the same file.
        assert_eq!((after.len, after.modified), (before.len, before.modified));
        assert_ne!(after.file_id, before.file_id);
        assert!(after.file_id.is_some());
        let second = disk.file_facts(&event(Kind::ImageLoad, path_str)).expect("facts");
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(second.hashes, Some(md5(b"other!")));
        assert_eq!((disk.stats().computed, disk.stats().hits), (2, 1));
    }

    #[test]
    fn real_files_through_std_fs() {
        let path = std::env::temp_dir().join(format!("notifyring-disk-test-{}.bin", std::process::id()));
        std::fs::write(&path, b"not a PE").expect("write");
        let path_str = path.to_str().expect("utf-8 temp path");
        let mut disk = DiskFacts::new(PATIENT, None);
        let facts = disk.file_facts(&event(Kind::ImageLoad, path_str)).expect("facts");
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(facts.hashes, Some(md5(b"not a PE")));
        assert_eq!((facts.original_file_name, facts.signed), (None, None));
        let too_big = DiskConfig { max_bytes: 3, ..PATIENT };
        std::fs::write(&path, b"four").expect("write");
        let mut disk = DiskFacts::new(too_big, None);
        assert_eq!(disk.file_facts(&event(Kind::ImageLoad, path_str)), None);
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(disk.stats().unreadable, 1);
    }
}
