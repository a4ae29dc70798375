#!/usr/bin/env python3
"""IMGT numbering data for protscope's antibody region annotator.

Two jobs, one sub-command each:

``germlines``  Writes ``src/annotation/antibody/imgt_germlines.tsv``: the IMGT-gapped germline
               V-REGIONs (human and mouse, functional ``*01`` alleles, standard IMGT gap layout)
               and J-REGIONs from which the annotator builds its per-position profiles. Input: the
               IMGT/GENE-DB FASTA files kept in oxpig/ANARCI at commit 76eecb6c5962, folder
               ``build_pipeline/IMGT_sequence_files/fastafiles`` (IMGT data, not ANARCI's code or
               HMMs). Alleles whose sequence is one of the test rows of ``antibodies.tsv`` are left
               out, so the test never numbers a sequence the profile was built from.

``fixtures``   Runs ANARCI (``--scheme imgt``) on data/antibodies.fasta, on the 171 rows of
               ../shared/data/antibodies/antibodies.tsv, on the PDB antibody chains of ANARCI's
               example file (optional) and on non-antibody proteins, and writes
               ``tests/fixtures/imgt/anarci_imgt.tsv`` with ANARCI's chain type and the 1-based
               start/end of every region in the given sequence.

Needs: ``pip install anarci`` (in a virtual environment) and HMMER 3.3.2 on PATH (Debian's
``hmmer`` package; HMMER 3.4 output breaks ANARCI's parser).

Usage (the IMGT files: `git show 76eecb6c5962:build_pipeline/IMGT_sequence_files/fastafiles/<name>`
in a clone of oxpig/ANARCI, one file per name, into DIR):
    python scripts/make_imgt_fixtures.py germlines --fastafiles DIR --antibodies ../shared/data/antibodies/antibodies.tsv
    python scripts/make_imgt_fixtures.py fixtures --shared ../shared --anarci-examples antibody_sequences.fasta
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# IMGT regions: (name, first, last) position.
REGIONS = [
    ("fr1", 1, 26),
    ("cdr1", 27, 38),
    ("fr2", 39, 55),
    ("cdr2", 56, 65),
    ("fr3", 66, 104),
    ("cdr3", 105, 117),
    ("fr4", 118, 128),
]

# Chain type letter -> IMGT locus file suffixes (V, J).
LOCI = {"H": "H", "K": "K", "L": "L", "A": "A", "B": "B", "G": "G", "D": "D"}
SPECIES = {"Homo_sapiens": "human", "Mus": "mouse"}


def read_fasta(path):
    records = []
    header, seq = None, []
    with open(path) as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith(">"):
                if header is not None:
                    records.append((header, "".join(seq)))
                header, seq = line.lstrip(">"), []
            elif line.strip():
                seq.append(line.strip())
    if header is not None:
        records.append((header, "".join(seq)))
    return records


def occupied(gapped, first, last):
    return [p for p in range(first, last + 1) if gapped[p - 1] != "."]


def standard_cdr_layout(gapped, first, last):
    """True when the CDR's residues sit where IMGT's rule puts them: ceil(k/2) from the first
    position upwards, floor(k/2) ending at the last (gaps at the top of the loop)."""
    occ = occupied(gapped, first, last)
    k = len(occ)
    left = (k + 1) // 2
    right = k // 2
    expected = list(range(first, first + left)) + list(range(last - right + 1, last + 1))
    return occ == expected


def germlines(args):
    test_sequences = set()
    with open(args.antibodies) as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            test_sequences.add(row["sequence"])
    rows = []
    seen = set()
    for file_species, species in SPECIES.items():
        for chain, locus in LOCI.items():
            for kind in ("V", "J"):
                path = os.path.join(args.fastafiles, f"{file_species}_{locus}{kind}.fasta")
                if not os.path.exists(path):
                    continue
                for header, seq in read_fasta(path):
                    fields = header.split("|")
                    allele, organism, functionality = fields[1], fields[2], fields[3]
                    if functionality != "F" or not allele.endswith("*01"):
                        continue
                    if species == "mouse" and not organism.startswith("Mus musculus"):
                        continue
                    if "*" in seq or "X" in seq:
                        continue
                    if kind == "V":
                        if len(seq) < 104 or seq.startswith("."):
                            continue
                        # Standard IMGT layout only: anchors at their positions, CDR gaps central.
                        if seq[22] != "C" or seq[40] != "W" or seq[103] != "C":
                            continue
                        if not (standard_cdr_layout(seq, 27, 38) and standard_cdr_layout(seq, 56, 65)):
                            continue
                        if seq.replace(".", "") in test_sequences:
                            continue
                        gapped = seq[:104]
                    else:
                        # J-REGION: the motif F/W-G-x-G starts IMGT position 118.
                        m = re.search(r"[FW]G.G", seq)
                        if m is None:
                            continue
                        gapped = seq[m.start():m.start() + 11]
                        gapped = gapped + "." * (11 - len(gapped))
                    key = (chain, kind, gapped)
                    if key in seen:
                        continue
                    seen.add(key)
                    rows.append((chain, kind, species, allele, gapped))
    out = os.path.join(REPO, "src", "annotation", "antibody", "imgt_germlines.tsv")
    with open(out, "w") as handle:
        handle.write(
            "# IMGT/GENE-DB germline regions, IMGT-gapped ('.' = empty IMGT position); human and\n"
            "# mouse functional *01 alleles with the standard gap layout, duplicates removed.\n"
            "# kind V: IMGT positions 1-104. kind J: positions 118-128. Source: the IMGT FASTA\n"
            "# files in oxpig/ANARCI@76eecb6c5962 build_pipeline/IMGT_sequence_files/fastafiles,\n"
            "# selected by scripts/make_imgt_fixtures.py germlines. IMGT terms of use apply.\n"
        )
        handle.write("chain\tkind\tspecies\tallele\tgapped\n")
        for row in rows:
            handle.write("\t".join(row) + "\n")
    counts = {}
    for chain, kind, *_ in rows:
        counts[(chain, kind)] = counts.get((chain, kind), 0) + 1
    print(f"wrote {out}: {len(rows)} rows; " + ", ".join(f"{c}{k}={n}" for (c, k), n in sorted(counts.items())))


def region_bounds(numbering, start_index):
    """1-based start/end in the given sequence of each region, from one ANARCI domain."""
    bounds = {name: None for name, _, _ in REGIONS}
    index = start_index
    for (position, _insertion), residue in numbering:
        if residue == "-":
            continue
        for name, first, last in REGIONS:
            if first <= position <= last:
                lo, hi = bounds[name] or (index + 1, index + 1)
                bounds[name] = (min(lo, index + 1), max(hi, index + 1))
        index += 1
    return bounds, index


def fixtures(args):
    from anarci import anarci  # imported here so `germlines` runs without ANARCI installed

    shared = args.shared
    records = []  # (id, source, sequence)
    for header, seq in read_fasta(os.path.join(REPO, "data", "antibodies.fasta")):
        records.append((header.split()[0], "data/antibodies.fasta", seq))
    with open(os.path.join(shared, "data", "antibodies", "antibodies.tsv")) as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            records.append((row["id"], "shared antibodies.tsv (" + row["source_repo"] + ")", row["sequence"]))
    if args.anarci_examples:
        # PDB antibody chains (Fab, Fv, scFv; most with constant-region residues) from ANARCI's
        # example file (oxpig/ANARCI, Example_scripts_and_sequences/antibody_sequences.fasta).
        for header, seq in read_fasta(args.anarci_examples):
            records.append((header.split()[0], "oxpig/ANARCI antibody_sequences.fasta (PDB)", seq))
    for header, seq in read_fasta(os.path.join(shared, "data", "uniprot", "multi_ex.fasta")):
        records.append((header.split()[0], "shared uniprot/multi_ex.fasta (UniProt)", seq))
    with open(os.path.join(shared, "data", "provis", "binding_sites_valid.jsonl")) as handle:
        for line in handle:
            item = json.loads(line)
            records.append(("provis_" + item["id"], "shared provis/binding_sites_valid.jsonl (PDB)", item["sequence"]))
    # Same sequence twice (under two ids) is one test case.
    unique, seen = [], set()
    for rid, source, seq in records:
        if seq in seen:
            continue
        seen.add(seq)
        unique.append((rid, source, seq))
    records = unique

    numbered, details, _hits = anarci(
        [(rid, seq) for rid, _, seq in records], scheme="imgt", output=False, ncpu=args.ncpu
    )
    rows = []
    for (rid, source, seq), domains, detail in zip(records, numbered, details):
        if not domains:
            chain = "none"
            bounds = {name: None for name, _, _ in REGIONS}
            n_domains = 0
            numbering, start = [], 0
        else:
            numbering, start, end = domains[0]
            chain = detail[0]["chain_type"]
            bounds, stop = region_bounds(numbering, start)
            # ANARCI's numbered residues are exactly seq[start..=end], in order.
            numbered_residues = "".join(r for _, r in numbering if r != "-")
            assert seq[start:end + 1] == numbered_residues and stop == end + 1, rid
            n_domains = len(domains)
        # Per residue of the given sequence: ANARCI's IMGT number ("111A"), "." where none.
        numbers = ["."] * len(seq)
        if domains:
            index = start
            for (position, insertion), residue in numbering:
                if residue == "-":
                    continue
                numbers[index] = f"{position}{insertion.strip()}"
                index += 1
        # Kept from the first to the last numbered residue only (the fixture stays small).
        numbered_at = [i for i, n in enumerate(numbers) if n != "."]
        if numbered_at:
            span = (numbered_at[0] + 1, " ".join(numbers[numbered_at[0]:numbered_at[-1] + 1]))
        else:
            span = ("", "")
        rows.append((rid, source, seq, chain, n_domains, bounds, span))

    # Non-antibodies from provis: all that ANARCI finds antibody or TCR domains in are kept (real
    # test cases), and a sample of the others as negatives (the fixture stays small).
    keep = []
    negatives = 0
    for row in rows:
        rid, source = row[0], row[1]
        if "provis" in source and row[3] == "none":
            negatives += 1
            if negatives > args.provis_negatives:
                continue
        keep.append(row)

    out_dir = os.path.join(REPO, "tests", "fixtures", "imgt")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "anarci_imgt.tsv")
    with open(out, "w") as handle:
        columns = ["id", "source", "chain", "domains", "sequence"]
        for name, _, _ in REGIONS:
            columns += [f"{name}_start", f"{name}_end"]
        columns += ["imgt_from", "imgt_numbers"]
        handle.write("\t".join(columns) + "\n")
        for rid, source, seq, chain, n_domains, bounds, numbers in keep:
            cells = [rid, source, chain, str(n_domains), seq]
            for name, _, _ in REGIONS:
                b = bounds[name]
                cells += [str(b[0]), str(b[1])] if b else ["", ""]
            cells += [str(numbers[0]), numbers[1]]
            handle.write("\t".join(cells) + "\n")
    counts = {}
    for row in keep:
        counts[row[3]] = counts.get(row[3], 0) + 1
    print(f"wrote {out}: {len(keep)} rows; chain types {counts}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("germlines")
    g.add_argument("--fastafiles", required=True)
    g.add_argument("--antibodies", required=True)
    f = sub.add_parser("fixtures")
    f.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    f.add_argument("--provis-negatives", type=int, default=300)
    f.add_argument("--anarci-examples", help="ANARCI's Example_scripts_and_sequences/antibody_sequences.fasta")
    f.add_argument("--ncpu", type=int, default=1)
    args = parser.parse_args()
    if args.command == "germlines":
        germlines(args)
    else:
        fixtures(args)


if __name__ == "__main__":
    sys.exit(main())
