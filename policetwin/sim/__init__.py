"""The simulation engine: model, demand, dispatch, recorder, metrics and run directories."""

from policetwin.sim.run import RunResult, run, simulate, write_run_dir

__all__ = ["RunResult", "run", "simulate", "write_run_dir"]
