"""Element colours for drawing crystals.

Every viewer in the kit colours an atom by its element with the same table, so
that oxygen is the same red in the 3-D viewer, the gallery and any later
widget. The table is Jmol's CPK-style scheme (https://jmol.sourceforge.net/jscolors/),
the de facto standard in structure viewers; NGL, which draws nglview's
canvas, uses the same colours (except xenon, which NGL gives iodine's purple),
so the legend we draw beside an nglview widget matches the atoms in it.

A partially occupied site has no single element. :func:`site_color` mixes the
colours of its species weighted by occupancy (in RGB), so that a 50/50 Sr/Ba
site is drawn half-way between Sr's and Ba's greens.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["JMOL_COLORS", "FALLBACK_COLOR", "element_color", "mix_colors", "site_color"]

#: Jmol colour of each element (Z = 1 to 109) as ``"#RRGGBB"``, keyed by symbol.
JMOL_COLORS: dict[str, str] = {
    "H": "#FFFFFF", "He": "#D9FFFF", "Li": "#CC80FF", "Be": "#C2FF00", "B": "#FFB5B5", "C": "#909090",
    "N": "#3050F8", "O": "#FF0D0D", "F": "#90E050", "Ne": "#B3E3F5", "Na": "#AB5CF2", "Mg": "#8AFF00",
    "Al": "#BFA6A6", "Si": "#F0C8A0", "P": "#FF8000", "S": "#FFFF30", "Cl": "#1FF01F", "Ar": "#80D1E3",
    "K": "#8F40D4", "Ca": "#3DFF00", "Sc": "#E6E6E6", "Ti": "#BFC2C7", "V": "#A6A6AB", "Cr": "#8A99C7",
    "Mn": "#9C7AC7", "Fe": "#E06633", "Co": "#F090A0", "Ni": "#50D050", "Cu": "#C88033", "Zn": "#7D80B0",
    "Ga": "#C28F8F", "Ge": "#668F8F", "As": "#BD80E3", "Se": "#FFA100", "Br": "#A62929", "Kr": "#5CB8D1",
    "Rb": "#702EB0", "Sr": "#00FF00", "Y": "#94FFFF", "Zr": "#94E0E0", "Nb": "#73C2C9", "Mo": "#54B5B5",
    "Tc": "#3B9E9E", "Ru": "#248F8F", "Rh": "#0A7D8C", "Pd": "#006985", "Ag": "#C0C0C0", "Cd": "#FFD98F",
    "In": "#A67573", "Sn": "#668080", "Sb": "#9E63B5", "Te": "#D47A00", "I": "#940094", "Xe": "#429EB0",
    "Cs": "#57178F", "Ba": "#00C900", "La": "#70D4FF", "Ce": "#FFFFC7", "Pr": "#D9FFC7", "Nd": "#C7FFC7",
    "Pm": "#A3FFC7", "Sm": "#8FFFC7", "Eu": "#61FFC7", "Gd": "#45FFC7", "Tb": "#30FFC7", "Dy": "#1FFFC7",
    "Ho": "#00FF9C", "Er": "#00E675", "Tm": "#00D452", "Yb": "#00BF38", "Lu": "#00AB24", "Hf": "#4DC2FF",
    "Ta": "#4DA6FF", "W": "#2194D6", "Re": "#267DAB", "Os": "#266696", "Ir": "#175487", "Pt": "#D0D0E0",
    "Au": "#FFD123", "Hg": "#B8B8D0", "Tl": "#A6544D", "Pb": "#575961", "Bi": "#9E4FB5", "Po": "#AB5C00",
    "At": "#754F45", "Rn": "#428296", "Fr": "#420066", "Ra": "#007D00", "Ac": "#70ABFA", "Th": "#00BAFF",
    "Pa": "#00A1FF", "U": "#008FFF", "Np": "#0080FF", "Pu": "#006BFF", "Am": "#545CF2", "Cm": "#785CE3",
    "Bk": "#8A4FE3", "Cf": "#A136D4", "Es": "#B31FD4", "Fm": "#B31FBA", "Md": "#B30DA6", "No": "#BD0D87",
    "Lr": "#C70066", "Rf": "#CC0059", "Db": "#D1004F", "Sg": "#D90045", "Bh": "#E00038", "Hs": "#E6002E",
    "Mt": "#EB0026",
}

#: Colour for anything the table does not know (e.g. a dummy species): Jmol's own default pink.
FALLBACK_COLOR = "#FF1493"


def element_color(symbol: str) -> str:
    """Jmol colour of an element as ``"#RRGGBB"``; :data:`FALLBACK_COLOR` for unknown symbols.

    Args:
        symbol: element symbol with standard capitalisation (``"Sr"``, not ``"SR"``);
            an oxidation state such as ``"Sr2+"`` is ignored.
    """
    bare = symbol.rstrip("+-0123456789.")
    return JMOL_COLORS.get(bare, FALLBACK_COLOR)


def mix_colors(weights: Mapping[str, float]) -> str:
    """Average of ``"#RRGGBB"`` colours, each weighted by a non-negative number.

    Args:
        weights: colour -> weight. Weights need not sum to one (they are normalised).

    Raises:
        ValueError: no colours, or weights that are negative or sum to zero.
    """
    total = sum(weights.values())
    if not weights or total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"Cannot mix colours with weights {dict(weights)}: give at least one positive weight.")
    rgb = [0.0, 0.0, 0.0]
    for color, weight in weights.items():
        for channel in range(3):
            rgb[channel] += int(color[1 + 2 * channel : 3 + 2 * channel], 16) * weight / total
    return "#" + "".join(f"{round(value):02X}" for value in rgb)


def site_color(species: Mapping[object, float]) -> str:
    """Colour of a site from its species and occupancies (a pymatgen ``site.species``).

    An ordered site gets its element's colour; a partially occupied one gets
    the occupancy-weighted mix of its elements' colours. Vacancy (occupancies
    summing to less than one) does not change the colour: the mix is
    normalised over the species present.
    """
    weights: dict[str, float] = {}
    for specie, occupancy in species.items():
        symbol = getattr(specie, "symbol", str(specie))
        color = element_color(symbol)
        weights[color] = weights.get(color, 0.0) + float(occupancy)
    return mix_colors(weights)
