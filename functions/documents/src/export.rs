//! A document's copy for inspection (AUD-9, Part 11 §11.10(b): "accurate and complete copies of
//! records in both human readable and electronic form"): what it holds ([`DocumentExport`],
//! the electronic form, JSON) and its human-readable form ([`pdf`]), rendered from the same
//! value. No storage and no HTTP here.

use crate::domain::{Document, DocumentVersion};
use crate::signature::{Manifestation, Signature};
use quire_core::audit::chain::{Entry, Head};
use quire_store::Listed;
use serde::Serialize;
use std::collections::BTreeMap;

/// A version of a document with everything an inspector checks it by.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentExport {
    /// When the copy was made (UTC, RFC 3339, milliseconds).
    pub exported_at: String,
    /// The organisation (`event.orgId` of every entry).
    pub org_id: String,
    pub document: Document,
    /// The version exported: its content, its files (name, type, size, SHA-256) and its route.
    pub version: DocumentVersion,
    /// SHA-256 (hex) of the version's canonical content, in the form signatures bind now.
    pub content_sha256: String,
    /// The version's signatures, oldest first, each with its manifestation (§11.50).
    pub signatures: Vec<SignedCopy>,
    /// The chain head read before the entries: entries after it are left out.
    pub chain_head: Head,
    /// The document's audit entries (every version's), oldest first, as stored: each carries
    /// `seq`, `prevHash` and `hash`, so that its hash can be checked on its own
    /// (docs/audit-format.md, "The hash"); the whole chain verifies from the audit export.
    pub entries: Vec<Listed>,
    /// Digest → content of every blob the entries reference.
    pub blobs: BTreeMap<String, String>,
}

/// A signature and how every display shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedCopy {
    pub signature: Signature,
    pub manifestation: Manifestation,
}

