"""``policetwin calibrate CAD --map NAME --out service.yaml``: service times and travel speeds from CAD records
(registered in :mod:`policetwin.cli`; bad input exits 2 with a one-line message)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Col = Annotated[str | None, typer.Option(metavar="COL")]


def calibrate_command(
    file: Annotated[Path, typer.Argument(metavar="CAD", help="CAD records: CSV, CSV.gz or Parquet.")],
    map_spec: Annotated[str, typer.Option("--map", metavar="NAME", help="Road network for travel predictions.")],
    out_file: Annotated[Path, typer.Option("--out", metavar="FILE", help="The service YAML block to write.")],
    call: Col = None, answer: Col = None, ready: Col = None, dispatch: Col = None, enroute: Col = None,
    arrive: Col = None, clear: Col = None, category: Col = None, lon: Col = None, lat: Col = None,
    unit_lon: Col = None, unit_lat: Col = None,
    scenario: Annotated[str | None, typer.Option("--scenario", metavar="FILE", help="Simulate it before and after calibration; compare response times.")] = None,
    hour_bands: Annotated[str, typer.Option("--hour-bands", metavar="H,H", help="Starts of the hour bands.")] = "0,6,10,16,20",
    max_snap_m: Annotated[float, typer.Option("--max-snap-m", min=1, metavar="M", help="Farther positions are not used.")] = 250.0,
    seed: Annotated[int | None, typer.Option("--seed", metavar="N", help="Seed of the comparison runs.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Any row with missing or out-of-order times is an error.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
) -> None:  # fmt: skip
    """Fit per kind the handling, turn-out and on-scene distributions and a travel-speed factor (per road
    class and hour band) from CAD records; write a YAML block (FILE) and a report (FILE.report.txt)."""
    from policetwin import cli

    def action() -> None:
        import numpy as np

        from policetwin.demandfit import calibrate as cal
        from policetwin.demandfit.cad import read_cad
        from policetwin.demandfit.calibrate_speed import fit_speed
        from policetwin.demandfit.read import DataError
        from policetwin.maps.load import load_map
        from policetwin.outputs import check_file_target

        dest = check_file_target(out_file, overwrite=overwrite)
        report = check_file_target(
            dest.with_name(dest.name + ".report.txt"), overwrite=overwrite, option="report"
        )
        try:
            bands = tuple(sorted({int(h) for h in hour_bands.split(",")}))
        except ValueError:
            raise DataError(f"--hour-bands {hour_bands!r}: use hours such as 0,6,10,16,20") from None
        if not bands or any(not 0 <= h < 24 for h in bands):
            raise DataError(f"--hour-bands {hour_bands!r}: hours must be in 0-23")
        cols = {"call": call, "answer": answer, "ready": ready, "dispatch": dispatch, "enroute": enroute,
                "arrive": arrive, "clear": clear, "category": category, "lon": lon, "lat": lat,
                "unit_lon": unit_lon, "unit_lat": unit_lat}  # fmt: skip
        cad = read_cad(file, strict=strict, **cols)
        for line in cad.report_lines():
            cli.out.print(line)
        sc = None
        if scenario is not None:
            from policetwin.scenarios import load_scenario

            sc = load_scenario(scenario)
        network = load_map(map_spec)
        speed = None
        if (
            cad.unit_lon is not None
            and cad.unit_lat is not None
            and cad.lon is not None
            and cad.lat is not None
        ):
            travel = cad.interval_s("enroute", "arrive")
            if sc is not None and sc.travel.priority_speed_factor:  # back to normal driving speed
                prio = {k.name: k.priority for k in sc.demand.kinds}
                factor = np.array(
                    [sc.travel.priority_speed_factor.get(prio.get(c, 0), 1.0) for c in cad.category]
                )
                travel = travel * factor
            hour = (cad.times["enroute"] % 86400.0) // 3600.0
            speed = fit_speed(network, from_lon=cad.unit_lon, from_lat=cad.unit_lat, to_lon=cad.lon, to_lat=cad.lat,
                              travel_s=travel, hour=np.nan_to_num(hour), bands_h=bands, max_snap_m=max_snap_m,
                              overrides_kph=sc.travel.speeds_kph if sc is not None else None)  # fmt: skip
        else:
            cli.out.print(
                "no unit and incident positions (--unit-lon/--unit-lat, --lon/--lat): speed not calibrated"
            )
        fit = cal.fit_service(cad, speed=speed)
        dest.write_text(cal.service_yaml(fit, source=str(file), map_name=map_spec), encoding="utf-8")
        text = cal.report_text(fit, read_lines=cad.report_lines())
        if fit.handling:
            cli.out.print(f"handling ({fit.handling_from}): {fit.handling.text()}")
        if fit.turnout:
            cli.out.print(f"turn-out: {fit.turnout.text()}")
        for kind, f in fit.on_scene.items():
            cli.out.print(f"on-scene {kind}: {f.text()}")
        if speed is not None:
            cli.out.print(f"speed factor {speed.factor:.3f} ({speed.n_trips:,} trips)")
            for row in speed.lines():
                cli.out.print("  " + row)
        for note in fit.notes:
            cli.out.print(f"note: {note}")
        if sc is not None:
            text += "\n" + "\n".join(_compare(cad, fit, scenario, sc, seed=seed)) + "\n"
        report.write_text(text, encoding="utf-8")
        cli.out.print(f"wrote {dest} and {report}")

    cli._guard(action)


def _compare(cad, fit, path: str, sc, *, seed: int | None) -> list[str]:
    """Simulate the scenario as it is and with the calibration; response times against the CAD's."""
    from policetwin import cli
    from policetwin.demandfit.calibrate import response_comparison, service_overrides
    from policetwin.scenarios import load_scenario
    from policetwin.sim.run import load_scenario_map, simulate

    kinds = [k.name for k in sc.demand.kinds]
    overrides = service_overrides(fit, kinds)
    calibrated = load_scenario(path, overrides)
    network = load_scenario_map(sc, filename=path)
    sims = {}
    for name, s in (("simulated, as given", sc), ("simulated, calibrated", calibrated)):
        inc = simulate(s, seed=seed, network=network, filename=path).incidents
        sims[name] = (inc["t_arrive"] - inc["t_call"]).to_numpy(dtype=float)
    lines = ["--set options applying the calibration to " + path + ":", *[f"  --set '{o}'" for o in overrides],
             "", *response_comparison(cad.interval_s("call", "arrive"), sims)]  # fmt: skip
    for line in lines:
        cli.out.print(line)
    return lines
