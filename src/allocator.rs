//! The allocator of the `protscope` binary and the benchmarks. Integrated gradients allocates and
//! frees tensors of tens of MB per layer and step; the system allocator returns them to the OS
//! and faults fresh zeroed pages in for the next one (about a tenth of the run time). mimalloc
//! reuses them, and with purging off it never hands freed memory back while the process runs
//! (peak memory is unchanged; it is the peak that is held).
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: protscope_cli::allocator::MiMalloc = protscope_cli::allocator::MiMalloc;
//!
//! fn main() {
//!     protscope_cli::allocator::keep_freed_memory();
//! }
//! ```

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (the version `libmimalloc-sys` builds;
/// the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// `mi_option_allow_thp` in the same header: 0 stops mimalloc's `madvise(MADV_HUGEPAGE)`.
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Tells mimalloc never to purge freed memory (delay −1) and not to ask for transparent huge
/// pages; call first thing in `main`, before large allocations. Harmless when mimalloc is not the
/// global allocator.
pub fn keep_freed_memory() {
    // SAFETY: setting an option is a plain store into mimalloc's option table.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
    }
}