/// The human-readable copy: an A4 PDF in Courier (one of the 14 fonts every PDF reader has, so
/// nothing is embedded; monospaced, so tables line up), rendered with `pdf-writer`. Sections:
/// the cover (identity, state, the content's SHA-256), the content, the files, the signature
/// manifestations, the audit trail (who, what, when, why, before → after), and the
/// verification data (the chain head, each entry's `prevHash` and `hash`). Text is NFC and
/// encoded as WinAnsi (Windows-1252); a character outside it is shown as its code point,
/// `<U+2265>`, never dropped or replaced silently, and the cover counts them (the JSON copy
/// holds the exact text).
pub fn pdf(export: &DocumentExport, exported_by: &str) -> Vec<u8> {
    let mut report = Report::default();
    let document = &export.document;
    let version = &export.version;
    report.heading("COPY OF A CONTROLLED DOCUMENT FOR INSPECTION");
    report.line("");
    report.field("Document", &format!("{} - {}", document.number, version.title.as_str()));
    report.field("Document id", &document.id);
    report.field("Organisation", &export.org_id);
    report.field("Type", document.kind.as_str());
    report.field("Owner (user id)", &document.owner);
    report.field(
        "Version",
        &format!(
            "{} of {} (latest), state {}",
            version.version_number,
            document.latest_version,
            version.status.as_str()
        ),
    );
    report.field(
        "Version in effect",
        &document
            .effective_version
            .map_or_else(|| "none".to_owned(), |v| v.to_string()),
    );
    report.field("Review due", document.review_due.as_deref().unwrap_or("-"));
    report.field("Content SHA-256", &export.content_sha256);
    report.field("Copy made (UTC)", &export.exported_at);
    report.field("Copy made by", exported_by);
    report.line("");
    report.line("Characters the PDF's fonts lack are shown as their code point (<U+2265>); the JSON copy");
    report.line("of the same export holds the exact text, and the entries' hashes are over that text.");
    report.line("The entries are the document's as the trail's index by target held them when the copy");
    report.line("was made, through the chain head below; the organisation's audit export is the whole chain.");
    let escapes_at = report.lines.len();
    report.line("");

    report.section("1. CONTENT");
    report.field("Title", version.title.as_str());
    report.field("Reason for change", version.reason_for_change.as_deref().unwrap_or("-"));
    report.field("Authors (user ids)", &version.authors.join(", "));
    report.field(
        "Created (UTC)",
        &format!("{} by {}", version.created_at, version.created_by),
    );
    report.line("");
    if version.body.as_str().is_empty() {
        report.line("(empty)");
    }
    for line in version.body.as_str().split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        report.line(line);
    }

    report.section("2. ATTACHED FILES");
    if version.attachments.is_empty() {
        report.line("none");
    }
    for (n, file) in version.attachments.iter().enumerate() {
        report.line(&format!(
            "{}. {} ({}, {} bytes)",
            n + 1,
            file.file_name,
            file.media_type,
            file.size
        ));
        report.line(&format!("   SHA-256 {}", file.sha256));
    }

    report.section("3. SIGNATURES (21 CFR 11.50)");
    if export.signatures.is_empty() {
        report.line("none");
    }
    for (n, signed) in export.signatures.iter().enumerate() {
        let m = &signed.manifestation;
        report.line(&format!("{}. {}", n + 1, m.printed_name));
        report.line(&format!(
            "   signed at {} UTC, meaning: {}, given to this content: {}",
            m.signed_at,
            m.meaning.as_str(),
            if m.content_matches {
                "yes"
            } else {
                "no (an earlier round)"
            }
        ));
        report.line(&format!("   manifestation: {}", m.text));
        report.line(&format!("   signer (user id): {}", signed.signature.signer_id));
        if let Some(reason) = &signed.signature.reason {
            report.line(&format!("   reason: {reason}"));
        }
    }

    report.section("4. AUDIT TRAIL OF THE DOCUMENT");
    let mut entries = Vec::new();
    for listed in &export.entries {
        match listed {
            Listed::Entry(entry) => {
                entries.push(entry.as_ref());
                audit_entry(&mut report, entry, &export.blobs);
            }
            Listed::Unreadable { seq, .. } => {
                report.line(&format!(
                    "#{} cannot be read as stored",
                    seq.map_or("?".to_owned(), |s| s.to_string())
                ));
            }
        }
    }

    report.section("5. VERIFICATION");
    report.field("Chain head", &format!("seq {}", export.chain_head.seq));
    report.field("Head hash", &export.chain_head.hash);
    report.line("Each entry's hash is SHA-256 over its previous hash (32 bytes) and its canonical content");
    report.line("(docs/audit-format.md): it shows the entry is as it was appended. That it belongs to the");
    report.line("chain is verified from the organisation's audit export (scripts/verify_chain.py).");
    report.line("");
    for entry in entries {
        report.line(&format!("#{}", entry.seq));
        report.line(&format!("  prev {}", entry.prev_hash));
        report.line(&format!("  hash {}", entry.hash));
    }
    let escaped = report.escaped;
    report.lines.insert(
        escapes_at,
        (
            false,
            format!("Characters shown as code points in this copy: {escaped}"),
        ),
    );
    let footer = format!(
        "{} v{} - copy made {}",
        document.number, version.version_number, export.exported_at
    );
    let title = format!(
        "{} v{} {} - copy for inspection",
        document.number,
        version.version_number,
        version.title.as_str()
    );
    report.render(&title, &footer)
}

