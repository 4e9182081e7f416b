//! Local disk backend.
