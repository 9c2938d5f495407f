"""Write a fit: the commented demand YAML a scenario references (``demand: demand.yaml``), the category
mapping file (``--mapping``) and a short text report. Only aggregated values are written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from policetwin.demandfit.fit import DemandFit
from policetwin.demandfit.read import DataError

DEFAULT_KIND = {
    "priority": 2,
    "target": "20min",
    "on_scene": {"dist": "lognormal", "mean": "30min", "sd": "15min"},
}


@dataclass
class Mapping:
    """Categories -> kinds: the kinds (name, priority and any other kind keys) and which categories map where."""

    kinds: dict[str, dict]
    categories: dict[str, str]


def read_mapping(path: Path) -> Mapping:
    """A mapping file: ``kinds:`` (list of kind mappings with ``name``) and ``categories: {category: kind}``;
    DataError naming unknown kinds and the file's line."""
    from policetwin.errors import ScenarioError
    from policetwin.scenarios.yamlfile import parse_yaml

    try:
        data, lines = parse_yaml(Path(path).read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"--mapping {path}: cannot read: {exc}") from None
    except ScenarioError as exc:
        raise DataError("; ".join(exc.problems)) from None
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise DataError(
            f"{path}:1: a mapping file needs 'categories: {{category: kind}}' (and optionally 'kinds:')"
        )
    kinds = {}
    for i, k in enumerate(data.get("kinds") or []):
        if not isinstance(k, dict) or not isinstance(k.get("name"), str):
            raise DataError(f"{path}:{lines.get(('kinds', i), 1)}: kinds.{i}: each kind needs a name")
        kinds[k["name"]] = {key: v for key, v in k.items() if key != "name"}
    cats = {str(c): str(v) for c, v in data["categories"].items()}
    if kinds:
        bad = [f"{path}:{lines.get(('categories', c), 1)}: categories.{c}: unknown kind {v!r} (kinds: "
               f"{', '.join(kinds)})" for c, v in cats.items() if v not in kinds]  # fmt: skip
        if bad:
            raise DataError("; ".join(bad))
    else:
        kinds = {v: {} for v in cats.values()}
    return Mapping(kinds, cats)


def kinds_block(mix: dict[str, float], mapping: Mapping | None) -> list[dict]:
    """Scenario kinds with shares from the category mix (one kind per category without a mapping)."""
    if mapping is None:
        return [{"name": c, **DEFAULT_KIND, "share": round(s, 6)} for c, s in mix.items()]
    shares = dict.fromkeys(mapping.kinds, 0.0)
    for cat, share in mix.items():
        shares[mapping.categories[cat]] += share
    return [
        {"name": n, **{**DEFAULT_KIND, **mapping.kinds[n]}, "share": round(shares[n], 6)}
        for n in mapping.kinds
    ]


def inside_share(fit: DemandFit) -> float:
    """Share of the rows on the map (1 without ``--map``): the rate is the map's part of the data's."""
    if fit.map_fit is None or len(fit.inc) == 0:
        return 1.0
    return max(1.0 - fit.map_fit.rows_outside / len(fit.inc), 1e-6)


