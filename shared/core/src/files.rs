//! Attachment file names (FILE-2) and the file types Quire accepts (FILE-1).
//!
//! A client names its file; the name is kept as sent (an audited attribute) and a sanitised
//! copy is what Quire stores, lists and puts in `Content-Disposition`: one path component, no
//! traversal, no control, bidirectional or invisible characters, no name a Windows system
//! reserves, at most [`FileName::MAX_BYTES`] bytes of UTF-8, its extension kept.

use crate::text::{is_forbidden_char, is_hidden_or_line_separator};

/// A sanitised file name: safe as one path component on Windows, macOS and Linux and in a
/// `Content-Disposition` header (RFC 6266), never empty, never hidden (no leading dot), at most
/// [`FileName::MAX_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct FileName(String);

/// What [`FileName::sanitise`] did to a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanitised {
    pub name: FileName,
    /// Whether the stored name differs from the one sent.
    pub changed: bool,
    /// The extension of the name as sanitised before any cut to length (lower case): the type
    /// is judged by it, so that a cut never makes an accepted extension of a refused one.
    pub extension: Option<String>,
}

/// Names Windows reserves for devices, with or without an extension (`CON`, `con.txt`); the
/// ports `COM0`-`COM9` and `LPT0`-`LPT9`, with the superscript digits ¹²³ too, are matched in
/// [`is_reserved`].
const RESERVED: [&str; 6] = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];

impl FileName {
    /// The most bytes of UTF-8 a stored name holds (the common file-system limit).
    pub const MAX_BYTES: usize = 255;
    /// The most bytes of an extension kept when a long name is cut.
    const MAX_EXTENSION_BYTES: usize = 16;
    /// The name of a file whose name sanitises to nothing.
    pub const FALLBACK: &'static str = "attachment";

    /// Sanitises `sent` (any text): path separators, their look-alikes (fullwidth and division
    /// slashes and backslashes) and the characters Windows forbids in names (`<>:"|?*`) become
    /// `_`; control, bidirectional and invisible characters (Unicode's default-ignorable ones)
    /// are dropped; leading and trailing dots and spaces are trimmed (so `..` and `.hidden` do
    /// not survive); a reserved device name gets a leading `_`; a name over
    /// [`FileName::MAX_BYTES`] is cut at a character boundary, keeping its extension; nothing
    /// left → [`FileName::FALLBACK`]. The steps repeat until nothing changes, so a sanitised
    /// name sanitises to itself.
    pub fn sanitise(sent: &str) -> Sanitised {
        let mut name = clean(sent);
        let extension = extension_of(name.trim_matches(['.', ' ']));
        // Each step can undo another's work (a cut leaves a device name, a prefix makes a name
        // too long); a few rounds reach the fixed point.
        for _ in 0..4 {
            let next = step(&name);
            if next == name {
                break;
            }
            name = next;
        }
        let changed = name != sent;
        Sanitised {
            name: FileName(name),
            changed,
            extension,
        }
    }

