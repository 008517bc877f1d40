//! Cutting streamed LLM text into sentences for text-to-speech, so the first sentence can be
//! spoken while the rest is still being generated.
//!
//! A sentence ends at `.`, `!`, `?` or `…` (with any closing quotes or brackets) followed by
//! whitespace, at a line break, or at the end of the stream. A `.` after a known abbreviation
//! (`Dr.`, `e.g.`) or a single-letter initial (`J. Smith`) does not end one, and a decimal point
//! (`3.5`) never does because no whitespace follows it. Text that runs past
//! [`MAX_SENTENCE_CHARS`] without an end is cut at the last clause mark or space before the limit.

/// Longest piece sent to text-to-speech, in characters.
pub(super) const MAX_SENTENCE_CHARS: usize = 200;

/// Lower-case words that a `.` follows without ending the sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "approx", "inc",
    "ltd", "co", "mt", "ft", "apt", "ave", "dept", "no", "fig", "a.m", "p.m", "u.s",
];

const TERMINALS: &[char] = &['.', '!', '?', '…', '。', '！', '？'];
const CLOSERS: &[char] = &['"', '\'', ')', ']', '”', '’', '»'];

/// Collects streamed text and hands out complete sentences.
#[derive(Debug, Default)]
pub(super) struct SentenceChunker {
    buffer: String,
}

impl SentenceChunker {
    /// Appends streamed text; returns the sentences it completes (trimmed, never empty).
    pub(super) fn push(&mut self, text: &str) -> Vec<String> {
        self.buffer.push_str(text);
        let mut sentences = Vec::new();
        while let Some(end) = self.boundary() {
            let sentence: String = self.buffer.drain(..end).collect();
            let sentence = sentence.trim();
            if !sentence.is_empty() {
                sentences.push(sentence.to_owned());
            }
        }
        sentences
    }

    /// The rest of the text once the stream ended, if any.
    pub(super) fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buffer);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_owned())
    }

    /// Byte index just past the first complete sentence in the buffer.
    fn boundary(&self) -> Option<usize> {
        let text = self.buffer.as_str();
        let mut chars = text.char_indices().peekable();
        let mut seen = 0;
        while let Some((index, c)) = chars.next() {
            seen += 1;
            if seen > MAX_SENTENCE_CHARS {
                return Some(overlong_cut(text, index));
            }
            if c == '\n' {
                if text[..index].trim().is_empty() {
                    continue;
                }
                return Some(index + 1);
            }
            if !TERMINALS.contains(&c) {
                continue;
            }
            let mut end = index + c.len_utf8();
            while let Some(&(next, d)) = chars.peek() {
                if TERMINALS.contains(&d) || CLOSERS.contains(&d) {
                    end = next + d.len_utf8();
                    chars.next();
                    seen += 1;
                } else {
                    break;
                }
            }
            let ideographic = matches!(c, '。' | '！' | '？');
            // At the end of the buffer the next delta decides.
            let spaced = chars
                .peek()
                .is_some_and(|&(_, d)| ideographic || d.is_whitespace());
            if spaced && (c != '.' || !continues_after_dot(&text[..index])) {
                return Some(end);
            }
        }
        None
    }
}

/// True when the word before a `.` is an abbreviation or an initial.
fn continues_after_dot(before: &str) -> bool {
    let word = before
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or_default()
        .trim_start_matches(['(', '"', '\'', '“', '‘']);
    let mut letters = word.chars();
    if let (Some(first), None) = (letters.next(), letters.next()) {
        return first.is_uppercase();
    }
    ABBREVIATIONS.contains(&word.to_lowercase().as_str())
}

/// Where to cut text that reached the limit at byte `limit`: after the last clause mark, else
/// at the last space, else right at the limit.
fn overlong_cut(text: &str, limit: usize) -> usize {
    let head = &text[..limit];
    let clause = head.rfind([',', ';', ':', '—']).map(|at| at + 1);
    let space = head.rfind(char::is_whitespace);
    match (clause, space) {
        (Some(at), _) if at > limit / 2 => at,
        (_, Some(at)) if at > 0 => at,
        _ => limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_all(pieces: &[&str]) -> Vec<String> {
        let mut chunker = SentenceChunker::default();
        let mut out: Vec<String> = pieces.iter().flat_map(|p| chunker.push(p)).collect();
        out.extend(chunker.finish());
        out
    }

    #[test]
    fn sentences_split_at_terminal_punctuation_followed_by_space() {
        let out = chunk_all(&["Hello there. How are", " you? I'm fine! Thanks"]);
        assert_eq!(out, ["Hello there.", "How are you?", "I'm fine!", "Thanks"]);
    }

    #[test]
    fn a_sentence_is_handed_out_as_soon_as_the_next_character_arrives() {
        let mut chunker = SentenceChunker::default();
        assert!(chunker.push("It costs 3.").is_empty());
        assert!(chunker.push("5 dollars.").is_empty());
        assert_eq!(chunker.push(" Next"), ["It costs 3.5 dollars."]);
        assert_eq!(chunker.finish().as_deref(), Some("Next"));
    }

    #[test]
    fn abbreviations_initials_and_decimals_do_not_end_a_sentence() {
        let out = chunk_all(&[
            "Dr. Smith sees you at 10.30 a.m. on Friday, e.g. after J. K. Rowling. Fine.",
        ]);
        assert_eq!(
            out,
            [
                "Dr. Smith sees you at 10.30 a.m. on Friday, e.g. after J. K. Rowling.",
                "Fine."
            ]
        );
    }

    #[test]
    fn quotes_ellipses_and_line_breaks_are_handled() {
        let out = chunk_all(&["He said \"stop.\" Then… well... ok\n- item one\n\nDone"]);
        assert_eq!(
            out,
            [
                "He said \"stop.\"",
                "Then…",
                "well...",
                "ok",
                "- item one",
                "Done"
            ]
        );
    }

    #[test]
    fn long_text_without_an_end_is_cut_near_the_limit_at_a_clause_or_space() {
        let clause = "word ".repeat(30) + "and then, ";
        let long = clause.repeat(3);
        let out = chunk_all(&[&long]);
        assert!(out.len() >= 2);
        assert!(out.iter().all(|s| s.chars().count() <= MAX_SENTENCE_CHARS));
        assert!(out[0].ends_with(','), "{:?}", out[0]);
        let unbroken = "x".repeat(450);
        let out = chunk_all(&[&unbroken]);
        assert_eq!(
            out.iter().map(String::len).collect::<Vec<_>>(),
            [200, 200, 50]
        );
    }

    #[test]
    fn multibyte_text_splits_on_character_boundaries() {
        let out = chunk_all(&["Ça va? Très bien. 你好。再见"]);
        assert_eq!(out, ["Ça va?", "Très bien.", "你好。", "再见"]);
    }
}