/// One entry: who, what, when, why, before → after (blob references shown as their text).
fn audit_entry(report: &mut Report, entry: &Entry, blobs: &BTreeMap<String, String>) {
    let event = &entry.event;
    report.line("");
    report.bold(&format!("#{}  {}  {}", entry.seq, event.at, event.action.name()));
    let impersonated = event
        .actor
        .impersonator
        .as_ref()
        .map(|by| format!(", acted by {by}"))
        .unwrap_or_default();
    report.line(&format!(
        "  who:    {} <{}> ({}{impersonated})",
        event.actor.display_name, event.actor.email, event.actor.role
    ));
    if let Some(reason) = &event.reason {
        report.line(&format!("  why:    {reason}"));
    }
    let shown = |value: &Option<serde_json::Value>| match value {
        None => "-".to_owned(),
        Some(value) => {
            let mut value = value.clone();
            quire_core::audit::blob::internalise(&mut value, blobs);
            value.to_string()
        }
    };
    report.line(&format!("  before: {}", shown(&event.before)));
    report.line(&format!("  after:  {}", shown(&event.after)));
}

/// Page geometry (points): A4, margins, Courier's advance (600/1000 of the size).
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 42.0;
const SIZE: f32 = 8.0;
const LEADING: f32 = 10.5;
/// Characters per line at [`SIZE`]: the text width over Courier's 0.6 em advance.
const COLUMNS: usize = ((PAGE.0 - 2.0 * MARGIN) / (0.6 * SIZE)) as usize;
/// Lines per page, less two for the footer.
const ROWS: usize = ((PAGE.1 - 2.0 * MARGIN) / LEADING) as usize - 2;

/// Lines of text, each regular or bold, wrapped at [`COLUMNS`]; a wrapped line's continuation
/// begins with `> `.
#[derive(Default)]
struct Report {
    lines: Vec<(bool, String)>,
    /// Characters written as `<U+XXXX>` so far.
    escaped: usize,
}

impl Report {
    fn line(&mut self, text: &str) {
        self.push(false, text);
    }

    fn bold(&mut self, text: &str) {
        self.push(true, text);
    }

    fn heading(&mut self, text: &str) {
        self.bold(text);
    }

    fn section(&mut self, title: &str) {
        self.line("");
        self.bold(title);
    }

    fn field(&mut self, name: &str, value: &str) {
        self.line(&format!("{name:<20} {value}"));
    }

    /// One line of text, NFC: a tab advances to the next multiple of 4 columns; a character
    /// WinAnsi lacks (control characters included) becomes `<U+XXXX>`; wrapped at [`COLUMNS`],
    /// each continuation marked `> `.
    fn push(&mut self, bold: bool, text: &str) {
        use unicode_normalization::UnicodeNormalization;
        let mut shown: Vec<char> = Vec::new();
        for c in text.nfc() {
            if c == '\t' {
                shown.push(' ');
                while !shown.len().is_multiple_of(4) {
                    shown.push(' ');
                }
            } else if win_ansi_byte(c).is_some() {
                shown.push(c);
            } else {
                self.escaped += 1;
                shown.extend(format!("<U+{:04X}>", u32::from(c)).chars());
            }
        }
        let mut rest: &[char] = &shown;
        let mut first = true;
        loop {
            let width = if first { COLUMNS } else { COLUMNS - 2 };
            let (line, next) = rest.split_at(rest.len().min(width));
            let prefix = if first { "" } else { "> " };
            self.lines
                .push((bold, format!("{prefix}{}", line.iter().collect::<String>())));
            rest = next;
            first = false;
            if rest.is_empty() {
                break;
            }
        }
    }

