"""``python -m rerankinject.datasets {list,verify,download}``: the named data sets, their checksums, downloads."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import DataError
from .registry import DATASETS, download, load_dataset

__all__ = ["main"]

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m rerankinject.datasets {list,verify,download}``."""
    parser = argparse.ArgumentParser(prog="python -m rerankinject.datasets", description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", help="data root (default: $RERANKINJECT_DATA or ../shared/data)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the named data sets")
    v = sub.add_parser("verify", help="check every file of the named data sets against its sha256")
    v.add_argument("names", nargs="*", help="data set names (default: all)")
    d = sub.add_parser("download", help="fetch a data set's files with checksum checks")
    d.add_argument("name")
    d.add_argument("--mirror", help="base URL of a copy of the data root, e.g. file:///path/to/data")
    d.add_argument("--force", action="store_true", help="download even when a valid copy is present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "list":
            for spec in DATASETS.values():
                sys.stdout.write(f"{spec.name}\t{spec.description}\n")
        elif args.command == "verify":
            names = args.names or list(DATASETS)
            for unknown in [n for n in names if n not in DATASETS]:
                parser.error(f"unknown data set {unknown!r} (known: {', '.join(DATASETS)})")
            for n in names:
                ds = load_dataset(n, args.data_root)
                for rel in ds.spec.files():
                    ds.path(rel)
                sys.stdout.write(f"{n}\tok\t{len(ds.spec.files())} files\n")
        else:
            if args.name not in DATASETS:
                parser.error(f"unknown data set {args.name!r} (known: {', '.join(DATASETS)})")
            for p in download(args.name, args.data_root, args.mirror, args.force):
                sys.stdout.write(f"{p}\n")
    except DataError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
