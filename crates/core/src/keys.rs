//! License key generation.
//!
//! Keys are read aloud over the phone and typed from invoices, so the alphabet leaves out the
//! look-alikes `0 O 1 I`. It has exactly 32 symbols, so five random bits pick one without bias.

use serde::{Deserialize, Serialize};

/// The symbols a generated key is made of: digits 2–9 and A–Z without I and O.
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// How a template's keys look: `PREFIX-XXXXX-XXXXX-XXXXX-XXXXX` with `groups` groups of `group_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFormat {
    pub prefix: String,
    pub groups: u8,
    pub group_size: u8,
}

impl Default for KeyFormat {
    fn default() -> Self {
        KeyFormat { prefix: String::new(), groups: 4, group_size: 5 }
    }
}

impl KeyFormat {
    /// Refuses formats too short to be unguessable or too long to type.
    pub fn validate(&self) -> crate::Result<()> {
        let bits = 5 * u32::from(self.groups) * u32::from(self.group_size);
        if !(1..=16).contains(&self.groups) {
            return Err(crate::Error::invalid("key_groups", "must be between 1 and 16"));
        }
        if !(1..=16).contains(&self.group_size) {
            return Err(crate::Error::invalid("key_group_size", "must be between 1 and 16"));
        }
        if bits < 60 {
            return Err(crate::Error::invalid(
                "key_groups",
                "a key needs at least 12 random characters (key_groups x key_group_size >= 12)",
            ));
        }
        if self.prefix.len() > 32 || !self.prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(crate::Error::invalid("key_prefix", "up to 32 ASCII letters, digits or '_'"));
        }
        Ok(())
    }

    /// A fresh key from the operating system's CSPRNG.
    pub fn generate(&self) -> String {
        let n = usize::from(self.groups) * usize::from(self.group_size);
        let mut bytes = vec![0u8; n];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let mut key = String::with_capacity(self.prefix.len() + n + usize::from(self.groups));
        if !self.prefix.is_empty() {
            key.push_str(&self.prefix);
            key.push('-');
        }
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 && i % usize::from(self.group_size) == 0 {
                key.push('-');
            }
            key.push(char::from(ALPHABET[usize::from(b & 31)]));
        }
        key
    }
}

/// Checks a key given by a user (imported, or chosen by a store): printable ASCII, no spaces, sane length.
pub fn validate_key(key: &str) -> crate::Result<()> {
    if key.is_empty() || key.len() > 256 {
        return Err(crate::Error::invalid("license_key", "must be 1 to 256 characters"));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(crate::Error::invalid("license_key", "may hold only printable ASCII without spaces"));
    }
    Ok(())
}

/// The key a person typed, as it is looked up: surrounding whitespace (a copied line's newline, a space
/// pasted along) removed.
pub fn typed(key: &str) -> &str {
    key.trim()
}

/// Whether a stored key is matched whatever the case it is typed in: it has no lower-case letter after its
/// first `-` (none at all when it has no `-`). licensd's own keys are upper-case symbols of [`ALPHABET`]
/// after an optional prefix of any case, so every key it issues is; a key holding lower-case letters of its
/// own (DevMate's `id…odr`, a store's mixed-case keys) may be one of several that differ only in case, and
/// is matched exactly. `store::keys_match` says the same in SQL.
pub fn folds_case(stored: &str) -> bool {
    let tail = stored.split_once('-').map_or(stored, |(_, t)| t);
    !tail.bytes().any(|b| b.is_ascii_lowercase())
}

/// A key as it is compared when it [`folds_case`]: without its dashes and any whitespace, ASCII letters in
/// upper case. `2hprz-d24lq`, ` 2HPRZ-D24LQ ` and `2HPRZD24LQ` are all `2HPRZD24LQ`: a key read from an
/// invoice or over the phone is found however its groups were typed. `store::list::key_canonical` says the
/// same in SQL (and migration 17 indexes it).
pub fn canonical(key: &str) -> String {
    key.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect()
}

/// Whether a key someone typed names this stored key: the same once surrounding whitespace is removed, or
/// (for a key that [`folds_case`]) the same [`canonical`] form: case, dashes and whitespace aside.
pub fn matches(stored: &str, typed_key: &str) -> bool {
    let t = typed(typed_key);
    stored == t || (folds_case(stored) && canonical(stored) == canonical(t))
}

