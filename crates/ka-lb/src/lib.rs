//! Placeholder: ka-lb is delivered by a later issue (see docs/ARCHITECTURE.md).
