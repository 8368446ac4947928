//! Running third-party code that may panic on hostile input (miette's
//! renderer, npyz's header parser) without letting the panic escape or print.
//!
//! The panic hook is process-wide; swapping it around each call would race
//! with other threads (and could leave the silent hook installed). Instead one
//! hook is installed once, and stays silent only on a thread inside
//! `catch_quietly`.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

pub fn catch_quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_other_threads_are_untouched() {
        assert!(catch_quietly(|| panic!("boom")).is_err());
        assert_eq!(catch_quietly(|| 7).unwrap(), 7);
        // Another thread still sees an ordinary panic (reported, and caught by join).
        let other = std::thread::spawn(|| QUIET.with(Cell::get)).join().unwrap();
        assert!(!other);
    }
}
