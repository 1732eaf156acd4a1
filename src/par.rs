//! The end of a run on two threads: the per-stream records and the per-call diagnosis are
//! independent per item, and with `--threads 2` or more the RTP worker's core is idle once
//! the packets are read. [`map_indexed`] maps items in order, the later half on a scoped
//! thread; its result is exactly the serial map's, so no output depends on the thread count.

/// Fewer items than this are mapped on the calling thread: starting a thread costs about as
/// much as 10 to 20 stream records or call verdicts.
const MIN_ITEMS_TO_SPLIT: usize = 32;

/// `(0..len).map(f).collect()`, with the second half mapped on a scoped thread when `threads`
/// is at least 2 and there are at least [`MIN_ITEMS_TO_SPLIT`] items. A panic in `f` on the
/// other thread is raised again here.
pub(crate) fn map_indexed<T: Send>(len: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if threads < 2 || len < MIN_ITEMS_TO_SPLIT {
        return (0..len).map(f).collect();
    }
    let mid = len / 2;
    let f = &f;
    std::thread::scope(|scope| {
        let later = scope.spawn(move || (mid..len).map(f).collect::<Vec<T>>());
        let mut all = Vec::with_capacity(len);
        all.extend((0..mid).map(f));
        all.extend(later.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        all
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_the_serial_map_in_order_for_every_thread_count_and_length() {
        let f = |i: usize| (i * 7919) % 1009;
        for len in [0, 1, MIN_ITEMS_TO_SPLIT - 1, MIN_ITEMS_TO_SPLIT, 1000, 1001] {
            let serial: Vec<usize> = (0..len).map(f).collect();
            for threads in [1, 2, 8] {
                assert_eq!(map_indexed(len, threads, f), serial, "len {len}, threads {threads}");
            }
        }
    }

    #[test]
    fn maps_the_later_half_on_another_thread() {
        let main = std::thread::current().id();
        let on_main = map_indexed(100, 2, |_| std::thread::current().id() == main);
        assert!(on_main[..50].iter().all(|&m| m));
        assert!(on_main[50..].iter().all(|&m| !m));
    }

    #[test]
    #[should_panic(expected = "item 90")]
    fn a_panic_on_the_other_thread_reaches_the_caller() {
        let _ = map_indexed(100, 2, |i| if i == 90 { panic!("item 90") } else { i });
    }
}
