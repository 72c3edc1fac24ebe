"""A GFlowNet that builds perovskite-like crystals choice by choice, in proportion to a reward.

A generative flow network (Bengio et al. 2021) learns a *policy* that builds an
object by a sequence of choices, trained so that a finished object ``x``
comes out with probability proportional to a reward ``R(x) > 0``. A maximiser
returns the best object; a GFlowNet returns good objects as often as they are
good, so many different good candidates come out, not one.

Crystal-GFN (Hernandez-Garcia et al. 2023, arXiv:2310.04925) builds a crystal
as: space group, then a composition compatible with it, then lattice
parameters compatible with both. We do the same in a small, enumerable space
of ABX3 cells of five atoms:

    step 0  space group     from ``space_groups`` (cubic 221 or tetragonal 123, 99)
    step 1  A-site cation   from ``cations``
    step 2  B-site cation   from ``cations``, not the A cation
    step 3  anions X3       from ``anion_sets`` (mixed sets only in a tetragonal group)
    step 4  a               one of ``a_bins`` values in Å
    step 5  c / a           1 in a cubic group, one of ``c_over_a`` values otherwise

Each finished object has exactly one sequence of choices (the order is fixed),
so the state graph is a tree and the backward policy is 1. Trajectory balance
(Malkin et al. 2022, arXiv:2201.13176) then says: with a learned constant
``log Z``, for every trajectory ``tau`` ending in ``x``,

    log Z + sum_t log P_F(a_t | s_t) = log R(x),

whose only solution is ``P(x) = R(x) / Z`` with ``Z = sum_x R(x)``. The loss
is the squared difference, averaged over sampled trajectories.

The reward is ``R(x) = exp(-E(x) / T)`` with a proxy energy fitted on the
bundled labels: a ridge regression of the formation energy per atom on the
atomic fractions (one weight per element), plus a penalty
``stiffness * (a_eff - a_pred)^2`` for a cell whose size (``a_eff`` = cube root of
the volume) is far from the size predicted by a second ridge regression. The
temperature ``T`` (eV/atom) is an input of the policy and of ``log Z``: one
network serves every temperature (temperature-conditional GFlowNets, Kim et
al. 2023, arXiv:2310.02823), so a slider can change it live.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from pymatgen.core import Composition, Element, Lattice, Structure
from torch import nn

from crystalkit.data.dense import DenseCrystals
from crystalkit.errors import CrystalInputError
from crystalkit.models.generator import CrystalGenerator, as_dense

__all__ = [
    "STEPS",
    "GFlowNet",
    "GFlowNetConfig",
    "build_gflownet",
    "fit_element_model",
    "total_variation",
    "trajectory_balance_loss",
]

#: The choices, in order.
STEPS = ("space group", "A cation", "B cation", "anions", "a", "c/a")
_NUM_Z = 119  # element weights indexed by atomic number (index 0 unused)


@dataclass
class GFlowNetConfig:
    """The space of choices, the reward and the network size."""

    task: str = "de_novo"  # the GFlowNet chooses compositions itself
    space_groups: list = field(default_factory=lambda: [221, 123, 99])  # Pm-3m, P4/mmm, P4mm (B off-centre)
    cations: list = field(default_factory=lambda: [  # common A and B cations of the bundled perovskites
        "Li", "Na", "K", "Rb", "Cs", "Mg", "Ca", "Sr", "Ba", "Sc", "Y", "La", "Ti", "Zr", "Hf", "Nb", "Ta", "Al",
        "Ga", "In", "Sn", "Pb", "Bi", "Ag"])
    anion_sets: list = field(default_factory=lambda: [  # the X3 sets of the bundled perovskites
        "O3", "F3", "N3", "S3", "Se3", "Cl3", "Br3", "I3", "NO2", "N2O", "SO2", "NF2", "OF2"])
    a_min: float = 3.4  # Å, smallest cubic-equivalent cell edge offered
    a_max: float = 5.6  # Å
    a_bins: int = 23  # 0.1 Å steps
    c_over_a: list = field(default_factory=lambda: [0.94, 0.97, 1.0, 1.03, 1.06])  # tetragonal distortions
    stiffness: float = 2.0  # eV/atom per Å^2 off the predicted cell size: 0.2 Å costs 0.08 eV/atom
    min_temperature: float = 0.05  # eV/atom; the policy is trained on T log-uniform in [min, max]
    max_temperature: float = 0.5  # eV/atom
    hidden: int = 128  # policy width: the state is a few dozen one-hot numbers
    exploration: float = 0.05  # share of uniformly random choices in training (off-policy: TB allows it)
    max_atoms: int = 64  # kept for the kit's shared statistics buffer

    def to_dict(self) -> dict:
        return asdict(self)


def trajectory_balance_loss(log_z: torch.Tensor, log_pf: torch.Tensor, log_reward: torch.Tensor) -> torch.Tensor:
    """Mean over trajectories of ``(log Z + sum_t log P_F - log R)^2`` (backward policy 1: a tree).

    Zero exactly when every trajectory's probability is ``R(x) / Z``.
    """
    return ((log_z + log_pf - log_reward) ** 2).mean()


def total_variation(p: torch.Tensor | np.ndarray, q: torch.Tensor | np.ndarray) -> float:
    """``0.5 * sum |p - q|``: the largest difference in probability the two give any set of outcomes."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    return 0.5 * float(np.abs(p - q).sum())


