//! Sans-IO VRRP engine (see docs/ARCHITECTURE.md).
