//! User mode: what a reader of the event stream does with it, after the worker.
//!
//! Host and user-mode code only (the replay and the `notifyring` CLI, cli/): the
//! kernel never formats JSON or converts paths.
//!
//! * [`accounts`]: where the JSON formatter gets the `DOMAIN\user` of a token's user SID;
//! * [`facts`]: what is known about an image file (version resource, hashes,
//!   signature), and where the JSON formatter gets it from;
//! * [`json`]: one Sysmon-compatible JSON object per event (docs/json.md);
//! * [`paths`]: NT paths to their Win32 form, where that needs no guess;
//! * [`pe`]: an image file's version-resource strings and Sysmon's `Hashes` (incl.
//!   IMPHASH), from its bytes;
//! * [`rules`]: Sigma rules evaluated on each event's JSON object, and their alerts;
//! * [`starts`]: where a thread from another process started (the image and export at
//!   its start address), and where the JSON formatter learns it;
//! * [`watch`]: the `notifyring` CLI's portable part: a read's batch to text lines or
//!   JSON, its filters and summary, and what is wrong with bytes that are not a batch.

pub mod accounts;
pub mod facts;
pub mod json;
pub mod paths;
pub mod pe;
pub mod rules;
pub mod starts;
pub mod watch;
