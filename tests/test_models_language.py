"""Tests for crystalkit.models.language: the crystal language model."""

from __future__ import annotations

import pytest
import torch
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition

from crystalkit.errors import CrystalInputError
from crystalkit.metrics import csp_metrics
from crystalkit.models.checkpoint import build_model, load_checkpoint, save_checkpoint
from crystalkit.models.language import (
    CrystalLanguageModel,
    GrammarConstraint,
    LanguageModelConfig,
    composition_tokens,
    next_token,
    parse_rate,
    parse_stream,
)
from crystalkit.representations import examples
from crystalkit.sampling import StructureGenerator

TINY = LanguageModelConfig(d_model=32, n_layers=2, n_heads=2, max_length=128)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def crystals():
    return [examples.perovskite(), examples.rock_salt(), examples.rutile()]


def _model(seed: int = 0) -> CrystalLanguageModel:
    torch.manual_seed(seed)
    return CrystalLanguageModel(TINY).eval()


def test_token_round_trip_on_real_crystals(crystals):
    model = _model()
    for structure in crystals:
        ids = model.encode_structure(structure)
        parsed = parse_stream(model.tokenizer.from_ids(ids), model.tokenizer)
        assert parsed.ok and parsed.kind == "ok"
        assert StructureMatcher().fit(parsed.structure, structure)


def test_causal_mask_future_tokens_do_not_change_earlier_logits(crystals):
    model = _model()
    ids = torch.tensor([model.encode_structure(crystals[0])])  # (1, T)
    changed = ids.clone()
    changed[0, 20:] = torch.randint(3, 100, (ids.shape[1] - 20,))
    before, after = model(ids), model(changed)
    assert torch.allclose(before[0, :20], after[0, :20], atol=1e-6)
    assert not torch.allclose(before[0, 20:], after[0, 20:])  # the later logits do see the change


