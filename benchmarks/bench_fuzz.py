"""The fuzz test (tests/test_fuzz.py) on a large budget and the wide pools of model structures:
formulas, column dtypes and argument values drawn at random; every outcome must be a fit or one
of mixedjax's own errors. Prints the count of each outcome, every failing case and every case
whose fit failed with ConvergenceError (worth checking against lme4).

    python benchmarks/bench_fuzz.py [n_cases=1000] [seed=1]

Each new model structure compiles (seconds), so the first few hundred cases are the slowest."""
import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import test_fuzz


def main(n_cases: int, seed: int) -> int:
    data = test_fuzz.fuzz_data()
    outcomes, failures, start = Counter(), [], time.perf_counter()
    for index in range(n_cases):
        case, case_data = test_fuzz.draw_case(seed, index, data, wide=True)
        outcome, failure = test_fuzz.run_case(case, case_data)
        outcomes[outcome] += 1
        if failure:
            failures.append(failure)
            print(f"FAILED {failure}", flush=True)
        elif outcome == "ConvergenceError":  # a fit that failed: does lme4 fit it?
            print(f"ConvergenceError: {case}", flush=True)
        if (index + 1) % 100 == 0:
            print(f"{index + 1} cases, {time.perf_counter() - start:.0f} s: {dict(outcomes)}", flush=True)
    print(f"seed {seed}: {n_cases} cases in {time.perf_counter() - start:.0f} s, "
          f"{len(failures)} failures; outcomes {dict(sorted(outcomes.items()))}")
    return 1 if failures else 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    sys.exit(main(int(arguments[0]) if arguments else 1000, int(arguments[1]) if len(arguments) > 1 else 1))
