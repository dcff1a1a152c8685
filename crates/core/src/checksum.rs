//! The checksum that pins an applied migration to its file.
//!
//! It is the SHA-256 of the file with a UTF-8 BOM stripped and CRLF
//! normalised to LF, so a Windows checkout of an unchanged file does not look
//! changed.

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `text` after line-ending normalisation.
pub fn checksum(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut hasher = Sha256::new();
    let mut rest = text.as_bytes();
    // Feed the text in runs between "\r\n" pairs, dropping each '\r' of a
    // pair, so no normalised copy of a large file is ever built.
    while let Some(at) = rest.windows(2).position(|pair| pair == b"\r\n") {
        hasher.update(&rest[..at]);
        rest = &rest[at + 1..];
    }
    hasher.update(rest);
    to_hex(&hasher.finalize())
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::checksum;

    #[test]
    fn known_digest_of_empty_text() {
        assert_eq!(
            checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn crlf_and_bom_do_not_change_the_checksum() {
        let unix = "CREATE TABLE IF NOT EXISTS a (id int);\nSELECT 1;\n";
        let windows = "\u{feff}CREATE TABLE IF NOT EXISTS a (id int);\r\nSELECT 1;\r\n";
        assert_eq!(checksum(unix), checksum(windows));
    }

    #[test]
    fn a_lone_carriage_return_is_content() {
        assert_ne!(checksum("a\rb"), checksum("ab"));
        assert_ne!(checksum("a\rb"), checksum("a\nb"));
    }

    #[test]
    fn any_other_change_changes_the_checksum() {
        assert_ne!(checksum("SELECT 1;\n"), checksum("SELECT 2;\n"));
    }
}
