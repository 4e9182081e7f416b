//! Static users file.
