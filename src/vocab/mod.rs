//! Floor 1: the words every layer shares, plain data with their pure functions.
//!
//! The clock, what is known of a process, a token's facts, a thread's start. The worker,
//! the reader, user mode, the simulator and the CLI all speak them; none of them imports
//! anything above floor 0.

pub mod clock;
pub mod process;
pub mod start;
pub mod token;
