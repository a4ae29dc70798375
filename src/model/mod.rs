//! Model architectures on one instrumented encoder core.
