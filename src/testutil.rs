//! Helpers shared by unit tests.

/// `count` texts of `len` pieces each, chosen from `pieces` by a fixed generator started at
/// `seed`: the same texts on every run, for property tests without a random source.
pub(crate) fn texts(pieces: &[&str], count: usize, len: usize, seed: u32) -> Vec<String> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    pieces[(state >> 16) as usize % pieces.len()]
                })
                .collect()
        })
        .collect()
}

/// Run `f` with tracing going to a buffer; its result and what it logged.
#[allow(clippy::unwrap_used)]
pub(crate) fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let w = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(sub, f);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}