def fit_element_model(compositions: Sequence[Composition], targets: Sequence[float],
                      ridge: float = 1e-2) -> tuple[torch.Tensor, float]:
    """Ridge regression ``y ~ bias + sum_el fraction_el * w_el``: weights ``(119,)`` by atomic number, bias.

    Unseen elements get weight 0, i.e. the mean prediction. Closed form:
    ``w = (X^T X + ridge I)^-1 X^T (y - mean y)`` on centred fractions.
    """
    if len(compositions) != len(targets) or len(targets) < 2:
        raise CrystalInputError("fit_element_model needs as many targets as compositions, at least two.")
    X = np.zeros((len(compositions), _NUM_Z))  # (n, 119) atomic fractions
    for row, composition in enumerate(compositions):
        for element, fraction in composition.fractional_composition.element_composition.items():
            X[row, element.Z] = fraction
    y = np.asarray(targets, dtype=float)
    if not np.all(np.isfinite(y)):
        raise CrystalInputError("fit_element_model: some targets are NaN or infinite; drop or fill them first.")
    mean_x, mean_y = X.mean(0), y.mean()
    Xc = X - mean_x
    w = np.linalg.solve(Xc.T @ Xc + ridge * np.eye(_NUM_Z), Xc.T @ (y - mean_y))
    return torch.tensor(w, dtype=torch.float32), float(mean_y - mean_x @ w)


def build_gflownet(task: str = "de_novo", conditional: bool = True, hidden: int | None = None,
                   layers: int | None = None) -> GFlowNet:
    """The kit's default GFlowNet (``crystalkit train --family gfn --task de_novo --condition COLUMN``).

    ``--condition`` names the label the proxy energy is fitted on (formation energy per atom).
    """
    if task != "de_novo":
        raise CrystalInputError("--family gfn chooses compositions itself: use --task de_novo.")
    if not conditional:
        raise CrystalInputError("--family gfn fits its reward on labels: add --condition formation_energy_per_atom.")
    if layers is not None:
        raise CrystalInputError("--layers does not apply to the GFlowNet (a two-layer policy); use --hidden.")
    return GFlowNet(GFlowNetConfig(**({} if hidden is None else {"hidden": hidden})))