/// Below this many bits a key is reported as guessable (issue 11, L1): licensd's own formats never go under it.
pub const WEAK_KEY_BITS: f64 = 60.0;

/// A conservative estimate of how many bits of entropy a key carries, for keys licensd did not generate
/// (imported, or chosen by a store). It sees one key, not the generator, so it assumes the least a key's
/// shape allows:
/// - separators (`-`, `_`, `.`, `:`, `/`, `+`) carry nothing;
/// - a first group of letters only whose length differs from the next group's is a fixed prefix
///   (`ACME-…`, as a template's `key_prefix`), and carries nothing;
/// - short runs of letters (up to 3) at both ends of an otherwise all-digit key are fixed tags (DevMate's
///   `id593311373237odr`: 12 digits, about 40 bits);
/// - a run of three or more of one character counts as one character;
/// - every other character is worth log2 of its alphabet: 10 for digits only, 16 for hexadecimal of one case,
///   else the union of the classes it uses (digits 10, lower case 26, upper case 26, other printable 32).
pub fn entropy_bits(key: &str) -> f64 {
    const SEPARATORS: &[char] = &['-', '_', '.', ':', '/', '+'];
    let groups: Vec<&str> = key.split(SEPARATORS).filter(|g| !g.is_empty()).collect();
    let skip = match groups.as_slice() {
        [first, next, ..] if first.chars().all(char::is_alphabetic) && first.len() != next.len() => 1,
        _ => 0,
    };
    let mut body: Vec<char> = groups[skip..].iter().flat_map(|g| g.chars()).collect();
    let is_letter = |c: &char| c.is_ascii_alphabetic();
    let lead = body.iter().take_while(|c| is_letter(c)).count();
    let trail = body.iter().rev().take_while(|c| is_letter(c)).count();
    if lead <= 3 && trail <= 3 && lead + trail < body.len() {
        let middle = &body[lead..body.len() - trail];
        if middle.iter().all(char::is_ascii_digit) {
            body = middle.to_vec();
        }
    }
    let mut n = 0usize;
    let mut run = 0usize;
    for (i, c) in body.iter().enumerate() {
        run = if i > 0 && body[i - 1] == *c { run + 1 } else { 1 };
        if run < 3 {
            n += 1;
        } else if run == 3 {
            // The run's first two were counted: a run of three or more counts once.
            n -= 1;
        }
    }
    let (mut digit, mut lower, mut upper, mut other) = (false, false, false, false);
    for c in &body {
        match c {
            '0'..='9' => digit = true,
            'a'..='z' => lower = true,
            'A'..='Z' => upper = true,
            _ => other = true,
        }
    }
    let hex_lower = body.iter().all(|c| c.is_ascii_digit() || ('a'..='f').contains(c));
    let hex_upper = body.iter().all(|c| c.is_ascii_digit() || ('A'..='F').contains(c));
    let alphabet = if !(lower || upper || other) {
        10
    } else if hex_lower || hex_upper {
        16
    } else {
        10 * usize::from(digit) + 26 * usize::from(lower) + 26 * usize::from(upper) + 32 * usize::from(other)
    };
    #[allow(clippy::cast_precision_loss)]
    let bits = n as f64 * (alphabet as f64).log2();
    bits
}

