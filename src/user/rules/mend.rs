//! Where rsigma 0.23 departs from the Sigma specification, mended on the parsed rule
//! before it is compiled ([`mend`]), found by probing it against pySigma
//! (docs/sigma-agreement.md) and the specification (`tests/sigma_semantics.rs`, `MENDED`):
//! * a wildcard `*` or `?` must match any character, line breaks included (command lines
//!   hold them), and rsigma's regex for it does not;
//! * a value with wildcards under `startswith` was anchored at the end and one under
//!   `endswith` at the start (`startswith: 'a?c'` matched `xabc`, not `abcx`);
//!
//!   such values become regexes with the dot-matches-newline flag, anchored as their
//!   modifiers say;
//! * a value list holding `null` (`Field: [null, '']`) never matched an event without the
//!   field: such an item is split into its `null` and its other values, either of which
//!   may match;
//! * `windash` expanded only a `-` written in the rule, not a `/`, and took a wildcard in
//!   such a value literally: the values are expanded here, as pySigma does;
//! * `base64offset` must drop the last base64 character of each of its three encodings
//!   where its bits depend on the bytes after the value; rsigma kept it, so a value in
//!   mid-text matched at one byte shift of three: the values are encoded here.

use std::borrow::ToOwned;
use std::string::String;
use std::vec;
use std::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsigma_parser::{Detection, DetectionItem, Modifier, SigmaRule, SigmaString, SigmaValue, SpecialChar, StringPart};

/// Mends the two departures from the specification named in the module doc, in every
/// detection item of `rule`.
pub(super) fn mend(rule: &mut SigmaRule) {
    fn walk(detection: &mut Detection, splits: usize) {
        match detection {
            Detection::AllOf(items) => {
                if let Some(split) = split(items, splits < MAX_SPLITS) {
                    *detection = split;
                    walk(detection, splits + 1);
                } else {
                    items.iter_mut().for_each(mend_item);
                }
            }
            Detection::AnyOf(inner) => inner.iter_mut().for_each(|d| walk(d, splits)),
            _ => {}
        }
    }
    rule.detection.named.values_mut().for_each(|d| walk(d, 0));
}

/// Items split per selection at most this many times (each doubles it).
const MAX_SPLITS: usize = 4;

/// An item whose value list (an OR) must be matched in two parts: the items with one part,
/// or else with the other.
/// * `null` among other values (`Field: [null, '']`): `null` alone matches an event
///   without the field, which rsigma's mixed list does not;
/// * values with wildcards beside plain ones, while `wildcards` (the split budget) allows:
///   only the former become regexes ([`mend_wildcards`]), the plain ones keep rsigma's
///   faster matchers.
fn split(items: &[DetectionItem], wildcards: bool) -> Option<Detection> {
    let null = |v: &SigmaValue| *v == SigmaValue::Null;
    let wild = |v: &SigmaValue| matches!(v, SigmaValue::String(s) if !s.is_plain());
    let (at, part): (usize, &dyn Fn(&SigmaValue) -> bool) = items.iter().enumerate().find_map(|(at, item)| {
        let mixed = |p: &dyn Fn(&SigmaValue) -> bool| item.values.iter().any(p) && !item.values.iter().all(p);
        if item.field.modifiers.contains(&Modifier::All) {
            None
        } else if mixed(&null) {
            Some((at, &null as &dyn Fn(&SigmaValue) -> bool))
        } else if wildcards && only_strings(item) && mixed(&wild) {
            Some((at, &wild as &dyn Fn(&SigmaValue) -> bool))
        } else {
            None
        }
    })?;
    let mut first = items.to_vec();
    first[at].values.retain(|v| part(v));
    let mut rest = items.to_vec();
    rest[at].values.retain(|v| !part(v));
    Some(Detection::AnyOf(vec![Detection::AllOf(first), Detection::AllOf(rest)]))
}

/// Whether an item is string matching only ([`mend_wildcards`]'s modifiers), on strings.
fn only_strings(item: &DetectionItem) -> bool {
    let string = [Modifier::Contains, Modifier::StartsWith, Modifier::EndsWith, Modifier::All, Modifier::Cased];
    item.field.modifiers.iter().all(|m| string.contains(m))
        && item.values.iter().all(|v| matches!(v, SigmaValue::String(_)))
}

fn mend_item(item: &mut DetectionItem) {
    if item.field.modifiers.contains(&Modifier::WindAsh) {
        mend_windash(item);
    }
    let has = |m: Modifier| item.field.modifiers.contains(&m);
    if has(Modifier::Base64Offset) {
        mend_base64offset(item);
    } else if item.values.iter().any(|v| matches!(v, SigmaValue::String(s) if !s.is_plain())) {
        mend_wildcards(item);
    }
}

/// The dashes `windash` stands for.
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// More values than this from one `windash` value: left to rsigma.
const MAX_WINDASH_VALUES: usize = 625;

