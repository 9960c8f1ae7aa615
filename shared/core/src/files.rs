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

/// What [`FileName::sanitise`] did to a name, for the audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanitised {
    pub name: FileName,
    /// Whether the stored name differs from the one sent.
    pub changed: bool,
}

/// Names Windows reserves for devices, with or without an extension (`CON`, `con.txt`), and
/// the superscript-digit ports it also reserves.
const RESERVED: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];

impl FileName {
    /// The most bytes of UTF-8 a stored name holds (the common file-system limit).
    pub const MAX_BYTES: usize = 255;
    /// The most bytes of an extension kept when a long name is cut.
    const MAX_EXTENSION_BYTES: usize = 16;
    /// The name of a file whose name sanitises to nothing.
    pub const FALLBACK: &'static str = "attachment";

    /// Sanitises `sent` (any text): path separators and the characters Windows forbids in names
    /// (`<>:"|?*`) become `_`; control, bidirectional and invisible characters are dropped;
    /// leading dots and spaces, and trailing dots and spaces, are trimmed (so `..` and
    /// `.hidden` do not survive); a reserved device name gets a leading `_`; a name over
    /// [`FileName::MAX_BYTES`] is cut at a character boundary, keeping its extension; nothing
    /// left → [`FileName::FALLBACK`].
    pub fn sanitise(sent: &str) -> Sanitised {
        let mut name: String = sent
            .chars()
            .filter(|c| !is_forbidden_char(*c, false) && !is_hidden_or_line_separator(*c))
            .map(|c| match c {
                '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
                other => other,
            })
            .collect();
        name = name
            .trim_start_matches(['.', ' '])
            .trim_end_matches(['.', ' '])
            .to_owned();
        if name.is_empty() {
            name = Self::FALLBACK.to_owned();
        }
        if is_reserved(&name) {
            name.insert(0, '_');
        }
        if name.len() > Self::MAX_BYTES {
            name = cut(&name);
        }
        let changed = name != sent;
        Sanitised {
            name: FileName(name),
            changed,
        }
    }

    /// The extension in lower case (`"pdf"`), without the dot; `None` without one.
    pub fn extension(&self) -> Option<String> {
        let (stem, extension) = self.0.rsplit_once('.')?;
        (!stem.is_empty() && !extension.is_empty()).then(|| extension.to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether the part before the first dot is a device name Windows reserves.
fn is_reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    let upper = stem.to_ascii_uppercase();
    if RESERVED.contains(&upper.as_str()) {
        return true;
    }
    // COM0-9, LPT0-9, and the superscript digits ¹²³ Windows also matches.
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

impl TryFrom<String> for FileName {
    type Error = String;
    /// Reads a stored name back: it must be what [`FileName::sanitise`] would keep unchanged.
    fn try_from(value: String) -> Result<Self, String> {
        let sanitised = FileName::sanitise(&value);
        if sanitised.changed {
            return Err("fileName: not a sanitised file name".into());
        }
        Ok(sanitised.name)
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
        let extension = name.extension()?;
        ACCEPTED.iter().find(|t| t.extensions.contains(&extension.as_str()))
    }

    /// Every accepted extension, for the 400 that lists them.
    pub fn accepted_extensions() -> Vec<&'static str> {
        ACCEPTED.iter().flat_map(|t| t.extensions.iter().copied()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(sent: &str) -> String {
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
            assert_eq!(clean(sent), expected, "{sent:?}");
        }
        assert!(!FileName::sanitise("report.pdf").changed);
        assert!(FileName::sanitise("../report.pdf").changed);
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary_keeping_the_extension() {
        let long = format!("{}.pdf", "é".repeat(300));
        let name = clean(&long);
        assert!(name.len() <= FileName::MAX_BYTES, "{}", name.len());
        assert!(name.ends_with("é.pdf"), "{name}");
        let no_extension = "x".repeat(400);
        assert_eq!(clean(&no_extension).len(), FileName::MAX_BYTES);
        // An over-long "extension" is not one worth keeping.
        let odd = format!("a.{}", "b".repeat(300));
        assert_eq!(clean(&odd).len(), FileName::MAX_BYTES);
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
    fn stored_names_read_back_only_when_sanitised() {
        assert!(FileName::try_from("report.pdf".to_owned()).is_ok());
        assert!(FileName::try_from("../x".to_owned()).is_err());
        assert!(FileName::try_from(String::new()).is_err());
    }
}
