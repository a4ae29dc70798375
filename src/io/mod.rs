//! Reading inputs: FASTA records.
