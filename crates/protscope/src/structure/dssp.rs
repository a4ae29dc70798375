//! Secondary structure from backbone coordinates: DSSP (Kabsch & Sander 1983) as mkdssp 4.2
//! assigns it, with its π-helix priority and polyproline II helices.
//!
//! mkdssp computes in single precision and rounds H-bond energies to 0.001 kcal/mol; this code
//! does the same, so borderline bonds (energies near −0.5) fall on the same side. H-bonds and
//! β-bridges are found across every chain of the first model, as mkdssp does: a strand paired
//! with another chain is E in both.

use super::{BackboneResidue, ChainResidues, Numbering, Structure};
use crate::{Error, Result};
use polars::prelude::*;
use std::collections::{HashMap, VecDeque};

/// DSSP's eight states (and coil).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dssp8 {
    /// H: α-helix (two consecutive 4-turns).
    AlphaHelix,
    /// G: 3₁₀-helix.
    Helix310,
    /// I: π-helix.
    PiHelix,
    /// E: β-strand, a residue in a ladder of two or more bridges.
    Strand,
    /// B: isolated β-bridge.
    Bridge,
    /// T: H-bonded turn.
    Turn,
    /// S: bend (Cα chain bent by more than 70°).
    Bend,
    /// P: polyproline II helix (DSSP 4).
    Polyproline,
    /// Coil (mkdssp writes a blank; written `C` here).
    Coil,
}

impl Dssp8 {
    pub const ALL: [Dssp8; 9] = [
        Dssp8::AlphaHelix,
        Dssp8::Helix310,
        Dssp8::PiHelix,
        Dssp8::Strand,
        Dssp8::Bridge,
        Dssp8::Turn,
        Dssp8::Bend,
        Dssp8::Polyproline,
        Dssp8::Coil,
    ];

    /// The DSSP letter: `H G I E B T S P`, and `C` for coil.
    pub fn letter(self) -> char {
        match self {
            Dssp8::AlphaHelix => 'H',
            Dssp8::Helix310 => 'G',
            Dssp8::PiHelix => 'I',
            Dssp8::Strand => 'E',
            Dssp8::Bridge => 'B',
            Dssp8::Turn => 'T',
            Dssp8::Bend => 'S',
            Dssp8::Polyproline => 'P',
            Dssp8::Coil => 'C',
        }
    }

    /// The state of a DSSP letter; a blank (as mkdssp writes coil) is coil.
    pub fn from_letter(letter: char) -> Option<Dssp8> {
        match letter {
            ' ' | '-' => Some(Dssp8::Coil),
            l => Dssp8::ALL.into_iter().find(|s| s.letter() == l),
        }
    }

    /// The usual three-state reduction: helix = {H, G, I}, strand = {E, B}, coil = the rest
    /// (P, T, S and coil).
    pub fn three_state(self) -> Dssp3 {
        match self {
            Dssp8::AlphaHelix | Dssp8::Helix310 | Dssp8::PiHelix => Dssp3::Helix,
            Dssp8::Strand | Dssp8::Bridge => Dssp3::Strand,
            Dssp8::Turn | Dssp8::Bend | Dssp8::Polyproline | Dssp8::Coil => Dssp3::Coil,
        }
    }
}

/// Three-state secondary structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dssp3 {
    /// H.
    Helix,
    /// E.
    Strand,
    /// C.
    Coil,
}

impl Dssp3 {
    /// `H`, `E` or `C`.
    pub fn letter(self) -> char {
        match self {
            Dssp3::Helix => 'H',
            Dssp3::Strand => 'E',
            Dssp3::Coil => 'C',
        }
    }
}

/// One residue's assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct DsspResidue {
    /// Author chain id.
    pub chain: String,
    /// Author residue number.
    pub number: isize,
    pub insertion_code: Option<String>,
    /// Three-letter name.
    pub name: String,
    /// One-letter code ('X' when not a standard amino acid or known modification).
    pub code: char,
    pub dssp8: Dssp8,
}

