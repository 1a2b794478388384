//! Numbers read from outside (a cache's narinfos, a store dump, a server's headers) are added
//! without overflow: a hostile `FileSize: 18446744073709551615` makes a total the largest number
//! there is, never a panic (the `xtask` profile keeps overflow checks).

/// The sum, saturating at `u64::MAX`.
pub fn total(values: impl IntoIterator<Item = u64>) -> u64 {
    values.into_iter().fold(0, u64::saturating_add)
}

/// The sum of values that may be unknown: unknown when any is.
pub(crate) fn total_known(values: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
    values.into_iter().try_fold(0u64, |sum, v| v.map(|v| sum.saturating_add(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_saturate_and_an_unknown_part_makes_the_total_unknown() {
        assert_eq!(total([u64::MAX, 1, 2]), u64::MAX);
        assert_eq!(total([1, 2]), 3);
        assert_eq!(total_known([Some(u64::MAX), Some(5)]), Some(u64::MAX));
        assert_eq!(total_known([Some(1), None]), None);
    }
}
