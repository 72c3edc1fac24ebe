"""Learned generative models of crystals: one backbone, one training loop, two families.

* :class:`PeriodicBackbone` — a network whose outputs do not change when the
  crystal is rotated, its atoms reordered, or all atoms shifted together
  (``backbone.py``);
* :class:`Diffusion` — DiffCSP-style diffusion on lattice, torus coordinates
  and (de novo) atom types, with predictor-corrector sampling (``diffusion.py``);
* :class:`FlowMatching` — FlowMM-style flow matching with straight paths on the
  torus and in lattice-parameter space, sampled with a few Euler steps (``flow.py``);
* :func:`train` — one loop for both (``training.py``), with budgets in steps
  or minutes, an EMA of the weights, validation and safe checkpoints
  (``checkpoint.py``);
* :class:`TensorCrystalDataset` and :class:`DenseCrystals` — a training set as
  pre-collated tensors and the padded batch the networks compute on; they live
  in :mod:`crystalkit.data` and are re-exported here.

Both families answer the kit's sampling interface
(:class:`crystalkit.sampling.StructureGenerator`): ``model.sample(["SrTiO3"], 5)``.
"""

from crystalkit.data.dense import DenseCrystals
from crystalkit.data.tensor_dataset import TensorCrystalDataset
from crystalkit.models.backbone import BackboneConfig, PeriodicBackbone
from crystalkit.models.checkpoint import build_model, load_checkpoint, read_checkpoint, save_checkpoint
from crystalkit.models.diffusion import Diffusion, DiffusionConfig
from crystalkit.models.flow import FlowConfig, FlowMatching
from crystalkit.models.gan import GAN, GANConfig
from crystalkit.models.generator import CrystalGenerator
from crystalkit.models.gflownet import GFlowNet, GFlowNetConfig
from crystalkit.models.language import CrystalLanguageModel, LanguageModelConfig
from crystalkit.models.noise import CosineSchedule, WrappedNormal
from crystalkit.models.normalizing_flow import NormalizingFlow, NormalizingFlowConfig
from crystalkit.models.training import (
    ExponentialMovingAverage,
    TrainConfig,
    TrainResult,
    TrainState,
    learning_rate,
    train,
)
from crystalkit.models.vae import VAE, VAEConfig

__all__ = [
    "CrystalLanguageModel",
    "LanguageModelConfig",
    "GFlowNet",
    "GFlowNetConfig",
    "GAN",
    "GANConfig",
    "NormalizingFlow",
    "NormalizingFlowConfig",
    "VAE",
    "VAEConfig",
    "BackboneConfig",
    "PeriodicBackbone",
    "Diffusion",
    "DiffusionConfig",
    "FlowMatching",
    "FlowConfig",
    "CrystalGenerator",
    "CosineSchedule",
    "WrappedNormal",
    "DenseCrystals",
    "TensorCrystalDataset",
    "TrainConfig",
    "TrainState",
    "TrainResult",
    "ExponentialMovingAverage",
    "learning_rate",
    "train",
    "build_model",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
]