/// Whether a key is below [`WEAK_KEY_BITS`] by [`entropy_bits`].
pub fn is_weak(key: &str) -> bool {
    entropy_bits(key) < WEAK_KEY_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_key_has_four_groups_of_five_from_the_alphabet() {
        let key = KeyFormat::default().generate();
        let groups: Vec<&str> = key.split('-').collect();
        assert_eq!(groups.len(), 4);
        for g in groups {
            assert_eq!(g.len(), 5);
            assert!(g.bytes().all(|b| ALPHABET.contains(&b)), "{key}");
        }
    }

    #[test]
    fn prefix_and_custom_grouping_are_honoured() {
        let f = KeyFormat { prefix: "ACME".into(), groups: 3, group_size: 6 };
        let key = f.generate();
        assert!(key.starts_with("ACME-"));
        assert_eq!(key.len(), 5 + 3 * 6 + 2);
    }

    #[test]
    fn look_alikes_never_appear() {
        for _ in 0..200 {
            let key = KeyFormat::default().generate();
            assert!(!key.contains(['0', 'O', '1', 'I']), "{key}");
        }
    }

    #[test]
    fn short_formats_are_refused() {
        let f = KeyFormat { prefix: String::new(), groups: 2, group_size: 5 };
        assert!(f.validate().is_err());
        assert!(KeyFormat::default().validate().is_ok());
    }

    #[test]
    fn keys_licensd_issues_match_whatever_the_case_and_surrounding_whitespace() {
        for f in [KeyFormat::default(), KeyFormat { prefix: "acme".into(), ..KeyFormat::default() }] {
            let key = f.generate();
            assert!(folds_case(&key), "{key}");
            assert!(matches(&key, &key.to_ascii_lowercase()));
            assert!(matches(&key, &format!("  {}\n", key.to_ascii_uppercase())));
            assert!(matches(&key, &key.replace('-', "")), "dashes left out");
            assert!(matches(&key, &key.replace('-', " ").to_ascii_lowercase()), "spaces for dashes");
        }
        assert!(matches("ACME-7H3KQ", "Acme-7h3kq"));
        assert!(matches("2HPRZ-D24LQ-BA4GQ-NQCPB", "2HPRZD24LQBA4GQNQCPB"));
        assert!(!matches("2HPRZ-D24LQ-BA4GQ-NQCPB", "2HPRZD24LQBA4GQNQCP"));
        assert_eq!(canonical(" 2hprz-d24lq\n"), "2HPRZD24LQ");
        assert!(!matches("ACME-7H3KQ", "ACME-7H3KQX"));
    }

    #[test]
    fn keys_with_lower_case_letters_of_their_own_match_exactly() {
        for key in ["id593311373237odr", "ACME-7h3kq", "550e8400-e29b-41d4"] {
            assert!(!folds_case(key), "{key}");
            assert!(matches(key, &format!(" {key} ")));
            assert!(!matches(key, &key.to_ascii_uppercase()), "{key}");
            assert!(key.find('-').is_none() || !matches(key, &key.replace('-', "")), "{key}");
        }
    }

    #[test]
    fn devmate_style_keys_carry_about_40_bits() {
        let bits = entropy_bits("id593311373237odr");
        assert!((39.0..41.0).contains(&bits), "{bits}");
        assert!(is_weak("id593311373237odr"));
    }

    #[test]
    fn generated_keys_are_never_weak() {
        for f in [
            KeyFormat::default(),
            KeyFormat { prefix: "ACME".into(), ..KeyFormat::default() },
            KeyFormat { prefix: "PRO".into(), groups: 5, group_size: 4 },
        ] {
            for _ in 0..5000 {
                let key = f.generate();
                assert!(!is_weak(&key), "{key}: {}", entropy_bits(&key));
            }
        }
    }

    #[test]
    fn entropy_follows_length_and_alphabet() {
        let close = |key: &str, want: f64| {
            let bits = entropy_bits(key);
            assert!((bits - want).abs() < 0.01, "{key}: {bits}, expected {want}");
        };
        close("1234567890", 10.0 * 10f64.log2());
        close("deadbeef0042", 12.0 * 4.0);
        close("DEADBEEF0042", 12.0 * 4.0);
        close("abcdefghijkl", 12.0 * 26f64.log2());
        close("abcXYZ123", 9.0 * 62f64.log2());
        close("a!b@c#", 6.0 * 58f64.log2());
        close("550e8400-e29b-41d4-a716-446655441234", 128.0);
        close("446655440000", 9.0 * 10f64.log2());
        // A prefix of letters and separators carry nothing; so do a long run's repeats.
        close("ACME-12345678", 8.0 * 10f64.log2());
        close("SERIAL-7H3K-9QZ2", 8.0 * 36f64.log2());
        close("ZZZZZZZZZZZZZZZZZZZZ", 26f64.log2());
        close("X", 26f64.log2());
        close("", 0.0);
        assert!(is_weak("ACME-0001"));
        assert!(is_weak("hunter2"));
        assert!(!is_weak("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
    }
}
