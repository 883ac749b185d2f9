"""How many real error texts `explain` names correctly (its top cause), per case set, from the text alone.

A case set is a folder with cases.json (a list of {id, file, source, cause | expected_cause, ...}) beside the texts.
An expected cause "other:..." is outside explain's taxonomy: saying nothing is the right answer there.

    python tools/eval_explain.py                      # the test corpus and both held-out sets
    python tools/eval_explain.py DIR [DIR ...] --json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mambaenv.explain import diagnose  # noqa: E402

DEFAULT_SETS = ("tests/data/errors", "docs/evaluations/explain-heldout-2026-12", "docs/evaluations/explain-holdout")


def expected(case: dict) -> str:
    return case.get("cause") or case["expected_cause"]


def judge(case: dict, folder: Path) -> dict:
    found = diagnose((folder / case["file"]).read_text(errors="replace")).diagnosis
    got = found.cause if found else None
    want = expected(case)
    right = got is None if want.startswith("other:") else got == want
    return {"id": case["id"], "expected": want, "got": got, "right": right, "source": case["source"]}


def evaluate(folder: Path) -> dict:
    cases = json.loads((folder / "cases.json").read_text())
    results = [judge(c, folder) for c in cases]
    return {"set": str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder), "cases": len(results),
            "right": sum(r["right"] for r in results), "misses": [r for r in results if not r["right"]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=list(DEFAULT_SETS), help="case-set folders (default: all three)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    reports = [evaluate((ROOT / s) if not Path(s).is_absolute() else Path(s)) for s in args.sets]
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    for r in reports:
        print(f"{r['set']}: {r['right']}/{r['cases']} top cause right ({100 * r['right'] / r['cases']:.0f}%)")
        for m in r["misses"]:
            print(f"  miss {m['id']}: expected {m['expected']}, got {m['got']}  ({m['source']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