    /// A name as sent, made safe to record (AUD-8) without losing anything: every control,
    /// line-breaking, bidirectional or invisible character is written as its escape
    /// (`\u{9}`), and a backslash as `\\`, so the record is one line that reads back exactly.
    pub fn recorded(sent: &str) -> String {
        let mut out = String::with_capacity(sent.len());
        for c in sent.chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if is_forbidden_char(c, false) || is_hidden_or_line_separator(c) || is_default_ignorable(c) {
                out.extend(c.escape_unicode());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The extension in lower case (`"pdf"`), without the dot; `None` without one.
    pub fn extension(&self) -> Option<String> {
        extension_of(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn extension_of(name: &str) -> Option<String> {
    let (stem, extension) = name.rsplit_once('.')?;
    (!stem.is_empty() && !extension.is_empty()).then(|| extension.to_ascii_lowercase())
}

/// Characters that show nothing or change how others show: Unicode's default-ignorable code
/// points (beyond [`is_hidden_or_line_separator`]), which make one name look like another.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{2065}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

/// Whether `c` stands for a path separator or a character Windows forbids in names.
fn is_separator_like(c: char) -> bool {
    matches!(
        c,
        '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*'
            // Fullwidth solidus and reverse solidus, division and set-minus slashes, fraction
            // slash, big solidi, small reverse solidus: Windows' best-fit turns some into `/`.
            | '\u{ff0f}' | '\u{ff3c}' | '\u{2215}' | '\u{2216}' | '\u{2044}' | '\u{29f8}' | '\u{29f9}' | '\u{fe68}'
    )
}

/// One character at a time: dropped, replaced, or kept.
fn clean(sent: &str) -> String {
    sent.chars()
        .filter(|c| !is_forbidden_char(*c, false) && !is_hidden_or_line_separator(*c) && !is_default_ignorable(*c))
        .map(|c| if is_separator_like(c) { '_' } else { c })
        .collect()
}

/// One round of the name-level rules: trimmed, not empty, not a device, not too long.
fn step(name: &str) -> String {
    let mut name = clean(name).trim_matches(['.', ' ']).to_owned();
    if name.is_empty() {
        name = FileName::FALLBACK.to_owned();
    }
    if is_reserved(&name) {
        name.insert(0, '_');
    }
    if name.len() > FileName::MAX_BYTES {
        name = cut(&name);
    }
    name
}

/// Whether the part before the first dot, trailing spaces aside, is a device name Windows
/// reserves.
fn is_reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    let upper = stem.to_ascii_uppercase();
    if RESERVED.contains(&upper.as_str()) {
        return true;
    }
    let mut chars = upper.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let rest: String = chars.collect();
    (prefix == "COM" || prefix == "LPT")
        && rest.chars().count() == 1
        && rest.chars().all(|c| c.is_ascii_digit() || matches!(c, '¹' | '²' | '³'))
}

/// `name` cut to [`FileName::MAX_BYTES`] at a character boundary, its (short) extension kept.
fn cut(name: &str) -> String {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| !e.is_empty() && e.len() <= FileName::MAX_EXTENSION_BYTES)
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let budget = FileName::MAX_BYTES - extension.len();
    let stem = &name[..name.len() - extension.len()];
    let mut end = budget.min(stem.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    let stem = stem[..end].trim_end_matches(['.', ' ']);
    format!("{stem}{extension}")
}

/// The invariants of a stored name, whatever sanitiser wrote it: not empty, at most
/// [`FileName::MAX_BYTES`], no character [`FileName::sanitise`] drops or replaces, no leading or
/// trailing dot or space, not a device name.
fn is_clean(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= FileName::MAX_BYTES
        && clean(name) == name
        && name.trim_matches(['.', ' ']) == name
        && !is_reserved(name)
}

impl TryFrom<String> for FileName {
    type Error = String;
    /// Reads a stored name back: it must hold a stored name's invariants (not equality with
    /// today's sanitiser, so that a stricter sanitiser later strands no record).
    fn try_from(value: String) -> Result<Self, String> {
        if !is_clean(&value) {
            return Err("fileName: not a sanitised file name".into());
        }
        Ok(FileName(value))
    }
}

impl From<FileName> for String {
    fn from(name: FileName) -> String {
        name.0
    }
}

/// How a file type's content is recognised when it is ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// `%PDF-` at the first byte (a header further in is how polyglots hide).
    Pdf,
    Png,
    Jpeg,
    Tiff,
    /// An Office Open XML package (ISO/IEC 29500-2): a zip whose `[Content_Types].xml` names
    /// this main part's content type, without macros.
    Ooxml {
        main_part: &'static str,
    },
    /// UTF-8 text without NUL, which no magic number recognises as anything else.
    Text,
}

/// A file type Quire accepts as an attachment (FILE-1): its extensions (lower case), the one
/// media type a client declares for it, and how its content is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    pub extensions: &'static [&'static str],
    pub media_type: &'static str,
    pub content: Content,
}

/// Every accepted type; anything else is refused by extension. Documents, images and tables:
/// what a QMS record carries. Macro-enabled Office files, archives, executables and scripts are
/// not accepted.
pub const ACCEPTED: [FileType; 9] = [
    FileType {
        extensions: &["pdf"],
        media_type: "application/pdf",
        content: Content::Pdf,
    },
    FileType {
        extensions: &["docx"],
        media_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        content: Content::Ooxml {
            main_part: "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        },
    },
    FileType {
        extensions: &["xlsx"],
        media_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        content: Content::Ooxml {
            main_part: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        },
    },
    FileType {
        extensions: &["pptx"],
        media_type: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        content: Content::Ooxml {
            main_part: "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        },
    },
    FileType {
        extensions: &["png"],
        media_type: "image/png",
        content: Content::Png,
    },
    FileType {
        extensions: &["jpg", "jpeg"],
        media_type: "image/jpeg",
        content: Content::Jpeg,
    },
    FileType {
        extensions: &["tif", "tiff"],
        media_type: "image/tiff",
        content: Content::Tiff,
    },
    FileType {
        extensions: &["txt"],
        media_type: "text/plain",
        content: Content::Text,
    },
    FileType {
        extensions: &["csv"],
        media_type: "text/csv",
        content: Content::Text,
    },
];

impl FileType {
    /// The accepted type of a (sanitised) name's extension; `None` when it has none or the
    /// extension is not accepted.
    pub fn of(name: &FileName) -> Option<&'static FileType> {
        Self::of_extension(&name.extension()?)
    }

    /// The accepted type whose media type is `media_type` (what a declaration named).
    pub fn of_media_type(media_type: &str) -> Option<&'static FileType> {
        ACCEPTED.iter().find(|t| t.media_type == media_type)
    }

    /// The accepted type of an extension (lower case, without the dot).
    pub fn of_extension(extension: &str) -> Option<&'static FileType> {
        ACCEPTED.iter().find(|t| t.extensions.contains(&extension))
    }

    /// Every accepted extension, for the 400 that lists them.
    pub fn accepted_extensions() -> Vec<&'static str> {
        ACCEPTED.iter().flat_map(|t| t.extensions.iter().copied()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean_name(sent: &str) -> String {
        FileName::sanitise(sent).name.as_str().to_owned()
    }

    #[test]
    fn names_lose_traversal_separators_and_hidden_characters() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "_.._etc_passwd"),
            ("..\\..\\boot.ini", "_.._boot.ini"),
            ("..", "attachment"),
            (".htaccess", "htaccess"),
            ("  . ", "attachment"),
            ("a/b\\c", "a_b_c"),
            ("what?<now>:|*\".txt", "what__now_____.txt"),
            ("invoice\u{202e}fdp.exe", "invoicefdp.exe"),
            ("zero\u{200b}width\u{feff}.txt", "zerowidth.txt"),
            ("tab\there\n.csv", "tabhere.csv"),
            ("trailing dots...", "trailing dots"),
            ("CON", "_CON"),
            ("con.txt", "_con.txt"),
            ("Lpt1.docx", "_Lpt1.docx"),
            ("COM¹.pdf", "_COM¹.pdf"),
            ("COM10.pdf", "COM10.pdf"),
            ("console.pdf", "console.pdf"),
            ("Prüfbericht – Charge 7.pdf", "Prüfbericht – Charge 7.pdf"),
        ];
        for (sent, expected) in cases {
            assert_eq!(clean_name(sent), expected, "{sent:?}");
        }
        assert!(!FileName::sanitise("report.pdf").changed);
        assert!(FileName::sanitise("../report.pdf").changed);
    }

    #[test]
    fn look_alikes_and_default_ignorables_do_not_survive() {
        let cases = [
            ("..\u{ff0f}..\u{ff0f}etc\u{ff0f}passwd.txt", "_.._etc_passwd.txt"),
            ("a\u{2215}b\u{2044}c\u{ff3c}d.pdf", "a_b_c_d.pdf"),
            ("\u{3164}.pdf", "pdf"),
            ("soft\u{ad}hyphen.pdf", "softhyphen.pdf"),
            ("tag\u{e0041}s.pdf", "tags.pdf"),
            ("a.pdf::$DATA", "a.pdf__$DATA"),
            ("CONIN$.txt", "_CONIN$.txt"),
            ("CON .txt", "_CON .txt"),
            ("nul.tar.gz", "_nul.tar.gz"),
            ("con.", "_con"),
        ];
        for (sent, expected) in cases {
            assert_eq!(clean_name(sent), expected, "{sent:?}");
        }
    }

    /// A stored name sanitises to itself, so it always reads back; a cut never leaves a device
    /// name, and never turns a refused extension into an accepted one.
    #[test]
    fn sanitising_twice_changes_nothing() {
        let tricky = [
            format!("con{}x.pdf", " ".repeat(250)),
            format!("COM1{}x.docx", " ".repeat(249)),
            format!("{}.pdf{}", "a".repeat(251), "x".repeat(20)),
            format!("{}{}", ".".repeat(300), "b"),
            format!("prn{}.pdf", ".".repeat(260)),
            format!("{}é.pdf", "a".repeat(250)),
            "..".to_owned(),
            " CON ".to_owned(),
        ];
        for sent in &tricky {
            let once = FileName::sanitise(sent);
            let twice = FileName::sanitise(once.name.as_str());
            assert_eq!(twice.name, once.name, "{sent:?}");
            assert!(!twice.changed, "{sent:?}");
            assert!(once.name.as_str().len() <= FileName::MAX_BYTES);
            assert!(!is_reserved(once.name.as_str()), "{:?}", once.name);
            assert!(FileName::try_from(once.name.as_str().to_owned()).is_ok(), "{sent:?}");
        }
        let cut_extension = FileName::sanitise(&tricky[2]);
        assert_eq!(
            cut_extension.extension.as_deref(),
            Some(&*format!("pdf{}", "x".repeat(20)))
        );
        assert_eq!(
            FileType::of_extension(cut_extension.extension.as_deref().unwrap()),
            None
        );
        // Every character class at once, in many orders.
        let pieces = [
            "con", " ", ".", "/", "\u{200b}", "é", "pdf", "a", "\u{ff0f}", "LPT1", "\t",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let sent = format!("{a}{b}{c}{d}");
                        let once = FileName::sanitise(&sent).name;
                        assert_eq!(FileName::sanitise(once.as_str()).name, once, "{sent:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary_keeping_the_extension() {
        let long = format!("{}.pdf", "é".repeat(300));
        let name = clean_name(&long);
        assert!(name.len() <= FileName::MAX_BYTES, "{}", name.len());
        assert!(name.ends_with("é.pdf"), "{name}");
        let no_extension = "x".repeat(400);
        assert_eq!(clean_name(&no_extension).len(), FileName::MAX_BYTES);
        // An over-long "extension" is not one worth keeping.
        let odd = format!("a.{}", "b".repeat(300));
        assert_eq!(clean_name(&odd).len(), FileName::MAX_BYTES);
        // Exactly at the limit stays as sent.
        let exact = format!("{}.pdf", "a".repeat(FileName::MAX_BYTES - 4));
        assert!(!FileName::sanitise(&exact).changed);
    }

    #[test]
    fn extensions_are_lower_case_and_need_a_stem() {
        let ext = |s: &str| FileName::sanitise(s).name.extension();
        assert_eq!(ext("Report.PDF").as_deref(), Some("pdf"));
        assert_eq!(ext("archive.tar.gz").as_deref(), Some("gz"));
        assert_eq!(ext("README"), None);
        assert_eq!(ext(".pdf").as_deref(), None);
    }

    #[test]
    fn types_follow_the_extension_and_name_one_media_type() {
        let of = |s: &str| FileType::of(&FileName::sanitise(s).name).map(|t| t.media_type);
        assert_eq!(of("Report.PDF"), Some("application/pdf"));
        assert_eq!(of("photo.jpeg"), of("photo.jpg"));
        assert_eq!(of("notes.txt"), Some("text/plain"));
        for refused in [
            "setup.exe",
            "macro.docm",
            "archive.zip",
            "script.sh",
            "page.html",
            "README",
            "x.svg",
        ] {
            assert_eq!(of(refused), None, "{refused}");
        }
        let extensions = FileType::accepted_extensions();
        assert_eq!(extensions.len(), 11);
        let mut unique = extensions.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), extensions.len(), "an extension names one type");
    }

    #[test]
    fn names_as_sent_are_recorded_on_one_line_losing_nothing() {
        assert_eq!(FileName::recorded("plain é.pdf"), "plain é.pdf");
        assert_eq!(
            FileName::recorded("a\tb\nc\u{200b}d\u{2028}e\\f.pdf"),
            "a\\u{9}b\\u{a}c\\u{200b}d\\u{2028}e\\\\f.pdf"
        );
    }

    #[test]
    fn stored_names_read_back_only_when_sanitised() {
        assert!(FileName::try_from("report.pdf".to_owned()).is_ok());
        assert!(FileName::try_from("../x".to_owned()).is_err());
        assert!(FileName::try_from(String::new()).is_err());
    }
}
