//! Registry configuration: every value in range is taken, every value out of range is
//! refused with its name and keeps the previous setting, and caps fit the ring.

use notifyring::Config;
use notifyring::config::SETTINGS;
use std::fmt::Write as _;
use std::path::Path;

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
    for setting in &SETTINGS {
        let mut c = Config::DEFAULT;
        // u32::MAX is out of range for every value: refusal proves the name is known.
        assert!(c.apply(setting.name, u32::MAX).is_err(), "{} is not handled", setting.name);
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

#[test]
fn each_setting_reads_back_what_it_was_set_to_and_its_default_is_the_configs() {
    for setting in &SETTINGS {
        assert_eq!(setting.value(&Config::DEFAULT), setting.default, "{}'s default", setting.name);
        assert!(setting.allows(setting.default), "{}'s default is not allowed", setting.name);
        // The first allowed value other than the default, set and read back.
        let other = (0..=u32::MAX).find(|&v| v != setting.default && setting.allows(v)).unwrap();
        let mut c = Config::DEFAULT;
        c.apply(setting.name, other).unwrap();
        assert_eq!(setting.value(&c), other, "{} reads back", setting.name);
        assert_ne!(c, Config::DEFAULT, "{} changed nothing", setting.name);
    }
}

/// The INF's `[Notifyring.Parameters]` section: (name, default) in order.
fn inf_defaults(inx: &str) -> Vec<(String, u32)> {
    let section = inx.split("[Notifyring.Parameters]").nth(1).expect("no [Notifyring.Parameters] section");
    section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter(|l| l.starts_with("HKR"))
        .map(|l| {
            let cells: Vec<&str> = l.split(',').map(str::trim).collect();
            (cells[2].to_owned(), cells[4].parse().unwrap_or_else(|_| panic!("{l}")))
        })
        .collect()
}

#[test]
fn the_inf_writes_every_setting_with_its_default_in_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let want: Vec<(String, u32)> = SETTINGS.iter().map(|s| (s.name.to_owned(), s.default)).collect();
    for inx in ["inf/notifyring.inx", "notifyring.inx"] {
        let text = std::fs::read_to_string(root.join(inx)).unwrap();
        assert_eq!(inf_defaults(&text), want, "{inx} and config::SETTINGS disagree");
    }
}

/// docs/windows.md's settings table, as `SETTINGS` writes it.
fn settings_table() -> String {
    let mut table = String::from("| value | default | allowed | meaning |\n|---|---|---|---|\n");
    for s in &SETTINGS {
        let _ = writeln!(table, "| `{}` | {} | {} | {} |", s.name, s.default, s.allowed, s.meaning);
    }
    table
}

#[test]
fn the_documented_settings_table_is_the_settings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/windows.md");
    let docs = std::fs::read_to_string(&path).unwrap();
    let want = settings_table();
    assert!(
        docs.contains(&want),
        "docs/windows.md's settings table differs from config::SETTINGS; it should read:\n{want}"
    );
}

#[test]
fn the_status_reply_reports_every_setting() {
    use notifyring::reader::status::{Inputs, items};
    let mut config = Config::DEFAULT;
    for setting in &SETTINGS {
        let other = (0..=u32::MAX).find(|&v| v != setting.default && setting.allows(v)).unwrap();
        config.apply(setting.name, other).unwrap();
    }
    let inputs = Inputs {
        config,
        rings: 1,
        ring_bytes: 0,
        caps: config.caps,
        stats: notifyring::stats::Snapshot::default(),
        frequency: 1,
        reader: notifyring::reader::ReaderCounters::default(),
        attached: false,
        buffered: 0,
    };
    let reported = items(&inputs);
    for setting in &SETTINGS {
        let found = reported.iter().find(|(name, _)| *name == setting.name);
        assert_eq!(found.map(|&(_, v)| v), Some(u64::from(setting.value(&config))), "{}", setting.name);
    }
}

#[test]
fn the_config_line_names_every_setting_with_what_is_in_force() {
    use notifyring::config::ConfigLine;
    let config = Config::DEFAULT;
    let line = ConfigLine { config: &config, rings: 2, ring_bytes: 2 << 20, caps: config.effective_caps() };
    assert_eq!(
        line.to_string(),
        "config RingBytes=4194304 (in force: 2 rings of 2097152, one per processor) ImagePathCap=1024 \
         CommandLineCap=8192 (in force: 1024/8192) BatchSize=256 RunBudgetMilliseconds=10 PidTableSize=4096 \
         OmitCommandLine=0 StatsIntervalSeconds=60 EnableProcess=1 EnableThread=1 EnableImage=1 DebugLevel=3 \
         ReaderBytes=1048576 DebuggerOutput=0 KernelImageBases=0"
    );
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/windows.md")).unwrap();
    assert!(docs.contains(&format!("notifyring: {line}")), "docs/windows.md shows another config line");
}
