//! What a Sigma rule means to notifyring's engine (rsigma 0.23, src/user/rules/), point
//! by point against the Sigma specification: the Sigma Rules Specification 2.0.0 and its
//! Sigma Modifiers appendix 2.1.0 (SigmaHQ/sigma-specification). Each test loads a small
//! rule written here through `Rules::from_sources`, evaluates crafted events and asserts
//! what the specification says, with an event that must match and one that must not.
//!
//! Where rsigma departs from the specification, the test asserts what rsigma does and a
//! comment beginning `DIFFERS:` says what the specification asks, so a change in rsigma
//! fails the test and the comment is read again. Where src/user/rules/ mends a
//! departure (`MENDED:`), the test asserts the specification.

use notifyring::user::rules::Rules;
use serde_json::{Map, Value, json};

/// A process creation rule whose `detection:` section is `detection` (indented 4), which
/// must load.
fn rule(detection: &str) -> Rules {
    let rules = Rules::from_sources([("t.yml", document(detection).as_bytes())]);
    let loaded = rules.loaded();
    assert_eq!((loaded.rules, loaded.failures.as_slice()), (1, &[][..]), "the rule loads:\n{detection}");
    rules
}

/// Why the rule with this `detection:` section does not load.
fn refused(detection: &str) -> String {
    let rules = Rules::from_sources([("t.yml", document(detection).as_bytes())]);
    let loaded = rules.loaded();
    assert_eq!((loaded.rules, loaded.failures.len()), (0, 1), "the rule is refused:\n{detection}");
    loaded.failures[0].reason.clone()
}

fn document(detection: &str) -> String {
    format!(
        "title: Semantics\nid: 5e3a0c1e-0000-4000-8000-000000000001\nlogsource:\n    product: windows\n    \
         category: process_creation\ndetection:{detection}\nlevel: high\n"
    )
}

/// Whether `rules` alert on a process create (`EventID` 1) with these fields.
fn fires(rules: &Rules, fields: &Value) -> bool {
    let mut event: Map<String, Value> = fields.as_object().expect("fields are an object").clone();
    event.insert("EventID".into(), Value::from(1));
    let mut n = 0;
    rules.evaluate(&Value::Object(event).to_string(), |_| n += 1);
    assert!(n <= 1, "one rule makes at most one alert");
    n == 1
}

/// The command line `c` as an event.
fn cmd(c: &str) -> Value {
    json!({ "CommandLine": c })
}

