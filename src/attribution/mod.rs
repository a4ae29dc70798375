//! Integrated gradients at the embedding layer and inside every head.
