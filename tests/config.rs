//! Registry configuration: every value in range is taken, every value out of range is
//! refused with its name and keeps the previous setting, and caps fit the ring.

use notifyring::Config;
use notifyring::config::{LEVEL_NAME, VALUE_NAMES};

#[test]
fn values_in_range_are_applied() {
    let mut c = Config::DEFAULT;
    for (name, value) in [
        ("RingBytes", 1 << 16),
        ("ImagePathCap", 260),
        ("CommandLineCap", 0),
        ("BatchSize", 1),
        ("PidTableSize", 16),
        ("OmitCommandLine", 1),
        ("StatsIntervalSeconds", 0),
        ("EnableProcess", 0),
        ("EnableThread", 0),
        ("EnableImage", 0),
        ("DebugLevel", 0),
        ("KernelImageBases", 1),
    ] {
        assert_eq!(c.apply(name, value), Ok(()), "{name}={value}");
    }
    assert!(c.kernel_image_bases);
    assert_eq!(c.ring_bytes, 1 << 16);
    assert_eq!((c.caps.image, c.caps.command_line), (260, 0));
    assert_eq!((c.batch, c.names, c.stats_interval_s, c.level), (1, 16, 0, 0));
    assert!(c.omit_command_line);
    assert!(!c.sources.process && !c.sources.thread && !c.sources.image);
}

#[test]
fn values_out_of_range_are_refused_by_name_and_keep_the_default() {
    for (name, value) in [
        ("RingBytes", 1000),
        ("RingBytes", 2048),
        ("RingBytes", 1 << 29),
        ("ImagePathCap", 15),
        ("ImagePathCap", 32_768),
        ("CommandLineCap", 40_000),
        ("BatchSize", 0),
        ("PidTableSize", 8),
        ("OmitCommandLine", 2),
        ("StatsIntervalSeconds", 86_401),
        ("EnableImage", 7),
        ("DebugLevel", 4),
        ("KernelImageBases", 2),
    ] {
        let mut c = Config::DEFAULT;
        let refused = c.apply(name, value).expect_err(name);
        assert_eq!((refused.name, refused.value), (name, value));
        assert!(!refused.allowed.is_empty());
        assert_eq!(c, Config::DEFAULT, "{name}={value} changed the configuration");
    }
}

#[test]
fn every_documented_name_is_understood_and_unknown_names_are_ignored() {
    for name in VALUE_NAMES.iter().chain(&[LEVEL_NAME]) {
        let mut c = Config::DEFAULT;
        // u32::MAX is out of range for every value: refusal proves the name is known.
        assert!(c.apply(name, u32::MAX).is_err(), "{name} is not handled");
    }
    let mut c = Config::DEFAULT;
    assert_eq!(c.apply("NoSuchValue", 5), Ok(()));
    assert_eq!(c, Config::DEFAULT);
}

#[test]
fn caps_in_force_fit_the_ring() {
    let mut c = Config::DEFAULT;
    c.apply("RingBytes", 4096).unwrap();
    let caps = c.effective_caps();
    assert!(caps.max_payload() <= 4096 / 4 - 8);
    assert!(caps.image > 0 && caps.command_line > 0);
    assert_eq!(Config::DEFAULT.effective_caps(), Config::DEFAULT.caps, "the defaults fit a 4 MiB ring");
}
