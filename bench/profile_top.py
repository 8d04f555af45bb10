"""Sums py-spy's collapsed stacks (`--format raw`) into the functions that hold the
most samples: inclusive (the function or anything it calls) and by package."""

import sys
from collections import Counter
from pathlib import Path


def main(path):
    inclusive, own, package = Counter(), Counter(), Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
        # The package of the innermost frame: what the time is spent in.
        where = frames[-1].rpartition("(")[2]
        parts = where.replace("site-packages/", "").split("/")
        package[parts[0] if len(parts) > 1 else where.split(":")[0]] += n
    print(f"{total} samples of one busy worker\n")
    print("| inclusive % | function (file:line) |\n|--:|---|")
    for frame, n in inclusive.most_common(40):
        if n < total:  # the roots that every sample shares say nothing
            print(f"| {100 * n / total:.1f} | `{frame}` |")
    print("\n| own % | innermost function |\n|--:|---|")
    for frame, n in own.most_common(15):
        print(f"| {100 * n / total:.1f} | `{frame}` |")
    print("\n| own % | package of the innermost frame |\n|--:|---|")
    for name, n in package.most_common(12):
        print(f"| {100 * n / total:.1f} | {name} |")


if __name__ == "__main__":
    main(sys.argv[1])
