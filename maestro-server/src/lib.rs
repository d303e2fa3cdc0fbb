//! maestro-server library: being written.
