//! Placeholder: ka-check is delivered by a later issue (see docs/ARCHITECTURE.md).
