"""Copies antibody Fv structures from ../shared/data/structures/antibodies into data/structures/
for the demo's structure section and notebook 05 (which must run from a clone alone).

Each copy keeps the file's TITLE and REMARK lines, the SEQRES of chains H and L (the antigen
chains' SEQRES are dropped: their atoms were removed upstream), and the N, CA, C, O and CB atoms
of chains H and L (what DSSP and Cβ/Cα contacts read), unchanged otherwise. The first 30 files
in name order: 20 to fit a contact head on (Rao et al.'s count) and 10 to score it on.

    python3 scripts/make_demo_structures.py
"""

import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SOURCE = os.path.join(ROOT, "..", "shared", "data", "structures", "antibodies")
OUT = os.path.join(ROOT, "data", "structures", "antibodies")
COUNT = 30
ATOMS = {"N", "CA", "C", "O", "CB"}
CHAINS = {"H", "L"}


def keep(line):
    record = line[:6].strip()
    if record in ("TITLE", "REMARK"):
        return True
    if record == "SEQRES":
        return line[11] in CHAINS
    if record == "ATOM":
        return line[21] in CHAINS and line[12:16].strip() in ATOMS
    return record in ("TER", "END")


def main():
    if not os.path.isdir(SOURCE):
        sys.exit(f"{SOURCE} is missing: the shared data folder is needed to make the copies")
    names = sorted(n for n in os.listdir(SOURCE) if n.endswith(".pdb"))[:COUNT]
    os.makedirs(OUT, exist_ok=True)
    for name in names:
        with open(os.path.join(SOURCE, name)) as f:
            lines = [line for line in f if keep(line)]
        with open(os.path.join(OUT, name), "w") as f:
            f.writelines(lines)
    print(f"wrote {len(names)} structures to {OUT}")


if __name__ == "__main__":
    main()
