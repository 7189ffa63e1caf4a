//! Plaintext does not stay behind in memory vault frees: a buffer that outgrows its
//! allocation wipes the one it leaves. Checked with an allocator that looks into every
//! block freed while a test watches (a reallocation is an allocation, a copy and a free, so
//! it is looked into too).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use secretsd::store::document::Document;
use secretsd::store::secret_bytes::SecretBytes;

/// Written into the values; looked for in every block freed while watching.
const MARKER: &[u8] = b"PLAINTEXT-MARKER-9d41c7e2";

static WATCHING: AtomicBool = AtomicBool::new(false);
static FREED_WITH_MARKER: AtomicUsize = AtomicUsize::new(0);
/// One watching test at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Inspecting;

// SAFETY: every call is passed on to the system allocator unchanged; `dealloc` only reads
// the block it is given (through libc's memmem, as bytes) before passing it on.
unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if WATCHING.load(Ordering::SeqCst) && layout.size() >= MARKER.len() {
            let found = unsafe {
                libc::memmem(
                    block.cast(),
                    layout.size(),
                    MARKER.as_ptr().cast(),
                    MARKER.len(),
                )
            };
            if !found.is_null() {
                FREED_WITH_MARKER.fetch_add(1, Ordering::SeqCst);
            }
        }
        unsafe { System.dealloc(block, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Inspecting = Inspecting;

/// How many blocks freed during `f` held the marker.
fn freed_with_marker(f: impl FnOnce()) -> usize {
    FREED_WITH_MARKER.store(0, Ordering::SeqCst);
    WATCHING.store(true, Ordering::SeqCst);
    f();
    WATCHING.store(false, Ordering::SeqCst);
    FREED_WITH_MARKER.load(Ordering::SeqCst)
}

#[test]
fn the_check_sees_a_plain_vec_leave_plaintext_behind() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut plain = Vec::with_capacity(MARKER.len());
    plain.extend_from_slice(MARKER);
    let found = freed_with_marker(|| plain.extend_from_slice(&[b'x'; 4096]));
    assert!(
        found > 0,
        "a Vec that grew left its old block unwiped: this check sees it"
    );
    plain.fill(0);
}

#[test]
fn a_growing_secret_buffer_leaves_no_plaintext_behind() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut bytes = SecretBytes::with_capacity(MARKER.len());
    bytes.extend_from_slice(MARKER);
    let found = freed_with_marker(|| {
        for _ in 0..100 {
            bytes.extend_from_slice(&[b'x'; 4096]);
        }
        drop(bytes);
    });
    assert_eq!(found, 0, "a freed block held the plaintext");
}

/// Escaped control characters (six bytes each in JSON) and long descriptions outgrow the
/// serializer's estimate of the document's size: the copy it grows out of is wiped, and
/// the document reads back the same.
#[test]
fn a_document_that_outgrows_its_estimate_leaves_no_plaintext_behind_and_round_trips() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let marker = std::str::from_utf8(MARKER).unwrap();
    let mut document = Document::new(vec!["age1example".into()]);
    let mut expected = Vec::new();
    for i in 0..50 {
        let value = format!("{marker}{i}{}", "\u{1}\u{2}\u{1b}\u{7f}\t".repeat(400));
        let description = format!("{}{i}", "a long description ".repeat(500));
        expected.push((format!("SECRET_{i:02}"), value.clone(), description.clone()));
        document
            .set(
                &format!("SECRET_{i:02}"),
                value.into(),
                Some(description),
                "2026-01-01T00:00:00Z",
            )
            .unwrap();
    }
    let mut json = None;
    let found = freed_with_marker(|| json = Some(document.to_json().unwrap()));
    assert_eq!(
        found, 0,
        "serializing left a copy of a value in freed memory"
    );
    let json = json.unwrap();
    let read = Document::from_json(&json, "the test document").unwrap();
    assert_eq!(read.len(), expected.len());
    for (name, value, description) in &expected {
        let entry = read.get(name).unwrap().unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(entry.value().expose_secret(), value);
        assert_eq!(entry.description.as_deref(), Some(description.as_str()));
    }
    // Wiped as it is dropped, too.
    assert_eq!(freed_with_marker(|| drop(json)), 0);
    for (_, value, _) in &mut expected {
        zeroize::Zeroize::zeroize(value);
    }
}
