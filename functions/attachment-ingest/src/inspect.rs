//! The checks an uploaded file passes before it is kept (FILE-1), on its bytes alone.
//!
//! * **Size:** at most the route's limit ([`Limits::max_bytes`]) and exactly what the client
//!   declared (S3 binds the declared length into the presigned PUT on AWS; checked again here).
//! * **Type:** the extension names one accepted type (`quire_core::files::ACCEPTED`) and the
//!   declared media type; the content's magic number, read by the `infer` crate, must be that
//!   type. Whatever `infer` recognises as an application (ELF, PE, Mach-O, DEX, WebAssembly,
//!   scripts with a `#!`) is refused under any name. A PDF must start with `%PDF-` (a header
//!   further in is how PDF polyglots hide); text must be UTF-8 without NUL that no magic number
//!   claims.
//! * **Office Open XML** (docx, xlsx, pptx): a zip (ISO/IEC 29500-2) opened through its central
//!   directory: at most [`Limits::max_zip_entries`] entries, no two of one name (case aside),
//!   none overlapping, every name relative and inside the package, no encrypted entry; every
//!   entry inflated (to nowhere) through a bound and exactly its declared size, all together
//!   within [`Limits::max_unpacked_bytes`] and [`Limits::max_ratio`] times the file (a zip
//!   bomb declares what it unpacks to, or unpacks to more than it declares: both are
//!   refused); `[Content_Types].xml` names the type's main part and no active content (VBA,
//!   macro-enabled types, macro sheets, ActiveX, OLE objects); no relationship reaches
//!   outside the file but a hyperlink. The XML parts read (through a 1 MiB bound) may hold no
//!   document type declaration, comment or character reference, so that a plain text search
//!   of them is sound.
//!
//! Each refusal names its reason ([`Refusal::reason`]), which the attachment shows and the
//! audit entry records; none echoes the file's bytes.

use quire_core::files::{Content, FileType};
use std::io::{self, Read, Seek, SeekFrom};

/// Bounds of what is accepted. [`Limits::default`] is what Quire deploys with unless
/// configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of a file (100 MiB by default).
    pub max_bytes: u64,
    /// Most entries of an OOXML package (10 000).
    pub max_zip_entries: usize,
    /// Most bytes an OOXML package may declare it unpacks to (1 GiB).
    pub max_unpacked_bytes: u64,
    /// Most times its packed size an OOXML package may unpack to (100; Office files are
    /// rarely past 20).
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 100 * 1024 * 1024,
            max_zip_entries: 10_000,
            max_unpacked_bytes: 1024 * 1024 * 1024,
            max_ratio: 100,
        }
    }
}

/// Bytes of `[Content_Types].xml`, or of a relationships part, read at most.
const CONTENT_TYPES_LIMIT: u64 = 1024 * 1024;
/// Bytes read for the magic number (`infer` looks at most this far).
const HEAD: usize = 8 * 1024;

/// Why a file is refused. The reason is for people: the client reading the attachment's status,
/// the auditor reading the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Over [`Limits::max_bytes`].
    TooLarge { size: u64, limit: u64 },
    /// Not the size the client declared.
    SizeMismatch { declared: u64, actual: u64 },
    /// Recognised as a program, whatever its name.
    Executable { found: String },
    /// Its content is not its declared type.
    TypeMismatch { declared: &'static str, found: String },
    /// An OOXML package that is not well formed or not safe to open.
    Package { why: String },
    /// The file could not be read to the end (not the client's fault; the ingest retries).
    Unreadable,
}

impl Refusal {
    /// A stable code for the refusal (`too-large`, `size-mismatch`, `executable`,
    /// `type-mismatch`, `package`, `unreadable`).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::TooLarge { .. } => "too-large",
            Refusal::SizeMismatch { .. } => "size-mismatch",
            Refusal::Executable { .. } => "executable",
            Refusal::TypeMismatch { .. } => "type-mismatch",
            Refusal::Package { .. } => "package",
            Refusal::Unreadable => "unreadable",
        }
    }

    /// One line saying why.
    pub fn reason(&self) -> String {
        match self {
            Refusal::TooLarge { size, limit } => {
                format!("the file is {size} bytes, over the limit of {limit} bytes")
            }
            Refusal::SizeMismatch { declared, actual } => {
                format!("the file is {actual} bytes, not the {declared} bytes declared")
            }
            Refusal::Executable { found } => format!("the file is a program ({found})"),
            Refusal::TypeMismatch { declared, found } => {
                format!("the file's content is {found}, not the declared {declared}")
            }
            Refusal::Package { why } => format!("the Office file is refused: {why}"),
            Refusal::Unreadable => "the file could not be read".to_owned(),
        }
    }
}

