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
}