class GFlowNet(CrystalGenerator):
    """Temperature-conditional GFlowNet over ABX3 cells, trained with trajectory balance.

    A `CrystalGenerator` only so that the kit's ``train``, checkpoints and
    ``crystalkit train --family gfn --condition formation_energy_per_atom``
    accept it: its "data" are used once, to fit the proxy energy
    (:meth:`fit_data_statistics`); every training step then samples its own
    trajectories, and the batch only marks the step.
    """

    family = "gfn"
    config_class = GFlowNetConfig

    def __init__(self, config: GFlowNetConfig | None = None) -> None:
        nn.Module.__init__(self)  # deliberately not CrystalGenerator.__init__: no backbone here
        self.config = config = config or GFlowNetConfig()
        self._check_config()
        self.sizes = [len(config.space_groups), len(config.cations), len(config.cations), len(config.anion_sets),
                      config.a_bins, len(config.c_over_a)]
        self._register_tables()
        width = sum(self.sizes) + len(STEPS) + 1  # one-hot choices so far, step one-hot, log T
        self.trunk = nn.Sequential(nn.Linear(width, config.hidden), nn.GELU(),
                                   nn.Linear(config.hidden, config.hidden), nn.GELU())
        self.choice_heads = nn.ModuleList(nn.Linear(config.hidden, n) for n in self.sizes)
        self.log_z_correction = nn.Sequential(nn.Linear(1, 32), nn.GELU(), nn.Linear(32, 1))
        self.register_buffer("atom_count_weights", torch.zeros(config.max_atoms + 1))
        # The proxy energy (fitted by fit_property_model): formation energy and cell size per element.
        self.register_buffer("energy_weights", torch.zeros(_NUM_Z))
        self.register_buffer("energy_bias", torch.zeros(()))
        self.register_buffer("length_weights", torch.zeros(_NUM_Z))
        self.register_buffer("length_bias", torch.tensor(4.0))
        self.register_buffer("baseline_states", self.uniform_states(2048, torch.Generator().manual_seed(0)),
                             persistent=False)

    def _check_config(self) -> None:
        config = self.config
        for symbol in config.cations:
            if not Element.is_valid_symbol(symbol):
                raise CrystalInputError(f"Cation {symbol!r} is not a chemical element.")
        for text in config.anion_sets:
            try:
                atoms = Composition(text).num_atoms
            except (ValueError, KeyError):
                raise CrystalInputError(f"Anion set {text!r} is not a formula like 'O3' or 'NO2'.") from None
            if atoms != 3:
                raise CrystalInputError(f"Anion set {text!r} must hold exactly 3 atoms (ABX3).")
        if len(config.cations) < 2 or not config.space_groups or config.a_bins < 1:
            raise CrystalInputError("The GFlowNet needs at least 2 cations, 1 space group and 1 cell-size bin.")
        if 1.0 not in config.c_over_a:
            raise CrystalInputError("c_over_a must contain 1.0 (the only choice in a cubic group).")

    def _register_tables(self) -> None:
        config = self.config
        anions = [[el.Z for el, n in Composition(s).items() for _ in range(int(n))] for s in config.anion_sets]
        self.register_buffer("anion_z", torch.tensor(anions), persistent=False)  # (nX, 3)
        self.register_buffer("cation_z", torch.tensor([Element(s).Z for s in config.cations]), persistent=False)
        self.register_buffer("cubic", torch.tensor([195 <= g <= 230 for g in config.space_groups]), persistent=False)
        self.register_buffer("mixed", torch.tensor([len(set(z)) > 1 for z in anions]), persistent=False)
        self.register_buffer("a_values", torch.linspace(config.a_min, config.a_max, config.a_bins), persistent=False)
        self.register_buffer("ca_values", torch.tensor(config.c_over_a, dtype=torch.float32), persistent=False)

    # ---------------------------------------------------------- the space
    def allowed(self, step: int, actions: torch.Tensor) -> torch.Tensor:
        """``(S, n_step)`` True for the choices open at ``step`` given the earlier ``actions`` ``(S, >= step)``."""
        S, n = actions.shape[0], self.sizes[step]
        mask = torch.ones(S, n, dtype=torch.bool, device=actions.device)
        if step == 2:  # B differs from A
            mask[torch.arange(S), actions[:, 1]] = False
        elif step == 3:  # a cubic group keeps all three anions alike
            mask &= ~(self.cubic[actions[:, 0]][:, None] & self.mixed[None, :])
        elif step == 5:  # a cubic group has c = a
            cubic = self.cubic[actions[:, 0]]
            mask[cubic] = self.ca_values == 1.0
        return mask

    def uniform_states(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``(count, 6)`` finished states drawn uniformly from all valid ones (not a uniform policy)."""
        per_group = torch.tensor([self._states_in_group(bool(c)) for c in self.cubic], dtype=torch.float64)
        groups = torch.multinomial(per_group, count, replacement=True, generator=generator)
        actions = torch.zeros(count, len(STEPS), dtype=torch.int64)
        actions[:, 0] = groups
        for step in range(1, len(STEPS)):
            weights = self.allowed(step, actions.to(self.cubic.device)).cpu().double()
            actions[:, step] = torch.multinomial(weights, 1, generator=generator).squeeze(1)
        return actions.to(self.cubic.device)

    def _states_in_group(self, cubic: bool) -> int:
        nc = len(self.config.cations)
        anions = int((~self.mixed).sum()) if cubic else len(self.config.anion_sets)
        return nc * (nc - 1) * anions * self.config.a_bins * (1 if cubic else len(self.config.c_over_a))

    @property
    def num_states(self) -> int:
        """How many different finished crystals the choices can make."""
        return sum(self._states_in_group(bool(c)) for c in self.cubic)

    def all_states(self, limit: int = 200_000) -> torch.Tensor:
        """Every valid finished state ``(num_states, 6)``, for exact checks on small spaces."""
        if self.num_states > limit:
            raise CrystalInputError(f"The space has {self.num_states:,} states, more than limit={limit:,}; "
                                    "enumerate only small configs.")
        rows = [r for r in itertools.product(*(range(n) for n in self.sizes)) if self._valid(r)]
        return torch.tensor(rows, dtype=torch.int64, device=self.cubic.device)

    def _valid(self, row: tuple[int, ...]) -> bool:
        cubic = bool(self.cubic[row[0]])
        return (row[1] != row[2] and not (cubic and bool(self.mixed[row[3]]))
                and not (cubic and float(self.ca_values[row[5]]) != 1.0))

    # --------------------------------------------------------- the reward
    @torch.no_grad()
    def fit_property_model(self, compositions: Sequence[Composition | str], formation_energies: Sequence[float],
                           cell_edges: Sequence[float]) -> None:
        """Fit the proxy: formation energy (eV/atom) and cubic-equivalent cell edge (Å) from composition."""
        compositions = [Composition(c) for c in compositions]
        w, b = fit_element_model(compositions, formation_energies)
        self.energy_weights.copy_(w), self.energy_bias.fill_(b)
        w, b = fit_element_model(compositions, cell_edges)
        self.length_weights.copy_(w), self.length_bias.fill_(b)

    def _linear(self, actions: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``(S,)`` the element model evaluated on the ABX3 compositions of ``actions``."""
        z = torch.cat([self.cation_z[actions[:, 1:3]], self.anion_z[actions[:, 3]]], dim=1)  # (S, 5) atoms
        return bias + weights[z].mean(dim=1)

    def formation_energy_of(self, compositions: Sequence[Composition | str]) -> np.ndarray:
        """The regression's formation energy per atom (eV) of any compositions (e.g. held-out crystals)."""
        values = []
        for composition in compositions:
            fractions = Composition(composition).fractional_composition.element_composition
            values.append(float(self.energy_bias) + sum(float(self.energy_weights[el.Z]) * x
                                                        for el, x in fractions.items()))
        return np.array(values)

    def predicted_formation_energy(self, actions: torch.Tensor) -> torch.Tensor:
        """``(S,)`` the regression's formation energy per atom (eV) of each state's composition."""
        return self._linear(actions, self.energy_weights, self.energy_bias)

    def energy(self, actions: torch.Tensor) -> torch.Tensor:
        """``(S,)`` proxy energy in eV/atom: predicted formation energy + cell-size penalty."""
        edge = self.a_values[actions[:, 4]] * self.ca_values[actions[:, 5]] ** (1 / 3)  # (S,) cube root of volume
        misfit = edge - self._linear(actions, self.length_weights, self.length_bias)
        return self.predicted_formation_energy(actions) + self.config.stiffness * misfit**2

    def log_reward(self, actions: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
        """``(S,)`` ``log R = -E / T``."""
        return -self.energy(actions) / torch.as_tensor(temperature, device=actions.device)

    # --------------------------------------------------------- the policy
    def _features(self, actions: torch.Tensor, step: int, log_t: torch.Tensor) -> torch.Tensor:
        """``(S, width)`` one-hot of the choices made before ``step``, the step, and log T."""
        parts = []
        for k, n in enumerate(self.sizes):
            one_hot = torch.zeros(actions.shape[0], n, device=actions.device)
            if k < step:
                one_hot[torch.arange(actions.shape[0]), actions[:, k]] = 1.0
            parts.append(one_hot)
        step_code = torch.zeros(actions.shape[0], len(STEPS), device=actions.device)
        step_code[:, step] = 1.0
        return torch.cat(parts + [step_code, log_t[:, None]], dim=1)

    def step_log_probs(self, actions: torch.Tensor, step: int, temperature: torch.Tensor) -> torch.Tensor:
        """``(S, n_step)`` log P_F of each open choice at ``step`` (closed choices: -inf)."""
        hidden = self.trunk(self._features(actions, step, temperature.log()))
        logits = self.choice_heads[step](hidden).masked_fill(~self.allowed(step, actions), float("-inf"))
        return torch.log_softmax(logits, dim=-1)

    def log_z(self, temperature: torch.Tensor) -> torch.Tensor:
        """``(S,)`` learned log Z(T): a Monte-Carlo estimate from uniform states plus a learned correction.

        The estimate, ``log N + log mean_x exp(-E(x)/T)`` over a fixed uniform sample, gets the scale
        (which changes by tens of nats across temperatures) right from the start, so the network
        only learns an O(1) correction.
        """
        with torch.no_grad():
            log_r = -self.energy(self.baseline_states)[None, :] / temperature[:, None]  # (S, M)
            estimate = torch.logsumexp(log_r, dim=1) - math.log(log_r.shape[1]) + math.log(self.num_states)
        return estimate + self.log_z_correction(temperature.log()[:, None]).squeeze(1)

    def rollout(self, count: int, temperature: float | torch.Tensor, generator: torch.Generator | None = None,
                exploration: float = 0.0, greedy: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Build ``count`` crystals: actions ``(S, 6)`` and their log-probabilities under the policy ``(S,)``.

        With ``exploration`` > 0 a share of choices is uniform among the open ones (the log-probability
        returned is still the policy's, as trajectory balance needs); ``greedy`` takes the best choice.
        """
        temperature = torch.as_tensor(temperature, dtype=torch.float32, device=self.device).expand(count)
        actions = torch.zeros(count, len(STEPS), dtype=torch.int64, device=self.device)
        log_pf = torch.zeros(count, device=self.device)
        for step in range(len(STEPS)):
            log_p = self.step_log_probs(actions, step, temperature)  # (S, n)
            if greedy:
                choice = log_p.argmax(dim=1)
            else:
                probs = log_p.exp()
                if exploration:
                    uniform = self.allowed(step, actions).float()
                    probs = (1 - exploration) * probs + exploration * uniform / uniform.sum(1, keepdim=True)
                choice = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            actions[:, step] = choice
            log_pf = log_pf + log_p.gather(1, choice[:, None]).squeeze(1)
        return actions, log_pf

    def log_prob(self, actions: torch.Tensor, temperature: float) -> torch.Tensor:
        """``(S,)`` the exact probability (log) that the policy builds each finished state (its only trajectory)."""
        t = torch.full((actions.shape[0],), float(temperature), device=actions.device)
        total = torch.zeros(actions.shape[0], device=actions.device)
        for step in range(len(STEPS)):
            total = total + self.step_log_probs(actions, step, t).gather(1, actions[:, step : step + 1]).squeeze(1)
        return total

    # ------------------------------------------------------------- training
    def loss(self, batch: DenseCrystals | None = None, generator: torch.Generator | None = None) -> dict:
        """Trajectory balance on freshly sampled trajectories, one temperature per trajectory.

        The batch only sets how many trajectories (its size); the GFlowNet needs no data here.
        """
        count = 64 if batch is None else as_dense(batch).num_crystals
        low, high = math.log(self.config.min_temperature), math.log(self.config.max_temperature)
        u = torch.rand(count, generator=generator, device=self.device)
        temperature = torch.exp(low + (high - low) * u)  # (S,) log-uniform
        with torch.no_grad():
            actions, _ = self.rollout(count, temperature, generator, exploration=self.config.exploration)
        t = temperature
        log_pf = sum(self.step_log_probs(actions, k, t).gather(1, actions[:, k : k + 1]).squeeze(1)
                     for k in range(len(STEPS)))
        loss = trajectory_balance_loss(self.log_z(t), log_pf, self.log_reward(actions, t))
        return {"loss": loss}

    @torch.no_grad()
    def fit_data_statistics(self, data: DenseCrystals) -> None:
        """Fit the proxy energy on labelled training crystals (``data.condition``: formation energy, eV/atom)."""
        if data.condition is None or not bool(torch.isfinite(data.condition).any()):
            raise CrystalInputError("The GFlowNet's reward is fitted on labels: train with "
                                    "--condition formation_energy_per_atom (or pass labels to the dataset).")
        keep = torch.isfinite(data.condition).cpu()
        types, mask = data.types.cpu()[keep], data.mask.cpu()[keep]
        volumes = torch.linalg.det(data.lattice.cpu().double()[keep]).abs()  # (n,) Å^3
        counts = mask.sum(1)
        compositions = [Composition({Element.from_Z(int(z)): int(n) for z, n in
                                     zip(*np.unique(t[m].numpy(), return_counts=True))}) for t, m in zip(types, mask)]
        edges = (volumes * 5 / counts).pow(1 / 3).tolist()  # cube root of the volume of five atoms
        self.fit_property_model(compositions, data.condition.cpu()[keep].tolist(), edges)

    # ------------------------------------------------------------- sampling
    def to_structure(self, row: Sequence[int] | torch.Tensor) -> Structure:
        """The crystal a finished state describes: the perovskite template of its space group."""
        row = [int(v) for v in row]
        group = self.config.space_groups[row[0]]
        a = float(self.a_values[row[4]])
        c = a * float(self.ca_values[row[5]])
        anions = [Element.from_Z(int(z)).symbol for z in self.anion_z[row[3]].tolist()]
        # Put the odd one out of a mixed set on the apical site (along c), keeping the four-fold axis.
        apical = min(set(anions), key=anions.count) if len(set(anions)) > 1 else anions[0]
        equatorial = [x for x in anions if x != apical] or [apical, apical]
        equatorial = (equatorial + equatorial)[:2]
        shift = 0.04 if group == 99 else 0.0  # P4mm: B moved off the centre along c (polar)
        species = [self.config.cations[row[1]], self.config.cations[row[2]], apical, *equatorial]
        coords = [[0, 0, 0], [0.5, 0.5, 0.5 + shift], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]]
        return Structure(Lattice.from_parameters(a, a, c, 90, 90, 90), species, coords)

    def describe(self, actions: torch.Tensor) -> list[dict]:
        """One row per state: formula, space group, a, c/a, proxy energy (for tables)."""
        energies = self.energy(actions).tolist()
        return [{"formula": self.to_structure(r).composition.reduced_formula,
                 "space group": self.config.space_groups[int(r[0])], "a (Å)": round(float(self.a_values[r[4]]), 2),
                 "c/a": float(self.ca_values[r[5]]), "proxy energy (eV/atom)": e}
                for r, e in zip(actions.tolist(), energies)]

    @torch.no_grad()
    def sample(self, compositions: Sequence[Composition | str] | None, num_samples: int = 1, *,
               seed: int | None = None, temperature: float = 0.1) -> list[list[Structure]]:
        """The kit's sampling interface, de novo only: ``num_samples`` crystals at reward temperature ``T``."""
        if compositions is not None:
            raise CrystalInputError("The GFlowNet chooses compositions itself: call sample(None, n).")
        if not isinstance(num_samples, int) or num_samples < 1:
            raise CrystalInputError(f"num_samples must be a positive integer, got {num_samples!r}.")
        if not temperature > 0:
            raise CrystalInputError(f"The reward temperature must be positive (eV/atom), got {temperature}.")
        generator = torch.Generator(device=self.device).manual_seed(0 if seed is None else int(seed))
        with self._in_eval_mode():
            actions, _ = self.rollout(num_samples, temperature, generator)
        return [[self.to_structure(row) for row in actions]]

    def maximise(self, restarts: int = 20, seed: int = 0) -> torch.Tensor:
        """Greedy hill climbing on the reward from random starts: the best-move-first maximiser.

        Each round tries every single change of one choice and keeps the best, until no change helps.
        Returns the ``(restarts, 6)`` end points; they pile up on a few local optima.
        """
        state = self.uniform_states(restarts, torch.Generator().manual_seed(seed))
        for _ in range(100):
            best, best_energy = state.clone(), self.energy(state)
            for step, n in enumerate(self.sizes):
                for value in range(n):
                    trial = state.clone()
                    trial[:, step] = value
                    valid = torch.tensor([self._valid(tuple(r)) for r in trial.tolist()], device=state.device)
                    e = self.energy(trial).masked_fill(~valid, float("inf"))
                    better = e < best_energy - 1e-9
                    best[better], best_energy[better] = trial[better], e[better]
            if torch.equal(best, state):
                return state
            state = best
        return state

    # --------------------------------------------------------------- config
    def to_config(self) -> dict:
        return {"family": self.family, "process": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> GFlowNet:
        cls._refuse_other_family(config)
        return cls(GFlowNetConfig(**config["process"]))
