"""A crystal as a 3-D image: Gaussian-smeared atom density on a grid over the cell.

Images let a crystal go through the convolutional networks that work so well
on pictures. iMatGen (Noh et al. 2019) and the 3-D crystal generators of
Hoffmann et al. (2019) and Court et al. (2020) all generate such voxel images
and then turn them back into atoms.

Here every element gets its own channel, and every atom adds a normalised 3-D
Gaussian of width ``sigma`` (Å), summed over all periodic images::

    rho_e(x) = sum over atoms of element e, over images n of
               (2 pi sigma^2)^(-3/2) exp(-|x - r_atom - n L|^2 / (2 sigma^2))      (atoms / Å^3)

The grid points sit at fractional coordinates ``(i/n1, j/n2, k/n3)``. The
grid therefore follows the cell: it is periodic (the image wraps around like
the crystal), and it does not rotate with the crystal, because only the cell's
lengths and angles enter. The integral of a channel over the cell is the
number of atoms of that element.

Invariances: rotation and atom order, yes (a sum of Gaussians does not care
about either). Translation, supercell and cell choice, no: each moves,
stretches or shears the image. The crystal is recoverable: the peaks of each
channel are the atoms (:func:`structure_from_voxels`), as long as atoms of the
same element are more than about ``2 sigma`` apart and the grid spacing is
not much coarser than ``sigma``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.representations.cell import cell_parameters, lattice_from_parameters
from crystalkit.structures import check_structure

__all__ = ["VoxelGrid", "voxel_grid", "structure_from_voxels"]

# Gaussians are cut at this many sigma: exp(-12.5) ~ 4e-6 of the peak.
_CUTOFF_SIGMAS = 5.0


@dataclass(frozen=True, eq=False)
class VoxelGrid:
    """Per-element density images of one crystal.

    Attributes:
        density: ``(C, n1, n2, n3)`` atoms per Å^3, one channel per element.
        elements: the element of each channel.
        cell_parameters: ``(6,)`` a, b, c (Å), alpha, beta, gamma (degrees): needed to turn voxels back into atoms.
        sigma: Gaussian width in Å.
    """

    density: np.ndarray  # (C, n1, n2, n3)
    elements: tuple[str, ...]
    cell_parameters: np.ndarray  # (6,)
    sigma: float

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.density.shape[1:])

    @property
    def lattice(self) -> np.ndarray:
        """``(3, 3)`` lattice matrix in pymatgen's standard orientation."""
        return lattice_from_parameters(self.cell_parameters[:3], self.cell_parameters[3:])

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel in Å^3."""
        return abs(float(np.linalg.det(self.lattice))) / float(np.prod(self.grid_shape))

    def atom_counts(self) -> dict[str, float]:
        """Integral of each channel over the cell: the number of atoms of each element."""
        totals = self.density.sum(axis=(1, 2, 3)) * self.voxel_volume
        return {element: float(total) for element, total in zip(self.elements, totals)}


def voxel_grid(
    structure: Structure,
    *,
    grid_size: int | Sequence[int] = 24,
    sigma: float = 0.4,
    elements: Sequence[str] | None = None,
) -> VoxelGrid:
    """Smear every atom into a Gaussian and sample each element's density on a grid over the cell.

    Args:
        structure: an ordered crystal.
        grid_size: points along a, b, c (one int for all three, or three ints).
        sigma: Gaussian width in Å. Keep the grid spacing (cell length / grid
            size) below about ``sigma`` so no atom falls between points.
        elements: channel order; by default the structure's elements by
            atomic number. Fix it to give every crystal of a dataset the same channels.

    Raises:
        CrystalInputError: a bad structure, grid size or sigma, or an element without a channel.
    """
    check_structure(structure)
    shape = _grid_shape(grid_size)
    if not np.isfinite(sigma) or sigma <= 0:
        raise CrystalInputError(f"sigma must be a positive width in Å, got {sigma}.")
    present = sorted({site.specie for site in structure}, key=lambda e: e.Z)
    channels = tuple(str(e) for e in present) if elements is None else tuple(str(e) for e in elements)
    missing = sorted({str(e) for e in present} - set(channels))
    if missing:
        raise CrystalInputError(f"Elements {missing} have no channel in elements={list(channels)}.")

    matrix = structure.lattice.matrix
    axes = [np.arange(n) / n for n in shape]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)  # (M, 3) fractional
    shifts = _image_shifts(matrix, _CUTOFF_SIGMAS * sigma) @ matrix  # (K, 3) Å
    norm = (2 * np.pi * sigma**2) ** -1.5
    density = np.zeros((len(channels), grid.shape[0]))  # (C, M)
    for site in structure:
        delta = grid - site.frac_coords  # (M, 3)
        delta -= np.round(delta)  # nearest image first, then the shifts cover the rest
        cart = (delta @ matrix)[:, None, :] + shifts[None, :, :]  # (M, K, 3)
        squared = np.einsum("mkx,mkx->mk", cart, cart)  # (M, K)
        density[channels.index(str(site.specie))] += norm * np.exp(-squared / (2 * sigma**2)).sum(axis=1)
    return VoxelGrid(
        density=density.reshape(len(channels), *shape),
        elements=channels,
        cell_parameters=cell_parameters(structure),
        sigma=float(sigma),
    )


def structure_from_voxels(voxels: VoxelGrid, *, threshold: float = 0.3) -> Structure:
    """Turn density images back into atoms: one atom at every peak of every channel.

    A voxel is a peak if it is at least as high as its 26 periodic neighbours
    and above ``threshold`` x the height of a lone atom's Gaussian. Its
    position is then refined below the grid spacing with one Newton step on
    ``log(rho)``: the logarithm of a Gaussian is a quadratic, so a central
    finite-difference gradient and Hessian locate a lone atom's centre exactly.

    Raises:
        CrystalInputError: a malformed grid, or no peak at all.
    """
    density = np.asarray(voxels.density, dtype=float)
    if density.ndim != 4 or density.shape[0] != len(voxels.elements):
        raise CrystalInputError(
            f"density must be (channels, n1, n2, n3) with {len(voxels.elements)} channels, got {density.shape}."
        )
    lattice = voxels.lattice
    shape = np.array(density.shape[1:])
    peak_height = (2 * np.pi * voxels.sigma**2) ** -1.5
    species, coords = [], []
    for element, channel in zip(voxels.elements, density):
        log_rho = np.log(np.maximum(channel, 1e-300))
        neighbours = [np.roll(channel, s, axis=(0, 1, 2)) for s in itertools.product((-1, 0, 1), repeat=3) if any(s)]
        is_peak = (channel >= np.max(neighbours, axis=0)) & (channel > threshold * peak_height)
        peaks = np.argwhere(is_peak)  # (P, 3) voxel indices
        heights = channel[tuple(peaks.T)]
        frac = (peaks + _newton_steps(log_rho, peaks)) / shape  # (P, 3)
        kept: list[np.ndarray] = []
        for k in np.argsort(-heights):  # of peaks closer than sigma keep the highest (flat tops give ties)
            if all(_periodic_distance(frac[k], other, lattice) > voxels.sigma for other in kept):
                kept.append(frac[k] % 1.0)
        species += [element] * len(kept)
        coords += kept
    if not species:
        raise CrystalInputError("No density peak above the threshold: lower `threshold` or check the grid.")
    return Structure(Lattice(lattice), species, np.array(coords))


def _newton_steps(log_rho: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """``(P, 3)`` sub-voxel offsets of the maxima of ``log_rho`` near each peak voxel."""
    shape = np.array(log_rho.shape)
    offsets = np.array(list(itertools.product((-1, 0, 1), repeat=3)))  # (27, 3)
    index = (peaks[:, None, :] + offsets[None, :, :]) % shape  # (P, 27, 3)
    cube = log_rho[index[..., 0], index[..., 1], index[..., 2]].reshape(-1, 3, 3, 3)  # (P, 3, 3, 3)
    centre = cube[:, 1, 1, 1]
    gradient = np.stack(
        [(cube[:, 2, 1, 1] - cube[:, 0, 1, 1]) / 2, (cube[:, 1, 2, 1] - cube[:, 1, 0, 1]) / 2,
         (cube[:, 1, 1, 2] - cube[:, 1, 1, 0]) / 2], axis=1)  # (P, 3)
    hessian = np.empty((len(peaks), 3, 3))
    hessian[:, 0, 0] = cube[:, 2, 1, 1] - 2 * centre + cube[:, 0, 1, 1]
    hessian[:, 1, 1] = cube[:, 1, 2, 1] - 2 * centre + cube[:, 1, 0, 1]
    hessian[:, 2, 2] = cube[:, 1, 1, 2] - 2 * centre + cube[:, 1, 1, 0]
    c = cube  # mixed derivatives: (f(+i,+j) - f(+i,-j) - f(-i,+j) + f(-i,-j)) / 4
    hessian[:, 0, 1] = hessian[:, 1, 0] = (c[:, 2, 2, 1] - c[:, 2, 0, 1] - c[:, 0, 2, 1] + c[:, 0, 0, 1]) / 4
    hessian[:, 0, 2] = hessian[:, 2, 0] = (c[:, 2, 1, 2] - c[:, 2, 1, 0] - c[:, 0, 1, 2] + c[:, 0, 1, 0]) / 4
    hessian[:, 1, 2] = hessian[:, 2, 1] = (c[:, 1, 2, 2] - c[:, 1, 2, 0] - c[:, 1, 0, 2] + c[:, 1, 0, 0]) / 4
    steps = np.zeros((len(peaks), 3))
    for k in range(len(peaks)):
        if np.all(np.linalg.eigvalsh(hessian[k]) < 0):  # a proper maximum: take the Newton step
            steps[k] = -np.linalg.solve(hessian[k], gradient[k])
    return np.clip(steps, -1.0, 1.0)


def _periodic_distance(first: np.ndarray, second: np.ndarray, lattice: np.ndarray) -> float:
    delta = first - second
    delta -= np.round(delta)
    return float(np.linalg.norm(delta @ lattice))


def _image_shifts(matrix: np.ndarray, cutoff: float) -> np.ndarray:
    """Integer cell shifts ``(K, 3)`` that can bring an image within ``cutoff`` Å of a point.

    After the nearest-image wrap a displacement is at most half a cell along
    each axis; the distance between lattice planes (``V / |b x c|`` for the
    planes spanned by b and c) says how many more cells the cutoff can reach.
    """
    volume = abs(np.linalg.det(matrix))
    a, b, c = matrix
    heights = volume / np.linalg.norm([np.cross(b, c), np.cross(c, a), np.cross(a, b)], axis=1)  # (3,)
    reach = np.ceil(cutoff / heights + 0.5).astype(int)
    ranges = [np.arange(-r, r + 1) for r in reach]
    return np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3).astype(float)


def _grid_shape(grid_size: int | Sequence[int]) -> tuple[int, int, int]:
    sizes = (grid_size,) * 3 if isinstance(grid_size, (int, np.integer)) else tuple(grid_size)
    if len(sizes) != 3 or not all(isinstance(n, (int, np.integer)) and n >= 3 for n in sizes):
        raise CrystalInputError(f"grid_size must be an int >= 3 or three such ints, got {grid_size!r}.")
    return tuple(int(n) for n in sizes)
