"""Compare the runs two results stores hold under the same keys: every checkpoint's metrics, the
stopping epoch and the training history's losses must be equal to the last bit.

    python tools/compare_stores.py NEW_STORE OLD_STORE

A re-release from code whose changes compute nothing differently (e.g. the report's threads)
should reproduce the earlier release exactly; this prints how many shared runs are identical,
which differ (and in what), and how many keys only one store holds. Exit status 1 when any
shared run differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _values(path: Path) -> dict[str, Any]:
    payload = json.loads(path.read_text())["payload"]
    return {
        "checkpoints": [(c["epoch"], c["metrics"]) for c in payload.get("checkpoints", [])],
        "stopped_epoch": payload.get("stopped_epoch"),
        "losses": [h.get("loss") for h in payload.get("history", [])],
        "fingerprint": payload.get("versions", {}).get("results_fingerprint"),
    }


def main(new: Path, old: Path) -> int:
    new_keys = {p.name for p in new.glob("*.json")}
    old_keys = {p.name for p in old.glob("*.json")}
    same, differ = 0, []
    for name in sorted(new_keys & old_keys):
        a, b = _values(new / name), _values(old / name)
        fields = [k for k in ("checkpoints", "stopped_epoch", "losses") if a[k] != b[k]]
        if fields:
            differ.append((name, fields))
        else:
            same += 1
    fps = sorted({_values(new / n)["fingerprint"] for n in new_keys} - {None})
    print(f"{len(new_keys & old_keys)} keys in both stores: {same} identical, {len(differ)} "
          f"differ; {len(new_keys - old_keys)} only in {new}, {len(old_keys - new_keys)} only "
          f"in {old}; fingerprints in {new}: {', '.join(fps)}")
    for name, fields in differ[:20]:
        print(f"  {name}: {', '.join(fields)}")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
