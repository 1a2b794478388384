//! The integrity of a cache: tried as a hostile user would.
