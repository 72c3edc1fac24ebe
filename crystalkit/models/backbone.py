"""One periodic backbone for every generative model: invariant by construction.

A crystal is a lattice ``L`` (rows a, b, c in Å) plus atoms with types and
fractional coordinates ``f``. The same crystal can be written many ways, and a
network that sees these as different crystals wastes its training on learning
that they are not. So the backbone only ever looks at quantities that do not
change under the crystal's symmetries (the idea behind CSPNet, Jiao et al.
2023, and the pair-geometry bias of Crystalite, arXiv 2604.02270):

* **rotation** of the whole crystal changes ``L`` to ``L R^T`` but not its
  lengths and angles, nor any distance: the network sees lengths, angles and
  distances only;
* **periodic translation** (adding the same vector to every ``f``, modulo 1)
  does not change differences ``f_j - f_i``, and the network sees those only
  through periodic Fourier features ``sin/cos(2 pi k (f_j - f_i))`` and the
  minimum-image distance;
* **permutation** of the atoms: every atom is processed by the same weights
  and messages are summed over all other atoms (with attention weights), so
  reordering the atoms just reorders the outputs.

The layers pass messages over *all pairs* of atoms in a cell, stored densely
as ``(B, N, N, H)`` blocks: for cells of up to a few dozen atoms that is the
fastest layout on a CPU and on a GPU alike, with no graph to build per batch.

The backbone returns features, not predictions: per-atom features ``(B, N, H)``
(invariant, permuted with the atoms), per-crystal features ``(B, H)`` and
per-pair features ``(B, N, N, H)``, together a `BackboneFeatures`. Each
generative process adds its own small output heads (``heads.TorusVectorHead``
for coordinates).

Cell sizes are compared per cube root of the atom count (`cube_root_atom_count`):
cell edges grow like ``N^(1/3)``, so ``length / N^(1/3)`` puts cells of every
size on one scale. The backbone's lattice features and both generative
processes use that one function.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

from crystalkit.geometry import lattice_to_parameters, minimum_image_frac

__all__ = [
    "BackboneConfig",
    "BackboneFeatures",
    "PeriodicBackbone",
    "cube_root_atom_count",
    "element_descriptors",
    "sinusoidal_embedding",
]


@dataclass
class BackboneConfig:
    """Size and feature choices of :class:`PeriodicBackbone`."""

    hidden_dim: int = 64  # on Perov-5, 64 channels learned more per CPU-second than 128 (3 steps for 1); raise on a GPU
    num_layers: int = 4  # every layer already sees all pairs, so 4 rounds suffice (CSPNet uses 6)
    num_heads: int = 4  # attention heads over the senders; each head can follow a different neighbour shell
    num_frequencies: int = 8  # Fourier terms k = 1..8 per axis resolve 1/16 of a cell edge, enough for site positions
    num_distance_features: int = 16  # Gaussian features of the minimum-image distance give the net Å-scale geometry
    max_distance: float = 8.0  # Å; first and second neighbour shells of inorganic crystals lie well inside 8 Å
    num_elements: int = 100  # atomic numbers 1..100 cover every benchmark set (MP-20 goes up to Pu, Z = 94)
    time_frequencies: int = 16  # sinusoidal time features spanning 1..1000 cycles separate 1,000 noise levels

    def to_dict(self) -> dict:
        return asdict(self)


class BackboneFeatures(NamedTuple):
    """What the backbone hands to the output heads (all invariant; padding rows are zero or ignored)."""

    atoms: torch.Tensor  # (B, N, H) per atom, permuted with the atoms
    crystal: torch.Tensor  # (B, H) per crystal: the mean over its atoms
    pairs: torch.Tensor  # (B, N, N, H) per ordered pair: the last layer's messages


def cube_root_atom_count(num_atoms: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(B,)`` ``N^(1/3)`` of the atom counts ``(B,)`` (at least 1): the length scale of a cell of N atoms.

    Computed in ``dtype``; callers that need another dtype cast the result, so
    the same counts always give the same numbers.
    """
    return num_atoms.clamp(min=1).to(dtype).pow(1 / 3)


@functools.lru_cache(maxsize=4)
def _element_table(num_elements: int) -> tuple[tuple[float, ...], ...]:
    from pymatgen.core import Element

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about missing data for a few heavy elements
        for z in range(1, num_elements + 1):
            element = Element.from_Z(z)
            oxidation = element.common_oxidation_states or (0,)
            block = element.block
            rows.append(
                (
                    float(element.row),
                    float(element.group),
                    float("nan") if element.X != element.X else float(element.X),
                    float(element.atomic_radius or float("nan")),
                    float(element.average_ionic_radius or float("nan")),
                    float(element.mendeleev_no or float("nan")),
                    float(max(oxidation)),
                    float(min(oxidation)),
                    float(block == "s"),
                    float(block == "p"),
                    float(block == "d"),
                    float(block == "f"),
                )
            )
    return tuple(rows)