/// Checks `file` (`size` bytes, read from its start) as an attachment of type `kind` declared
/// `declared_size` bytes long; see the module documentation.
pub fn inspect<F: Read + Seek>(
    file: &mut F,
    size: u64,
    declared_size: u64,
    kind: &FileType,
    limits: &Limits,
) -> Result<(), Refusal> {
    if size > limits.max_bytes {
        return Err(Refusal::TooLarge {
            size,
            limit: limits.max_bytes,
        });
    }
    if size != declared_size {
        return Err(Refusal::SizeMismatch {
            declared: declared_size,
            actual: size,
        });
    }
    let head = read_head(file).map_err(|_| Refusal::Unreadable)?;
    let found = infer::get(&head);
    if let Some(found) = found {
        // `infer` files a `#!` script under text; it is a program all the same.
        if found.matcher_type() == infer::MatcherType::App || found.mime_type() == "text/x-shellscript" {
            return Err(Refusal::Executable {
                found: found.mime_type().to_owned(),
            });
        }
    }
    let mismatch = |found: Option<infer::Type>| Refusal::TypeMismatch {
        declared: kind.media_type,
        found: found.map_or_else(|| "not recognised".to_owned(), |t| t.mime_type().to_owned()),
    };
    let is = |mime: &str| found.is_some_and(|t| t.mime_type() == mime);
    match kind.content {
        Content::Pdf if head.starts_with(b"%PDF-") => Ok(()),
        Content::Png if is("image/png") => Ok(()),
        Content::Jpeg if is("image/jpeg") => Ok(()),
        Content::Tiff if is("image/tiff") => Ok(()),
        Content::Text if found.is_none() => text(file).map_err(|e| match e {
            TextError::Io => Refusal::Unreadable,
            TextError::Binary(what) => Refusal::TypeMismatch {
                declared: kind.media_type,
                found: what.to_owned(),
            },
        }),
        Content::Ooxml { main_part } if is("application/zip") || is_ooxml(found) => {
            package(file, size, main_part, limits)
        }
        _ => Err(mismatch(found)),
    }
}

fn is_ooxml(found: Option<infer::Type>) -> bool {
    found.is_some_and(|t| {
        t.mime_type()
            .starts_with("application/vnd.openxmlformats-officedocument.")
    })
}

fn read_head<F: Read + Seek>(file: &mut F) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(HEAD);
    file.by_ref().take(HEAD as u64).read_to_end(&mut head)?;
    Ok(head)
}