/// RFC 4648 base64 with padding, as the modifiers' values are encoded.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn the_local_base64_encoder_is_rfc_4648() {
    // RFC 4648, section 10.
    let vectors =
        [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")];
    for (plain, encoded) in vectors {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}

// --- Strings: equality, wildcards, escaping ---------------------------------------------

#[test]
fn a_plain_value_equals_the_whole_field_in_any_case() {
    // Spec, Detection/General: "All values are treated as case-insensitive strings."
    let r = rule(
        r"
    selection:
        Image: 'C:\Windows\System32\whoami.exe'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\Windows\\System32\\whoami.exe" })));
    assert!(fires(&r, &json!({ "Image": "c:\\WINDOWS\\system32\\WhoAmI.EXE" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\Windows\\System32\\whoami.exe.bak" })), "equality, not a prefix");
    assert!(!fires(&r, &json!({ "Image": "D:\\C:\\Windows\\System32\\whoami.exe" })), "equality, not a suffix");
    assert!(!fires(&r, &json!({})), "an absent field equals nothing");
}

#[test]
fn case_folding_covers_non_ascii_letters() {
    // The specification's case-insensitivity is not limited to ASCII.
    let r = rule(
        r"
    selection:
        CommandLine|contains: 'ÄRGER'
    condition: selection",
    );
    assert!(fires(&r, &cmd("kein ärger hier")));
    assert!(!fires(&r, &cmd("kein arger hier")));
}

#[test]
fn star_matches_any_run_and_question_mark_exactly_one_character() {
    // Spec, String Wildcard: `?` replaces a single mandatory character, `*` an unbounded
    // run (including none).
    let r = rule(
        r"
    selection:
        Image: 'C:\Tools\prog?.exe'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\Tools\\progA.exe" })));
    assert!(fires(&r, &json!({ "Image": "c:\\tools\\PROGé.EXE" })), "one character, not one byte");
    assert!(!fires(&r, &json!({ "Image": "C:\\Tools\\prog.exe" })), "`?` is mandatory");
    assert!(!fires(&r, &json!({ "Image": "C:\\Tools\\progAB.exe" })));

    let r = rule(
        r"
    selection:
        Image: 'C:\Tools\antivirus_V*.exe'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\Tools\\antivirus_V21.2.1.exe" })));
    assert!(fires(&r, &json!({ "Image": "C:\\Tools\\antivirus_V.exe" })), "`*` matches an empty run");
    assert!(!fires(&r, &json!({ "Image": "C:\\Tools\\antivirus_V1.exe.txt" })), "still anchored at both ends");
    assert!(!fires(&r, &json!({ "Image": "X:\\C:\\Tools\\antivirus_V1.exe" })));
}

#[test]
fn star_crosses_a_line_break() {
    // MENDED: the specification's `*` is "an unbounded length wildcard", any characters.
    // rsigma turns `*` into the regex `.*` without the `s` flag, so it stopped at a line
    // feed, and `?` did not match one; a Windows command line can hold line breaks.
    // mend.rs compiles such values with the flag.
    let r = rule(
        r"
    selection:
        CommandLine: '*powershell*-enc*'
    condition: selection",
    );
    assert!(fires(&r, &cmd("cmd /c powershell -enc AAAA")));
    assert!(fires(&r, &cmd("cmd /c powershell\n-enc AAAA")), "`*` crosses \\n");
    assert!(!fires(&r, &cmd("cmd /c -enc\npowershell")), "still in order");
    let r = rule(
        r"
    selection:
        CommandLine|contains: 'a?b'
    condition: selection",
    );
    assert!(fires(&r, &cmd("xa-by")));
    assert!(fires(&r, &cmd("xa\nby")), "`?` matches \\n");
    assert!(!fires(&r, &cmd("xa\n\nby")), "`?` is one character");
    let r = rule(
        r"
    selection:
        CommandLine|contains: 'powershell'
    condition: selection",
    );
    assert!(fires(&r, &cmd("cmd /c\npowershell\n-enc AAAA")), "a substring search crosses lines");
}

#[test]
fn backslash_escapes_wildcards_and_itself_only() {
    // Spec, Escaping: `\*` and `\?` are plain characters; `\\*` is a backslash followed by
    // a wildcard; `\\\*` a backslash and a plain star; a backslash before anything else
    // is a plain backslash.
    let r = rule(
        r"
    selection:
        CommandLine: 'echo \*\?'
    condition: selection",
    );
    assert!(fires(&r, &cmd("echo *?")));
    assert!(!fires(&r, &cmd("echo ab")), "escaped wildcards are no wildcards");

    let r = rule(
        r"
    selection:
        CommandLine: 'dir C:\\*'
    condition: selection",
    );
    assert!(fires(&r, &cmd("dir C:\\Windows")), "`\\\\*`: a backslash, then a wildcard");
    assert!(!fires(&r, &cmd("dir C:Windows")));

    let r = rule(
        r"
    selection:
        CommandLine: 'dir C:\\\*'
    condition: selection",
    );
    assert!(fires(&r, &cmd("dir C:\\*")), "`\\\\\\*`: a backslash and a plain star");
    assert!(!fires(&r, &cmd("dir C:\\Windows")));

    let r = rule(
        r"
    selection:
        Image: 'C:\Windows\System32\cmd.exe'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\Windows\\System32\\cmd.exe" })), "a lone backslash is plain");
}

// --- contains, startswith, endswith, all ---------------------------------------------------

#[test]
fn contains_startswith_endswith_place_the_value_and_ignore_case() {
    // Modifiers appendix, Generic Modifiers.
    let r = rule(
        r"
    selection:
        CommandLine|contains: 'sekurlsa::'
    condition: selection",
    );
    assert!(fires(&r, &cmd("mimikatz.exe SEKURLSA::logonpasswords exit")));
    assert!(!fires(&r, &cmd("mimikatz.exe sekurlsa:logonpasswords")));

    let r = rule(
        r"
    selection:
        CommandLine|startswith: 'net user'
    condition: selection",
    );
    assert!(fires(&r, &cmd("NET USER admin /add")));
    assert!(!fires(&r, &cmd("cmd /c net user admin /add")));

    let r = rule(
        r"
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\Windows\\System32\\WHOAMI.EXE" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\Windows\\System32\\whoami.exe.mui" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\Tools\\notwhoami.exe" })), "the backslash is part of the value");
}

#[test]
fn contains_all_needs_every_value_in_any_order() {
    // Modifiers appendix: `all` links the list with AND instead of OR.
    let r = rule(
        r"
    selection:
        CommandLine|contains|all:
            - ' -nop '
            - ' -w hidden '
            - 'downloadstring'
    condition: selection",
    );
    assert!(fires(&r, &cmd("powershell -w hidden -nop -c iex(new-object net.webclient).DownloadString('x')")));
    assert!(!fires(&r, &cmd("powershell -nop -c iex(new-object net.webclient).DownloadString('x')")));
}

#[test]
fn all_with_a_single_value_is_refused() {
    // Modifiers appendix: "Single item values are not allowed to have an all modifier".
    // rsigma refuses the rule, so notifyring names it as a failure and loads the rest.
    let reason = refused(
        r"
    selection:
        CommandLine|contains|all: 'only'
    condition: selection",
    );
    assert!(reason.contains("all"), "{reason}");
}

#[test]
fn a_value_list_is_an_or() {
    // Spec, Lists and Maps: a list of values is OR-linked; the items of a map are
    // AND-linked; a list of maps is OR-linked.
    let r = rule(
        r"
    selection:
        Image|endswith:
            - '\certutil.exe'
            - '\bitsadmin.exe'
        CommandLine|contains: 'http'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\w\\certutil.exe", "CommandLine": "certutil -urlcache http://x" })));
    assert!(fires(&r, &json!({ "Image": "C:\\w\\bitsadmin.exe", "CommandLine": "bitsadmin /transfer http://x" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\w\\curl.exe", "CommandLine": "curl http://x" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\w\\certutil.exe", "CommandLine": "certutil -hashfile x" })));

    let r = rule(
        r"
    selection:
        - Image|endswith: '\example.exe'
        - Description|contains: 'Test executable'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\example.exe" })));
    assert!(fires(&r, &json!({ "Image": "C:\\other.exe", "Description": "a test executable" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\other.exe", "Description": "other" })));
}

// --- Regular expressions ------------------------------------------------------------------

#[test]
fn re_is_case_sensitive_unless_i_and_searches_anywhere() {
    // Modifiers appendix, Regular Expression: "Regex is matched case-sensitive by
    // default"; the `i` sub-modifier makes it insensitive. The specification does not say
    // whether the pattern is anchored; the rules assume a search (they write `^` and `$`
    // where they mean them), and rsigma searches.
    let r = rule(
        r"
    selection:
        CommandLine|re: 'Invoke-[A-Z][a-z]+'
    condition: selection",
    );
    assert!(fires(&r, &cmd("powershell Invoke-Mimikatz -DumpCreds")));
    assert!(!fires(&r, &cmd("powershell invoke-mimikatz -dumpcreds")));

    let r = rule(
        r"
    selection:
        CommandLine|re|i: 'Invoke-[A-Z][a-z]+'
    condition: selection",
    );
    assert!(fires(&r, &cmd("powershell invoke-mimikatz -dumpcreds")));
    assert!(!fires(&r, &cmd("powershell Invoke- -dumpcreds")));

    let r = rule(
        r"
    selection:
        CommandLine|re: '^cmd'
    condition: selection",
    );
    assert!(fires(&r, &cmd("cmd /c x")));
    assert!(!fires(&r, &cmd("x cmd /c")), "`^` anchors");
}

#[test]
fn re_m_and_s_change_line_anchors_and_dot() {
    // Modifiers appendix: `m` makes `^`/`$` match at line starts and ends; `s` lets `.`
    // match a newline.
    let r = rule(
        r"
    selection:
        CommandLine|re|m: '^-enc$'
    condition: selection",
    );
    assert!(fires(&r, &cmd("powershell\n-enc\nAAAA")));
    let r = rule(
        r"
    selection:
        CommandLine|re: '^-enc$'
    condition: selection",
    );
    assert!(!fires(&r, &cmd("powershell\n-enc\nAAAA")));

    let r = rule(
        r"
    selection:
        CommandLine|re|s: 'powershell.-enc'
    condition: selection",
    );
    assert!(fires(&r, &cmd("powershell\n-enc")));
    let r = rule(
        r"
    selection:
        CommandLine|re: 'powershell.-enc'
    condition: selection",
    );
    assert!(!fires(&r, &cmd("powershell\n-enc")));
}

#[test]
fn regex_flags_without_re_are_refused() {
    // The appendix defines `i`, `m`, `s` as sub-modifiers of `re` only; rsigma refuses them
    // elsewhere rather than ignore them.
    let reason = refused(
        r"
    selection:
        CommandLine|contains|i: 'x'
    condition: selection",
    );
    assert!(reason.contains("re"), "{reason}");
}

// --- cidr ---------------------------------------------------------------------------------

#[test]
fn cidr_matches_addresses_inside_the_network_v4_and_v6() {
    // Modifiers appendix, IP Modifiers: "Supports both IPv4 and IPv6 notations".
    // notifyring's events carry no address; the rule engine does not care which field.
    let r = rule(
        r"
    selection:
        DestinationIp|cidr:
            - '10.0.0.0/8'
            - 'fe80::/10'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "DestinationIp": "10.20.30.40" })));
    assert!(fires(&r, &json!({ "DestinationIp": "fe80::1ff:fe23:4567:890a" })));
    assert!(!fires(&r, &json!({ "DestinationIp": "11.0.0.1" })));
    assert!(!fires(&r, &json!({ "DestinationIp": "fec0::1" })));
    assert!(!fires(&r, &json!({ "DestinationIp": "10.0.0.1.example" })), "not an address");
}

// --- windash ------------------------------------------------------------------------------

#[test]
fn windash_turns_a_dash_into_every_dash_and_the_slash() {
    // Modifiers appendix: permutations of `-`, `/`, en dash, em dash and horizontal bar.
    let r = rule(
        r"
    selection:
        CommandLine|windash|contains: ' -enc '
    condition: selection",
    );
    for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        assert!(fires(&r, &cmd(&format!("powershell {dash}enc AAAA"))), "{dash}");
    }
    assert!(!fires(&r, &cmd("powershell +enc AAAA")));
    assert!(!fires(&r, &cmd("powershell enc AAAA")));
}

#[test]
fn windash_turns_a_slash_into_each_dash() {
    // MENDED: the appendix converts all five characters "interchangeably", so a rule
    // written with `/` (SigmaHQ has some, e.g. `CommandLine|contains|windash: '/format:'`)
    // matches `-format:` too. rsigma expanded only `-`; mend.rs expands both, as pySigma.
    let r = rule(
        r"
    selection:
        CommandLine|windash|contains: ' /delete'
    condition: selection",
    );
    assert!(fires(&r, &cmd("schtasks /delete /tn x")));
    assert!(fires(&r, &cmd("schtasks -delete -tn x")), "`/` is expanded");
    assert!(fires(&r, &cmd("schtasks \u{2013}delete \u{2013}tn x")));
    assert!(!fires(&r, &cmd("schtasks +delete")));
}

#[test]
fn windash_keeps_wildcards() {
    // MENDED: with `windash`, rsigma matched a value holding a wildcard as its raw text,
    // the `*` as a plain star; the specification applies the modifier to the value and
    // keeps its wildcards, as mend.rs now does.
    let r = rule(
        r"
    selection:
        CommandLine|windash: 'sc -config *'
    condition: selection",
    );
    assert!(fires(&r, &cmd("sc -config svc")), "the star is a wildcard");
    assert!(fires(&r, &cmd("sc /config svc")));
    assert!(!fires(&r, &cmd("sc -start svc")));
}

// --- base64 and base64offset --------------------------------------------------------------

#[test]
fn base64_matches_the_encoded_value() {
    // Modifiers appendix, Encoding: "The value is encoded with Base64".
    let r = rule(
        r"
    selection:
        CommandLine|base64: 'whoami /all'
    condition: selection",
    );
    assert!(fires(&r, &cmd(&base64(b"whoami /all"))));
    assert!(!fires(&r, &cmd("whoami /all")));
    assert!(!fires(&r, &cmd(&format!("x{}", base64(b"whoami /all")))), "without contains: equality");

    let r = rule(
        r"
    selection:
        CommandLine|base64|contains: 'whoami'
    condition: selection",
    );
    assert!(fires(&r, &cmd(&format!("powershell -e {}", base64(b"whoami")))));
}

#[test]
fn base64offset_contains_finds_the_value_mid_text_at_every_offset() {
    // MENDED: the appendix's three variants, for shifts of zero to two bytes, find the
    // value anywhere in an encoded text; each keeps only "the static part in the middle"
    // (pySigma drops the first characters, which depend on the bytes before the value,
    // and the last ones, which depend on the bytes after it). rsigma kept the last
    // character where the value does not end on a 3-byte boundary, so a value followed by
    // more text was found at only one shift of three. mend.rs encodes the variants as
    // pySigma does. Four shared rules use `base64offset|contains`.
    let r = rule(
        r"
    selection:
        CommandLine|base64offset|contains: 'Invoke-Mimikatz'
    condition: selection",
    );
    for prefix in ["", "a", "ab", "abc", "iex (x); "] {
        let text = base64(format!("{prefix}Invoke-Mimikatz|Out-File x").as_bytes());
        assert!(fires(&r, &cmd(&format!("powershell -e {text}"))), "prefix {prefix:?}: {text}");
        // At the end of the text, every shift is found.
        let text = base64(format!("{prefix}Invoke-Mimikatz").as_bytes());
        assert!(fires(&r, &cmd(&format!("powershell -e {text}"))), "prefix {prefix:?} at the end: {text}");
    }
    assert!(!fires(&r, &cmd(&format!("powershell -e {}", base64(b"Invoke-Mimikittens")))));
    // The general rule makes values case-insensitive, and rsigma applies it to the
    // encoded text too: a lower-cased encoding still matches, though base64 is case
    // sensitive (it decodes to other bytes). Backends that match case-insensitively do
    // the same; this can only add matches, never lose one.
    let text = base64(b"Invoke-Mimikatz").to_lowercase();
    assert!(fires(&r, &cmd(&text)));
}

#[test]
fn wide_base64offset_finds_utf16_text_as_powershell_encodes_it() {
    // Modifiers appendix: `wide` (`utf16le`) encodes the value as UTF-16LE before base64,
    // which is what `powershell -EncodedCommand` carries.
    let r = rule(
        r"
    selection:
        CommandLine|wide|base64offset|contains: 'Invoke-Mimikatz'
    condition: selection",
    );
    let utf16: Vec<u8> = "IEX (x); Invoke-Mimikatz".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert!(fires(&r, &cmd(&format!("powershell -enc {}", base64(&utf16)))));
    assert!(!fires(&r, &cmd(&format!("powershell -enc {}", base64(b"IEX (x); Invoke-Mimikatz")))));
}

// --- exists, null, empty ------------------------------------------------------------------

#[test]
fn exists_tests_presence() {
    // Modifiers appendix: `exists` "has to exist or must not exist".
    let r = rule(
        r"
    selection:
        Image|endswith: '\cmd.exe'
        ParentUser|exists: true
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\cmd.exe", "ParentUser": "NT AUTHORITY\\SYSTEM" })));
    assert!(fires(&r, &json!({ "Image": "C:\\cmd.exe", "ParentUser": "" })), "an empty value exists");
    assert!(!fires(&r, &json!({ "Image": "C:\\cmd.exe" })));

    let r = rule(
        r"
    selection:
        Image|endswith: '\cmd.exe'
        ParentUser|exists: false
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\cmd.exe" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\cmd.exe", "ParentUser": "x" })));
}

#[test]
fn exists_counts_a_null_value_as_absent() {
    // DIFFERS: the appendix says `exists` "only verifies the presence of a field, not its
    // value, be it empty or null", so a key holding JSON null exists. rsigma treats a
    // null value as absent. notifyring's objects never hold null (a fact not known is
    // left out, docs/json.md), so its events are not affected.
    let r = rule(
        r"
    selection:
        ParentUser|exists: true
    condition: selection",
    );
    assert!(!fires(&r, &json!({ "ParentUser": null })), "rsigma: null does not exist");
    let r = rule(
        r"
    selection:
        ParentUser|exists: false
    condition: selection",
    );
    assert!(fires(&r, &json!({ "ParentUser": null })));
}

#[test]
fn null_matches_an_absent_or_null_field_and_empty_only_the_empty_string() {
    // Spec, Special Field Values: `''` is the empty value, `null` the null value. As
    // pySigma's backends do, null means "absent or null"; the empty string is another
    // value, so `''` does not match an absent field.
    let r = rule(
        r"
    selection:
        Image|endswith: '\conhost.exe'
    filter_null:
        ParentImage: null
    condition: selection and not filter_null",
    );
    assert!(!fires(&r, &json!({ "Image": "C:\\conhost.exe" })), "absent is null");
    assert!(!fires(&r, &json!({ "Image": "C:\\conhost.exe", "ParentImage": null })));
    assert!(fires(&r, &json!({ "Image": "C:\\conhost.exe", "ParentImage": "" })), "empty is not null");
    assert!(fires(&r, &json!({ "Image": "C:\\conhost.exe", "ParentImage": "C:\\x.exe" })));

    let r = rule(
        r"
    selection:
        Image|endswith: '\conhost.exe'
    filter_empty:
        ParentImage: ''
    condition: selection and not filter_empty",
    );
    assert!(!fires(&r, &json!({ "Image": "C:\\conhost.exe", "ParentImage": "" })));
    assert!(fires(&r, &json!({ "Image": "C:\\conhost.exe" })), "absent is not empty");
    assert!(fires(&r, &json!({ "Image": "C:\\conhost.exe", "ParentImage": "C:\\x.exe" })));
}

#[test]
fn null_in_a_value_list_matches_an_absent_field() {
    // MENDED: a value list is an OR, so `[null, '']` matches an absent field (its null
    // alternative does). rsigma matched an absent field only against a lone `null`;
    // mend.rs splits the list. No shared rule writes null inside a list.
    let r = rule(
        r"
    selection:
        ParentImage:
            - null
            - ''
    condition: selection",
    );
    assert!(fires(&r, &json!({ "ParentImage": "" })));
    assert!(fires(&r, &json!({ "ParentImage": null })), "a present null still matches");
    assert!(fires(&r, &json!({})), "absent matches the list's null");
    assert!(!fires(&r, &json!({ "ParentImage": "C:\\p.exe" })));
}

// --- Conditions ---------------------------------------------------------------------------

/// Three selections for the condition tests: `selection_a` (`Image` ends with `\a.exe`),
/// `selection_b` (`CommandLine` contains `-b`), `_helper` (`User` is `u`).
fn three_selections(condition: &str) -> Rules {
    rule(&format!(
        r"
    selection_a:
        Image|endswith: '\a.exe'
    selection_b:
        CommandLine|contains: '-b'
    _helper:
        User: 'u'
    condition: {condition}"
    ))
}

#[test]
fn one_of_and_all_of_a_pattern() {
    // Spec, Condition: `1 of selection_*` ORs the matching identifiers, `all of` ANDs them.
    let any = three_selections("1 of selection_*");
    let all = three_selections("all of selection_*");
    let a = json!({ "Image": "C:\\a.exe", "CommandLine": "x" });
    let b = json!({ "Image": "C:\\z.exe", "CommandLine": "x -b" });
    let ab = json!({ "Image": "C:\\a.exe", "CommandLine": "x -b" });
    let none = json!({ "Image": "C:\\z.exe", "CommandLine": "x", "User": "u" });
    assert_eq!([&a, &b, &ab, &none].map(|e| fires(&any, e)), [true, true, true, false]);
    assert_eq!([&a, &b, &ab, &none].map(|e| fires(&all, e)), [false, false, true, false]);
}

#[test]
fn them_leaves_out_identifiers_starting_with_an_underscore() {
    // Spec, Condition: `1 of them` covers "all defined search identifiers not starting
    // with an underscore".
    let r = three_selections("1 of them");
    assert!(fires(&r, &json!({ "Image": "C:\\a.exe" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\z.exe", "User": "u" })), "`_helper` is not one of them");
    let r = three_selections("all of them");
    assert!(fires(&r, &json!({ "Image": "C:\\a.exe", "CommandLine": "-b" })), "`_helper` is not needed");
}

#[test]
fn not_and_precedence() {
    // Spec, Condition: precedence from least to most binding is or, and, not, `x of`,
    // brackets.
    let r = three_selections("selection_a and not _helper");
    assert!(fires(&r, &json!({ "Image": "C:\\a.exe" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\a.exe", "User": "U" })), "values ignore case");

    // `a or b and not h` is `a or (b and not h)`.
    let r = three_selections("selection_a or selection_b and not _helper");
    assert!(fires(&r, &json!({ "Image": "C:\\a.exe", "User": "u" })), "a alone suffices");
    assert!(!fires(&r, &json!({ "CommandLine": "-b", "User": "u" })));
    assert!(fires(&r, &json!({ "CommandLine": "-b" })));

    // `not 1 of selection_*` negates the whole `1 of`.
    let r = three_selections("_helper and not 1 of selection_*");
    assert!(fires(&r, &json!({ "User": "u" })));
    assert!(!fires(&r, &json!({ "User": "u", "CommandLine": "-b" })));

    let r = three_selections("(selection_a or selection_b) and not _helper");
    assert!(!fires(&r, &json!({ "CommandLine": "-b", "User": "u" })));
}

#[test]
fn a_list_of_conditions_is_an_or() {
    // Spec, Condition: "The condition can be a list ... They are logically linked with OR."
    let r = rule(
        r"
    selection_a:
        Image|endswith: '\a.exe'
    selection_b:
        CommandLine|contains: '-b'
    condition:
        - selection_a
        - selection_b",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\a.exe" })));
    assert!(fires(&r, &json!({ "CommandLine": "-b" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\z.exe" })));
}

#[test]
fn keywords_search_every_string_value() {
    // Spec, Keywords search: a plain list under an identifier is searched "across an entire
    // event", OR-linked. rsigma looks for each keyword inside every string value (any
    // case); numbers are not searched as text.
    let r = rule(
        r"
    keywords:
        - 'sekurlsa'
        - 'lsadump'
    condition: keywords",
    );
    assert!(fires(&r, &json!({ "ParentCommandLine": "mimikatz LSADUMP::sam" })));
    assert!(fires(&r, &json!({ "Image": "C:\\sekurlsa.exe" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\x.exe", "CommandLine": "dump" })));

    let r = rule(
        r"
    keywords:
        - '4242'
    condition: keywords",
    );
    assert!(fires(&r, &json!({ "CommandLine": "taskkill /pid 4242" })));
    assert!(!fires(&r, &json!({ "ProcessId": 4242 })), "a number is not text to a keyword");
}

// --- Numbers --------------------------------------------------------------------------------

#[test]
fn numbers_match_integer_fields_and_their_text() {
    // Spec: "All values are treated as case-insensitive strings", and numeric values are
    // written unquoted: `ProcessId: 42` and `ProcessId: '42'` both match an integer 42
    // (notifyring prints ids as JSON integers) and its text "42".
    let r = rule(
        r"
    selection:
        ProcessId: 42
    condition: selection",
    );
    assert!(fires(&r, &json!({ "ProcessId": 42 })));
    assert!(fires(&r, &json!({ "ProcessId": "42" })));
    assert!(!fires(&r, &json!({ "ProcessId": 420 })));
    assert!(!fires(&r, &json!({ "ProcessId": 4 })));

    let r = rule(
        r"
    selection:
        ProcessId: '42'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "ProcessId": 42 })));
    assert!(!fires(&r, &json!({ "ProcessId": 43 })));

    let r = rule(
        r"
    selection:
        ProcessId: '4*'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "ProcessId": 4242 })), "a wildcard applies to a number's text");
    assert!(!fires(&r, &json!({ "ProcessId": 142 })));
}

#[test]
fn gt_gte_lt_lte_compare_numbers() {
    // Modifiers appendix, Numeric Modifiers.
    let r = rule(
        r"
    selection:
        ProcessId|gt: 100
        ParentProcessId|lte: 4
    condition: selection",
    );
    assert!(fires(&r, &json!({ "ProcessId": 101, "ParentProcessId": 4 })));
    assert!(fires(&r, &json!({ "ProcessId": "4000", "ParentProcessId": 0 })), "a number's text compares");
    assert!(!fires(&r, &json!({ "ProcessId": 100, "ParentProcessId": 4 })));
    assert!(!fires(&r, &json!({ "ProcessId": 101, "ParentProcessId": 5 })));
    assert!(!fires(&r, &json!({ "ProcessId": "many", "ParentProcessId": 0 })));

    let r = rule(
        r"
    selection:
        ProcessId|gte: 100
        ParentProcessId|lt: 4
    condition: selection",
    );
    assert!(fires(&r, &json!({ "ProcessId": 100, "ParentProcessId": 3 })));
    assert!(!fires(&r, &json!({ "ProcessId": 99, "ParentProcessId": 3 })));
    assert!(!fires(&r, &json!({ "ProcessId": 100, "ParentProcessId": 4 })));
}

#[test]
fn neq_matches_a_present_different_value_only() {
    // Modifiers appendix 2.1: `neq`, "the field is different from the specified values".
    // The appendix does not say what an absent field is; rsigma: no match, as a
    // comparison with a missing value.
    let r = rule(
        r"
    selection:
        IntegrityLevel|neq:
            - Medium
            - Low
    condition: selection",
    );
    assert!(fires(&r, &json!({ "IntegrityLevel": "High" })));
    assert!(!fires(&r, &json!({ "IntegrityLevel": "MEDIUM" })), "neq ignores case too");
    assert!(!fires(&r, &json!({ "IntegrityLevel": "Low" })), "different from every value");
    assert!(!fires(&r, &json!({})));
}

// --- cased, fieldref, expand, time parts -----------------------------------------------------

#[test]
fn cased_makes_the_match_case_sensitive() {
    // Modifiers appendix: `cased`, "Values are applied case sensitively".
    let r = rule(
        r"
    selection:
        CommandLine|contains|cased: 'SeDebugPrivilege'
    condition: selection",
    );
    assert!(fires(&r, &cmd("x SeDebugPrivilege y")));
    assert!(!fires(&r, &cmd("x sedebugprivilege y")));
    let r = rule(
        r"
    selection:
        Image|cased: 'C:\Windows\cmd.exe'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\Windows\\cmd.exe" })));
    assert!(!fires(&r, &json!({ "Image": "c:\\windows\\cmd.exe" })));
}

#[test]
fn fieldref_compares_two_fields_of_the_event() {
    // Modifiers appendix: `fieldref` "compare[s] fields of matched events". The shared
    // rule proc_creation_win_susp_cross_user_process_spawn filters `User|fieldref:
    // ParentUser`; notifyring gives both on EventID 1. Like other values it ignores case;
    // a missing field on either side compares unequal.
    let r = rule(
        r"
    selection:
        Image|endswith: '\notepad.exe'
    filter_same_user:
        User|fieldref: ParentUser
    condition: selection and not filter_same_user",
    );
    let event = |user: Option<&str>, parent: Option<&str>| {
        let mut e = json!({ "Image": "C:\\notepad.exe" });
        if let Some(u) = user {
            e["User"] = u.into();
        }
        if let Some(p) = parent {
            e["ParentUser"] = p.into();
        }
        e
    };
    assert!(!fires(&r, &event(Some("PC\\alice"), Some("PC\\alice"))));
    assert!(!fires(&r, &event(Some("PC\\alice"), Some("pc\\ALICE"))), "case is ignored");
    assert!(fires(&r, &event(Some("PC\\alice"), Some("NT AUTHORITY\\SYSTEM"))));
    assert!(fires(&r, &event(Some("PC\\alice"), None)), "no parent user: not the same");
    assert!(fires(&r, &event(None, Some("PC\\alice"))));

    // Appendix 2.1: `fieldref` "can be combined with the neq modifier".
    let r = rule(
        r"
    selection:
        Image|endswith: '\notepad.exe'
        User|fieldref|neq: ParentUser
    condition: selection",
    );
    assert!(fires(&r, &event(Some("PC\\alice"), Some("NT AUTHORITY\\SYSTEM"))));
    assert!(!fires(&r, &event(Some("PC\\alice"), Some("pc\\alice"))));
}

#[test]
fn expand_fills_placeholders_from_the_event_instead_of_refusing_them() {
    // DIFFERS: the specification leaves a placeholder (`field|expand: '%name%'`) to the
    // processing pipeline and says a tool that cannot handle it "must reject the rule".
    // rsigma loads the rule and replaces `%name%` with the event's own field `name`
    // (nothing, where there is none). No shared rule uses `expand`.
    let r = rule(
        r"
    selection:
        CommandLine|expand: '%Image% /c whoami'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "cmd.exe", "CommandLine": "cmd.exe /c whoami" })));
    assert!(!fires(&r, &json!({ "Image": "cmd.exe", "CommandLine": "%Image% /c whoami" })));
    let r = rule(
        r"
    selection:
        User|expand: '%Administrators%'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "User": "" })), "rsigma: an unknown placeholder expands to nothing");
    assert!(!fires(&r, &json!({ "User": "PC\\admin" })));
}

#[test]
fn time_parts_do_not_read_notifyrings_utc_time() {
    // DIFFERS (for notifyring's events): the appendix's time modifiers (`minute` … `year`)
    // take a number from a date. rsigma reads RFC 3339 and `YYYY-MM-DD HH:MM:SS` without
    // a fraction, but not Sysmon's `UtcTime` (`2026-01-01 10:20:30.123`, which notifyring
    // prints): on it they never match. No shared rule uses them.
    let r = rule(
        r"
    selection:
        UtcTime|hour: 10
    condition: selection",
    );
    assert!(fires(&r, &json!({ "UtcTime": "2026-01-01T10:20:30Z" })));
    assert!(fires(&r, &json!({ "UtcTime": "2026-01-01 10:20:30" })));
    assert!(!fires(&r, &json!({ "UtcTime": "2026-01-01T11:20:30Z" })));
    assert!(!fires(&r, &json!({ "UtcTime": "2026-01-01 10:20:30.123" })), "rsigma: Sysmon's form is not read");
}

#[test]
fn startswith_and_endswith_anchor_their_own_end_with_wildcards_too() {
    // MENDED: a value with a wildcard under `startswith` must match at the start of the
    // field and one under `endswith` at its end. rsigma 0.23 anchored them the other way
    // round (`startswith: 'a?c'` matched `xabc`, not `abcx`); mend.rs anchors them.
    let r = rule(
        r"
    selection:
        Image|startswith: 'C:\Program Files\Vend?r'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\Program Files\\Vendor\\tool.exe" })));
    assert!(!fires(&r, &json!({ "Image": "D:\\C:\\Program Files\\Vendor\\" })));
    let r = rule(
        r"
    selection:
        Image|endswith: '\tool?.exe'
    condition: selection",
    );
    assert!(fires(&r, &json!({ "Image": "C:\\x\\tool2.exe" })));
    assert!(!fires(&r, &json!({ "Image": "C:\\x\\tool2.exe.bak" })));
}
