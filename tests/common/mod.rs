//! Helpers shared by the integration tests, each test declaring `mod common;`:
//!
//! * [`stepped`]: a work queue the test runs by hand, to step the real pipeline;
//! * [`json_schema`]: docs/json.md as a checker of JSON objects, and the recorded traces
//!   to replay;
//! * [`recordings`]: a trace's input lines, and which events carry which key.
//!
//! Each test binary compiles all of them and uses some.
#![allow(dead_code, reason = "each test binary uses only some of the shared helpers")]

pub mod json_schema;
pub mod recordings;
pub mod stepped;