enum TextError {
    Io,
    Binary(&'static str),
}

/// UTF-8 throughout, without NUL, read in chunks (a character may straddle two).
fn text<F: Read + Seek>(file: &mut F) -> Result<(), TextError> {
    file.seek(SeekFrom::Start(0)).map_err(|_| TextError::Io)?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut carried = 0;
    loop {
        let n = file.read(&mut buffer[carried..]).map_err(|_| TextError::Io)?;
        let filled = carried + n;
        let chunk = &buffer[..filled];
        if chunk.contains(&0) {
            return Err(TextError::Binary("binary data (NUL bytes)"));
        }
        let valid = match std::str::from_utf8(chunk) {
            Ok(_) => filled,
            // An incomplete character at the end waits for the next read; anything else is
            // not UTF-8.
            Err(e) if e.error_len().is_none() && n > 0 => e.valid_up_to(),
            Err(_) => return Err(TextError::Binary("not UTF-8 text")),
        };
        if n == 0 {
            return Ok(());
        }
        buffer.copy_within(valid..filled, 0);
        carried = filled - valid;
    }
}

/// An OOXML package's checks, through its central directory.
fn package<F: Read + Seek>(file: &mut F, size: u64, main_part: &str, limits: &Limits) -> Result<(), Refusal> {
    let refuse = |why: &str| Refusal::Package { why: why.to_owned() };
    file.seek(SeekFrom::Start(0)).map_err(|_| Refusal::Unreadable)?;
    let mut archive = zip::ZipArchive::new(file).map_err(|_| refuse("not a readable zip package"))?;
    // Two entries of one name (or of names that differ in case only: part names are
    // case-insensitive, ISO/IEC 29500-2 §6.2.2.3) would let Quire read one and Office another.
    if archive.has_duplicate_names() {
        return Err(refuse("two entries have one name"));
    }
    if archive.has_overlapping_files().unwrap_or(true) {
        return Err(refuse("entries overlap"));
    }
    if archive.len() > limits.max_zip_entries {
        return Err(refuse(&format!(
            "{} entries, over the limit of {}",
            archive.len(),
            limits.max_zip_entries
        )));
    }
    let mut unpacked: u64 = 0;
    let mut content_types = None;
    let mut relationships = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|_| refuse("an entry cannot be read"))?;
        let name = entry
            .name()
            .map_err(|_| refuse("an entry's name cannot be read"))?
            .into_owned();
        // Part names are relative URIs with forward slashes (ISO/IEC 29500-2 §6.2.2): anything
        // absolute, with a drive or a backslash, or climbing out, is not a part.
        if entry.enclosed_name().is_none() || name.starts_with('/') || name.contains(['\\', ':']) {
            return Err(refuse("an entry's name leaves the package"));
        }
        if entry.encrypted() {
            return Err(refuse("an entry is encrypted"));
        }
        let lower = name.to_ascii_lowercase();
        if !seen.insert(lower.clone()) {
            return Err(refuse("two entries have one name"));
        }
        if lower.ends_with("vbaproject.bin") {
            return Err(refuse("it holds a VBA macro project"));
        }
        unpacked = unpacked.saturating_add(entry.size());
        if lower == "[content_types].xml" {
            content_types = Some(index);
        }
        if lower.ends_with(".rels") {
            relationships.push(index);
        }
    }
    if unpacked > limits.max_unpacked_bytes {
        return Err(refuse(&format!(
            "it unpacks to {unpacked} bytes, over the limit of {}",
            limits.max_unpacked_bytes
        )));
    }
    if unpacked > size.saturating_mul(limits.max_ratio) {
        return Err(refuse(&format!(
            "it unpacks to more than {} times its size",
            limits.max_ratio
        )));
    }
    // What the entries really unpack to, not what they declare: each is inflated (to nowhere)
    // through a bound, and must be exactly its declared size.
    let budget = limits.max_unpacked_bytes.min(size.saturating_mul(limits.max_ratio));
    let mut inflated: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index(index)
            .map_err(|_| refuse("an entry cannot be unpacked"))?;
        let declared = entry.size();
        let left = budget.saturating_sub(inflated);
        let read = io::copy(&mut entry.take(left.saturating_add(1)), &mut io::sink())
            .map_err(|_| refuse("an entry is corrupt"))?;
        inflated = inflated.saturating_add(read);
        if inflated > budget {
            return Err(refuse("it unpacks to more than its limit"));
        }
        if read != declared {
            return Err(refuse("an entry unpacks to another size than it declares"));
        }
    }
    let index = content_types.ok_or_else(|| refuse("it has no [Content_Types].xml"))?;
    let types = part_text(&mut archive, index, "[Content_Types].xml")?;
    let lower = types.to_ascii_lowercase();
    for active in ACTIVE_CONTENT {
        if lower.contains(active) {
            return Err(refuse(&format!("it declares active content ({active})")));
        }
    }
    if !types.contains(&format!("ContentType=\"{main_part}\"")) {
        return Err(refuse(
            "its [Content_Types].xml does not name the declared type's main part",
        ));
    }
    for index in relationships {
        let rels = part_text(&mut archive, index, "a relationships part")?.to_ascii_lowercase();
        // A relationship to something outside the package (a template or an object fetched
        // when the file opens) is how remote-template attacks start; a hyperlink is only shown.
        for relationship in rels.split("<relationship").skip(1) {
            let external = relationship.contains("targetmode=\"external\"");
            let hyperlink = relationship.contains("/relationships/hyperlink\"");
            if external && !hyperlink {
                return Err(refuse("it refers to content outside the file"));
            }
        }
    }
    Ok(())
}

/// Content types of parts that run code or embed other programs' objects: refused in any
/// package (lower case; matched anywhere in `[Content_Types].xml`).
const ACTIVE_CONTENT: [&str; 7] = [
    "macroenabled",
    "vbaproject",
    "vbadata",
    "activex",
    "oleobject",
    "macrosheet",
    "vnd.ms-office.vbakeybindings",
];

/// An XML part's text, read through [`CONTENT_TYPES_LIMIT`] whatever it declares; refused if
/// longer, not UTF-8, or holding what makes a plain text search unsound (a document type
/// declaration, which may define entities; a comment; a character reference).
fn part_text<F: Read + Seek>(archive: &mut zip::ZipArchive<F>, index: usize, what: &str) -> Result<String, Refusal> {
    let refuse = |why: String| Refusal::Package { why };
    let entry = archive
        .by_index(index)
        .map_err(|_| refuse(format!("{what} cannot be read")))?;
    let mut text = String::new();
    entry
        .take(CONTENT_TYPES_LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|_| refuse(format!("{what} cannot be read as UTF-8")))?;
    if text.len() as u64 > CONTENT_TYPES_LIMIT {
        return Err(refuse(format!("{what} is too large")));
    }
    if text.contains("<!") || text.contains("&#") {
        return Err(refuse(format!(
            "{what} holds a declaration, a comment or a character reference"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
