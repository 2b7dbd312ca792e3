//! The worker's process names: the file name of an image path (its last 64 units when
//! longer), and the pid table's insert / look-up / remove with probe chains intact.

use notifyring::vocab::process::{NAME_UNITS, Name, ProcessName};
use notifyring::worker::names::Names;
use proptest::prelude::*;

/// The reference, with std: the part after the last `\` or `/`, at most its last 64 units.
fn reference(path: &[u16]) -> Vec<u16> {
    let name = path.rsplit(|&u| u == u16::from(b'\\') || u == u16::from(b'/')).next().unwrap_or(&[]);
    name[name.len().saturating_sub(NAME_UNITS)..].to_vec()
}

proptest! {
    #[test]
    fn from_path_is_the_file_name(path in prop::collection::vec(prop_oneof![Just(0x5cu16), Just(0x2f), 0x20u16..0x80, any::<u16>()], 0..300)) {
        let name = Name::from_path(path.iter().copied());
        prop_assert_eq!(name.units(), &reference(&path)[..]);
    }

    #[test]
    fn table_behaves_like_a_map(ops in prop::collection::vec((0u64..64, any::<bool>(), any::<bool>()), 0..400)) {
        let mut table = Names::try_new(64).unwrap();
        let mut model = std::collections::HashMap::new();
        for (slot, insert, known) in ops {
            let pid = slot * 4;
            if insert {
                let name = Name::from_path(format!("p{pid}.exe").encode_utf16());
                if table.insert(pid, known.then_some(&name)) {
                    model.insert(pid, known.then_some(name));
                }
            } else {
                table.remove(pid);
                model.remove(&pid);
            }
            for probe in 0..64u64 {
                let pid = probe * 4;
                match (table.get(pid), model.get(&pid)) {
                    (None, None) | (Some(ProcessName::Unknown), Some(None)) => {}
                    (Some(ProcessName::Known(a)), Some(Some(b))) => prop_assert_eq!(a, b),
                    (got, want) => prop_assert!(false, "pid {}: {:?} vs {:?}", pid, got, want),
                }
            }
        }
    }
}

#[test]
fn examples() {
    let name = |s: &str| String::from_utf16(Name::from_path(s.encode_utf16()).units()).unwrap();
    assert_eq!(name(r"\Device\HarddiskVolume3\Windows\System32\notepad.exe"), "notepad.exe");
    assert_eq!(name("C:/tools/x.exe"), "x.exe");
    assert_eq!(name(r"C:\dir\"), "");
    let long = format!(r"C:\{}.exe", "a".repeat(100));
    assert_eq!(name(&long), format!("{}.exe", "a".repeat(60)), "the last 64 units keep the extension");
}
