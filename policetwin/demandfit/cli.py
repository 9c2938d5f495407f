"""``policetwin demand fit | predict | score`` (registered in :mod:`policetwin.cli`; bad input exits 2 with a
one-line message, internal errors 1, like the other commands)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

demand_app = typer.Typer(
    help="Demand from real data: fit a demand block, predict hotspots, score forecasts.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Col = Annotated[str | None, typer.Option(metavar="COL")]


def _dates(value: str | None, option: str) -> float | None:
    """Seconds since 1970 of an ISO date (DataError naming the option)."""
    import pandas as pd

    from policetwin.demandfit.read import DataError

    if value is None:
        return None
    try:
        return float(pd.Timestamp(value).value / 1e9)
    except ValueError:
        raise DataError(f"{option} {value!r}: not a date; use ISO 8601 such as 2023-12-31") from None


def _read(file: Path, cols: dict, *, strict: bool, mapping=None):
    from policetwin.demandfit.read import DataError, read_incidents

    inc = read_incidents(file, strict=strict, **cols)
    if mapping is not None:
        known = __import__("numpy").isin(inc.category.astype(str), list(mapping.categories))
        if not known.all():
            unknown = sorted(set(inc.category[~known].astype(str)))
            if strict:
                raise DataError(f"{file}: --strict: categories not in --mapping: {', '.join(unknown)}")
            reason = f"category not in --mapping ({', '.join(unknown[:5])})"
            n = int((~known).sum())
            inc = inc.subset(known)
            inc.dropped[reason], inc.examples[reason] = n, -1
        if len(inc) == 0:
            raise DataError(f"{file}: no row has a category named in --mapping")
    return inc


@demand_app.command("fit")
def fit_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Incidents: CSV, CSV.gz or Parquet.")],
    out_file: Annotated[Path, typer.Option("--out", metavar="FILE", help="The demand YAML to write.")],
    map_spec: Annotated[str | None, typer.Option("--map", metavar="NAME", help="Also weight this map's nodes.")] = None,
    time: Col = None, date: Col = None, hour: Col = None, lon: Col = None, lat: Col = None, category: Col = None,
    mapping_file: Annotated[Path | None, typer.Option("--mapping", metavar="FILE", help="Categories -> kinds.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Any unusable row is an error.")] = False,
    keep_points: Annotated[bool, typer.Option("--keep-points", help="Also write the incident rows.")] = False,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help="Fit from this date.")] = None,
    until: Annotated[str | None, typer.Option("--until", metavar="DATE", help="Fit before this date.")] = None,
    no_hawkes: Annotated[bool, typer.Option("--no-hawkes", help="Skip the self-exciting fit.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
) -> None:  # fmt: skip
    """Fit a demand block (hour-of-week profile, category mix, KDE hotspots, Hawkes) and write it as
    commented YAML (a scenario says `demand: FILE`) with a text report beside it (FILE.report.txt)."""
    from policetwin import cli

    def action() -> None:
        from policetwin.demandfit.fit import fit_demand
        from policetwin.demandfit.read import main_period
        from policetwin.demandfit.write import demand_yaml, kinds_block, read_mapping, report_text
        from policetwin.outputs import check_file_target

        dest = check_file_target(out_file, overwrite=overwrite)
        report = check_file_target(
            dest.with_name(dest.name + ".report.txt"), overwrite=overwrite, option="report"
        )
        mapping = read_mapping(mapping_file) if mapping_file else None
        cols = {"time": time, "date": date, "hour": hour, "lon": lon, "lat": lat, "category": category}
        inc = main_period(_read(file, cols, strict=strict, mapping=mapping), since_s=_dates(since, "--since"),
                          until_s=_dates(until, "--until"))  # fmt: skip
        lo = float(inc.t_s.min() // 86400 * 86400) if since is None else _dates(since, "--since")
        hi = float(inc.t_s.max() // 86400 * 86400 + 86400) if until is None else _dates(until, "--until")
        for line in inc.report_lines():
            cli.out.print(line)
        network = None
        if map_spec is not None:
            from policetwin.maps.load import load_map

            network = load_map(map_spec)
        fit = fit_demand(inc, since_s=lo, until_s=hi, with_hawkes=not no_hawkes, network=network)
        points = None
        if keep_points:
            import pandas as pd

            points_path = check_file_target(dest.with_name(dest.stem + "-points.csv.gz"), overwrite=overwrite)
            frame = pd.DataFrame({"time": inc.t_s.astype("datetime64[s]"), "lon": inc.lon, "lat": inc.lat,
                                  "category": inc.category})  # fmt: skip
            frame.to_csv(points_path, index=False)
            points = points_path.name
        text = demand_yaml(fit, source=str(file), kinds=kinds_block(fit.mix, mapping), points_file=points)
        dest.write_text(text, encoding="utf-8")
        report.write_text(report_text(fit, read_lines=inc.report_lines()), encoding="utf-8")
        h = fit.hawkes
        cli.out.print(f"rate {fit.profile.rate_per_hour:.3f}/h; KDE bandwidth {fit.bandwidth.bandwidth_m:g} m; "
                      f"{len(fit.spots)} hotspots" + (f"; Hawkes branching {h.branching_ratio:.3f}, 1/omega "
                      f"{h.trigger_time_s / 3600:.2f} h, sigma {h.trigger_sd_m:.0f} m" if h else ""))  # fmt: skip
        if fit.map_fit is not None:
            m = fit.map_fit
            cli.out.print(
                f"map {m.name}: {m.rows_outside:,} of {len(inc):,} rows outside it (> 1 km from a node)"
            )
        cli.out.print(f"wrote {dest} and {report}")

    cli._guard(action)


@demand_app.command("predict")
def predict_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Incidents: CSV, CSV.gz or Parquet.")],
    train_until: Annotated[str, typer.Option("--train-until", metavar="DATE", help="First forecast origin.")],
    out_file: Annotated[Path, typer.Option("--out", metavar="FILE", help="forecast.parquet to write.")],
    horizon: Annotated[str, typer.Option("--horizon", metavar="DURATION", help="Forecast period.")] = "7d",
    origins: Annotated[int, typer.Option("--origins", min=1, metavar="N", help="Rolling origins.")] = 1,
    step: Annotated[str | None, typer.Option("--step", metavar="DURATION", help="Between origins.")] = None,
    cell_m: Annotated[float, typer.Option("--cell-m", min=25, metavar="M", help="Forecast cell size.")] = 250.0,
    bandwidth_m: Annotated[float, typer.Option("--bandwidth-m", min=10, metavar="M", help="KDE bandwidth.")] = 250.0,
    time: Col = None, date: Col = None, hour: Col = None, lon: Col = None, lat: Col = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace FILE if it exists.")] = False,
) -> None:  # fmt: skip
    """Hotspot forecasts (KDE, prospective near-repeat, fitted Hawkes) per cell for each rolling origin."""
    from policetwin import cli

    def action() -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from policetwin.demandfit import predict as pr
        from policetwin.durations import parse_duration
        from policetwin.outputs import check_file_target

        dest = check_file_target(out_file, overwrite=overwrite)
        h_s, step_s = parse_duration(horizon), parse_duration(step or horizon)
        cols = {"time": time, "date": date, "hour": hour, "lon": lon, "lat": lat}
        inc = _read(file, cols, strict=False)
        until = _dates(train_until, "--train-until")
        train = inc.t_s < until
        if not train.any():
            from policetwin.demandfit.read import DataError

            raise DataError(f"{file}: no incident before --train-until {train_until}")
        fs = pr.setup(inc.lon[train], inc.lat[train], cell_m=cell_m, bandwidth_m=bandwidth_m)
        x, y = fs.proj.to_xy(inc.lon, inc.lat)
        from policetwin.demandfit.fit import jittered_times

        t = jittered_times(inc)
        hk = pr.fit_for_forecast(t, x, y, fs, until_s=until)
        fc = pr.forecasts(
            t, x, y, fs, origins_s=[until + i * step_s for i in range(origins)], horizon_s=h_s, hawkes=hk
        )
        meta = {"lon0": fs.proj.lon0, "lat0": fs.proj.lat0, "grid": [fs.grid.x0, fs.grid.y0, fs.grid.cell_m,
                fs.grid.nx, fs.grid.ny], "horizon_s": h_s, "hawkes": hk.__dict__}  # fmt: skip
        table = pa.Table.from_pandas(fc, preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"policetwin": json.dumps(meta)}
        )
        pq.write_table(table, dest)
        cli.out.print(f"{origins} origin(s) x {fc['method'].nunique()} methods x {fs.study.size:,} cells; Hawkes "
                      f"branching {hk.branching_ratio:.3f}; wrote {dest}")  # fmt: skip

    cli._guard(action)


@demand_app.command("score")
def score_command(
    forecast: Annotated[Path, typer.Argument(metavar="FORECAST", help="forecast.parquet from demand predict.")],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Incidents (the held-out period).")],
    coverage: Annotated[str, typer.Option("--coverage", metavar="P,P", help="Area coverage in %.")] = "1,5,10",
    out_file: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Scores per origin (CSV).")] = None,
    time: Col = None, date: Col = None, hour: Col = None, lon: Col = None, lat: Col = None,
) -> None:  # fmt: skip
    """Hit rate, PAI and PEI per method at each coverage (mean over origins) vs uniform and last period."""
    from policetwin import cli

    def action() -> None:
        from policetwin.demandfit.predict import score_forecast
        from policetwin.demandfit.read import DataError

        frame, meta = read_forecast(forecast)
        try:
            cov = [float(c) / 100 for c in coverage.split(",")]
        except ValueError:
            raise DataError(f"--coverage {coverage!r}: use percentages such as 1,5,10") from None
        if not cov or any(not 0 < c <= 1 for c in cov):
            raise DataError(f"--coverage {coverage!r}: each value must be in (0, 100]")
        from policetwin.demandfit.space import Grid, Projection

        inc = _read(file, {"time": time, "date": date, "hour": hour, "lon": lon, "lat": lat}, strict=False)
        proj, grid = Projection(meta["lon0"], meta["lat0"]), Grid(*meta["grid"])
        x, y = proj.to_xy(inc.lon, inc.lat)
        scores = score_forecast(frame, inc.t_s, x, y, grid, horizon_s=meta["horizon_s"], coverage=cov)
        summary = scores.groupby(["method", "coverage"], sort=False)[["hit_rate", "pai", "pei"]].mean()
        cli.out.print(f"{scores['origin'].nunique()} origin(s), mean over origins:")
        cli.out.print(summary.reset_index().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if out_file is not None:
            scores.to_csv(out_file, index=False)

    cli._guard(action)


def read_forecast(path: Path):
    """A forecast table and its metadata (DataError when it is not a forecast from ``demand predict``)."""
    import pyarrow.parquet as pq

    from policetwin.demandfit.read import DataError

    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"policetwin"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a forecast written by `policetwin demand predict` ({exc})") from None
    return table.to_pandas(), meta