def element_descriptors(num_elements: int = 100) -> torch.Tensor:
    """``(num_elements, 12)`` standardised chemical descriptors of Z = 1..num_elements.

    Columns: period, group, Pauling electronegativity, atomic radius, average
    ionic radius, Mendeleev number, highest and lowest common oxidation state,
    s/p/d/f block. Each column is scaled to zero mean and unit variance; missing
    values (e.g. the electronegativity of noble gases) become 0, the mean.
    They let the network treat chemically similar elements alike (Crystalite's
    compact atom tokens), which matters for elements rare in the training set.
    """
    table = torch.tensor(_element_table(num_elements), dtype=torch.float32)  # (K, 12)
    mean = torch.nanmean(table, dim=0)
    centred = table - mean
    std = torch.sqrt(torch.nanmean(centred**2, dim=0)).clamp(min=1e-6)
    return torch.nan_to_num(centred / std, nan=0.0)


def sinusoidal_embedding(values: torch.Tensor, num_frequencies: int, max_period: float = 1000.0) -> torch.Tensor:
    """``(B, 2F)`` sin/cos features of scalars ``(B,)`` in [0, 1], frequencies 1..max_period geometrically spaced."""
    frequencies = torch.exp(
        torch.linspace(0.0, math.log(max_period), num_frequencies, device=values.device, dtype=values.dtype)
    )  # (F,)
    angles = values.unsqueeze(-1) * frequencies  # (B, F)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # (B, 2F)


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.SiLU(), nn.Linear(d_hidden, d_out))


