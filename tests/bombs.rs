//! Decompression bombs are refused from their headers, without a large allocation. This file is
//! its own test binary with one test, so the counting allocator sees nothing else.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use consentgate::media::{self, Limits};

/// Counts live heap bytes and the peak since the last reset.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(live, Ordering::SeqCst);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap growth while running `f`.
fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

#[test]
fn bombs_are_rejected_from_their_headers_with_little_memory() {
    use common::fixtures::{jpeg_bomb, png_bomb, webp_frame_bomb};
    // 60000×60000 RGB would need 10.8 GB decoded; 2 000 WebP frames of 16383² would need 2 TB.
    let cases = [
        ("png 60000²", png_bomb(60_000)),
        ("jpeg 60000²", jpeg_bomb(60_000)),
        ("png 20000²", png_bomb(20_000)),
        ("webp 2000 frames of 16383²", webp_frame_bomb(2_000)),
    ];
    for (what, bytes) in cases {
        let (result, peak) = peak_growth(|| media::process(&bytes, &Limits::default()));
        let err = result.unwrap_err();
        assert_eq!(err.code(), "image_too_large", "{what}: {err}");
        // The input itself is small; a few MiB covers hashing and parsing state.
        assert!(peak < 4 << 20, "{what}: {peak} bytes allocated");
    }
    // Within the pixel limit but beyond what the tiny IDAT holds: refused as damaged, and the
    // decoder's own limits keep it from allocating more than the picture needs.
    let (result, peak) = peak_growth(|| media::process(&png_bomb(9_000), &Limits::default()));
    assert_eq!(result.unwrap_err().code(), "corrupt_image");
    assert!(peak < 9_000 * 9_000 * 4 + (16 << 20), "{peak} bytes allocated");
}