    /// The PDF titled `title` (its document information, in full Unicode): pages of [`ROWS`]
    /// lines, each with `footer` and `page n of m`.
    fn render(self, title: &str, footer: &str) -> Vec<u8> {
        use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
        let pages: Vec<&[(bool, String)]> = self.lines.chunks(ROWS).collect();
        let mut pdf = Pdf::new();
        let (catalog, tree, regular, bold) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4));
        let first_page = 5;
        let page_ids: Vec<Ref> = (0..pages.len()).map(|n| Ref::new(first_page + 2 * n as i32)).collect();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids(page_ids.iter().copied()).count(pages.len() as i32);
        for (id, name) in [(regular, &b"Courier"[..]), (bold, &b"Courier-Bold"[..])] {
            pdf.type1_font(id)
                .base_font(Name(name))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        for (n, lines) in pages.iter().enumerate() {
            let (page_id, content_id) = (page_ids[n], Ref::new(first_page + 2 * n as i32 + 1));
            let mut page = pdf.page(page_id);
            page.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1));
            page.parent(tree);
            page.contents(content_id);
            let mut resources = page.resources();
            let mut fonts = resources.fonts();
            fonts.pair(Name(b"F1"), regular);
            fonts.pair(Name(b"F2"), bold);
            fonts.finish();
            resources.finish();
            page.finish();
            let mut content = Content::new();
            content.begin_text();
            content.set_leading(LEADING);
            content.next_line(MARGIN, PAGE.1 - MARGIN);
            for (is_bold, text) in lines.iter() {
                let font = if *is_bold { Name(b"F2") } else { Name(b"F1") };
                content.set_font(font, SIZE);
                content.show(Str(&win_ansi(text)));
                content.next_line_using_leading();
            }
            content.end_text();
            content.begin_text();
            content.set_font(Name(b"F1"), SIZE);
            content.next_line(MARGIN, MARGIN - LEADING);
            let page_footer = format!("{footer} - page {} of {}", n + 1, pages.len());
            content.show(Str(&win_ansi(&page_footer)));
            content.end_text();
            pdf.stream(content_id, &content.finish());
        }
        pdf.document_info(Ref::new(first_page + 2 * pages.len() as i32))
            .title(TextStr(title))
            .creator(TextStr("Quire"))
            .producer(TextStr("Quire (pdf-writer)"));
        pdf.finish()
    }
}

/// `text` in WinAnsiEncoding (PDF 32000-1, Annex D.2; Windows-1252); [`Report::push`] has
/// already written every other character as its code point.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars().filter_map(win_ansi_byte).collect()
}

/// The WinAnsi byte of `c`: printable ASCII and Latin-1 as themselves, the 27 characters
/// Windows-1252 places at 0x80-0x9F; `None` for any other.
fn win_ansi_byte(c: char) -> Option<u8> {
    Some(match c {
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8a,
        '‹' => 0x8b,
        'Œ' => 0x8c,
        'Ž' => 0x8e,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9a,
        '›' => 0x9b,
        'œ' => 0x9c,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character is shown: as itself in WinAnsi (composed first), or as its code point,
    /// counted; nothing becomes a bare `?`.
    #[test]
    fn text_is_shown_in_win_ansi_or_as_code_points() {
        assert_eq!(win_ansi("Ab 1~"), b"Ab 1~");
        assert_eq!(
            win_ansi("café — Œ ž"),
            [b"caf".as_slice(), &[0xe9], b" ", &[0x97], b" ", &[0x8c], b" ", &[0x9e]].concat()
        );
        let mut report = Report::default();
        report.line("pH \u{2265} 7, cafe\u{301}, \u{65e5}\u{672c}, a\u{7}b");
        assert_eq!(report.lines[0].1, "pH <U+2265> 7, café, <U+65E5><U+672C>, a<U+0007>b");
        assert_eq!(report.escaped, 4);
        report.line("a\tb\t\tc");
        assert_eq!(report.lines[1].1, "a   b       c");
    }

    #[test]
    fn long_lines_wrap_marked_and_pages_fill() {
        let mut report = Report::default();
        report.line(&"x".repeat(COLUMNS * 2 + 1));
        assert_eq!(report.lines.len(), 3);
        assert!(report.lines[1].1.starts_with("> "));
        let joined: String = report.lines.iter().map(|(_, l)| l.trim_start_matches("> ")).collect();
        assert_eq!(joined, "x".repeat(COLUMNS * 2 + 1), "nothing lost");
        let mut report = Report::default();
        for n in 0..ROWS * 2 + 1 {
            report.line(&n.to_string());
        }
        let pdf = report.render("title", "footer");
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Count 3"), "3 pages");
    }
}
