"""Service times from CAD records (``policetwin calibrate``): per kind the handling, turn-out and on-scene
distributions, a travel-speed factor (:mod:`.calibrate_speed`), written as a YAML block for scenarios.

Families are those the scenario schema supports (:class:`policetwin.scenarios.base.Distribution`):
``fixed`` when the values do not vary (coefficient of variation < 0.1%), else ``exponential`` or
``lognormal`` by maximum likelihood, whichever has the lower AIC (2k - 2 log L). Goodness of fit: the
Kolmogorov-Smirnov distance of the chosen fit and its p-value (optimistic: the parameters are fitted to the
same data). Zero durations are left out (counted); turn-out is fitted on the positive values only, as the
simulator turns out units waiting at their station and sends units already on the road at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from policetwin.demandfit.cad import CadRecords
from policetwin.demandfit.calibrate_speed import SpeedFit

MIN_ROWS = 30  # per kind and interval; fewer: not fitted (reported)


@dataclass
class DurationFit:
    """A fitted duration distribution (seconds) with its goodness of fit."""

    dist: str
    mean_s: float
    sd_s: float | None
    n: int
    ks_d: float
    ks_p: float
    aic: dict[str, float]  # family -> AIC
    observed_mean_s: float

    def block(self) -> dict:
        """The scenario's distribution mapping."""
        out = {"dist": self.dist, "mean": round(self.mean_s, 2)}
        if self.sd_s is not None:
            out["sd"] = round(self.sd_s, 2)
        return out

    def text(self) -> str:
        sd = f", sd {self.sd_s:.1f} s" if self.sd_s is not None else ""
        aic = ", ".join(f"{k} {v:.0f}" for k, v in self.aic.items())
        return (f"{self.dist} mean {self.mean_s:.1f} s{sd} (observed mean {self.observed_mean_s:.1f} s, n={self.n:,}; "
                f"KS D={self.ks_d:.3f}, p={self.ks_p:.3f}; AIC {aic})")  # fmt: skip


