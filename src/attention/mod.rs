//! Attention maps: extraction per layer and head, long tables.
