"""External data sets of the KLD and DNN experiments: where they come from, how to fetch, how to read.

Fetch (run by hand or in an image build step; never at import, never in tests)::

    python -m workloads.automon.datasets fetch air_quality --data-dir DIR
    python -m workloads.automon.datasets fetch kdd --data-dir DIR
    python -m workloads.automon.datasets status --data-dir DIR

``DIR`` defaults to ``$AUTOMON_DATA_DIR`` or ``data/automon``. Layout after fetching:

- ``DIR/air_quality/PRSA_Data_<station>_20130301-20170228.csv`` -- the 12 stations of UCI's Beijing
  Multi-Site Air-Quality data (KLD: one station per node, PM10 -> P, PM2.5 -> Q);
- ``DIR/kdd/corrected`` -- KDD Cup 99 ``corrected`` test set, 311,029 connections (DNN).

The URLs are the ones the original documented (2023) followed by UCI's current archive layout; the
latter are inferred, not verified from here (this build machine has no internet). When none answers,
the command says which URLs failed and where to put the files by hand.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import sys
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .constants import KLD_PM_MAX
from .streams import EventLog

DATA_DIR_ENV = "AUTOMON_DATA_DIR"
DEFAULT_DATA_DIR = Path("data/automon")

AIR_QUALITY_STATIONS = (
    "Aotizhongxin", "Changping", "Dingling", "Dongsi", "Guanyuan", "Gucheng",
    "Huairou", "Nongzhanguan", "Shunyi", "Tiantan", "Wanliu", "Wanshouxigong",
)
AIR_QUALITY_FILE = "PRSA_Data_{station}_20130301-20170228.csv"
KDD_FILE = "corrected"


@dataclass(frozen=True)
class DataSet:
    name: str
    subdir: str
    urls: tuple[str, ...]
    files: tuple[str, ...]
    description: str


DATA_SETS = {
    "air_quality": DataSet(
        name="air_quality", subdir="air_quality",
        urls=(
            "https://archive.ics.uci.edu/ml/machine-learning-databases/00501/PRSA2017_Data_20130301-20170228.zip",
            "https://archive.ics.uci.edu/static/public/501/beijing+multi+site+air+quality+data.zip",
        ),
        files=tuple(AIR_QUALITY_FILE.format(station=s) for s in AIR_QUALITY_STATIONS),
        description="UCI Beijing Multi-Site Air-Quality Data (12 station CSV files, inside a zip)",
    ),
    "kdd": DataSet(
        name="kdd", subdir="kdd",
        urls=(
            "http://kdd.ics.uci.edu/databases/kddcup99/corrected.gz",
            "https://archive.ics.uci.edu/static/public/130/kdd+cup+1999+data.zip",
        ),
        files=(KDD_FILE,),
        description="KDD Cup 1999 'corrected' test set (gzip, possibly inside a zip)",
    ),
}


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


class DataSetMissing(FileNotFoundError):
    """A data set is not on disk; the message names the fetch command."""


def missing_files(name: str, data_dir: Path) -> list[Path]:
    spec = DATA_SETS[name]
    return [data_dir / spec.subdir / f for f in spec.files if not (data_dir / spec.subdir / f).is_file()]


def require(name: str, data_dir: Path) -> Path:
    """The data set's folder, or :class:`DataSetMissing` saying how to get it."""
    missing = missing_files(name, data_dir)
    if missing:
        shown = ", ".join(p.name for p in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise DataSetMissing(
            f"{DATA_SETS[name].description} is not in {data_dir / DATA_SETS[name].subdir} (missing {shown}). "
            f"Fetch it with: python -m workloads.automon.datasets fetch {name} --data-dir {data_dir}  "
            f"(or run with --synthetic for a stand-in stream)"
        )
    return data_dir / DATA_SETS[name].subdir


# ---------------------------------------------------------------- fetching

Opener = Callable[[str, float], bytes]


def _download(url: str, timeout_s: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (fixed https/http URLs)
        return response.read()


def _extract(blob: bytes, wanted: set[str], dest: Path, depth: int = 0) -> set[str]:
    """Write every wanted file found in ``blob`` (zip, gzip or nested zips) to ``dest``."""
    found: set[str] = set()
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            for member in archive.namelist():
                base = Path(member).name
                if base in wanted:
                    (dest / base).write_bytes(archive.read(member))
                    found.add(base)
                elif depth < 2 and base.endswith((".zip", ".gz")):
                    inner_name = base.removesuffix(".gz")
                    inner = archive.read(member)
                    if base.endswith(".gz") and inner_name in wanted:
                        (dest / inner_name).write_bytes(gzip.decompress(inner))
                        found.add(inner_name)
                    elif base.endswith(".zip"):
                        found |= _extract(inner, wanted, dest, depth + 1)
    elif blob[:2] == b"\x1f\x8b" and len(wanted) == 1:
        name = next(iter(wanted))
        (dest / name).write_bytes(gzip.decompress(blob))
        found.add(name)
    return found


def fetch(name: str, data_dir: Path, opener: Opener = _download, timeout_s: float = 120.0) -> Path:
    """Download data set ``name`` into ``data_dir``; raise RuntimeError naming every URL that failed."""
    spec = DATA_SETS[name]
    dest = data_dir / spec.subdir
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {p.name for p in missing_files(name, data_dir)}
    if not wanted:
        return dest
    failures: list[str] = []
    for url in spec.urls:
        try:
            blob = opener(url, timeout_s)
        except Exception as err:  # network errors come in many types; all mean "try the next URL"
            failures.append(f"  {url}: {type(err).__name__}: {err}")
            continue
        wanted -= _extract(blob, wanted, dest)
        if not wanted:
            return dest
        failures.append(f"  {url}: downloaded, but it lacks {', '.join(sorted(wanted))}")
    raise RuntimeError(
        f"could not fetch {spec.description}. Tried:\n" + "\n".join(failures)
        + f"\nThe source URLs may have moved or this machine has no internet access. Download the data by "
        f"hand and put {', '.join(sorted(wanted))} in {dest}/"
    )


# ---------------------------------------------------------------- air quality (KLD)

_AIR_QUALITY_DROPPED = {"No", "year", "month", "day", "hour", "wd", "station"}


def bin_pm(values: np.ndarray, bins: int) -> np.ndarray:
    """PM concentrations -> bin indices, as the original binned them.

    Values are clipped to [0, 500]; edges ``arange(0, 500, 500/(bins-1))`` give ``bins - 1`` edges, so
    indices run 0..bins-2 and the last bin stays empty (kept for fidelity to the published numbers).
    """
    edges = np.arange(0.0, KLD_PM_MAX, KLD_PM_MAX / (bins - 1))
    return np.digitize(np.clip(values, 0.0, KLD_PM_MAX), edges) - 1


def read_station(path: Path, bins: int) -> np.ndarray:
    """(rows, 2) bin indices of PM10 and PM2.5, for rows with no missing measurement."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        kept = [c for c in reader.fieldnames or [] if c not in _AIR_QUALITY_DROPPED]
        if "PM10" not in kept or "PM2.5" not in kept:
            raise ValueError(f"{path}: no PM10/PM2.5 columns")
        pm10, pm25 = [], []
        for row in reader:
            if any(row[c] in ("", "NA") for c in kept):
                continue
            pm10.append(float(row["PM10"]))
            pm25.append(float(row["PM2.5"]))
    return np.stack((bin_pm(np.array(pm10), bins), bin_pm(np.array(pm25), bins)), axis=1)


def load_air_quality(data_dir: Path, num_nodes: int, rounds: int, skip_rounds: int, bins: int) -> EventLog:
    """Round-robin log over the stations in alphabetical order (node i = station i), after ``skip_rounds``."""
    folder = require("air_quality", data_dir)
    if num_nodes > len(AIR_QUALITY_STATIONS):
        raise ValueError(f"the air-quality data has {len(AIR_QUALITY_STATIONS)} stations, not {num_nodes}")
    stations = [read_station(folder / AIR_QUALITY_FILE.format(station=s), bins)
                for s in AIR_QUALITY_STATIONS[:num_nodes]]
    available = min(len(s) for s in stations) - skip_rounds
    if available < rounds:
        raise ValueError(f"the stations have {available} rows after skipping {skip_rounds}, need {rounds}")
    block = np.stack([s[skip_rounds:skip_rounds + rounds] for s in stations], axis=1)  # (rounds, nodes, 2)
    owners = np.tile(np.arange(num_nodes), rounds)
    return EventLog(owners, block.reshape(-1, 2).astype(np.float64), f"air_quality ({folder})")


# ---------------------------------------------------------------- KDD Cup 99 (DNN)

# Categorical codes of the original (after github.com/rahulvigneswaran/Intrusion-Detection-Systems).
KDD_PROTOCOLS = {"tcp": 1, "udp": 2, "icmp": 3}
KDD_FLAGS = {"SF": 1, "SH": 2, "S3": 3, "OTH": 4, "S2": 4, "S1": 5, "S0": 6, "RSTR": 7, "RSTOS0": 8,
             "RSTO": 9, "REJ": 10}
KDD_SERVICES = {
    "http": 1, "Z39_50": 2, "X11": 3, "whois": 4, "vmnet": 5, "uucp_path": 6, "uucp": 7, "urp_i": 8,
    "urh_i": 9, "time": 10, "tim_i": 11, "tftp_u": 12, "telnet": 13, "systat": 14, "supdup": 15,
    "sunrpc": 16, "ssh": 17, "sql_net": 18, "smtp": 19, "shell": 20, "rje": 21, "remote_job": 22,
    "red_i": 23, "private": 24, "pop_3": 26, "pop_2": 27, "pm_dump": 28, "other": 29, "ntp_u": 30,
    "nntp": 31, "nnsp": 32, "netstat": 33, "netbios_ssn": 34, "netbios_ns": 35, "netbios_dgm": 36,
    "name": 37, "mtp": 38, "login": 39, "link": 40, "ldap": 41, "kshell": 42, "klogin": 43,
    "iso_tsap": 44, "IRC": 45, "imap4": 46, "http_443": 47, "gopher": 48, "ftp_data": 49, "ftp": 50,
    "finger": 51, "exec": 52, "efs": 53, "ecr_i": 54, "eco_i": 55, "echo": 56, "domain_u": 57,
    "domain": 58, "discard": 59, "ctf": 61, "csnet_ns": 62, "courier": 63, "bgp": 64, "auth": 65,
    "icmp": 68, "hostnames": 69, "daytime": 70, "printer": 25,
}
# Nodes per service, as the original split the 9 nodes: ecr_i round-robin over 5 nodes, private over 2,
# http on one, every other service on the last. (The original picked positions 51, 21 and 0 of the
# sorted service codes; by its row counts these are ecr_i, private and http.)
KDD_NODE_GROUPS = (("ecr_i", (0, 1, 2, 3, 4)), ("private", (5, 6)), ("http", (7,)))
KDD_OTHER_NODE = 8
KDD_NUM_NODES = 9
KDD_FEATURES = 41


def read_kdd(path: Path) -> tuple[np.ndarray, list[str]]:
    """(rows, 41) numeric features (categoricals coded) and each row's service name."""
    rows: list[list[float]] = []
    services: list[str] = []
    with path.open(newline="") as fh:
        for line_no, record in enumerate(csv.reader(fh), start=1):
            if not record:
                continue
            if len(record) != KDD_FEATURES + 1:
                raise ValueError(f"{path}:{line_no}: {len(record)} fields, expected {KDD_FEATURES + 1}")
            try:
                coded = [KDD_PROTOCOLS[record[1]], KDD_SERVICES[record[2]], KDD_FLAGS[record[3]]]
            except KeyError as err:
                raise ValueError(f"{path}:{line_no}: unknown category {err}") from None
            rows.append([float(record[0]), *coded, *map(float, record[4:KDD_FEATURES])])
            services.append(record[2])
    return np.array(rows), services


def kdd_owners(services: Sequence[str]) -> np.ndarray:
    owners = np.full(len(services), KDD_OTHER_NODE, dtype=np.int64)
    service_arr = np.array(services)
    for service, nodes in KDD_NODE_GROUPS:
        rows = np.flatnonzero(service_arr == service)
        owners[rows] = np.array(nodes)[np.arange(len(rows)) % len(nodes)]
    return owners


def window_prefix(owners: np.ndarray, num_nodes: int, window: int) -> np.ndarray:
    """Row order that starts with exactly ``window`` rows per node, interleaved 0, 1, ..., n-1, 0, ...

    Before the point where the last node's window fills, each node keeps only its last ``window``
    rows (older ones are dropped); those rows are then interleaved; later rows keep their order.
    """
    cut = 0
    for node in range(num_nodes):
        positions = np.flatnonzero(owners == node)
        if len(positions) <= window:
            raise ValueError(f"node {node} has {len(positions)} rows, needs more than its window {window}")
        cut = max(cut, int(positions[window]))
    head = [np.flatnonzero(owners[:cut] == node)[-window:] for node in range(num_nodes)]
    interleaved = np.stack(head, axis=1).reshape(-1)  # row k of every node, then row k+1, ...
    return np.concatenate((interleaved, np.arange(cut, len(owners))))


def load_kdd(data_dir: Path, samples: int, skip_rows: int, window: int) -> EventLog:
    """The DNN stream: L2-normalized features, owners by service, window prefix, first ``samples`` rows."""
    folder = require("kdd", data_dir)
    features, services = read_kdd(folder / KDD_FILE)
    features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), np.finfo(float).tiny)
    owners = kdd_owners(services)[skip_rows:]
    features = features[skip_rows:]
    order = window_prefix(owners, KDD_NUM_NODES, window)
    if len(order) < samples:
        raise ValueError(f"the KDD stream has {len(order)} samples after skipping {skip_rows} rows and trimming "
                         f"the window prefix, fewer than {samples}; pass --iterations {len(order)} or less")
    order = order[:samples]
    return EventLog(owners[order], features[order], f"kdd ({folder})")


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.automon.datasets",
                                     description="Fetch or check the external data of the AutoMon experiment.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command, help_text in (("fetch", "download a data set"), ("status", "report which files are present")):
        p = sub.add_parser(command, help=help_text)
        # no argparse choices: with nargs="*" they reject an empty list (CPython issue 53584)
        p.add_argument("names", nargs="*" if command == "status" else "+", metavar="NAME",
                       help=f"one of {', '.join(DATA_SETS)}, or all (status: default all)")
        p.add_argument("--data-dir", type=Path, default=default_data_dir(),
                       help=f"root folder of the data sets (default ${DATA_DIR_ENV} or {DEFAULT_DATA_DIR})")
        if command == "fetch":
            p.add_argument("--timeout", type=float, default=120.0, help="seconds per download attempt")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - {*DATA_SETS, "all"})
    if unknown:
        parser.error(f"unknown data set {', '.join(unknown)}; choose from {', '.join(DATA_SETS)}, all")
    names = list(DATA_SETS) if not args.names or "all" in args.names else args.names
    status = 0
    for name in names:
        if args.command == "status":
            missing = missing_files(name, args.data_dir)
            state = "complete" if not missing else f"missing {len(missing)} of {len(DATA_SETS[name].files)} files"
            print(f"{name}: {state} ({args.data_dir / DATA_SETS[name].subdir})")
            status |= bool(missing)
            continue
        try:
            dest = fetch(name, args.data_dir, timeout_s=args.timeout)
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
        else:
            print(f"{name}: ready in {dest}")
    return status


if __name__ == "__main__":
    sys.exit(main())