class MessageLayer(nn.Module):
    """One round of message passing over all pairs of atoms in each cell.

    The message from atom j to atom i is an MLP of (h_i, h_j, the pair's
    geometry, the crystal's context), as in CSPNet. Atom i gathers the
    messages from all atoms of its cell (itself included) with attention
    weights (a softmax over j, per head, of a score read from each message,
    which is how Crystalite lets pair geometry steer attention) and updates its
    features residually. The first linear layer of the message MLP is split
    into per-atom parts that are computed once per atom, then broadcast over
    the pairs: same maths, N times less work.
    """

    def __init__(self, hidden_dim: int, num_heads: int = 4) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} must be a multiple of num_heads={num_heads}.")
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(hidden_dim)
        self.from_receiver = nn.Linear(hidden_dim, hidden_dim)
        self.from_sender = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.from_pair = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.from_context = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.message = nn.Sequential(nn.SiLU(), nn.Linear(hidden_dim, hidden_dim), nn.SiLU())
        self.attention = nn.Linear(hidden_dim, num_heads)  # one weight per pair and head
        self.update = _mlp(2 * hidden_dim, hidden_dim, hidden_dim)

    def forward(
        self, h: torch.Tensor, pair: torch.Tensor, context: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``h`` (B, N, H), ``pair`` (B, N, N, H), ``context`` (B, H), ``mask`` (B, N)
        -> (new ``h`` (B, N, H), the messages (B, N, N, H))."""
        x = self.norm(h)
        pre = (
            self.from_receiver(x).unsqueeze(2)  # (B, N, 1, H): atom i
            + self.from_sender(x).unsqueeze(1)  # (B, 1, N, H): atom j
            + self.from_pair(pair)  # (B, N, N, H)
            + self.from_context(context)[:, None, None, :]  # (B, 1, 1, H)
        )
        messages = self.message(pre)  # (B, N, N, H)
        # Attention over the senders j: each head weighs the pairs by a learned score (softmax over j),
        # so an atom can listen to its nearest neighbours rather than to the average of the cell.
        logits = self.attention(messages).masked_fill(~mask[:, None, :, None], float("-inf"))  # (B, N, N, h)
        weights = torch.softmax(logits, dim=2)  # (B, N, N, h), sums to 1 over the real senders j
        batch, atoms, _, hidden = messages.shape
        per_head = messages.reshape(batch, atoms, atoms, self.num_heads, hidden // self.num_heads)  # (B, N, N, h, H/h)
        gathered = (weights.unsqueeze(-1) * per_head).sum(dim=2).reshape(batch, atoms, hidden)  # (B, N, H)
        return h + self.update(torch.cat([x, gathered], dim=-1)), messages


class PeriodicBackbone(nn.Module):
    """Invariant features of (possibly noisy) crystals; see the module docstring.

    Args:
        config: sizes; defaults suit cells of up to ~20 atoms on a CPU.
    """

    def __init__(self, config: BackboneConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or BackboneConfig()
        hidden = config.hidden_dim
        descriptors = element_descriptors(config.num_elements)
        self.register_buffer("descriptors", descriptors)  # (K, 12), saved with the weights
        self.element_embedding = nn.Parameter(torch.randn(config.num_elements, hidden) * 0.1)  # (K, H)
        self.descriptor_projection = nn.Linear(descriptors.shape[1], hidden)
        self.time_embedding = _mlp(2 * config.time_frequencies, hidden, hidden)
        self.lattice_embedding = _mlp(6, hidden, hidden)
        self.context_to_atoms = nn.Linear(hidden, hidden)
        pair_inputs = 3 * 2 * config.num_frequencies + config.num_distance_features
        self.pair_embedding = _mlp(pair_inputs, hidden, hidden)
        self.layers = nn.ModuleList(MessageLayer(hidden, config.num_heads) for _ in range(config.num_layers))
        self.out_norm = nn.LayerNorm(hidden)
        self.register_buffer(
            "distance_centres", torch.linspace(0.0, config.max_distance, config.num_distance_features)
        )  # (R,) Å

    def element_table(self) -> torch.Tensor:
        """``(K, H)`` embedding of every element: a free vector plus a projection of its chemistry."""
        return self.element_embedding + self.descriptor_projection(self.descriptors)

    def embed_types(self, types: torch.Tensor) -> torch.Tensor:
        """Atom embeddings ``(B, N, H)`` from atomic numbers ``(B, N)`` or type weights ``(B, N, K)``.

        Type weights (one-hot vectors, probabilities, or noisy one-hots during
        de novo diffusion) are mixed linearly from the element table, so a
        one-hot vector gives exactly the embedding of its element.
        """
        table = self.element_table()
        if types.is_floating_point():
            return types @ table  # (B, N, K) @ (K, H)
        return table[(types - 1).clamp(min=0)]  # Z = 1 is row 0; padding (Z = 0) is masked later

    def pair_features(self, frac: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
        """``(B, N, N, 6F + R)`` invariant geometry of every ordered pair of atoms."""
        delta = minimum_image_frac(frac.unsqueeze(1) - frac.unsqueeze(2))  # (B, N, N, 3): f_j - f_i
        k = torch.arange(1, self.config.num_frequencies + 1, device=frac.device, dtype=frac.dtype)  # (F,)
        angles = 2 * math.pi * delta.unsqueeze(-1) * k  # (B, N, N, 3, F)
        fourier = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(-2)  # (B, N, N, 6F)
        cartesian = torch.einsum("bijk,bkl->bijl", delta, lattice)  # (B, N, N, 3) Å, rotates with the crystal
        distance = cartesian.norm(dim=-1, keepdim=True)  # (B, N, N, 1) Å, does not
        width = self.config.max_distance / self.config.num_distance_features
        rbf = torch.exp(-(((distance - self.distance_centres) / width) ** 2))  # (B, N, N, R)
        return torch.cat([fourier, rbf], dim=-1)

    @staticmethod
    def lattice_features(lattice: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        """``(B, 6)`` rotation-invariant lattice features: log(length / N^(1/3)) and cos(angle)."""
        lengths, angles = lattice_to_parameters(lattice)  # (B, 3) Å, (B, 3) degrees
        per_atom = lengths / cube_root_atom_count(num_atoms, lengths.dtype).unsqueeze(-1)  # (B, 3)
        return torch.cat([per_atom.clamp(min=1e-3).log(), torch.cos(torch.deg2rad(angles))], dim=-1)

    def forward(
        self,
        types: torch.Tensor,
        frac: torch.Tensor,
        lattice: torch.Tensor,
        mask: torch.Tensor,
        time: torch.Tensor,
        condition: torch.Tensor | None = None,
    ) -> BackboneFeatures:
        """Features of a padded batch.

        Args:
            types: ``(B, N)`` atomic numbers, or ``(B, N, K)`` type weights.
            frac: ``(B, N, 3)`` fractional coordinates.
            lattice: ``(B, 3, 3)`` lattice in Å (rows are cell vectors).
            mask: ``(B, N)`` True for real atoms.
            time: ``(B,)`` process time in [0, 1].
            condition: optional ``(B, H)`` embedding added to the crystal context
                (e.g. a property label, see ``heads.ConditionEmbedding``).

        Returns:
            `BackboneFeatures` ``(atoms (B, N, H), crystal (B, H), pairs (B, N, N, H))``; the pair
            features are the last layer's messages, for outputs built from pairs (``TorusVectorHead``).
        """
        num_atoms = mask.sum(dim=1)
        context = self.time_embedding(sinusoidal_embedding(time.to(frac.dtype), self.config.time_frequencies))
        context = context + self.lattice_embedding(self.lattice_features(lattice, num_atoms))  # (B, H)
        if condition is not None:
            context = context + condition
        pair = self.pair_embedding(self.pair_features(frac, lattice))  # (B, N, N, H)
        h = self.embed_types(types) + self.context_to_atoms(context).unsqueeze(1)  # (B, N, H)
        messages = pair
        for layer in self.layers:
            h, messages = layer(h, pair, context, mask)
        h = self.out_norm(h) * mask.unsqueeze(-1)  # (B, N, H), padding zeroed
        crystal = h.sum(dim=1) / num_atoms.clamp(min=1).to(h.dtype).unsqueeze(-1)  # (B, H) mean over atoms
        return BackboneFeatures(atoms=h, crystal=crystal, pairs=messages)
