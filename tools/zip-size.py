#!/usr/bin/env python3
"""Prints each function's deployment package size: the binary zipped as `bootstrap`, as
`sam build` / `cargo lambda build --output-format zip` package it for the provided.al2023
runtime (deflate, default level).

usage: tools/zip-size.py [BIN_DIR] [NAME...]   (default: target/release authorizer webhook users)
"""

import io
import pathlib
import sys
import zipfile


def zipped_size(binary: pathlib.Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, binary.read_bytes())
    return len(buffer.getvalue())


def main() -> int:
    args = sys.argv[1:]
    bin_dir = pathlib.Path(args.pop(0) if args else "target/release")
    names = args or ["authorizer", "webhook", "users"]
    print("| function | binary | zipped |")
    print("|---|---|---|")
    for name in names:
        binary = bin_dir / name
        if not binary.exists():
            print(f"{binary} is missing: build it first (cargo build --release)", file=sys.stderr)
            return 1
        mb = lambda n: f"{n / 1_000_000:.2f} MB"
        print(f"| `{name}` | {mb(binary.stat().st_size)} | {mb(zipped_size(binary))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
