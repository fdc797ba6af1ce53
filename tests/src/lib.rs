//! Shared helpers for chapar integration tests.