def test_kv_cache_gives_the_logits_of_the_whole_stream(crystals):
    model = _model()
    ids = torch.tensor([model.encode_structure(s)[:40] for s in crystals])  # (3, 40)
    whole = model(ids)  # every position at once, as in training
    cache = [[] for _ in model.blocks]
    pieces = [model(ids[:, :25], cache)]  # a prompt, then one token at a time
    pieces += [model(ids[:, t : t + 1], cache) for t in range(25, 40)]
    assert torch.allclose(torch.cat(pieces, dim=1), whole, atol=1e-5)
    assert cache[0][0].shape == (3, TINY.n_heads, 40, TINY.d_model // TINY.n_heads)
    with pytest.raises(CrystalInputError, match="longer than max_length"):
        model(torch.zeros(3, TINY.max_length - 39, dtype=torch.long), cache)
    with pytest.raises(CrystalInputError, match="one list per block"):
        model(ids, [[]])


def test_sampling_with_the_kv_cache_writes_the_same_streams():
    model = _model()
    for prompt in (None, "SrTiO3"):
        cached = model.generate(prompt, 3, temperature=1.0, seed=4)
        reread = model.generate(prompt, 3, temperature=1.0, seed=4, kv_cache=False)
        assert [s.tokens for s in cached] == [s.tokens for s in reread]


def test_zero_temperature_is_argmax_and_low_temperature_approaches_it():
    logits = torch.randn(6, 40, generator=torch.Generator().manual_seed(1))
    assert torch.equal(next_token(logits, 0.0, None), logits.argmax(-1))
    draws = next_token(logits.repeat(50, 1), 1e-4, None, torch.Generator().manual_seed(0))
    assert torch.equal(draws, logits.argmax(-1).repeat(50))


def test_top_k_restricts_the_support():
    logits = torch.randn(1, 30, generator=torch.Generator().manual_seed(2)).repeat(2000, 1)
    draws = next_token(logits, 5.0, 3, torch.Generator().manual_seed(0))  # hot: all 30 would appear without top-k
    allowed = set(torch.topk(logits[0], 3).indices.tolist())
    assert set(draws.tolist()) == allowed
    assert len(set(next_token(logits, 5.0, None, torch.Generator().manual_seed(0)).tolist())) > 3
    with pytest.raises(CrystalInputError, match="top_k"):
        next_token(logits, 1.0, 0)
    with pytest.raises(CrystalInputError, match="temperature"):
        next_token(logits, -1.0, None)


def test_unparseable_streams_are_explained_and_counted_invalid(crystals):
    model = _model()
    good = model.tokenizer.encode(crystals[0])
    cut = parse_stream(good[:-5], model.tokenizer)
    assert not cut.ok and cut.kind == "cut off" and "<eos>" in cut.reason
    wrong = list(good)
    wrong[good.index("<atoms>") + 1] = "Na"  # an atom that the composition does not list
    assert parse_stream(wrong, model.tokenizer).kind == "composition"
    assert parse_rate([parse_stream(good, model.tokenizer), cut]) == 0.5
    # An untrained model writes garbage; sample() keeps a None for every failure, and the metrics count it.
    samples = model.sample(["SrTiO3"], num_samples=3, seed=0, constrain=False)
    assert len(samples) == 1 and len(samples[0]) == 3 and all(s is None for s in samples[0])
    result = csp_metrics(samples, [crystals[0]], validity="none")
    assert result.match_rate == 0.0


def test_generation_reproduces_with_a_seed_and_honours_the_prompt():
    model = _model()
    first = model.generate("SrTiO3", 2, space_group=221, seed=3)
    second = model.generate("SrTiO3", 2, space_group=221, seed=3)
    assert [s.tokens for s in first] == [s.tokens for s in second]
    prompt = model.prompt("SrTiO3", 221)
    assert all(s.tokens[: len(prompt)] == prompt for s in first)
    assert prompt == ["<bos>", "<comp>", "O", "3", "Ti", "1", "Sr", "1", "<sg>", "2", "2", "1", "<a>"]
    # With only a space group, it is written right after the model's own <sg>.
    for sample in model.generate(None, 4, space_group=99, temperature=1.0, seed=0):
        if "<sg>" in sample.tokens:
            k = sample.tokens.index("<sg>")
            assert sample.tokens[k + 1 : k + 4] == ["9", "9", "<a>"]


def test_bad_prompts_raise_clear_errors():
    model = _model()
    with pytest.raises(CrystalInputError, match="Xx"):
        model.generate("Xx2O3")
    with pytest.raises(CrystalInputError, match="Xx"):
        composition_tokens("SrXxO3")
    with pytest.raises(CrystalInputError, match="1 to 230"):
        model.generate("SrTiO3", space_group=231)
    with pytest.raises(CrystalInputError, match="num_samples"):
        model.generate("SrTiO3", 0)


def test_loss_is_next_token_cross_entropy_and_trains(crystals):
    model = _model()
    ids = torch.tensor([model.encode_structure(crystals[0])])
    logits = model(ids[:, :-1])
    by_hand = -torch.log_softmax(logits, -1)[0].gather(1, ids[0, 1:, None]).mean()
    from crystalkit.data import CrystalBatch

    batch = CrystalBatch.from_structures(crystals[:1])
    assert torch.allclose(model.loss(batch)["loss"], by_hand, atol=1e-5)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    start = float(model.loss(batch)["loss"].detach())
    for _ in range(30):
        loss = model.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.5 * start


def test_memorised_crystal_is_regenerated_from_its_prompt(crystals):
    """A model trained on one crystal writes it back, greedily, from its composition: the whole pipeline."""
    from crystalkit.data import CrystalBatch

    torch.manual_seed(0)
    model = CrystalLanguageModel(TINY)
    batch = CrystalBatch.from_structures([crystals[0]])
    optimizer = torch.optim.Adam(model.parameters(), 5e-3)
    for _ in range(150):
        loss = model.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    (sample,) = model.generate(crystals[0].composition.formula, 1, temperature=0.0)
    assert sample.ok, sample.reason
    assert StructureMatcher().fit(sample.structure, crystals[0])
    assert isinstance(model, StructureGenerator)


def test_checkpoint_round_trip_and_other_family_refused(tmp_path, crystals):
    model = _model(seed=4)
    model.atom_count_weights[5] = 1.0
    path = save_checkpoint(tmp_path / "lm.pt", model)
    loaded, payload = load_checkpoint(path)
    assert isinstance(loaded, CrystalLanguageModel) and payload["model_config"]["family"] == "lm"
    ids = torch.tensor([model.encode_structure(crystals[1])])
    assert torch.equal(loaded(ids), model(ids))
    assert loaded.config == model.config
    config = model.to_config()
    config["family"] = "gfn"
    with pytest.raises(CrystalInputError):  # an LM's config is not a GFlowNet's
        build_model(config)
    with pytest.raises(CrystalInputError, match="Unknown model family"):
        build_model({**model.to_config(), "family": "gpt"})
    assert isinstance(CrystalLanguageModel.load(path), CrystalLanguageModel)
    from crystalkit.models.gflownet import GFlowNet

    with pytest.raises(CrystalInputError, match="lm"):
        GFlowNet.load(path)  # a language-model file is refused by the GFlowNet, naming what it holds


def test_sample_batch_refuses_with_an_explanation():
    with pytest.raises(CrystalInputError, match="sample"):
        _model().sample_batch(["SrTiO3"])


# ------------------------------------------------------------ constrained decoding
def _shipped() -> CrystalLanguageModel:
    from crystalkit.models.pretrained import load_pretrained

    return load_pretrained("perovskites-lm-csp")


def _assert_follows_the_mask(model: CrystalLanguageModel, sample, prompt_length: int) -> None:
    """Replay a stream: every token written after the prompt was one the constraint allowed."""
    grammar = GrammarConstraint(model.tokenizer, model.config.max_length)
    for k in range(prompt_length, len(sample.tokens)):
        assert sample.tokens[k] in grammar.allowed(sample.tokens[:k]), (k, sample.tokens)


@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_constrained_streams_always_parse_with_the_prompt_composition(which):
    model = _model(seed=1) if which == "tiny" else _shipped()
    formulas = ["SrTiO3", "NaCl", "Ba2Zr2O6"] if which == "shipped" else ["SrTiO3", "NaCl", "LiFeO2"]
    for seed, (temperature, top_k) in enumerate([(1.0, None), (2.0, None), (0.0, None), (1.5, 5)]):
        for formula in formulas:
            prompt = model.prompt(formula)
            for sample in model.generate(formula, 4, temperature=temperature, top_k=top_k, seed=seed):
                assert sample.ok, sample.reason
                assert sample.structure.composition == Composition(formula)
                _assert_follows_the_mask(model, sample, len(prompt))
    # Unconstrained, the untrained model's streams do not parse: the mask is what makes them crystals.
    if which == "tiny":
        assert not any(s.ok for s in model.generate("SrTiO3", 4, seed=0, constrain=False))
    # De novo: the model writes the composition too, and the atoms then follow it.
    for sample in model.generate(None, 4, seed=7, temperature=1.5):
        assert sample.ok, sample.reason
        _assert_follows_the_mask(model, sample, 2)


def test_the_mask_reads_the_grammar():
    tokenizer = _model().tokenizer
    grammar = GrammarConstraint(tokenizer, 256)
    prompt = _model().prompt("SrTiO3")  # <bos> <comp> O 3 Ti 1 Sr 1 <sg>
    digits = list("0123456789")
    assert set(grammar.allowed(prompt)) == set("123456789")  # a space group has no leading zero
    assert set(grammar.allowed(prompt + ["2", "3"])) == {"0", "<a>"}  # 23 -> 230 at most, or stop at 23
    cell = ["2", "2", "1", "<a>", "3", ".", "9", "0", "<b>", "3", ".", "9", "0", "<c>", "3", ".", "9", "0",
            "<alpha>", "9", "0", ".", "0", "<beta>", "9", "0", ".", "0", "<gamma>"]
    assert set(grammar.allowed(prompt + cell[:5])) == set(digits) | {"."}
    assert set(grammar.allowed(prompt + cell[:7])) == set(digits)  # exactly two decimals
    assert grammar.allowed(prompt + cell[:8]) == ["<b>"]
    # gamma must lie strictly between |alpha - beta| = 0 and min(alpha + beta, 360 - alpha - beta) = 180
    assert "0" not in grammar.allowed(prompt + cell + ["1", "8"]) and "." in grammar.allowed(prompt + cell + ["1", "7"])
    atoms = prompt + cell + ["9", "0", ".", "0", "<atoms>"]
    assert set(grammar.allowed(atoms)) == {"O", "Ti", "Sr"}
    three_o = atoms + ["O", *"000000500", "O", *"000500000", "O", *"500000000"]
    assert set(grammar.allowed(three_o)) == {"Ti", "Sr"}  # the oxygens are all placed
    assert set(grammar.allowed(three_o[:-1])) == set(digits)
    done = three_o + ["Ti", *"000000000", "Sr", *"500500500"]
    assert grammar.allowed(done) == ["<eos>"]  # the stream ends exactly when every atom is placed
    assert parse_stream(done + ["<eos>"], tokenizer).ok
    with pytest.raises(CrystalInputError, match="grammar"):
        grammar.allowed(prompt + ["<atoms>"])  # a prefix that already broke the grammar


@pytest.mark.parametrize("max_length", [64, 120, 256, 288])
def test_a_random_walk_through_the_grammar_never_dead_ends(max_length):
    """Any token the mask allows leads on to a stream that ends at <eos>: no prefix it allows is a dead end.

    Walks choose uniformly among allowed tokens, favouring new elements and big counts (where the atom budget
    runs out, which is where a dead end once hid: an element allowed with no room left for its count).
    """
    import random

    tokenizer = _model().tokenizer
    grammar = GrammarConstraint(tokenizer, max_length)
    rng = random.Random(max_length)
    for _ in range(40):
        stream = ["<bos>"]
        while stream[-1] != "<eos>":
            choices = grammar.allowed(stream)  # raises on a dead end
            greedy = [t for t in choices if t not in ("<sg>",)] if "<atoms>" not in stream and rng.random() < 0.9 else []
            stream.append(rng.choice(greedy or choices))
            assert len(stream) <= max_length
        assert parse_stream(stream, tokenizer).ok


def test_a_masked_token_is_never_sampled():
    """A network that always prefers a forbidden token still writes only allowed ones."""
    model = _model(seed=2)
    boost = torch.zeros(len(model.tokenizer.vocabulary))
    boost[model.tokenizer.to_ids(["Xe"])[0]] = 30.0  # Xe: overwhelming logit, never owed by SrTiO3
    raw_forward = model.forward
    model.forward = lambda ids, cache=None: raw_forward(ids, cache) + boost
    for sample in model.generate("SrTiO3", 6, temperature=1.0, seed=0):
        assert sample.ok and "Xe" not in sample.tokens
    unconstrained = model.generate("SrTiO3", 2, seed=0, constrain=False)
    assert all(s.tokens[9:].count("Xe") > 10 for s in unconstrained)  # without the mask it writes Xe


def test_too_many_atoms_for_max_length_is_refused_when_constrained():
    model = _model()  # max_length 128
    with pytest.raises(CrystalInputError, match="max_length"):
        model.generate("Ba2Zr2O6", 1)
    model.generate("Ba2Zr2O6", 1, constrain=False)  # unconstrained it runs (and is cut off)


# Streams of the shipped checkpoint for SrTiO3, seed 0, captured before constrained decoding was added:
# constrain=False must keep sampling the raw model exactly as before.
SHIPPED_SRTIO3_SEED0 = [
    ('<bos> <comp> O 3 Ti 1 Sr 1 <sg> 2 2 1 <a> 3 . 9 4 <b> 3 . 9 4 <c> 3 . 9 4 <alpha> 9 0 . 0 <beta> 9 0'
    ' . 0 <gamma> 9 0 . 0 <atoms> O 0 0 0 0 0 0 5 0 0 O 0 0 0 5 0 0 0 0 0 O 5 0 0 0 0 0 0 0 0 Li 9 9 9 5 '
    '0 0 0 0 0 Cd 5 0 0 5 0 0 5 0 0 <eos>'),
    ('<bos> <comp> O 3 Ti 1 Sr 1 <sg> 2 2 1 O 4 <a> 4 . 2 1 . 4 . 2 1 <c> 4 . 2 <alpha> 9 0 0 . 0 <beta> 9'
    ' 0 . 0 0 . 0 . 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0'
    ' 0 0 0 0 0 0 0 0 0 <eos>'),
]


def test_unconstrained_sampling_is_unchanged():
    streams = [" ".join(s.tokens) for s in _shipped().generate("SrTiO3", 4, seed=0, constrain=False)]
    assert streams[:2] == SHIPPED_SRTIO3_SEED0


def test_cli_samples_a_language_model_and_explains_the_gflownet(tmp_path, capsys):
    from models_helpers import perovskites

    from crystalkit.cli import main
    from crystalkit.data import read_structure_csv, write_structure_csv
    from crystalkit.models.gflownet import build_gflownet

    data = tmp_path / "train.csv"
    write_structure_csv(data, perovskites(), [f"p{i}" for i in range(len(perovskites()))])
    checkpoint, out = tmp_path / "lm.pt", tmp_path / "samples.csv"
    assert main(["train", "--family", "lm", "--data", str(data), "--steps", "3", "--out", str(checkpoint),
                 "--hidden", "16", "--layers", "1", "--batch-size", "4", "--quiet", "--threads", "1"]) == 0
    assert main(["sample", "--checkpoint", str(checkpoint), "--compositions", "SrTiO3", "Ba2Zr2O6",
                 "--samples", "2", "--out", str(out), "--quiet"]) == 0
    assert "constrained decoding" in capsys.readouterr().out
    structures, table = read_structure_csv(out, check=False)
    assert table["material_id"].tolist() == ["SrTiO3", "SrTiO3", "Ba2Zr2O6", "Ba2Zr2O6"]
    assert [s.composition for s in structures] == [Composition(f) for f in ("SrTiO3",) * 2 + ("Ba2Zr2O6",) * 2]
    assert main(["sample", "--checkpoint", str(checkpoint), "--compositions", "SrTiO3", "--samples", "1",
                 "--steps", "5", "--out", str(out)]) == 2
    assert "--steps" in capsys.readouterr().err
    gfn = save_checkpoint(tmp_path / "gfn.pt", build_gflownet())
    assert main(["sample", "--checkpoint", str(gfn), "--compositions", "SrTiO3", "--samples", "1",
                 "--out", str(out)]) == 2
    assert "leave out --compositions" in capsys.readouterr().err


def test_build_language_model_takes_a_longer_context_for_larger_cells():
    from crystalkit.models.language import build_language_model
    from crystalkit.representations.examples import perovskite

    big = perovskite().make_supercell([2, 2, 2], in_place=False)  # 40 atoms: more than 256 tokens
    with pytest.raises(CrystalInputError, match="--max-length"):
        build_language_model().encode_structure(big)
    longer = build_language_model(max_length=512)
    assert longer.config.max_length == 512 and longer.position_embedding.num_embeddings == 512
    assert len(longer.encode_structure(big)) > 256
    with pytest.raises(CrystalInputError, match="max_length"):
        build_language_model(max_length=8)
