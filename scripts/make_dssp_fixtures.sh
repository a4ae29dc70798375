#!/usr/bin/env bash
# Reference DSSP assignments from mkdssp 4.2 (Debian package `dssp`) for the shared structures and
# the committed DSSP fixtures; see docs/fixtures.md.
#
#   scripts/make_dssp_fixtures.sh [SHARED_STRUCTURES]   (default ../shared/data/structures)
#
# Writes tests/fixtures/dssp/mkdssp_shared.tsv.gz (every shared structure) and one
# tests/fixtures/dssp/<file>.tsv per structure under tests/fixtures/dssp/structures/. Columns:
# file, chain, auth_seq, icode, dssp8 (mkdssp's blank written `C`, an empty icode written `-`).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${1:-$repo/../shared/data/structures}
out=$repo/tests/fixtures/dssp
command -v mkdssp >/dev/null || { echo "mkdssp not found (apt-get install dssp)" >&2; exit 1; }
mkdssp --version | grep -q 'version 4\.2' || { echo "need mkdssp 4.2, found: $(mkdssp --version | head -1)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# mkdssp 4.2 refuses PDB files without HEADER and CRYST1 records, and wants CRYST1 in its place in
# the record order (before ORIGX/SCALE/MTRIX and the coordinates): a temporary copy gets both. The
# deposited HELIX/SHEET records play no part in DSSP and trip its reader when a trimmed file keeps
# them (duplicate sheet keys), so the copy leaves them out.
prepare_pdb() {
  awk '
    NR == 1 && !/^HEADER/ { print "HEADER    PROTSCOPE DSSP FIXTURE                  01-JAN-00   XXXX              " }
    /^(HELIX |SHEET )/ { next }
    /^CRYST1/ { crystal = 1 }
    !crystal && /^(ORIGX|SCALE|MTRIX|MODEL |ATOM  |HETATM)/ {
      print "CRYST1    1.000    1.000    1.000  90.00  90.00  90.00 P 1           1          "; crystal = 1
    }
    { print }
  ' "$1" > "$2"
}

# One structure: mkdssp's classic output, its residue lines as TSV rows (chain breaks `!` skipped).
assign() { # path label
  local input=$work/input
  case "$1" in
    *.cif | *.cif.gz) input=$1 ;;
    *) prepare_pdb "$1" "$input.pdb"; input=$input.pdb ;;
  esac
  if ! mkdssp --quiet --output-format dssp "$input" "$work/out.dssp" 2>"$work/err"; then
    echo "mkdssp cannot read $2: $(tr '\n' ' ' < "$work/err")" >&2
    echo "$2" >> "$work/failed"
    return 0
  fi
  awk -v file="$2" -F '\n' '
    started && substr($0, 14, 1) != "!" {
      seq = substr($0, 6, 5); gsub(/ /, "", seq)
      icode = substr($0, 11, 1); if (icode == " ") icode = "-"
      state = substr($0, 17, 1); if (state == " ") state = "C"
      printf "%s\t%s\t%s\t%s\t%s\n", file, substr($0, 12, 1), seq, icode, state
    }
    /^  #  RESIDUE/ { started = 1 }
  ' "$work/out.dssp"
}

header=$'file\tchain\tauth_seq\ticode\tdssp8'
{
  echo "$header"
  for path in "$shared"/*.pdb "$shared"/*.cif "$shared"/antibodies/*.pdb "$shared"/monomers/*.pdb; do
    assign "$path" "${path#"$shared"/}"
  done
} | gzip -n -9 > "$out/mkdssp_shared.tsv.gz"

for path in "$out"/structures/*; do
  name=$(basename "$path")
  { echo "$header"; assign "$path" "$name"; } > "$out/${name%%.*}.tsv"
done
# Structures mkdssp refuses are listed, so the agreement test leaves them out knowingly.
{ echo "# files mkdssp 4.2 could not read"; cat "$work/failed" 2>/dev/null || true; } > "$out/mkdssp_failed.txt"
echo "wrote $out/mkdssp_shared.tsv.gz and the per-structure tables of $out/structures" >&2
