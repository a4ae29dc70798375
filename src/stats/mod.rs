//! Statistics: correlations, tests, multiple-testing corrections.