/// `windash`: every value with each of its option dashes (a `-` or `/` after a non-word
/// character and before a word character, pySigma's `\B[-/]\b`) in each of the five forms.
/// rsigma expanded only `-`, and took a wildcard in such a value literally.
fn mend_windash(item: &mut DetectionItem) {
    let mut values = Vec::new();
    for value in &item.values {
        let SigmaValue::String(s) = value else { return };
        let chars: Vec<char> = s.original.chars().collect();
        let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
        let at: Vec<usize> = (0..chars.len())
            .filter(|&i| {
                matches!(chars[i], '-' | '/')
                    && !word(i.checked_sub(1).and_then(|j| chars.get(j)))
                    && word(chars.get(i + 1))
            })
            .collect();
        let count = u32::try_from(at.len()).ok().and_then(|n| DASHES.len().checked_pow(n));
        if count.is_none_or(|n| n > MAX_WINDASH_VALUES) {
            return;
        }
        let mut variants = vec![chars.clone()];
        for &i in &at {
            variants = variants
                .into_iter()
                .flat_map(|v| {
                    DASHES.iter().map(move |&d| {
                        let mut v = v.clone();
                        v[i] = d;
                        v
                    })
                })
                .collect();
        }
        values.extend(variants.iter().map(|v| SigmaValue::String(SigmaString::new(&v.iter().collect::<String>()))));
    }
    item.values = values;
    item.field.modifiers.retain(|m| *m != Modifier::WindAsh);
}

/// `base64offset|contains`: the three encodings of each value, at offsets 0, 1 and 2, each
/// without the characters that depend on bytes outside the value (the specification's,
/// and pySigma's, expansion), matched as plain `contains` values in the same case mode.
fn mend_base64offset(item: &mut DetectionItem) {
    let modifiers = &item.field.modifiers;
    let known = [
        Modifier::Base64Offset,
        Modifier::Contains,
        Modifier::Cased,
        Modifier::Wide,
        Modifier::Utf16,
        Modifier::Utf16be,
    ];
    // `all` would require every encoding of a value, not one of them: left as it is.
    if !modifiers.contains(&Modifier::Contains) || modifiers.iter().any(|m| !known.contains(m)) {
        return;
    }
    let mut values = Vec::new();
    for value in &item.values {
        let SigmaValue::String(s) = value else { return };
        let Some(text) = s.as_plain() else { return };
        let bytes = if modifiers.contains(&Modifier::Wide) {
            text.encode_utf16().flat_map(u16::to_le_bytes).collect()
        } else if modifiers.contains(&Modifier::Utf16be) {
            text.encode_utf16().flat_map(u16::to_be_bytes).collect()
        } else if modifiers.contains(&Modifier::Utf16) {
            [0xff, 0xfe].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
        } else {
            text.as_bytes().to_vec()
        };
        values.extend(base64_offsets(&bytes).into_iter().map(|p| SigmaValue::String(SigmaString::from_raw(&p))));
    }
    item.values = values;
    item.field.modifiers.retain(|m| matches!(m, Modifier::Contains | Modifier::Cased));
}

/// The three `base64offset` encodings of `value`: after 0, 1 and 2 bytes of anything,
/// without the leading characters those bytes touch and the trailing ones the following
/// bytes would (as pySigma: starts 0, 2, 3; ends trimmed by the value's length mod 3).
pub(super) fn base64_offsets(value: &[u8]) -> Vec<String> {
    let mut out = Vec::with_capacity(3);
    for shift in 0..3usize {
        let mut bytes = vec![b' '; shift];
        bytes.extend_from_slice(value);
        let encoded = BASE64.encode(&bytes);
        let start = [0, 2, 3][shift];
        let end = encoded.len().saturating_sub([0, 3, 2][(value.len() + shift) % 3]);
        if let Some(part) = encoded.get(start..end).filter(|p| !p.is_empty()) {
            out.push(part.to_owned());
        }
    }
    out
}

/// Values with wildcards, under `contains`/`startswith`/`endswith`/`all`/`cased` only: the
/// whole item becomes regexes (its plain values too: one modifier list serves them all),
/// anchored as those modifiers say, case-insensitive unless `cased`, `*` and `?` matching
/// line breaks.
fn mend_wildcards(item: &mut DetectionItem) {
    if !only_strings(item) {
        return;
    }
    let modifiers = &item.field.modifiers;
    let has = |m: Modifier| modifiers.contains(&m);
    let (contains, starts, ends) = (has(Modifier::Contains), has(Modifier::StartsWith), has(Modifier::EndsWith));
    let flags = if has(Modifier::Cased) { "(?s)" } else { "(?si)" };
    let mut values = Vec::with_capacity(item.values.len());
    for value in &item.values {
        let SigmaValue::String(s) = value else { return };
        let mut pattern = String::from(flags);
        // Anchored at the start unless the value may sit anywhere or end the field.
        if !contains && !ends {
            pattern.push('^');
        }
        for part in &s.parts {
            match part {
                StringPart::Plain(text) => escape_regex(text, &mut pattern),
                StringPart::Special(SpecialChar::WildcardMulti) => pattern.push_str(".*"),
                StringPart::Special(SpecialChar::WildcardSingle) => pattern.push('.'),
            }
        }
        if !contains && !starts {
            pattern.push('$');
        }
        values.push(SigmaValue::String(SigmaString::from_raw(&pattern)));
    }
    item.values = values;
    let all = has(Modifier::All);
    item.field.modifiers = if all { vec![Modifier::Re, Modifier::All] } else { vec![Modifier::Re] };
}

/// Appends `text` to a regex, its meta characters escaped (the regex crate's set).
fn escape_regex(text: &str, pattern: &mut String) {
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
}
