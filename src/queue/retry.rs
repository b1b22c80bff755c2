//! The forward retry schedule (SPEC §6), as a pure function.
