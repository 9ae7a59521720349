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