impl DsspResidue {
    pub fn dssp3(&self) -> Dssp3 {
        self.dssp8.three_state()
    }
}

/// −332 · 0.42 · 0.2 kcal/mol·Å (Kabsch & Sander's q1·q2·f), in mkdssp's single precision.
const COUPLING: f32 = -27.888;
/// The lowest energy an H-bond is given (atoms closer than [`MIN_ATOM_DISTANCE`] get it too).
pub const MIN_HBOND_ENERGY: f64 = -9.9;
/// An H-bond is an energy below this (kcal/mol).
pub const MAX_HBOND_ENERGY: f64 = -0.5;
const MIN_ATOM_DISTANCE: f32 = 0.5;
/// Residues whose Cα atoms are this far apart (Å) or more are not tested for H-bonds.
const MAX_CA_DISTANCE: f32 = 9.0;
const MAX_PEPTIDE_BOND: f32 = super::MAX_PEPTIDE_BOND as f32;
/// Bend: the Cα chain turns by more than this many degrees over residues i−2, i, i+2.
const MIN_BEND_ANGLE: f32 = 70.0;
/// Polyproline II: φ within −75° ± 29° and ψ within 145° ± 29° for this many residues in a row
/// (mkdssp 4.2's defaults).
const PP_PHI: f32 = -75.0;
const PP_PSI: f32 = 145.0;
const PP_WINDOW: f32 = 29.0;
const PP_STRETCH: usize = 3;

type Point = [f32; 3];

fn sub(a: Point, b: Point) -> Point {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: Point, b: Point) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: Point, b: Point) -> Point {
    [
        a[1] * b[2] - b[1] * a[2],
        a[2] * b[0] - b[2] * a[0],
        a[0] * b[1] - b[0] * a[1],
    ]
}

fn distance(a: Point, b: Point) -> f32 {
    let d = sub(a, b);
    dot(d, d).sqrt()
}

/// Dihedral angle p1-p2-p3-p4 in degrees; 360 where undefined (collinear atoms).
fn dihedral(p1: Point, p2: Point, p3: Point, p4: Point) -> f32 {
    let v12 = sub(p1, p2);
    let v43 = sub(p4, p3);
    let z = sub(p2, p3);
    let p = cross(z, v12);
    let x = cross(z, v43);
    let y = cross(z, x);
    let (u, v) = (dot(x, x), dot(y, y));
    if u > 0.0 && v > 0.0 {
        let u = dot(p, x) / u.sqrt();
        let v = dot(p, y) / v.sqrt();
        if u != 0.0 || v != 0.0 {
            return v.atan2(u) * 180.0 / std::f32::consts::PI;
        }
    }
    360.0
}

/// Cosine of the angle between p1 − p2 and p3 − p4.
fn cosine(p1: Point, p2: Point, p3: Point, p4: Point) -> f32 {
    let (a, b) = (sub(p1, p2), sub(p3, p4));
    let x = dot(a, a) * dot(b, b);
    if x > 0.0 {
        dot(a, b) / x.sqrt()
    } else {
        0.0
    }
}

/// Electrostatic H-bond energy (kcal/mol) of donor N–H to acceptor C=O, Kabsch & Sander's
/// E = 0.084 · 332 · (1/r_ON + 1/r_CH − 1/r_OH − 1/r_CN), rounded to 0.001 and floored at
/// [`MIN_HBOND_ENERGY`] as mkdssp does. Atoms closer than 0.5 Å give the floor.
pub fn hbond_energy(n: [f32; 3], h: [f32; 3], c: [f32; 3], o: [f32; 3]) -> f64 {
    let (ho, hc, nc, no) = (
        distance(h, o),
        distance(h, c),
        distance(n, c),
        distance(n, o),
    );
    let energy = if [ho, hc, nc, no].iter().any(|&d| d < MIN_ATOM_DISTANCE) {
        MIN_HBOND_ENERGY
    } else {
        let k = f64::from(COUPLING);
        let inv = |d: f32| k / f64::from(d);
        inv(ho) - inv(hc) + inv(nc) - inv(no)
    };
    let energy = (energy * 1000.0).round() / 1000.0;
    // mkdssp compares with its single-precision floor.
    energy.max(f64::from(MIN_HBOND_ENERGY as f32))
}

