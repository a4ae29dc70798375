//! UniProt feature tables (flat, XML, REST JSON, TSV, GFF3), FASTA, site sets: one feature schema.
