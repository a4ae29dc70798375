//! Structures (PDB/mmCIF): residue mapping, distance and contact maps.
