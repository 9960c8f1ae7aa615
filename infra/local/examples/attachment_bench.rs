//! Attachments through the whole local stack, timed: a file uploaded through its presigned URL
//! until ingest accepted it (size and type checks, SHA-256, envelope encryption into S3, the
//! record), then downloaded back through the API in 4 MiB ranges, and this process's peak RSS
//! after each size. The stack serves in this process (the gateway, the functions, the ingest
//! driver); the emulator is a process of its own; uploads go through `curl` from a file on disk,
//! so the client part holds no file in memory. docs/benchmarks.md, "Attachments".
//!
//!   cargo run --release -p quire-local --example attachment_bench -- [SIZE_MiB ...]   (default: 1 16 64)

use quire_local::stack::{Stack, StackOptions};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const PASSWORD: &str = "Quire-Bench-Passw0rd!";

/// This process's peak resident set (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A text file of `bytes` bytes (lines of their own offset), written through a buffer; its
/// SHA-256.
fn text_file(path: &std::path::Path, bytes: u64) -> String {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("the input file"));
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    while written < bytes {
        let line = format!("{written:015}\n");
        let take = (bytes - written).min(line.len() as u64) as usize;
        out.write_all(&line.as_bytes()[..take]).expect("write");
        hasher.update(&line.as_bytes()[..take]);
        written += take as u64;
    }
    out.flush().expect("flush");
    hex::encode(hasher.finalize())
}

#[tokio::main]
async fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("sizes in MiB"))
        .collect();
    let sizes = if sizes.is_empty() { vec![1, 16, 64] } else { sizes };
    let stack = Stack::start(StackOptions {
        seed: vec!["bench".into()],
        demo_password: PASSWORD.into(),
        ..StackOptions::default()
    })
    .await
    .expect("the local stack");
    let api = stack.api_url.clone();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{api}/auth/login"))
        .json(&json!({"email": stack.org("bench").user(quire_core::rbac::Role::User).email, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login JSON");
    let token = login["accessToken"].as_str().expect("an access token").to_owned();
    let document: Value = http
        .post(format!("{api}/documents"))
        .bearer_auth(&token)
        .json(&json!({"title": "SOP-900 Benchmark", "type": "sop", "body": "Files"}))
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("document JSON");
    let document = document["id"].as_str().expect("a document id").to_owned();
    let work = std::env::temp_dir().join("quire-bench-attachments");
    std::fs::create_dir_all(&work).expect("work directory");
    println!("peak RSS after start-up: {:.1} MiB", peak_rss_mib());
    println!("| size | ingest s | ingest MB/s | download s | download MB/s | ranges | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|");
    for size in sizes {
        let bytes = size * MIB;
        let path = work.join(format!("bench-{size}.txt"));
        let sha256 = text_file(&path, bytes);
        let declared: Value = http
            .post(format!("{api}/documents/{document}/attachments"))
            .bearer_auth(&token)
            .json(&json!({"fileName": format!("bench-{size}.txt"), "contentType": "text/plain", "size": bytes}))
            .send()
            .await
            .expect("declaration")
            .json()
            .await
            .expect("declaration JSON");
        let id = declared["attachment"]["id"]
            .as_str()
            .expect("an attachment id")
            .to_owned();
        let url = declared["upload"]["url"].as_str().expect("an upload URL").to_owned();
        let uploaded = tokio::process::Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "-X", "PUT", &url])
            .args(["-H", "content-type: text/plain", "-H", "if-none-match: *"])
            .arg("--data-binary")
            .arg(format!("@{}", path.display()))
            .status()
            .await
            .expect("curl");
        assert!(uploaded.success(), "the upload");
        let ingest = Instant::now();
        loop {
            let read: Value = http
                .get(format!("{api}/attachments/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("read")
                .json()
                .await
                .expect("read JSON");
            match read["status"].as_str() {
                Some("pending") => tokio::time::sleep(Duration::from_millis(20)).await,
                Some("accepted") => break,
                other => panic!("not accepted: {other:?} {read}"),
            }
        }
        let ingest = ingest.elapsed().as_secs_f64();
        let download = Instant::now();
        let mut hasher = Sha256::new();
        let (mut offset, mut ranges) = (0u64, 0u32);
        while offset < bytes {
            let part = http
                .get(format!("{api}/attachments/{id}/content"))
                .bearer_auth(&token)
                .header("range", format!("bytes={offset}-"))
                .send()
                .await
                .expect("a range");
            assert_eq!(part.status(), 206, "range at {offset}");
            let body = part.bytes().await.expect("the range's bytes");
            hasher.update(&body);
            offset += body.len() as u64;
            ranges += 1;
        }
        let download = download.elapsed().as_secs_f64();
        assert_eq!(hex::encode(hasher.finalize()), sha256, "the download is the upload");
        std::fs::remove_file(&path).ok();
        let mb = bytes as f64 / 1e6;
        println!(
            "| {size} MiB | {ingest:.2} | {:.1} | {download:.2} | {:.1} | {ranges} | {:.1} |",
            mb / ingest,
            mb / download,
            peak_rss_mib()
        );
    }
}