/// One of a donor's two best acceptors.
#[derive(Debug, Clone, Copy)]
struct HBond {
    acceptor: Option<usize>,
    energy: f64,
}

const NO_BOND: HBond = HBond {
    acceptor: None,
    energy: 0.0,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HelixFlag {
    None,
    Start,
    Middle,
    End,
    StartAndEnd,
}

impl HelixFlag {
    fn is_start(self) -> bool {
        matches!(self, HelixFlag::Start | HelixFlag::StartAndEnd)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BridgeKind {
    Parallel,
    Antiparallel,
}

/// A ladder: bridges between residues `i` and `j` (indices), extended over β-bulges.
#[derive(Debug, Clone)]
struct Ladder {
    kind: BridgeKind,
    i: VecDeque<usize>,
    j: VecDeque<usize>,
}

/// One residue as DSSP sees it.
struct Residue {
    n: Point,
    ca: Point,
    c: Point,
    o: Point,
    h: Point,
    proline: bool,
    chain: usize,
    /// Running number that skips one at every chain break, so consecutive residues of an
    /// unbroken chain differ by one.
    number: usize,
    /// The two lowest-energy acceptors of this residue's N–H.
    acceptors: [HBond; 2],
}

struct Assignment {
    residues: Vec<Residue>,
    states: Vec<Dssp8>,
}

impl Assignment {
    fn new(backbone: &[BackboneResidue]) -> Self {
        let point = |p: &[f64; 3]| p.map(|v| v as f32);
        let mut residues: Vec<Residue> = Vec::with_capacity(backbone.len());
        let (mut number, mut chain) = (0, 0);
        for (k, r) in backbone.iter().enumerate() {
            let (n, c, o) = (point(&r.n), point(&r.c), point(&r.o));
            number += 1;
            let mut h = n;
            let proline = r.name == "PRO";
            if let Some(previous) = residues.last() {
                let new_chain = backbone[k - 1].chain != r.chain;
                let broken = distance(previous.c, n) > MAX_PEPTIDE_BOND;
                chain += usize::from(new_chain);
                number += usize::from(broken);
                // H lies 1 Å from N opposite the previous C=O; none after a break. (mkdssp 4.2
                // places one there too, from the residue before the break, pointing anywhere;
                // on the 189 reference files either way gives the same states.)
                if !proline && !new_chain && !broken {
                    let length = distance(previous.c, previous.o);
                    for (axis, coordinate) in h.iter_mut().enumerate() {
                        *coordinate += (previous.c[axis] - previous.o[axis]) / length;
                    }
                }
            }
            residues.push(Residue {
                n,
                ca: point(&r.ca),
                c,
                o,
                h,
                proline,
                chain,
                number,
                acceptors: [NO_BOND; 2],
            });
        }
        let states = vec![Dssp8::Coil; residues.len()];
        Assignment { residues, states }
    }

    /// True when residues `a..=b` are one unbroken stretch of one chain.
    fn unbroken(&self, a: usize, b: usize) -> bool {
        let r = &self.residues;
        a <= b && r[a].chain == r[b].chain && r[b].number - r[a].number == b - a
    }

    /// Whether residue `donor`'s N–H is H-bonded to residue `acceptor`'s C=O.
    fn bonded(&self, donor: usize, acceptor: usize) -> bool {
        self.residues[donor]
            .acceptors
            .iter()
            .any(|b| b.acceptor == Some(acceptor) && b.energy < MAX_HBOND_ENERGY)
    }

    fn record_hbond(&mut self, donor: usize, acceptor: usize) {
        let energy = {
            let (d, a) = (&self.residues[donor], &self.residues[acceptor]);
            if d.proline {
                0.0
            } else {
                hbond_energy(d.n, d.h, a.c, a.o)
            }
        };
        let best = &mut self.residues[donor].acceptors;
        let bond = HBond {
            acceptor: Some(acceptor),
            energy,
        };
        if energy < best[0].energy {
            best[1] = best[0];
            best[0] = bond;
        } else if energy < best[1].energy {
            best[1] = bond;
        }
    }

    fn hbonds(&mut self) {
        let n = self.residues.len();
        for i in 0..n {
            for j in i + 1..n {
                if distance(self.residues[i].ca, self.residues[j].ca) < MAX_CA_DISTANCE {
                    self.record_hbond(i, j);
                    // mkdssp does not test N–H(i+1) → O(i): a residue's own peptide.
                    if j != i + 1 {
                        self.record_hbond(j, i);
                    }
                }
            }
        }
    }

    fn bridge(&self, i: usize, j: usize) -> Option<BridgeKind> {
        let (a, b, c, d, e, f) = (i - 1, i, i + 1, j - 1, j, j + 1);
        if !(self.unbroken(a, c) && self.unbroken(d, f)) {
            return None;
        }
        let bond = |x, y| self.bonded(x, y);
        if (bond(c, e) && bond(e, a)) || (bond(f, b) && bond(b, d)) {
            Some(BridgeKind::Parallel)
        } else if (bond(c, d) && bond(f, a)) || (bond(e, b) && bond(b, e)) {
            Some(BridgeKind::Antiparallel)
        } else {
            None
        }
    }

    fn ladders(&self) -> Vec<Ladder> {
        let n = self.residues.len();
        let mut ladders: Vec<Ladder> = Vec::new();
        for i in 1..n.saturating_sub(4) {
            for j in i + 3..n - 1 {
                let Some(kind) = self.bridge(i, j) else {
                    continue;
                };
                let extends = ladders.iter_mut().find(|l| {
                    l.kind == kind
                        && l.i.back().is_some_and(|&b| b + 1 == i)
                        && match kind {
                            BridgeKind::Parallel => l.j.back().is_some_and(|&b| b + 1 == j),
                            BridgeKind::Antiparallel => l.j.front().is_some_and(|&f| f == j + 1),
                        }
                });
                match extends {
                    Some(ladder) => {
                        ladder.i.push_back(i);
                        match kind {
                            BridgeKind::Parallel => ladder.j.push_back(j),
                            BridgeKind::Antiparallel => ladder.j.push_front(j),
                        }
                    }
                    None => ladders.push(Ladder {
                        kind,
                        i: VecDeque::from([i]),
                        j: VecDeque::from([j]),
                    }),
                }
            }
        }
        ladders.sort_by_key(|l| l.i[0]);
        self.join_bulges(&mut ladders);
        ladders
    }

    /// Joins ladders of one kind separated by a β-bulge: a gap of at most 1 residue on one
    /// strand and 4 on the other (mkdssp's test, with its unsigned differences).
    fn join_bulges(&self, ladders: &mut Vec<Ladder>) {
        // `a - b < limit` in unsigned arithmetic, as mkdssp computes it.
        let within = |a: usize, b: usize, limit: usize| a >= b && a - b < limit;
        let mut x = 0;
        while x < ladders.len() {
            let mut y = x + 1;
            while y < ladders.len() {
                let (l, m) = (&ladders[x], &ladders[y]);
                let (ibi, iei, jbi, jei) = (l.i[0], l.i[l.i.len() - 1], l.j[0], l.j[l.j.len() - 1]);
                let (ibj, iej, jbj, jej) = (m.i[0], m.i[m.i.len() - 1], m.j[0], m.j[m.j.len() - 1]);
                let skip = l.kind != m.kind
                    || !self.unbroken(ibi.min(ibj), iei.max(iej))
                    || !self.unbroken(jbi.min(jbj), jei.max(jej))
                    || !within(ibj, iei, 6)
                    || (iei >= ibj && ibi <= iej);
                let bulge = !skip
                    && match l.kind {
                        BridgeKind::Parallel => {
                            (within(jbj, jei, 6) && within(ibj, iei, 3)) || within(jbj, jei, 3)
                        }
                        BridgeKind::Antiparallel => {
                            (within(jbi, jej, 6) && within(ibj, iei, 3)) || within(jbi, jej, 3)
                        }
                    };
                if bulge {
                    let m = ladders.remove(y);
                    let l = &mut ladders[x];
                    l.i.extend(m.i);
                    match l.kind {
                        BridgeKind::Parallel => l.j.extend(m.j),
                        BridgeKind::Antiparallel => {
                            for j in m.j.into_iter().rev() {
                                l.j.push_front(j);
                            }
                        }
                    }
                } else {
                    y += 1;
                }
            }
            x += 1;
        }
    }

    fn sheets(&mut self) {
        for ladder in self.ladders() {
            let state = if ladder.i.len() > 1 {
                Dssp8::Strand
            } else {
                Dssp8::Bridge
            };
            // The whole span of each strand, bulge residues included.
            for strand in [&ladder.i, &ladder.j] {
                let (first, last) = (strand[0], strand[strand.len() - 1]);
                for k in first..=last {
                    if self.states[k] != Dssp8::Strand {
                        self.states[k] = state;
                    }
                }
            }
        }
    }

    /// Helices, turns and bends. Helix kinds are n-turns of 3 (G), 4 (H) and 5 (I) residues.
    fn helices(&mut self) {
        let n = self.residues.len();
        let mut flags = vec![[HelixFlag::None; 3]; n];
        for (kind, stride) in [3, 4, 5].into_iter().enumerate() {
            for i in 0..n.saturating_sub(stride) {
                if !(self.unbroken(i, i + stride) && self.bonded(i + stride, i)) {
                    continue;
                }
                flags[i + stride][kind] = HelixFlag::End;
                for flag in &mut flags[i + 1..i + stride] {
                    if flag[kind] == HelixFlag::None {
                        flag[kind] = HelixFlag::Middle;
                    }
                }
                flags[i][kind] = if flags[i][kind] == HelixFlag::End {
                    HelixFlag::StartAndEnd
                } else {
                    HelixFlag::Start
                };
            }
        }
        let starts =
            |i: usize, kind: usize| flags[i][kind].is_start() && flags[i - 1][kind].is_start();
        // H first (over E and B), then G and I where the residues are still free; π-helices
        // take α-helix residues (DSSP ≥ 2.2 prefers them).
        for i in 1..n.saturating_sub(4) {
            if starts(i, 1) {
                self.states[i..=i + 3].fill(Dssp8::AlphaHelix);
            }
        }
        for i in 1..n.saturating_sub(3) {
            let free = |s: Dssp8| matches!(s, Dssp8::Coil | Dssp8::Helix310);
            if starts(i, 0) && self.states[i..=i + 2].iter().all(|&s| free(s)) {
                self.states[i..=i + 2].fill(Dssp8::Helix310);
            }
        }
        for i in 1..n.saturating_sub(5) {
            let free = |s: Dssp8| matches!(s, Dssp8::Coil | Dssp8::PiHelix | Dssp8::AlphaHelix);
            if starts(i, 2) && self.states[i..=i + 4].iter().all(|&s| free(s)) {
                self.states[i..=i + 4].fill(Dssp8::PiHelix);
            }
        }
        for i in 1..n.saturating_sub(1) {
            if self.states[i] != Dssp8::Coil {
                continue;
            }
            let turn = [3, 4, 5].into_iter().enumerate().any(|(kind, stride)| {
                (1..stride.min(i + 1)).any(|k| flags[i - k][kind].is_start())
            });
            if turn {
                self.states[i] = Dssp8::Turn;
            } else if self.bend(i) {
                self.states[i] = Dssp8::Bend;
            }
        }
    }

    fn bend(&self, i: usize) -> bool {
        if i < 2 || i + 2 >= self.residues.len() || !self.unbroken(i - 2, i + 2) {
            return false;
        }
        let r = &self.residues;
        let cos = cosine(r[i].ca, r[i - 2].ca, r[i + 2].ca, r[i].ca);
        let sin = (1.0 - cos * cos).sqrt();
        let kappa = sin.atan2(cos) * (180.0 / std::f64::consts::PI) as f32;
        kappa > MIN_BEND_ANGLE
    }

    /// φ and ψ of every residue (360 where a neighbour is missing or across a break).
    fn torsions(&self) -> Vec<(f32, f32)> {
        let r = &self.residues;
        let n = r.len();
        (0..n)
            .map(|i| {
                let phi = if i > 0 && self.unbroken(i - 1, i) {
                    dihedral(r[i - 1].c, r[i].n, r[i].ca, r[i].c)
                } else {
                    360.0
                };
                let psi = if i + 1 < n && self.unbroken(i, i + 1) {
                    dihedral(r[i].n, r[i].ca, r[i].c, r[i + 1].n)
                } else {
                    360.0
                };
                (phi, psi)
            })
            .collect()
    }

    /// Polyproline II: [`PP_STRETCH`] residues in a row in the φ/ψ window, where still coil.
    fn polyproline(&mut self) {
        let n = self.residues.len();
        let torsions = self.torsions();
        let in_window = |k: usize| {
            // mkdssp leaves the first and last residue's angles at 0, outside the window.
            let (phi, psi) = if k == 0 || k + 1 == n {
                (0.0, 0.0)
            } else {
                torsions[k]
            };
            (PP_PHI - PP_WINDOW..=PP_PHI + PP_WINDOW).contains(&phi)
                && (PP_PSI - PP_WINDOW..=PP_PSI + PP_WINDOW).contains(&psi)
        };
        for i in 1..n.saturating_sub(3) {
            if (i..i + PP_STRETCH).all(in_window) {
                for state in &mut self.states[i..i + PP_STRETCH] {
                    if *state == Dssp8::Coil {
                        *state = Dssp8::Polyproline;
                    }
                }
            }
        }
    }
}

/// DSSP states of backbone residues (in chain order; all chains of a model together, so
/// β-ladders between chains are found).
pub fn assign_backbone(backbone: &[BackboneResidue]) -> Vec<Dssp8> {
    let mut assignment = Assignment::new(backbone);
    assignment.hbonds();
    assignment.sheets();
    assignment.helices();
    assignment.polyproline();
    assignment.states
}

/// Every residue with a complete backbone of the first model, every chain, with its DSSP state.
pub fn assign_model(structure: &Structure) -> Result<Vec<DsspResidue>> {
    let backbone = structure.backbone();
    if backbone.is_empty() {
        return Err(Error::file(
            structure.path(),
            "no residue has a complete backbone (N, CA, C and O atoms), so DSSP cannot assign \
             secondary structure; Cα-only models and nucleic acids are not supported",
        ));
    }
    Ok(with_states(backbone))
}

fn with_states(backbone: Vec<BackboneResidue>) -> Vec<DsspResidue> {
    let states = assign_backbone(&backbone);
    backbone
        .into_iter()
        .zip(states)
        .map(|(r, dssp8)| DsspResidue {
            chain: r.chain,
            number: r.number,
            insertion_code: r.insertion_code,
            name: r.name,
            code: r.code,
            dssp8,
        })
        .collect()
}

/// DSSP secondary structure of one chain (the first protein chain when `chain` is None) of the
/// first model, in chain order; residues without a complete backbone are left out. H-bonds to
/// the other chains count, as in mkdssp.
pub fn assign_secondary_structure(
    structure: &Structure,
    chain: Option<&str>,
) -> Result<Vec<DsspResidue>> {
    // Names a missing chain with the chains there are, and picks the default chain.
    let id = structure.chain(chain, Some(0))?.chain;
    let backbone = structure.backbone();
    if !backbone.iter().any(|r| r.chain == id) {
        return Err(Error::file(
            structure.path(),
            format!(
                "chain `{id}` has no residue with a complete backbone (N, CA, C and O atoms), \
                 so DSSP cannot assign it (a Cα-only model?); choose another `chain`"
            ),
        ));
    }
    Ok(with_states(backbone)
        .into_iter()
        .filter(|r| r.chain == id)
        .collect())
}

/// The 1-based position of each assigned residue in the chain's sequence (`sequence`, else
/// SEQRES, else the observed residues: as [`ChainResidues::map_to`] aligns them), None for a
/// residue the alignment leaves unplaced. `residues` are one chain's, from
/// [`assign_secondary_structure`].
pub fn sequence_positions(
    residues: &[DsspResidue],
    chain: &ChainResidues,
    sequence: Option<&str>,
) -> Result<Vec<Option<usize>>> {
    let mapping = chain.map_to(sequence, Numbering::Align)?;
    let mut by_id: HashMap<(isize, Option<&str>), usize> = HashMap::new();
    for (r, p) in chain.residues.iter().zip(&mapping.positions) {
        if let Some(p) = p {
            by_id
                .entry((r.number, r.insertion_code.as_deref()))
                .or_insert(*p);
        }
    }
    Ok(residues
        .iter()
        .map(|r| by_id.get(&(r.number, r.insertion_code.as_deref())).copied())
        .collect())
}

/// The secondary-structure table: `protein`, `position` (1-based in the chain's sequence, null
/// where unplaced), `auth_seq`, `icode`, `residue`, `dssp8`, `dssp3`; one row per residue.
pub fn secondary_structure_frame(
    protein: &str,
    residues: &[DsspResidue],
    positions: &[Option<usize>],
) -> Result<DataFrame> {
    if residues.len() != positions.len() {
        return Err(Error::invalid(format!(
            "{} residues but {} positions",
            residues.len(),
            positions.len()
        )));
    }
    let position = positions
        .iter()
        .map(|p| {
            p.map(u32::try_from)
                .transpose()
                .map_err(|_| Error::invalid("position too large"))
        })
        .collect::<Result<Vec<Option<u32>>>>()?;
    let auth_seq: Vec<i64> = residues.iter().map(|r| r.number as i64).collect();
    let icode: Vec<Option<&str>> = residues
        .iter()
        .map(|r| r.insertion_code.as_deref())
        .collect();
    let letters = |f: &dyn Fn(&DsspResidue) -> char| -> Vec<String> {
        residues.iter().map(|r| f(r).to_string()).collect()
    };
    let columns = vec![
        Column::new("protein".into(), vec![protein; residues.len()]),
        Column::new("position".into(), position),
        Column::new("auth_seq".into(), auth_seq),
        Column::new("icode".into(), icode),
        Column::new("residue".into(), letters(&|r| r.code)),
        Column::new("dssp8".into(), letters(&|r| r.dssp8.letter())),
        Column::new("dssp3".into(), letters(&|r| r.dssp3().letter())),
    ];
    Ok(DataFrame::new(residues.len(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hbond_energy_follows_kabsch_and_sander() {
        // A linear N–H···O=C bond: N at 0, H 1 Å along x, O 2.9 Å from N, C 1.23 Å beyond O.
        let (n, h, o, c) = ([0.0; 3], [1.0, 0.0, 0.0], [2.9, 0.0, 0.0], [4.13, 0.0, 0.0]);
        let expected = 0.084 * 332.0 * (1.0 / 2.9 + 1.0 / 3.13 - 1.0 / 1.9 - 1.0 / 4.13);
        let energy = hbond_energy(n, h, c, o);
        assert!((energy - expected).abs() < 1e-3, "{energy} vs {expected}");
        assert!(energy < MAX_HBOND_ENERGY);
        // Far apart: no bond; on top of each other: the floor.
        let far = hbond_energy(n, h, [20.0, 0.0, 0.0], [19.0, 0.0, 0.0]);
        assert!(far > MAX_HBOND_ENERGY && far < 0.0);
        let clash = hbond_energy(n, h, [1.3, 0.0, 0.0], [1.2, 0.0, 0.0]);
        assert!((clash - MIN_HBOND_ENERGY).abs() < 1e-6);
    }

    #[test]
    fn three_states_reduce_the_eight() {
        let reduced: String = Dssp8::ALL
            .iter()
            .map(|s| s.three_state().letter())
            .collect();
        // H G I E B T S P C
        assert_eq!(reduced, "HHHEECCCC");
        for state in Dssp8::ALL {
            assert_eq!(Dssp8::from_letter(state.letter()), Some(state));
        }
        assert_eq!(Dssp8::from_letter(' '), Some(Dssp8::Coil));
        assert_eq!(Dssp8::from_letter('Z'), None);
    }

    /// Places `d` from `a`, `b`, `c`: bond length |cd|, angle b-c-d and torsion a-b-c-d (NeRF).
    fn place(
        a: [f64; 3],
        b: [f64; 3],
        c: [f64; 3],
        bond: f64,
        angle: f64,
        torsion: f64,
    ) -> [f64; 3] {
        let sub = |p: [f64; 3], q: [f64; 3]| [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
        let cross = |p: [f64; 3], q: [f64; 3]| {
            [
                p[1] * q[2] - p[2] * q[1],
                p[2] * q[0] - p[0] * q[2],
                p[0] * q[1] - p[1] * q[0],
            ]
        };
        let unit = |p: [f64; 3]| {
            let l = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
            p.map(|v| v / l)
        };
        let (angle, torsion) = (angle.to_radians(), torsion.to_radians());
        let bc = unit(sub(c, b));
        let normal = unit(cross(sub(b, a), bc));
        let m = [bc, cross(normal, bc), normal];
        let local = [
            -bond * angle.cos(),
            bond * angle.sin() * torsion.cos(),
            bond * angle.sin() * torsion.sin(),
        ];
        std::array::from_fn(|k| c[k] + m[0][k] * local[0] + m[1][k] * local[1] + m[2][k] * local[2])
    }

    /// An ideal poly-alanine backbone with the same φ and ψ at every residue.
    fn backbone(residues: usize, phi: f64, psi: f64) -> Vec<BackboneResidue> {
        let mut n = [0.0, 0.0, 0.0];
        let mut ca = [1.458, 0.0, 0.0];
        let mut c = place([0.0, 1.0, 0.0], n, ca, 1.525, 111.2, -60.0);
        let mut out = Vec::new();
        for k in 0..residues {
            let o = place(n, ca, c, 1.231, 120.5, psi + 180.0);
            out.push(BackboneResidue {
                chain: "A".into(),
                number: k as isize + 1,
                insertion_code: None,
                name: "ALA".into(),
                code: 'A',
                n,
                ca,
                c,
                o,
            });
            let next_n = place(n, ca, c, 1.329, 116.2, psi);
            let next_ca = place(ca, c, next_n, 1.458, 121.7, 180.0);
            let next_c = place(c, next_n, next_ca, 1.525, 111.2, phi);
            (n, ca, c) = (next_n, next_ca, next_c);
        }
        out
    }

    fn letters(states: &[Dssp8]) -> String {
        states.iter().map(|s| s.letter()).collect()
    }

    #[test]
    fn ideal_alpha_helix_is_h_and_polyproline_is_p() {
        let helix = letters(&assign_backbone(&backbone(14, -57.8, -47.0)));
        assert_eq!(&helix[2..12], "HHHHHHHHHH", "{helix}");
        assert!(!helix.starts_with('H') && !helix.ends_with('H'), "{helix}");
        let polyproline = letters(&assign_backbone(&backbone(8, -75.0, 145.0)));
        assert_eq!(&polyproline[1..6], "PPPPP", "{polyproline}");
        // A break in the chain (the second half moved 10 Å away) ends the helix at the break.
        let mut broken = backbone(20, -57.8, -47.0);
        for r in &mut broken[10..] {
            for p in [&mut r.n, &mut r.ca, &mut r.c, &mut r.o] {
                p[2] += 10.0;
            }
        }
        let broken = letters(&assign_backbone(&broken));
        assert!(!broken[9..11].contains('H'), "{broken}");
    }
}
