//! chapar mission node (see issue 3); the formats it builds on live in `chapar-proto` and `chapar-certs`.
