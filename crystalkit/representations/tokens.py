"""Crystals as text tokens, for language models.

A language model reads a sequence of symbols from a fixed vocabulary. Crystal
language models write the crystal as text: CrystaLLM (Antunes et al. 2024)
trains on CIF files, Gruver et al. (2024) fine-tune LLaMA on lattice
parameters and coordinates printed with fixed precision, and
CrystalFormer (Cao et al. 2024) emits Wyckoff letters and coordinates.

Our format is a small, readable grammar with a closed vocabulary of
about 140 tokens (element symbols, the digits, ``"."``, and a few tags)::

    <bos> <comp> Na 4 Cl 4 <sg> 2 2 5
          <a> 5 . 6 4 <b> 5 . 6 4 <c> 5 . 6 4 <alpha> 9 0 . 0 <beta> 9 0 . 0 <gamma> 9 0 . 0
          <atoms> Na 0 0 0 0 0 0 0 0 0  Na 0 0 0 5 0 0 5 0 0 ... <eos>

* the composition comes first, so a prompt ``<bos> <comp> Na 4 Cl 4`` asks
  for a structure of that formula (crystal structure prediction);
* the space group (spglib at ``symprec``) is a conditioning token: decoding
  does not need it, a prompt may set it;
* cell lengths (Å) and angles (degrees) are written with fixed decimals;
* each fractional coordinate is written as ``coord_digits`` digits after an
  implicit ``0.`` (``250`` means 0.250), so a coordinate is always the same
  number of tokens.

Numbers are spelled digit by digit, so the vocabulary stays small; the price
is longer sequences. Rounding makes the round trip lossy, with a known bound:
at most half a unit in the last written digit (:meth:`CrystalTokenizer.max_error`).

Before writing, the crystal is put in its canonical cell (Niggli-reduced,
origin on an atom of the rarest element, the smallest of the equivalent
descriptions; see :func:`~crystalkit.representations.cell.canonical_cell`),
so the tokens do not depend on rotation, origin, atom order or the choice of
an equivalent cell: a language model sees one sequence per crystal and cell
size. ``reduce="niggli"`` keeps the origin and order as given, which is a
form of data augmentation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from pymatgen.core import Element, Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.representations.cell import canonical_cell, lattice_from_parameters, lattice_to_parameters
from crystalkit.structures import check_structure

__all__ = ["CrystalTokenizer", "SPECIAL_TOKENS", "TAG_TOKENS"]

#: Padding, start and end of a sequence. ``<pad>`` has id 0.
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
#: Section markers, in the order they appear.
TAG_TOKENS = ("<comp>", "<sg>", "<a>", "<b>", "<c>", "<alpha>", "<beta>", "<gamma>", "<atoms>")
_DIGITS = tuple("0123456789")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[str, ...]:
    elements = tuple(Element.from_Z(z).symbol for z in range(1, 119))
    return SPECIAL_TOKENS + TAG_TOKENS + _DIGITS + (".",) + elements


@lru_cache(maxsize=1)
def _token_ids() -> dict[str, int]:
    return {token: index for index, token in enumerate(_vocabulary())}


@dataclass(frozen=True)
class CrystalTokenizer:
    """Reversible text tokenisation of a crystal (see module docstring for the grammar).

    Attributes:
        coord_digits: digits per fractional coordinate; 3 means a grid of 0.001,
            i.e. at most 0.0005 x the cell length off (3 mÅ in a 6 Å cell).
        length_decimals: decimals of the cell lengths in Å.
        angle_decimals: decimals of the cell angles in degrees.
        symprec: tolerance in Å for the space-group token.
        reduce: ``"canonical"`` writes :func:`~crystalkit.representations.cell.canonical_cell`
            (the same tokens for every rotation, origin, atom order and cell
            choice); ``"niggli"`` the Niggli-reduced cell with the origin and
            atom order as given; ``"none"`` the cell as given.
        primitive: with ``reduce="canonical"``, first reduce to the primitive
            cell (then supercells give the same tokens too, but the atom count
            of the written cell may differ from the input's).
    """

    coord_digits: int = 3  # 0.001 steps: finer than thermal motion in typical cells
    length_decimals: int = 2  # 0.01 Å: the precision of most experimental cells
    angle_decimals: int = 1  # 0.1 degree
    symprec: float = 0.1  # Å; loose, because generated crystals are rarely exact
    reduce: Literal["canonical", "niggli", "none"] = "canonical"
    primitive: bool = False  # keep the cell size: a CSP prompt states the atom count of the cell

    def __post_init__(self) -> None:
        for name in ("coord_digits", "length_decimals", "angle_decimals"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 8:
                raise CrystalInputError(f"{name} must be an integer from 0 to 8, got {value!r}.")
        if self.coord_digits < 1:
            raise CrystalInputError("coord_digits must be at least 1.")
        if self.reduce not in ("canonical", "niggli", "none"):
            raise CrystalInputError(f"reduce must be 'canonical', 'niggli' or 'none', got {self.reduce!r}.")

    # ------------------------------------------------------------ vocabulary
    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every token, in id order (``<pad>`` is 0)."""
        return _vocabulary()

    def to_ids(self, tokens: Sequence[str]) -> list[int]:
        """Token strings to integer ids."""
        ids = _token_ids()
        unknown = [t for t in tokens if t not in ids]
        if unknown:
            raise CrystalInputError(f"Tokens not in the vocabulary: {sorted(set(map(str, unknown)))[:10]}.")
        return [ids[t] for t in tokens]

    def from_ids(self, ids: Sequence[int]) -> list[str]:
        """Integer ids back to token strings."""
        vocabulary = _vocabulary()
        bad = [i for i in ids if not 0 <= int(i) < len(vocabulary)]
        if bad:
            raise CrystalInputError(f"Token ids outside 0..{len(vocabulary) - 1}: {bad[:10]}.")
        return [vocabulary[int(i)] for i in ids]

    def max_error(self) -> dict[str, float]:
        """The largest round-trip error the rounding allows: lengths (Å), angles (degrees), fractional."""
        return {
            "length": 0.5 * 10.0**-self.length_decimals,
            "angle": 0.5 * 10.0**-self.angle_decimals,
            "fractional": 0.5 * 10.0**-self.coord_digits,
        }

    # -------------------------------------------------------------- encoding
    def prepare(self, structure: Structure) -> Structure:
        """The structure exactly as :meth:`encode` writes it, before rounding.

        Reduced as ``reduce`` says, in pymatgen's standard orientation,
        coordinates wrapped into [0, 1), sites sorted by atomic number and then
        by their written digits.
        """
        check_structure(structure)
        if self.reduce == "canonical":
            structure = canonical_cell(structure, primitive=self.primitive)
        elif self.reduce == "niggli":
            structure = structure.get_reduced_structure("niggli")
        matrix, frac = structure.lattice.matrix, structure.frac_coords
        if np.linalg.det(matrix) < 0:  # left-handed: (-a, -b, -c) is the same lattice, coordinates -f
            matrix, frac = -matrix, -frac
        lengths, angles = lattice_to_parameters(matrix)
        grid = self._coordinate_grid(frac)  # (N, 3)
        numbers = np.array([site.specie.Z for site in structure])
        order = np.lexsort((grid[:, 2], grid[:, 1], grid[:, 0], numbers))
        wrapped = frac - np.floor(frac)
        return Structure(
            Lattice(lattice_from_parameters(lengths, angles)), [structure[i].specie for i in order], wrapped[order]
        )

    def encode(self, structure: Structure) -> list[str]:
        """Tokens for one ordered crystal."""
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        prepared = self.prepare(structure)
        tokens = ["<bos>", "<comp>"]
        counts = Counter(site.specie for site in prepared)
        for element in sorted(counts, key=lambda e: e.Z):
            tokens += [element.symbol, *str(counts[element])]
        number = SpacegroupAnalyzer(prepared, symprec=self.symprec).get_space_group_number()
        tokens += ["<sg>", *str(number)]
        lengths, angles = lattice_to_parameters(prepared.lattice.matrix)
        # Numbers are snapped to 1e-10 before rounding, so that float noise from a rotation cannot tip
        # a value that sits exactly on a rounding boundary (a = 3.905 Å at two decimals) one way or the other.
        for tag, value in zip(("<a>", "<b>", "<c>"), lengths):
            tokens += [tag, *f"{round(float(value), 10):.{self.length_decimals}f}"]
        for tag, value in zip(("<alpha>", "<beta>", "<gamma>"), angles):
            tokens += [tag, *f"{round(float(value), 10):.{self.angle_decimals}f}"]
        tokens.append("<atoms>")
        grid = self._coordinate_grid(prepared.frac_coords)  # (N, 3)
        for site, row in zip(prepared, grid):
            tokens.append(site.specie.symbol)
            for value in row:
                tokens += list(f"{value:0{self.coord_digits}d}")
        tokens.append("<eos>")
        return tokens

    def _coordinate_grid(self, frac: np.ndarray) -> np.ndarray:
        """``(N, 3)`` integers 0 .. 10^digits - 1 written for fractional coordinates (snapped, rounded, wrapped)."""
        scale = 10**self.coord_digits
        return np.rint(np.round((frac - np.floor(frac)) * scale, 6)).astype(np.int64) % scale

    # -------------------------------------------------------------- decoding
    def decode(self, tokens: Sequence[str]) -> Structure:
        """Rebuild a structure from tokens (e.g. a language model's sample).

        The result is not checked for overlapping atoms: judging generated
        crystals is the job of the metrics. The ``<sg>`` token is read and
        range-checked but not imposed.

        Raises:
            CrystalInputError: a sequence that does not follow the grammar,
                with the position and the reason.
        """
        tokens = [t for t in tokens if t != "<pad>"]
        if not tokens or tokens[0] != "<bos>":
            raise CrystalInputError("A token sequence must start with '<bos>'.")
        if tokens[-1] != "<eos>":
            raise CrystalInputError("The token sequence does not end with '<eos>': it was probably cut off.")
        sections = self._split_sections(tokens[1:-1])
        composition = self._read_composition(sections["<comp>"])
        space_group = self._read_integer(sections["<sg>"], "<sg>")
        if not 1 <= space_group <= 230:
            raise CrystalInputError(f"The <sg> token says space group {space_group}; numbers run from 1 to 230.")
        lengths = [self._read_number(sections[tag], tag) for tag in ("<a>", "<b>", "<c>")]
        angles = [self._read_number(sections[tag], tag) for tag in ("<alpha>", "<beta>", "<gamma>")]
        species, frac = self._read_atoms(sections["<atoms>"])
        if Counter(species) != composition:
            raise CrystalInputError(
                f"The <comp> section says {dict(composition)} but the <atoms> section lists {dict(Counter(species))}."
            )
        return Structure(Lattice(lattice_from_parameters(lengths, angles)), species, frac)

    def _split_sections(self, body: list[str]) -> dict[str, list[str]]:
        positions = []
        for tag in TAG_TOKENS:
            where = [k for k, t in enumerate(body) if t == tag]
            if len(where) != 1:
                raise CrystalInputError(f"Expected the tag {tag} exactly once, found it {len(where)} times.")
            positions.append(where[0])
        if positions != sorted(positions) or positions[0] != 0:
            raise CrystalInputError(f"The tags must come in the order {' '.join(TAG_TOKENS)}, right after <bos>.")
        ends = positions[1:] + [len(body)]
        return {tag: body[start + 1 : end] for tag, start, end in zip(TAG_TOKENS, positions, ends)}

    @staticmethod
    def _read_number(tokens: list[str], tag: str) -> float:
        text = "".join(tokens)
        if not _NUMBER.match(text):
            raise CrystalInputError(f"After {tag} expected a number spelled in digits, got {tokens}.")
        return float(text)

    @staticmethod
    def _read_integer(tokens: list[str], tag: str) -> int:
        text = "".join(tokens)
        if not text.isdigit():
            raise CrystalInputError(f"After {tag} expected an integer spelled in digits, got {tokens}.")
        return int(text)

    def _read_composition(self, tokens: list[str]) -> Counter:
        composition: Counter = Counter()
        k = 0
        while k < len(tokens):
            symbol = tokens[k]
            if not _is_element(symbol):
                raise CrystalInputError(f"In <comp>, expected an element symbol, got {symbol!r}.")
            k += 1
            start = k
            while k < len(tokens) and tokens[k] in _DIGITS:
                k += 1
            composition[symbol] += self._read_integer(tokens[start:k], f"<comp> {symbol}")
        if not composition:
            raise CrystalInputError("The <comp> section is empty: a crystal needs at least one atom.")
        return composition

    def _read_atoms(self, tokens: list[str]) -> tuple[list[str], np.ndarray]:
        width = 3 * self.coord_digits
        species, coords = [], []
        k = 0
        while k < len(tokens):
            symbol = tokens[k]
            digits = tokens[k + 1 : k + 1 + width]
            if not _is_element(symbol):
                raise CrystalInputError(
                    f"In <atoms>, expected an element symbol at atom {len(species)}, got {symbol!r}."
                )
            if len(digits) != width or any(d not in _DIGITS for d in digits):
                raise CrystalInputError(
                    f"Atom {len(species)} ({symbol}) needs {width} digit tokens "
                    f"({self.coord_digits} per coordinate), got {digits}."
                )
            values = [int("".join(digits[m : m + self.coord_digits])) for m in range(0, width, self.coord_digits)]
            species.append(symbol)
            coords.append(np.array(values, dtype=float) / 10**self.coord_digits)
            k += 1 + width
        if not species:
            raise CrystalInputError("The <atoms> section is empty.")
        return species, np.array(coords)


def _is_element(token: str) -> bool:
    return token in _token_ids() and token not in SPECIAL_TOKENS + TAG_TOKENS + _DIGITS + (".",)
