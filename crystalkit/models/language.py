"""A crystal language model: a small decoder-only Transformer over the kit's crystal tokens.

A language model writes a crystal one token at a time. With the tokens of
:class:`~crystalkit.representations.tokens.CrystalTokenizer` (composition,
space group, cell lengths and angles, then each atom's element and
coordinates, numbers spelled digit by digit) the probability of a whole
crystal is a product of next-token probabilities, by the chain rule::

    p(x_1 .. x_T) = p(x_1) p(x_2 | x_1) ... p(x_T | x_1 .. x_{T-1})

so training is classification: at every position, cross-entropy between the
network's distribution over the vocabulary and the token that really comes
next. A *causal* mask lets position ``t`` see only tokens ``<= t``, so one
pass over a sequence gives all ``T`` predictions at once and none of them
peeks at its own answer.

This is the route of CrystaLLM (Antunes et al. 2024, arXiv:2307.04340, which
writes CIF text) and of Gruver et al. 2024 (arXiv:2402.04379, fine-tuned
LLaMA on printed numbers), scaled down to minutes on a CPU. The network is
built bottom-up like nanoGPT: attention, block, model; learned positions;
pre-LayerNorm.

Sampling continues a *prompt*: ``<bos> <comp> O 3 Ti 1 Sr 1 <sg>`` asks for a
structure of SrTiO3 (crystal structure prediction); a space group can be
forced too. Left to itself (``constrain=False``) nothing forces the model
to write a stream that follows the grammar, so some samples do not parse.
:meth:`CrystalLanguageModel.generate` says why for each one, and
:meth:`CrystalLanguageModel.sample` keeps a ``None`` in its place, which
every kit metric counts as invalid: dropping failures would flatter the model.

Constrained decoding (``constrain=True``, the default). At each step the
logits of every token that cannot come next are set to ``-inf`` before the
draw (:class:`GrammarConstraint`): the token kinds follow the tokenizer's
grammar, numbers stay in range (a space group 1-230, angles that make a cell
of positive volume), and in ``<atoms>`` only elements that the composition
still owes may be written, with ``<eos>`` allowed exactly when every atom is
placed. Renormalising over the allowed tokens is sampling from the model
*conditioned on* the stream being a crystal of the prompt's composition.
This is legitimate in CSP, because the composition is given: the task is
where the atoms go, not which atoms there are. Published crystal language
models filter or constrain too: CrystaLLM (Antunes et al. 2024,
arXiv:2307.04340) checks each generated CIF for consistency and keeps the
ones that pass, Gruver et al. 2024 (arXiv:2402.04379) parse the printed
crystals and score the valid ones, and grammar-constrained decoding is a
standard tool for structured LLM output (Geng et al. 2023,
arXiv:2305.13971). What it hides:
the unconstrained parse rate is itself a measure of what the network learned
(a model that writes "O3 Sc In" for SrTiO3 has not learned to copy the
prompt's species), so report both; ``constrain=False`` gives the raw model.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F
from pymatgen.core import Composition, Element, Structure
from torch import nn

from crystalkit.data.batch import CrystalBatch
from crystalkit.data.dense import DenseCrystals
from crystalkit.errors import CrystalInputError
from crystalkit.models.generator import CrystalGenerator, as_dense
from crystalkit.representations.tokens import _DIGITS, SPECIAL_TOKENS, TAG_TOKENS, CrystalTokenizer
from crystalkit.sampling import as_compositions

__all__ = [
    "CausalSelfAttention",
    "CrystalLanguageModel",
    "GrammarConstraint",
    "LMSample",
    "LanguageModelConfig",
    "build_language_model",
    "composition_tokens",
    "parse_rate",
    "parse_stream",
]

PAD = 0  # id of "<pad>" in the tokenizer's vocabulary: ignored by the loss


@dataclass
class LanguageModelConfig:
    """Sizes of the Transformer and the tokenizer settings it was trained with."""

    task: str = "csp"  # prompts with a composition (CSP); an empty prompt samples de novo
    d_model: int = 64  # width: ~0.25 M parameters in all, a 1 MB checkpoint, minutes on a CPU
    n_layers: int = 3  # attention blocks; 3 learn the grammar of 5-atom cells in CPU minutes
    n_heads: int = 4  # 16 dimensions per head
    max_length: int = 256  # positions; a 5-atom perovskite is ~90 tokens, a 16-atom cell ~200
    dropout: float = 0.0  # minutes-long runs underfit rather than overfit
    coord_digits: int = 3  # tokenizer: digits per fractional coordinate (0.001 steps)
    length_decimals: int = 2  # tokenizer: decimals of cell lengths in Å
    angle_decimals: int = 1  # tokenizer: decimals of angles in degrees
    max_atoms: int = 64  # kept for the kit's shared statistics buffer (cell sizes seen in training)

    def to_dict(self) -> dict:
        return asdict(self)

    def tokenizer(self) -> CrystalTokenizer:
        return CrystalTokenizer(self.coord_digits, self.length_decimals, self.angle_decimals)


def build_language_model(task: str = "csp", conditional: bool = False, hidden: int | None = None,
                         layers: int | None = None, max_length: int | None = None) -> CrystalLanguageModel:
    """The kit's default language model (``crystalkit train --family lm``).

    ``hidden``/``layers`` resize it; ``max_length`` sets how many tokens it can
    read and write (each atom costs about a dozen tokens: a 24-atom Carbon-24
    cell needs ~285, more than the default 256).
    """
    if conditional:
        raise CrystalInputError("--family lm is prompted, not property-conditioned: drop --condition.")
    if max_length is not None and max_length < 32:
        raise CrystalInputError(f"max_length={max_length} cannot hold even the shortest crystal; use 256 or more.")
    sizes = {k: v for k, v in (("d_model", hidden), ("n_layers", layers), ("max_length", max_length))
             if v is not None}
    return CrystalLanguageModel(LanguageModelConfig(task=task, **sizes))


# ------------------------------------------------------------------ network
class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position ``t`` attends only to positions ``<= t``."""

    def __init__(self, config: LanguageModelConfig) -> None:
        super().__init__()
        if config.d_model % config.n_heads:
            raise CrystalInputError(f"d_model={config.d_model} must be a multiple of n_heads={config.n_heads}.")
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        future = torch.triu(torch.ones(config.max_length, config.max_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("future", future, persistent=False)  # (L, L) True above the diagonal

    def forward(self, x: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        """Attend over ``x`` ``(B, T, C)``; with ``cache`` also over the positions before it.

        ``cache`` is this layer's KV cache: empty at first, then ``[keys, values]``
        of every position seen so far (each ``(B, h, T_past, d)``). The new keys
        and values are appended to it, so a sampler can feed one token per step
        instead of the whole stream again.
        """
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (z.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for z in (q, k, v))  # (B, h, T, d)
        if cache is not None:
            if cache:  # earlier positions: their keys and values do not change, so they are kept, not recomputed
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        seen = k.shape[2]  # positions attended over, the new T among them last
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])  # (B, h, T, seen)
        scores = scores.masked_fill(self.future[seen - T : seen, :seen], float("-inf"))  # no looking ahead
        weights = self.dropout(torch.softmax(scores, dim=-1))
        y = (weights @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.proj(y)


class Block(nn.Module):
    """Pre-LayerNorm Transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, config: LanguageModelConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(config.d_model), nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.mlp = nn.Sequential(nn.Linear(config.d_model, 4 * config.d_model), nn.GELU(),
                                 nn.Linear(4 * config.d_model, config.d_model), nn.Dropout(config.dropout))

    def forward(self, x: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.mlp(self.ln2(x))


@dataclass(frozen=True)
class LMSample:
    """One generated token stream and what became of it."""

    tokens: list[str]  # the whole stream, prompt included
    structure: Structure | None  # None when the stream does not parse
    reason: str | None  # why it does not parse (None when it does)
    kind: str  # "ok", "cut off", "composition", "cell" or "grammar": the reason, in one word

    @property
    def ok(self) -> bool:
        return self.structure is not None


def parse_stream(tokens: Sequence[str], tokenizer: CrystalTokenizer | None = None) -> LMSample:
    """Parse a generated stream into a structure, or say why it cannot be one.

    Kinds of failure: ``"cut off"`` (no ``<eos>``: the length ran out),
    ``"composition"`` (the atoms listed disagree with the ``<comp>`` section),
    ``"cell"`` (lengths or angles that make no cell), ``"grammar"`` (tags
    missing, repeated or out of order, a number where an element should be, ...).
    """
    tokenizer = tokenizer or CrystalTokenizer()
    tokens = list(tokens)
    try:
        structure = tokenizer.decode(tokens)
    except CrystalInputError as error:
        reason = str(error)
        if "<eos>" in reason:
            kind = "cut off"
        elif "section says" in reason:
            kind = "composition"
        elif any(word in reason for word in ("angle", "length", "volume", "lattice", "cell")):
            kind = "cell"
        else:
            kind = "grammar"
        return LMSample(tokens, None, reason, kind)
    return LMSample(tokens, structure, None, "ok")


def parse_rate(samples: Sequence[LMSample]) -> float:
    """Share of streams that parse into a structure (failures stay in the denominator)."""
    if not samples:
        raise CrystalInputError("parse_rate needs at least one sample.")
    return sum(s.ok for s in samples) / len(samples)


def composition_tokens(composition: Composition | str) -> list[str]:
    """The ``<comp>`` section for a formula, as the tokenizer writes it (elements by atomic number).

    Raises:
        CrystalInputError: unknown element or fractional counts (via :func:`crystalkit.sampling.as_compositions`).
    """
    (parsed,) = as_compositions([composition])
    counts = parsed.element_composition
    tokens: list[str] = []
    for element in sorted(counts, key=lambda e: e.Z):
        tokens += [element.symbol, *str(round(counts[element]))]
    return tokens


# -------------------------------------------------------------------- model
class CrystalLanguageModel(CrystalGenerator):
    """A decoder-only Transformer that writes crystals as kit tokens.

    It is a `CrystalGenerator` so that the kit's ``train``, checkpoints and
    ``crystalkit train --family lm`` accept it, but it shares nothing else with
    the backbone families: there is no noise process and no periodic backbone,
    so it sets itself up in its own ``__init__``.

    The loss reads the kit's padded batches (`DenseCrystals`); the token ids of
    each training crystal are made once, in :meth:`fit_data_statistics`, and
    looked up by the crystal's bytes afterwards (a crystal the cache has not seen
    is tokenized on the spot, e.g. a validation crystal).
    """

    family = "lm"
    config_class = LanguageModelConfig

    def __init__(self, config: LanguageModelConfig | None = None) -> None:
        nn.Module.__init__(self)  # deliberately not CrystalGenerator.__init__: no backbone here
        config = config or LanguageModelConfig()
        if config.task not in ("csp", "de_novo"):
            raise CrystalInputError(f"task must be 'csp' or 'de_novo', got {config.task!r}.")
        self.config = config
        self.tokenizer = config.tokenizer()
        vocabulary = len(self.tokenizer.vocabulary)
        self.token_embedding = nn.Embedding(vocabulary, config.d_model)
        self.position_embedding = nn.Embedding(config.max_length, config.d_model)  # learned positions
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, vocabulary, bias=False)
        self.apply(self._init_weights)
        self.register_buffer("atom_count_weights", torch.zeros(config.max_atoms + 1))
        self._ids_cache: dict[bytes, list[int]] = {}

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)  # GPT-2's small init keeps early logits near uniform
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, cache: list[list] | None = None) -> torch.Tensor:
        """Next-token logits ``(B, T, V)`` for token ids ``(B, T)``.

        ``cache``: None in training (every position at once). A sampler passes
        one empty list per block (``[[] for _ in model.blocks]``) with the
        prompt, then only each new token: the blocks keep the keys and values
        of earlier positions there (a KV cache), so a step costs one position,
        not the whole stream. The logits are the same either way.
        """
        start = cache[0][0].shape[2] if cache and cache[0] else 0  # positions already in the cache
        T = ids.shape[1]  # ids: (B, T)
        if start + T > self.config.max_length:
            raise CrystalInputError(f"A sequence of {start + T} tokens is longer than "
                                    f"max_length={self.config.max_length}.")
        if cache is not None and len(cache) != len(self.blocks):
            raise CrystalInputError(f"cache needs one list per block ({len(self.blocks)}), got {len(cache)}.")
        positions = torch.arange(start, start + T, device=ids.device)  # (T,)
        x = self.token_embedding(ids) + self.position_embedding(positions)  # (B, T, C)
        for block, layer_cache in zip(self.blocks, cache or [None] * len(self.blocks)):
            x = block(x, layer_cache)
        return self.head(self.ln_f(x))  # (B, T, V)

    # ---------------------------------------------------------------- data
    def encode_structure(self, structure: Structure) -> list[int]:
        """Token ids of one crystal (``<bos>`` ... ``<eos>``)."""
        ids = self.tokenizer.to_ids(self.tokenizer.encode(structure))
        if len(ids) > self.config.max_length:
            raise CrystalInputError(
                f"{structure.composition.reduced_formula} needs {len(ids)} tokens but max_length is "
                f"{self.config.max_length}; raise LanguageModelConfig.max_length "
                "(crystalkit train --family lm --max-length N)."
            )
        return ids

    def token_batch(self, batch: DenseCrystals | CrystalBatch) -> torch.Tensor:
        """``(B, T)`` padded token ids (``<pad>`` = 0) of a batch of crystals."""
        data = as_dense(batch)
        types, frac = data.types.cpu().numpy(), data.frac.detach().cpu().numpy()
        lattices, mask = data.lattice.detach().cpu().numpy(), data.mask.cpu().numpy()
        rows = []
        for i in range(data.num_crystals):
            key = types[i][mask[i]].tobytes() + frac[i][mask[i]].tobytes() + lattices[i].tobytes()
            if key not in self._ids_cache:
                structure = Structure(lattices[i].astype(float), types[i][mask[i]].tolist(),
                                      frac[i][mask[i]].astype(float))
                self._ids_cache[key] = self.encode_structure(structure)
            rows.append(self._ids_cache[key])
        ids = torch.full((len(rows), max(map(len, rows))), PAD, dtype=torch.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return ids.to(self.device)

    @torch.no_grad()
    def fit_data_statistics(self, data: DenseCrystals) -> None:
        """Tokenize the training set once (cached) and record its cell sizes."""
        counts = data.num_atoms.cpu()
        if int(counts.max()) > self.config.max_atoms:
            raise CrystalInputError(f"The training set has a cell of {int(counts.max())} atoms; raise max_atoms.")
        histogram = torch.bincount(counts, minlength=self.config.max_atoms + 1).to(self.atom_count_weights)
        self.atom_count_weights.copy_(histogram / histogram.sum())
        self.token_batch(data)

    def loss(self, batch: DenseCrystals | CrystalBatch, generator: torch.Generator | None = None) -> dict:
        """Mean next-token cross-entropy (nats per token, padding ignored) under ``"loss"``.

        ``generator`` is accepted for the kit's interface and unused: the loss has no randomness.
        """
        ids = self.token_batch(batch)  # (B, T)
        logits = self(ids[:, :-1])  # (B, T-1, V): position t predicts token t+1
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=PAD)
        return {"loss": loss}

    # ------------------------------------------------------------ sampling
    def prompt(self, composition: Composition | str | None = None, space_group: int | None = None) -> list[str]:
        """The tokens a sample starts from, and the space group tokens to force after ``<sg>``.

        With a composition: ``<bos> <comp> ... <sg>`` (+ the space group and ``<a>`` if given);
        without: ``<bos> <comp>`` and the model writes a composition too (de novo).
        """
        tokens = ["<bos>", "<comp>"]
        if composition is not None:
            tokens += composition_tokens(composition) + ["<sg>"]
            if space_group is not None:
                tokens += _space_group_tokens(space_group) + ["<a>"]
        return tokens

    @torch.no_grad()
    def generate(
        self,
        composition: Composition | str | None = None,
        num_samples: int = 1,
        *,
        space_group: int | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = 0,
        constrain: bool = True,
        kv_cache: bool = True,
    ) -> list[LMSample]:
        """``num_samples`` streams continuing one prompt, each parsed (see :func:`parse_stream`).

        Args:
            composition: a formula (its atom count is the cell's) or None (the model picks one).
            space_group: 1-230, forced right after ``<sg>`` (also when the model writes the composition).
            temperature: divides the logits; 0 means greedy (always the most likely token).
            top_k: keep only the ``k`` most likely tokens at each step (None: all).
            seed: seeds the draws (the same seed gives the same streams).
            constrain: mask tokens that would break the grammar or the composition (see the
                module docstring: every stream then parses, with the prompt's composition);
                False samples the raw model, whose parse rate measures what it learned.
            kv_cache: keep each block's keys and values between steps (see :meth:`forward`), so a
                step reads one new token; False rereads the whole stream every step, as a
                plain Transformer would (the same streams, 18x slower for 200 de novo
                inorganic streams in ``benchmarks/lm_sampling.py``, which measures both).
        """
        if not isinstance(num_samples, int) or num_samples < 1:
            raise CrystalInputError(f"num_samples must be a positive integer, got {num_samples!r}.")
        forced = [] if space_group is None else self.tokenizer.to_ids(_space_group_tokens(space_group) + ["<a>"])
        start = self.tokenizer.to_ids(self.prompt(composition, space_group))
        if constrain and composition is not None:
            GrammarConstraint(self.tokenizer, self.config.max_length).check_room(self.prompt(composition, space_group))
        ids = torch.tensor([start] * num_samples, device=self.device)  # (S, T0)
        generator = torch.Generator(device=self.device).manual_seed(0 if seed is None else int(seed))
        with self._in_eval_mode():
            ids = self._continue(ids, temperature, top_k, generator, forced, constrain, kv_cache)
        tokens = [self.tokenizer.from_ids(row) for row in ids.tolist()]
        return [parse_stream(_until_eos(row), self.tokenizer) for row in tokens]

    def _continue(self, ids: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator,
                  forced: list[int], constrain: bool = False, kv_cache: bool = True) -> torch.Tensor:
        """Append tokens until every row has written ``<eos>`` or ``max_length`` is reached.

        With ``constrain`` the logits of tokens :class:`GrammarConstraint` rules out are ``-inf``
        (rows already finished are left alone: their draw is replaced by ``<pad>``).
        """
        eos, sg = self.tokenizer.to_ids(["<eos>", "<sg>"])
        grammar = GrammarConstraint(self.tokenizer, self.config.max_length) if constrain else None
        done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        queue = [[] for _ in range(ids.shape[0])]  # forced tokens still to write, per row
        if forced and ids[0, -1] != self.tokenizer.to_ids(["<a>"])[0]:  # space group not yet in the prompt
            queue = [None] * ids.shape[0]  # None: waiting for the model to write <sg>
        cache = [[] for _ in self.blocks] if kv_cache else None  # with a cache each step feeds only the newest token
        unread = ids  # tokens the model has not seen yet: the prompt, then one per step
        while ids.shape[1] < self.config.max_length and not bool(done.all()):
            logits = self(unread, cache)[:, -1, :]  # (S, V) the next token's logits
            if grammar is not None:
                rows = [self.tokenizer.from_ids(row) for row in ids.tolist()]
                allowed = grammar.mask([row if not finished else [] for row, finished in zip(rows, done)])
                allowed = allowed.to(logits.device) | done[:, None]  # (S, V)
                logits = logits.masked_fill(~allowed, float("-inf"))
            new = next_token(logits, temperature, top_k, generator)  # (S,)
            for row, waiting in enumerate(queue):
                if waiting:  # a forced token overrides the draw
                    new[row] = waiting.pop(0)
                elif waiting is None and int(new[row]) == sg:
                    queue[row] = list(forced)
            new = torch.where(done, torch.full_like(new, PAD), new)
            ids = torch.cat([ids, new[:, None]], dim=1)  # (S, T+1)
            unread = new[:, None] if kv_cache else ids
            done |= new == eos
        return ids

    @torch.no_grad()
    def sample(
        self,
        compositions: Sequence[Composition | str] | None,
        num_samples: int = 1,
        *,
        seed: int | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        space_group: int | None = None,
        constrain: bool = True,
    ) -> list[list[Structure | None]]:
        """The kit's sampling interface (`crystalkit.sampling.StructureGenerator`).

        CSP: one list of ``num_samples`` per composition; de novo (None): one list.
        A stream that does not parse is kept as ``None`` (the metrics count it
        invalid), and so is a parsed crystal whose composition differs from the
        one asked for. Use :meth:`generate` to see the reasons; ``constrain`` as there.
        """
        seed = 0 if seed is None else int(seed)
        if compositions is None:
            samples = self.generate(None, num_samples, space_group=space_group, temperature=temperature,
                                    top_k=top_k, seed=seed, constrain=constrain)
            return [[s.structure for s in samples]]
        out = []
        for offset, composition in enumerate(as_compositions(compositions)):
            samples = self.generate(composition, num_samples, space_group=space_group, temperature=temperature,
                                    top_k=top_k, seed=seed + offset, constrain=constrain)
            out.append([s.structure if s.ok and _same_cell_composition(s.structure, composition) else None
                        for s in samples])
        return out

    def sample_batch(self, *args, **kwargs) -> CrystalBatch:
        raise CrystalInputError("A language model's streams may not parse, and a CrystalBatch cannot hold a "
                                "missing crystal: use model.sample(...) (None marks a failure) or model.generate.")

    # --------------------------------------------------------------- config
    def to_config(self) -> dict:
        return {"family": self.family, "process": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> CrystalLanguageModel:
        cls._refuse_other_family(config)
        return cls(LanguageModelConfig(**config["process"]))


def next_token(logits: torch.Tensor, temperature: float, top_k: int | None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token per row from logits ``(S, V)``: temperature scaling, then the top-k cut.

    ``temperature == 0`` is the limit T -> 0 of ``softmax(logits / T)``: all
    mass on the largest logit, i.e. ``argmax``.
    """
    if temperature < 0 or not math.isfinite(temperature):
        raise CrystalInputError(f"temperature must be >= 0, got {temperature}.")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise CrystalInputError(f"top_k must be a positive integer or None, got {top_k!r}.")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (S, 1) the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)  # (S, V)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1)


def _space_group_tokens(space_group: int) -> list[str]:
    if isinstance(space_group, bool) or not isinstance(space_group, (int, np.integer)) or not 1 <= space_group <= 230:
        raise CrystalInputError(f"A space group is a number from 1 to 230, got {space_group!r}.")
    return list(str(int(space_group)))


def _until_eos(tokens: list[str]) -> list[str]:
    """The stream up to and including the first ``<eos>`` (padding after it dropped)."""
    return tokens[: tokens.index("<eos>") + 1] if "<eos>" in tokens else [t for t in tokens if t != "<pad>"]


def _same_cell_composition(structure: Structure, composition: Composition) -> bool:
    return structure.composition.element_composition.almost_equals(composition.element_composition)


# ------------------------------------------------------- constrained decoding
@dataclass(frozen=True)
class _NumberFormat:
    """How a number section is spelled and which values it may take (``lo``/``hi`` in units of its last digit)."""

    int_digits: int  # most digits before the point
    decimals: int  # digits after the point (0: no point at all)
    lo: int
    hi: int


class GrammarConstraint:
    """Which tokens may come next in a stream, read off the tokenizer's format.

    The grammar is the one :meth:`CrystalTokenizer.encode` writes and
    :meth:`CrystalTokenizer.decode` reads: the tags of ``TAG_TOKENS`` once
    each, in order; after ``<comp>`` element/count pairs (elements by rising
    atomic number, counts without leading zeros); after ``<sg>`` an integer
    1-230; after each length ``int . decimals`` with the tokenizer's
    ``length_decimals``, after each angle the same with ``angle_decimals``;
    after ``<atoms>`` an element then ``3 * coord_digits`` digits per atom;
    then ``<eos>``. On top of the grammar come the checks ``decode`` makes
    (a positive cell volume: every angle in (0, 180) and gamma between
    ``|alpha - beta|`` and ``min(alpha + beta, 360 - alpha - beta)``) and the
    composition: in ``<atoms>`` only elements the ``<comp>`` section still owes
    may be written, and ``<eos>`` only once every atom is placed. A stream
    that follows :meth:`allowed` at every step therefore always parses.
    """

    _MAX_INT_DIGITS = 3  # lengths up to 999.99 Å, counts up to 999

    def __init__(self, tokenizer: CrystalTokenizer, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.ids = {token: index for index, token in enumerate(tokenizer.vocabulary)}
        self.elements = [t for t in tokenizer.vocabulary if t not in SPECIAL_TOKENS + TAG_TOKENS + _DIGITS + (".",)]
        self.z = {symbol: Element(symbol).Z for symbol in self.elements}
        self.atom_width = 1 + 3 * tokenizer.coord_digits  # element + three coordinates
        length_step, angle_step = 10**tokenizer.length_decimals, 10**tokenizer.angle_decimals
        self.formats = {"<sg>": _NumberFormat(3, 0, 1, 230)}
        for tag in ("<a>", "<b>", "<c>"):  # 1 Å (shorter than any bond) to 999.99 Å
            self.formats[tag] = _NumberFormat(3, tokenizer.length_decimals, length_step, 1000 * length_step - 1)
        for tag in ("<alpha>", "<beta>", "<gamma>"):  # strictly between 0 and 180 degrees
            self.formats[tag] = _NumberFormat(3, tokenizer.angle_decimals, 1, 180 * angle_step - 1)

    def check_room(self, prompt: Sequence[str]) -> None:
        """Raise unless the shortest stream the grammar allows after a CSP ``prompt`` fits in ``max_length``.

        (While decoding, a number may take more integer digits only while the rest still fits.)

        Raises:
            CrystalInputError: the composition has too many atoms for ``max_length``.
        """
        atoms = sum(_pairs(list(prompt[prompt.index("<comp>") + 1 : prompt.index("<sg>")]))[1])
        shortest = prompt.index("<sg>") + self._shortest_rest(list(self.formats), atoms)
        if shortest > self.max_length:
            raise CrystalInputError(f"A cell of {atoms} atoms needs at least {shortest} tokens but max_length is "
                                    f"{self.max_length}: ask for a smaller cell (a reduced formula) or a longer model.")

    def _shortest_rest(self, tags: Sequence[str], atoms: int) -> int:
        """Fewest tokens that write the number sections ``tags`` (one integer digit each), ``<atoms>`` and ``<eos>``."""
        numbers = sum(2 + (1 + self.formats[t].decimals if self.formats[t].decimals else 0) for t in tags)
        return numbers + 1 + atoms * self.atom_width + 1

    def mask(self, rows: Sequence[Sequence[str]]) -> torch.Tensor:
        """``(S, V)`` booleans, True where the token may follow each row's stream."""
        allowed = torch.zeros(len(rows), len(self.ids), dtype=torch.bool)
        for r, row in enumerate(rows):
            allowed[r, [self.ids[t] for t in self.allowed(row)]] = True
        return allowed

    def allowed(self, tokens: Sequence[str]) -> list[str]:
        """The tokens that may come next after ``tokens`` (a well-formed prefix, ``<bos>`` first).

        Raises:
            CrystalInputError: the prefix already breaks the grammar (nothing may follow it).
        """
        tokens = list(tokens)
        if not tokens:
            return ["<bos>"]
        if tokens[0] != "<bos>" or "<eos>" in tokens:
            raise CrystalInputError(f"No token may follow {tokens[:3]}...: a stream starts with <bos> and ends at <eos>.")
        tags = [k for k, t in enumerate(tokens) if t in TAG_TOKENS]
        if not tags:
            return ["<comp>"] if len(tokens) == 1 else []
        if [tokens[k] for k in tags] != list(TAG_TOKENS[: len(tags)]) or tags[0] != 1:
            raise CrystalInputError(f"The stream {' '.join(tokens[:12])} ... breaks the grammar: the tags must come "
                                    f"in the order {' '.join(TAG_TOKENS)}, right after <bos>.")
        tag, body = tokens[tags[-1]], tokens[tags[-1] + 1 :]
        following = TAG_TOKENS[TAG_TOKENS.index(tag) + 1] if tag != "<atoms>" else "<eos>"
        if tag == "<comp>":
            choices = self._composition(body, len(tokens))
        elif tag == "<atoms>":
            choices = self._atoms(body, self._owed(tokens, tags))
        else:
            fmt, text = self._format(tag, tokens, tags), "".join(body)
            atoms = sum(_pairs(tokens[tags[0] + 1 : tags[1]])[1])
            later = self._shortest_rest(TAG_TOKENS[TAG_TOKENS.index(tag) + 1 : -1], atoms)
            finish = (1 if not text else 0) + (fmt.decimals - len(text.partition(".")[2]) + ("." not in text)
                                               if fmt.decimals else 0)
            choices = self._number(text, fmt, following, self.max_length - len(tokens) - later - finish)
        if not choices:
            raise CrystalInputError(f"The stream {' '.join(tokens[-12:])} breaks the grammar: no token may follow.")
        return choices

    def _format(self, tag: str, tokens: list[str], tags: list[int]) -> _NumberFormat:
        """The number format of a section; gamma's range depends on alpha and beta (positive volume)."""
        fmt = self.formats[tag]
        if tag != "<gamma>":
            return fmt
        sections = dict(zip((tokens[k] for k in tags), (tokens[k + 1 : e] for k, e in pairwise(tags))))
        alpha, beta = (float("".join(sections[t])) for t in ("<alpha>", "<beta>"))
        step = 10**self.tokenizer.angle_decimals
        lo = math.floor(abs(alpha - beta) * step + 1e-6) + 1
        hi = math.ceil(min(alpha + beta, 360 - alpha - beta) * step - 1e-6) - 1
        return _NumberFormat(fmt.int_digits, fmt.decimals, max(fmt.lo, lo), min(fmt.hi, hi))

    def _number(self, text: str, fmt: _NumberFormat, following: str, spare: int) -> list[str]:
        """Digits (and the point) that keep the number reachable within ``[lo, hi]``; the next tag once complete.

        ``spare``: tokens left beyond the shortest way to finish the stream; without any, no more integer digits.
        """
        extends = bool(text) and "." not in text  # a digit now would lengthen the integer part
        choices = [d for d in _DIGITS if _number_can_reach(text + d, fmt) and (spare > 0 or not extends)]
        if fmt.decimals and text and "." not in text and _number_can_reach(text + ".", fmt):
            choices.append(".")
        if _number_complete(text, fmt) and fmt.lo <= _number_units(text, fmt) <= fmt.hi:
            choices.append(following)
        return choices

    def _composition(self, body: list[str], length: int) -> list[str]:
        """Element/count pairs by rising Z, no more atoms in all than ``max_length`` leaves room to write."""
        reserve = sum(2 + f.int_digits + f.decimals for f in self.formats.values()) + 2 + 4  # rest of header, slack

        def most(at_length: int) -> int:  # atoms that still fit once the stream is at_length tokens long
            return (self.max_length - at_length - reserve) // self.atom_width

        symbols, counts = _pairs(body)
        last_z = self.z[symbols[-1]] if symbols else 0
        more_elements = [e for e in self.elements if self.z[e] > last_z]
        # A new element is allowed only if one more atom still fits after the element token itself is written:
        # otherwise the count that must follow it would have no legal digit (a dead end).
        room_for_one_more = sum(counts) + 1 <= most(length + 1)
        if not body:
            return more_elements if room_for_one_more else []
        if body[-1] in self.z:  # a count must follow
            return [d for d in "123456789" if sum(counts) + int(d) <= most(length)]
        current = str(counts[-1])
        before = sum(counts[:-1])
        digits = [d for d in _DIGITS
                  if len(current) < self._MAX_INT_DIGITS and before + int(current + d) <= most(length)]
        return digits + (more_elements if room_for_one_more else []) + ["<sg>"]

    def _owed(self, tokens: list[str], tags: list[int]) -> Counter:
        """Atoms the ``<comp>`` section asks for that ``<atoms>`` has not placed yet."""
        symbols, counts = _pairs(tokens[tags[0] + 1 : tags[1]])
        owed = Counter(dict(zip(symbols, counts)))
        owed.subtract(t for t in tokens[tags[-1] + 1 :] if t in self.z)
        return owed

    def _atoms(self, body: list[str], owed: Counter) -> list[str]:
        """An owed element at the start of each atom, then its digits; ``<eos>`` once nothing is owed."""
        if len(body) % self.atom_width:
            return list(_DIGITS)
        choices = [e for e, n in owed.items() if n > 0]
        return choices if choices else ["<eos>"]


def _pairs(body: list[str]) -> tuple[list[str], list[int]]:
    """Elements and counts of a ``<comp>`` section (or the start of one): ``O 1 2 Ti 4`` -> ``[O, Ti], [12, 4]``."""
    symbols, counts = [], []
    for token in body:
        if token in _DIGITS:
            counts[-1] = 10 * counts[-1] + int(token)
        else:
            symbols.append(token)
            counts.append(0)
    return symbols, counts


def _number_units(text: str, fmt: _NumberFormat) -> int:
    """A complete number as an integer in units of its last digit ("3.94" at 2 decimals -> 394)."""
    whole, _, fraction = text.partition(".")
    return int(whole) * 10**fmt.decimals + int(fraction or 0)


def _number_complete(text: str, fmt: _NumberFormat) -> bool:
    whole, point, fraction = text.partition(".")
    return bool(whole) and (len(fraction) == fmt.decimals if fmt.decimals else not point)


def _number_can_reach(text: str, fmt: _NumberFormat) -> bool:
    """Whether ``text`` is the start of a well-spelled number with a value in ``[lo, hi]``."""
    whole, point, fraction = text.partition(".")
    if (not whole or len(whole) > fmt.int_digits or (len(whole) > 1 and whole[0] == "0")
            or (point and not fmt.decimals) or len(fraction) > fmt.decimals or "." in fraction):
        return False
    scale = 10**fmt.decimals
    if point:  # the integer part is fixed: [whole.fraction000, whole.fraction999]
        low = int(whole) * scale + int(fraction or 0) * 10 ** (fmt.decimals - len(fraction))
        spans = [(low, low + 10 ** (fmt.decimals - len(fraction)) - 1)]
    else:  # stop the integer part now, or write up to int_digits digits in all
        extra = range(fmt.int_digits - len(whole) + 1) if whole != "0" else range(1)
        spans = [(int(whole) * 10**j * scale, (int(whole) + 1) * 10**j * scale - 1) for j in extra]
    return any(low <= fmt.hi and high >= fmt.lo for low, high in spans)