def fit_duration(values_s: np.ndarray) -> DurationFit:
    """The likeliest supported family for positive durations (see the module docstring)."""
    x = np.asarray(values_s, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    n, mean = int(x.size), float(x.mean())
    if n < 2 or x.std() < 1e-3 * mean:
        return DurationFit("fixed", mean, None, n, 0.0, 1.0, {}, mean)
    logx = np.log(x)
    mu, sigma = float(logx.mean()), float(logx.std())
    ll_exp = float(stats.expon.logpdf(x, scale=mean).sum())
    ll_ln = float(stats.lognorm.logpdf(x, s=sigma, scale=np.exp(mu)).sum())
    aic = {"exponential": 2 - 2 * ll_exp, "lognormal": 4 - 2 * ll_ln}
    if aic["lognormal"] < aic["exponential"]:
        m = float(np.exp(mu + sigma**2 / 2))
        ks = stats.kstest(x, "lognorm", args=(sigma, 0, np.exp(mu)))
        return DurationFit("lognormal", m, m * float(np.sqrt(np.expm1(sigma**2))), n, float(ks.statistic),
                           float(ks.pvalue), aic, mean)  # fmt: skip
    ks = stats.kstest(x, "expon", args=(0, mean))
    return DurationFit("exponential", mean, None, n, float(ks.statistic), float(ks.pvalue), aic, mean)


@dataclass
class ServiceFit:
    """Everything ``calibrate`` found: pooled and per-kind fits, the speed factors, what was not used."""

    handling: DurationFit | None
    handling_from: str
    turnout: DurationFit | None
    turnout_zero_share: float
    on_scene: dict[str, DurationFit]  # kind -> fit
    per_kind: dict[str, dict[str, DurationFit | None]]  # kind -> interval -> fit (report)
    kind_rows: dict[str, int]
    speed: SpeedFit | None
    notes: list[str] = field(default_factory=list)


def _fit_or_none(values: np.ndarray) -> DurationFit | None:
    v = values[np.isfinite(values) & (values > 0)]
    return fit_duration(v) if v.size >= MIN_ROWS else None


def fit_service(cad: CadRecords, *, speed: SpeedFit | None) -> ServiceFit:
    """Fit handling, turn-out (pooled and per kind) and on-scene (per kind) distributions."""
    handling, handling_from = cad.handling()
    turnout = cad.interval_s("dispatch", "enroute")
    on_scene = cad.interval_s("arrive", "clear")
    notes = []
    if handling_from == "call -> dispatch":
        notes.append("handling measured call -> dispatch: it includes waiting for a call-taker and for a free "
                     "unit (give --answer/--ready columns for call-taker time only)")  # fmt: skip
    for name, values in (("handling", handling), ("on-scene", on_scene)):
        zeros = int((values == 0).sum())
        if zeros:
            notes.append(f"{zeros:,} rows with zero {name} time left out of its fit")
    t_ok = turnout[np.isfinite(turnout)]
    zero_share = float((t_ok == 0).mean()) if t_ok.size else float("nan")
    kinds, counts = np.unique(cad.category.astype(str), return_counts=True)
    per_kind: dict[str, dict[str, DurationFit | None]] = {}
    fitted_on_scene: dict[str, DurationFit] = {}
    for kind in kinds.tolist():
        sel = cad.category == kind
        per_kind[kind] = {"handling": _fit_or_none(handling[sel]), "turn-out": _fit_or_none(turnout[sel]),
                          "on-scene": _fit_or_none(on_scene[sel])}  # fmt: skip
        if per_kind[kind]["on-scene"] is not None:
            fitted_on_scene[kind] = per_kind[kind]["on-scene"]
        else:
            notes.append(f"kind {kind!r}: fewer than {MIN_ROWS} on-scene times: not fitted")
    return ServiceFit(_fit_or_none(handling), handling_from, _fit_or_none(turnout), zero_share, fitted_on_scene,
                      per_kind, dict(zip(kinds.tolist(), counts.tolist(), strict=True)), speed, notes)  # fmt: skip


def _flow(block: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in block.items()) + "}"


def service_yaml(fit: ServiceFit, *, source: str, map_name: str) -> str:
    """The commented YAML block: ``call_handling`` and ``travel`` to merge into a scenario, and ``on_scene``
    per kind for its ``demand.kinds`` (``calibrate --scenario`` prints the matching ``--set`` options)."""
    lines = [f"# Service times calibrated from {source} by `policetwin calibrate` (map {map_name}).",
             "# Merge call_handling and travel into a scenario; copy each on_scene into the demand kind of",
             "# that name (or use the --set options printed by `calibrate --scenario`). Durations in seconds."]  # fmt: skip
    if fit.handling is not None:
        lines += ["call_handling:", f"  handling: {_flow(fit.handling.block())}   # {fit.handling_from}; "
                  f"n={fit.handling.n:,}, KS D={fit.handling.ks_d:.3f}"]  # fmt: skip
    travel = []
    if fit.speed is not None:
        travel.append(
            f"  speed_factor: {fit.speed.factor:.3f}   # network time / observed, {fit.speed.n_trips:,} trips"
        )
    if fit.turnout is not None:
        travel.append(f"  turnout: {_flow(fit.turnout.block())}   # units at their station; "
                      f"{100 * fit.turnout_zero_share:.0f}% of dispatches rolled at once")  # fmt: skip
    if travel:
        lines += ["travel:", *travel]
    if fit.on_scene:
        lines.append("on_scene:   # per kind: demand.kinds[name].on_scene")
        for kind, f in fit.on_scene.items():
            lines.append(f"  {_yaml_key(kind)}: {_flow(f.block())}   # n={f.n:,}, KS D={f.ks_d:.3f}")
    if fit.speed is not None:
        lines += ["", "# speed factor by road class and hour band (NNLS; the scenario has one factor):"]
        lines += [f"#   {row}" for row in fit.speed.lines()]
    return "\n".join(lines) + "\n"


def _yaml_key(name: str) -> str:
    import yaml

    return yaml.safe_dump(name, default_flow_style=True).strip().removesuffix("...").strip()


def service_overrides(fit: ServiceFit, kinds: list[str]) -> list[str]:
    """``--set`` assignments that apply the fit to a scenario whose demand kinds are ``kinds`` (in order)."""
    out = []
    if fit.handling is not None:
        out.append(f"call_handling.handling={_flow(fit.handling.block())}")
    if fit.speed is not None:
        out.append(f"travel.speed_factor={fit.speed.factor:.4f}")
    if fit.turnout is not None:
        out.append(f"travel.turnout={_flow(fit.turnout.block())}")
    for i, kind in enumerate(kinds):
        if kind in fit.on_scene:
            out.append(f"demand.kinds.{i}.on_scene={_flow(fit.on_scene[kind].block())}")
    return out


def report_text(fit: ServiceFit, *, read_lines: list[str]) -> str:
    """The fit report: what was read, each fit with its goodness of fit, the speed table."""
    lines = [*read_lines, ""]
    for name, f in (("handling (" + fit.handling_from + ")", fit.handling), ("turn-out", fit.turnout)):
        lines.append(f"{name}: {f.text() if f else 'too few rows'}")
    lines.append(
        f"  turn-out: {100 * fit.turnout_zero_share:.1f}% of dispatches rolled at once (not in the fit)"
    )
    for kind, fits in fit.per_kind.items():
        lines.append(f"kind {kind} ({fit.kind_rows[kind]:,} rows):")
        lines += [f"  {name}: {f.text() if f else 'too few rows'}" for name, f in fits.items()]
    if fit.speed is not None:
        lines += [
            "",
            f"speed factor {fit.speed.factor:.3f} ({fit.speed.n_trips:,} trips); by road class and hour band:",
        ]
        lines += [f"  {row}" for row in fit.speed.lines()]
        lines += [f"  not used: {n:,} trips: {reason}" for reason, n in fit.speed.dropped.items()]
    lines += [f"note: {n}" for n in fit.notes]
    return "\n".join(lines) + "\n"


def response_comparison(observed_s: np.ndarray, simulated: dict[str, np.ndarray]) -> list[str]:
    """Response-time distributions (call -> first on scene) side by side: quantiles, mean, KS distance."""
    obs = observed_s[np.isfinite(observed_s)]
    qs = (0.1, 0.5, 0.9)
    head = (
        f"{'response time (min)':<28}{'n':>8}{'mean':>8}"
        + "".join(f"{f'p{int(q * 100)}':>8}" for q in qs)
        + f"{'KS D':>8}"
    )
    rows = [head]
    for name, values in {"observed (CAD)": obs, **simulated}.items():
        v = values[np.isfinite(values)]
        if v.size == 0:
            rows.append(f"{name:<28}{0:>8}")
            continue
        d = "" if name == "observed (CAD)" else f"{stats.ks_2samp(obs, v).statistic:>8.3f}"
        rows.append(
            f"{name:<28}{v.size:>8,}{v.mean() / 60:>8.2f}"
            + "".join(f"{np.quantile(v, q) / 60:>8.2f}" for q in qs)
            + d
        )
    return rows