def demand_yaml(fit: DemandFit, *, source: str, kinds: list[dict], points_file: str | None = None) -> str:
    """The commented YAML demand block (validates as ``demand:`` of a scenario)."""
    h = fit.hawkes
    block: dict = {"model": "hawkes" if h is not None and h.branching_ratio >= 0.05 else "poisson",
                   "rate_per_hour": round(fit.profile.rate_per_hour * inside_share(fit), 4)}  # fmt: skip
    if h is not None:
        block["hawkes"] = {"branching_ratio": round(min(h.branching_ratio, 0.95), 4),
                           "trigger_time": f"{round(h.trigger_time_s)}s", "trigger_sd_m": round(h.trigger_sd_m, 1)}  # fmt: skip
    block["profile"] = [round(float(v), 4) for v in fit.profile.relative]
    block["background_weight"] = round(fit.background_weight, 6)
    block["hotspots"] = fit.spots
    block["kinds"] = kinds
    since = np.datetime64(int(fit.since_s), "s")
    until = np.datetime64(int(fit.until_s), "s")
    head = [
        f"# Demand fitted by `policetwin demand fit` from {Path(source).name}: {len(fit.inc):,} incidents,",
        f"# {since} to {until}. Use it in a scenario as `demand: {{file: THIS_FILE}}` or `demand: THIS_FILE`.",
        "# rate_per_hour: the long-run mean total rate (calls per hour) over the period"
        + (
            f", x {inside_share(fit):.4f} (the share of rows on map {fit.map_fit.name})."
            if fit.map_fit
            else "."
        ),
        "# profile: 168 relative rates, Monday 00:00 first, mean 1 (smoothed over neighbouring hours).",
        f"# hotspots: KDE (bandwidth {fit.bandwidth.bandwidth_m:g} m by held-out likelihood) summed over blocks,",
        "#   the heaviest blocks up to 80% of the mass; background_weight is the rest, spread over the map.",
        "#   Block centres are grid points: no incident location is written.",
    ]
    if h is not None:
        head += [
            "# hawkes (EM, Mohler et al. 2011): each call triggers branching_ratio more on average,",
            "#   trigger_time later (mean, exponential) and trigger_sd_m away (Gaussian). For model: hawkes",
            "#   rate_per_hour stays the long-run total: background = rate_per_hour x (1 - branching_ratio).",
            f"#   model: {block['model']} (hawkes when branching_ratio >= 0.05); fit: {h.iterations} iterations, "
            f"{h.n_pairs:,} pairs within {h.max_dt_s / 86400:g} d and {h.max_dr_m:g} m.",
        ]
    if fit.season is not None:
        head.append("# seasonality (not used by the generator): month factors " +
                    " ".join(f"{v:.2f}" for v in fit.season))  # fmt: skip
    if points_file:
        head.append(f"# --keep-points: incident rows in {points_file} (replay with demand.replay).")
    text = yaml.safe_dump(block, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)
    return "\n".join(head) + "\n" + text


def report_text(fit: DemandFit, *, read_lines: list[str]) -> str:
    """A plain-text fit report: what was read, fitted vs observed profile, mix, KDE, Hawkes, map."""
    lines = ["PoliceTwin demand fit report", "", *read_lines, ""]
    p = fit.profile
    lines.append(f"rate: {p.rate_per_hour:.3f} calls/hour; hour-of-week profile (relative, mean 1):")
    lines.append("  hour  fitted observed  95% CI")
    for i in range(168):
        day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[i // 24]
        lines.append(
            f"  {day} {i % 24:02d}  {p.relative[i]:.3f}  {p.observed[i]:.3f}  [{p.lower[i]:.3f}, {p.upper[i]:.3f}]"
        )
    lines += ["", "category mix:"] + [f"  {c}: {100 * s:.2f}%" for c, s in fit.mix.items()]
    scores = ", ".join(f"{h:g} m: {v:.3f}" for h, v in fit.bandwidth.scores.items())
    lines += ["", f"KDE bandwidth {fit.bandwidth.bandwidth_m:g} m (held-out mean log-likelihood: {scores})",
              f"hotspots: {len(fit.spots)}, background weight {fit.background_weight:.3f}"]  # fmt: skip
    if fit.hawkes is not None:
        h = fit.hawkes
        lines.append(f"Hawkes: branching ratio {h.branching_ratio:.4f}, 1/omega {h.trigger_time_s / 86400:.3f} d, sigma "
                     f"{h.trigger_sd_m:.1f} m, background {h.mu_per_s * 3600:.3f}/h, loglik {h.loglik:.1f}, "
                     f"{h.iterations} iterations ({'converged' if h.converged else 'not converged'}), {h.n_pairs:,} pairs")  # fmt: skip
    if fit.map_fit is not None:
        m = fit.map_fit
        lines.append(f"map {m.name}: {m.n_nodes:,} nodes; {m.rows_outside:,} rows farther than 1 km from it; "
                     f"{100 * m.mass_outside:.1f}% of the KDE mass outside (hotspots kept inside only)")  # fmt: skip
    lines.append("timings: " + ", ".join(f"{k} {v:.2f}" for k, v in fit.timings_s.items()))
    return "\n".join(lines) + "\n"
