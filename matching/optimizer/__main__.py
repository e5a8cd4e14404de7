"""``python -m matching.optimizer solve|check|generate`` (see MATCHING_FORMAT.md).

Bad input prints one line on stderr and exits with 2; ``check`` exits with 1
when the solution breaks a rule, printing one line per violation.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .check import check_solution
from .generator import generate
from .jsonio import InputError, dumps_solution, load_problem, load_solution
from .model import DEFAULT_TIME_LIMIT_S


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse prints usage plus the message; the contract is one line.
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m matching.optimizer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    solve = sub.add_parser("solve", help="solve an instance")
    solve.add_argument("instance")
    solve.add_argument("--time-limit", type=_positive, default=DEFAULT_TIME_LIMIT_S)
    solve.add_argument("--workers", type=int, default=None)
    solve.add_argument("--out")
    check = sub.add_parser("check", help="validate a solution against an instance")
    check.add_argument("instance")
    check.add_argument("solution")
    gen = sub.add_parser("generate", help="write a realistic random instance to stdout")
    gen.add_argument("--volunteers", type=_count, required=True)
    gen.add_argument("--shifts", type=_count, required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--communities", type=int, default=None)
    gen.add_argument("--flexible", type=_share, default=0.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            doc = generate(
                args.volunteers,
                args.shifts,
                seed=args.seed,
                communities=args.communities,
                flexible=args.flexible,
            )
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
            return 0
        if args.command == "solve":
            from . import solve  # deferred: keeps `check` and `generate` light

            problem = load_problem(args.instance)
            solution = solve(problem, time_limit_s=args.time_limit, workers=args.workers)
            text = dumps_solution(solution) + "\n"
            if args.out:
                try:
                    with open(args.out, "w", encoding="utf-8") as fh:
                        fh.write(text)
                except OSError as exc:
                    raise InputError(f"{args.out}: cannot write ({exc.strerror})") from None
            else:
                sys.stdout.write(text)
            return 0
        problem = load_problem(args.instance)
        solution = load_solution(args.solution)
        report = check_solution(problem, solution)
        if report.ok:
            sys.stdout.write(
                f"ok: {report.assignments} assignments, coverage {report.coverage}, "
                f"{report.missing} seats unfilled\n"
            )
            return 0
        for line in report.violations:
            sys.stdout.write(line + "\n")
        return 1
    except InputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
