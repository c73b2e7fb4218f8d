"""Where the local toolchain keeps things inside the repository checkout.

Everything generated lives under `.local/` at the repository root (git-ignored; `make clean`
removes it). The paths are derived from this file's location: the workspace installs this
package in editable mode, so `__file__` sits in `devtools/src/wallet_devtools/`.
"""

from __future__ import annotations

from pathlib import Path

DEVTOOLS_DIR = Path(__file__).resolve().parents[2]
REPO_ROOT = DEVTOOLS_DIR.parent
LOCAL_DIR = REPO_ROOT / ".local"
KAFKA_POM = DEVTOOLS_DIR / "kafka" / "pom.xml"
KAFKA_LIBS_DIR = LOCAL_DIR / "kafka" / "libs"
RUN_DIR = LOCAL_DIR / "run"
