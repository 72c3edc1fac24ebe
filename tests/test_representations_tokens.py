"""Tests for crystalkit.representations.tokens: reversible text tokens for language models."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher

from crystalkit.errors import CrystalInputError
from crystalkit.representations import examples
from crystalkit.representations.cell import cell_parameters
from crystalkit.representations.invariance import assert_invariant, assert_not_invariant, rotate, translate
from crystalkit.representations.tokens import CrystalTokenizer


def test_example_sequence_reads_as_documented():
    tokens = CrystalTokenizer().encode(examples.rock_salt())
    text = " ".join(tokens)
    assert text.startswith("<bos> <comp> Na 4 Cl 4 <sg> 2 2 5 <a> 5 . 6 4 <b> 5 . 6 4 <c> 5 . 6 4 <alpha> 9 0 . 0")
    assert tokens[-1] == "<eos>" and tokens.count("Na") == 5  # once in <comp>, four atoms


@pytest.mark.parametrize("digits", [(2, 1, 0), (3, 2, 1), (5, 4, 3)])
@pytest.mark.parametrize("name", ["TiO2 (rutile)", "ZnO (wurtzite)", "C (graphite)"])
def test_round_trip_error_is_bounded_by_the_discretisation(name, digits):
    coord_digits, length_decimals, angle_decimals = digits
    tokenizer = CrystalTokenizer(coord_digits, length_decimals, angle_decimals)
    structure = rotate(translate(examples.example_structures()[name], seed=1), seed=2)
    reference = tokenizer.prepare(structure)
    decoded = tokenizer.decode(tokenizer.encode(structure))
    bound = tokenizer.max_error()
    error = np.abs(cell_parameters(decoded) - cell_parameters(reference))
    assert error[:3].max() <= bound["length"] + 1e-9
    assert error[3:].max() <= bound["angle"] + 1e-9
    delta = decoded.frac_coords - reference.frac_coords
    delta -= np.round(delta)  # compare on the torus
    assert np.abs(delta).max() <= bound["fractional"] + 1e-9
    assert [s.specie for s in decoded] == [s.specie for s in reference]
    assert StructureMatcher().fit(decoded, structure)


def test_tokens_are_invariant_to_rotation_origin_order_and_cell_choice():
    tokenizer = CrystalTokenizer()
    for structure in (examples.rutile(), examples.wurtzite()):
        assert_invariant(tokenizer.encode, structure, ["rotation", "translation", "permutation", "cell_choice"])
        assert_not_invariant(tokenizer.encode, structure, ["supercell"])


def test_values_on_a_rounding_boundary_do_not_flip_under_rotation():
    tokenizer = CrystalTokenizer(length_decimals=2)  # a = 3.905 Å sits exactly between 3.90 and 3.91
    for seed in range(8):
        assert_invariant(tokenizer.encode, examples.perovskite(), ["rotation", "cell_choice"], seed=seed)


def test_primitive_option_makes_supercells_give_the_same_tokens():
    assert_invariant(CrystalTokenizer(primitive=True).encode, examples.rock_salt(), ["supercell"])


def test_niggli_tokens_keep_the_origin_as_given():
    tokenizer = CrystalTokenizer(reduce="niggli")
    assert_not_invariant(tokenizer.encode, examples.rutile(), ["translation"])
    assert_invariant(tokenizer.encode, examples.rutile(), ["permutation"])  # atoms are always sorted


def test_ids_round_trip_and_vocabulary():
    tokenizer = CrystalTokenizer()
    vocabulary = tokenizer.vocabulary
    assert len(vocabulary) == len(set(vocabulary)) and vocabulary[0] == "<pad>"
    assert {"Na", "Cl", "Og", "<bos>", "<eos>", ".", "7"} <= set(vocabulary)
    tokens = tokenizer.encode(examples.perovskite())
    ids = tokenizer.to_ids(tokens)
    assert tokenizer.from_ids(ids) == tokens and all(isinstance(i, int) for i in ids)
    with pytest.raises(CrystalInputError, match="vocabulary"):
        tokenizer.to_ids(["<bos>", "Xx"])
    with pytest.raises(CrystalInputError, match="outside"):
        tokenizer.from_ids([0, 10_000])


def test_padding_is_ignored():
    tokenizer = CrystalTokenizer()
    tokens = tokenizer.encode(examples.perovskite())
    assert StructureMatcher().fit(tokenizer.decode(tokens + ["<pad>"] * 5), examples.perovskite())


def corrupt(tokens, old, new):
    tokens = list(tokens)
    tokens[tokens.index(old)] = new
    return tokens


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t[:-1], "cut off"),
        (lambda t: t[1:], "start"),
        (lambda t: corrupt(t, "<sg>", "<atoms>"), "exactly once"),
        (lambda t: t[:-2] + ["<eos>"], "digit tokens"),
        (lambda t: corrupt(t, "Ti", "Zr"), "comp"),
        (lambda t: corrupt(t, ".", "Na"), "number"),
    ],
)
def test_malformed_sequences_raise_clear_errors(edit, message):
    tokenizer = CrystalTokenizer()
    tokens = tokenizer.encode(examples.perovskite())
    with pytest.raises(CrystalInputError, match=message):
        tokenizer.decode(edit(tokens))


def test_bad_settings_and_structures():
    with pytest.raises(CrystalInputError, match="coord_digits"):
        CrystalTokenizer(coord_digits=0)
    with pytest.raises(CrystalInputError, match="reduce"):
        CrystalTokenizer(reduce="delaunay")
    from pymatgen.core import Lattice, Structure

    with pytest.raises(CrystalInputError, match="disordered"):
        CrystalTokenizer().encode(Structure(Lattice.cubic(3.0), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]]))
