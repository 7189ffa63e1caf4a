//! The table of every sample (`q` bytes) of every long line of the values, where the
//! redactor looks up the bytes it samples from the output, with a small bitmap in front.

use super::*;

/// A sample found in more places than this is not extended from each (see
/// [`Patterns::stretch`]).
pub(super) const MAX_PLACES: usize = 64;

/// Every `width` bytes at every offset of the long lines, found by their value: an open
/// addressing table of the distinct ones, each pointing at its places, behind a bitmap
/// that answers most probes from the output with a no.
pub(super) struct SampleTable {
    /// Bytes per sample: 8, or fewer when `min_fragment` is smaller.
    pub(super) width: usize,
    /// Bytes between two samples of the output: `min_fragment - width + 1`.
    pub(super) step: usize,
    pub(super) filter: Vec<u64>,
    pub(super) filter_shift: u32,
    pub(super) slots: Vec<Slot>,
    pub(super) slot_shift: u32,
    /// (line, byte offset), grouped by sample.
    pub(super) places: Vec<(u32, u32)>,
    /// Which bytes occur in the long lines: a run never holds another.
    pub(super) in_lines: [bool; 256],
}

#[derive(Clone, Copy, Default)]
pub(super) struct Slot {
    pub(super) key: u64,
    pub(super) first: u32,
    /// 0: an empty slot.
    pub(super) count: u32,
}

impl SampleTable {
    pub(super) fn new(
        lines: &[Zeroizing<Vec<u8>>],
        first_long: usize,
        fragment: usize,
    ) -> SampleTable {
        let width = fragment.min(8);
        // Each sample as (its bytes, line, offset) packed into one number, so that sorting
        // groups them and the pieces of values are wiped afterwards.
        let mut all: Zeroizing<Vec<u128>> = Zeroizing::new(Vec::new());
        for (number, line) in lines.iter().enumerate().skip(first_long) {
            // A long line has at least `fragment` bytes, so at least `width`.
            for offset in 0..=line.len() - width {
                let sample = key(&line[offset..offset + width]);
                all.push(
                    u128::from(sample) << 64 | u128::from(number as u32) << 32 | offset as u128,
                );
            }
        }
        all.sort_unstable();
        let sample_of = |packed: u128| (packed >> 64) as u64;
        let distinct = all
            .windows(2)
            .filter(|w| sample_of(w[0]) != sample_of(w[1]))
            .count()
            + 1;
        // About 16 bits of bitmap per sample (a probe of the output is a false yes
        // about once in 16), at least 4 KiB, at most 8 MiB.
        let filter_bits = (distinct * 16).next_power_of_two().clamp(1 << 15, 1 << 26);
        let slot_count = (distinct * 2).next_power_of_two().max(2);
        let mut table = SampleTable {
            width,
            step: fragment - width + 1,
            filter: vec![0; filter_bits / 64],
            filter_shift: 64 - filter_bits.trailing_zeros(),
            slots: vec![Slot::default(); slot_count],
            slot_shift: 64 - slot_count.trailing_zeros(),
            places: Vec::with_capacity(all.len()),
            in_lines: [false; 256],
        };
        for line in &lines[first_long..] {
            for &byte in line.iter() {
                table.in_lines[usize::from(byte)] = true;
            }
        }
        let mut i = 0;
        while i < all.len() {
            let sample = sample_of(all[i]);
            let first = table.places.len() as u32;
            while i < all.len() && sample_of(all[i]) == sample {
                table.places.push(((all[i] >> 32) as u32, all[i] as u32));
                i += 1;
            }
            let hash = hash(sample);
            let bit = (hash >> table.filter_shift) as usize;
            table.filter[bit / 64] |= 1 << (bit % 64);
            let mut slot = (hash >> table.slot_shift) as usize;
            while table.slots[slot].count != 0 {
                slot = (slot + 1) & (slot_count - 1);
            }
            table.slots[slot] = Slot {
                key: sample,
                first,
                count: table.places.len() as u32 - first,
            };
        }
        table
    }

    /// Where `sample` (`width` bytes) is in the long lines.
    pub(super) fn places_of(&self, sample: &[u8]) -> &[(u32, u32)] {
        let sample = key(sample);
        let hash = hash(sample);
        let bit = (hash >> self.filter_shift) as usize;
        if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
            return &[];
        }
        let mut slot = (hash >> self.slot_shift) as usize;
        loop {
            let found = self.slots[slot];
            if found.count == 0 {
                return &[];
            }
            if found.key == sample {
                return &self.places[found.first as usize..(found.first + found.count) as usize];
            }
            slot = (slot + 1) & (self.slots.len() - 1);
        }
    }
}

impl Drop for SampleTable {
    /// The table holds pieces of the values: wiped like the values.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for slot in &mut self.slots {
            slot.key.zeroize();
        }
    }
}

/// Up to 8 bytes as one number (the bytes themselves: equal numbers are equal samples).
pub(super) fn key(bytes: &[u8]) -> u64 {
    if let Ok(word) = <[u8; 8]>::try_from(bytes) {
        return u64::from_le_bytes(word);
    }
    let mut word = [0u8; 8];
    word[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

pub(super) fn hash(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
