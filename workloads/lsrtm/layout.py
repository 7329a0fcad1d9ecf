"""Where every object of a run lives in the bucket. The only place key patterns are written."""

from __future__ import annotations

RUNS_PREFIX = "runs/"


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/"


def parameters_key(run_id: str) -> str:
    """The validated execution input; workers read their physics and data settings from it."""
    return f"{run_prefix(run_id)}parameters.json"


def iteration_prefix(run_id: str, iteration: int) -> str:
    return f"{run_prefix(run_id)}iteration_{iteration:04d}/"


def manifest_key(run_id: str, iteration: int) -> str:
    """Task token, shots and step of one iteration, written before the job is submitted."""
    return f"{iteration_prefix(run_id, iteration)}manifest.json"


def partial_gradient_key(run_id: str, iteration: int, shot: int) -> str:
    """One shot's gradient; the key depends only on (run, iteration, shot), so a retried worker overwrites."""
    return f"{iteration_prefix(run_id, iteration)}partial/shot_{shot:06d}.npy"


def result_key(run_id: str, iteration: int) -> str:
    """Misfit and image key of a finished iteration (small JSON, kept for the report)."""
    return f"{iteration_prefix(run_id, iteration)}result.json"


def partial_summary_key(run_id: str, iteration: int, shot: int) -> str:
    """Misfit and timings of one shot's gradient, written after the gradient itself."""
    return f"{iteration_prefix(run_id, iteration)}partial/shot_{shot:06d}.json"


def residual_key(run_id: str, iteration: int, shot: int) -> str:
    """One shot's masked residual M (J P x - d) (float32 .npy), written with its gradient for the exact step."""
    return f"{iteration_prefix(run_id, iteration)}partial/shot_{shot:06d}.residual.npy"


def curvature_summary_key(run_id: str, iteration: int, shot: int) -> str:
    """One shot's line-search terms (c1, c2) and timings: a retried curvature worker resends them."""
    return f"{iteration_prefix(run_id, iteration)}partial/shot_{shot:06d}.curvature.json"


def accumulator_key(run_id: str, iteration: int) -> str:
    """The batch's gradient sum G (and its misfit): with the exact rule, the direction the curvature job models."""
    return f"{iteration_prefix(run_id, iteration)}accumulator.npz"


def curvature_key(run_id: str, iteration: int) -> str:
    """The line-search terms summed so far, per shot (small JSON; kept with the results)."""
    return f"{iteration_prefix(run_id, iteration)}curvature.json"


def image_key(run_id: str, iteration: int) -> str:
    """The image after `iteration` SGD steps (iteration 0 = the starting image, zeros)."""
    return f"{run_prefix(run_id)}image_{iteration:04d}.npy"


def report_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}report.json"


# --- IAM resource patterns of the keys above, one per kind of object ('*' spans any characters, '/' too).
# Each component may write only the kinds it makes (stacks/lsrtm/workflow.py, batch_stack.py);
# tests/workloads/lsrtm/test_layout.py checks every key function against its pattern and no other.
PARAMETERS_PATTERN = f"{RUNS_PREFIX}*/parameters.json"
MANIFEST_PATTERN = f"{RUNS_PREFIX}*/iteration_*/manifest.json"
# a shot's gradient, residual, their summary and its curvature summary
PARTIAL_PATTERN = f"{RUNS_PREFIX}*/iteration_*/partial/shot_*"
ACCUMULATOR_PATTERN = f"{RUNS_PREFIX}*/iteration_*/accumulator.npz"
CURVATURE_PATTERN = f"{RUNS_PREFIX}*/iteration_*/curvature.json"
RESULT_PATTERN = f"{RUNS_PREFIX}*/iteration_*/result.json"
IMAGE_PATTERN = f"{RUNS_PREFIX}*/image_*.npy"
REPORT_PATTERN = f"{RUNS_PREFIX}*/report.json"
