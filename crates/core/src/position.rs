//! Positions in a migration file: byte and character offsets turned into the
//! 1-based line and column that editors and compilers print.

use serde::Serialize;

/// A 1-based line and column; the column counts characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineColumn {
    pub line: u32,
    pub column: u32,
}

/// The line and column of the byte offset `offset` in `text`. An offset past
/// the end, or inside a character, is clamped to the nearest earlier boundary.
pub fn line_column_at_byte(text: &str, offset: usize) -> LineColumn {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    LineColumn {
        line: saturating_u32(before.matches('\n').count() + 1),
        column: saturating_u32(before[line_start..].chars().count() + 1),
    }
}

/// The byte offset of the `chars`-th character (0-based) of `text`, as
/// PostgreSQL counts error positions; past the end gives the text's length.
pub fn byte_offset_of_char(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(at, _)| at)
}

/// The text of the 1-based line `line`, without its line ending.
pub fn line_text(text: &str, line: u32) -> &str {
    let index = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
    text.split('\n')
        .nth(index)
        .map_or("", |found| found.strip_suffix('\r').unwrap_or(found))
}

fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_is_line_one_column_one() {
        assert_eq!(
            line_column_at_byte("abc", 0),
            LineColumn { line: 1, column: 1 }
        );
    }

    #[test]
    fn lines_and_columns_count_characters() {
        let text = "SELECT 1;\n-- é\nSELEC 2;";
        let at = text.find("SELEC 2").unwrap();
        assert_eq!(
            line_column_at_byte(text, at),
            LineColumn { line: 3, column: 1 }
        );
        let after_accent = text.find('é').unwrap() + 'é'.len_utf8();
        assert_eq!(
            line_column_at_byte(text, after_accent),
            LineColumn { line: 2, column: 5 }
        );
    }

    #[test]
    fn offsets_inside_a_character_or_past_the_end_are_clamped() {
        let text = "é";
        assert_eq!(
            line_column_at_byte(text, 1),
            LineColumn { line: 1, column: 1 }
        );
        assert_eq!(
            line_column_at_byte(text, 99),
            LineColumn { line: 1, column: 2 }
        );
    }

    #[test]
    fn character_offsets_become_byte_offsets() {
        let text = "éa";
        assert_eq!(byte_offset_of_char(text, 0), 0);
        assert_eq!(byte_offset_of_char(text, 1), 2);
        assert_eq!(byte_offset_of_char(text, 5), 3);
    }

    #[test]
    fn line_text_strips_the_line_ending() {
        let text = "one\r\ntwo\nthree";
        assert_eq!(line_text(text, 1), "one");
        assert_eq!(line_text(text, 2), "two");
        assert_eq!(line_text(text, 3), "three");
        assert_eq!(line_text(text, 4), "");
    }
}
