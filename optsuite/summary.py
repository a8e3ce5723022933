"""A plain comparison table of a results store: one row per problem and optimizer over seeds."""
from __future__ import annotations

import math

import pandas as pd

SHOWN_METRICS = ("test_accuracy", "test_loss", "train_loss")
SHOWN_COSTS = ("sample_forwards", "seconds")


def summarize(cells: pd.DataFrame) -> pd.DataFrame:
    """Medians over seeds of the final metrics and costs, with run counts by status."""
    rows = []
    for (problem, label), group in cells.groupby(["problem", "label"], sort=True):
        ok = group[group["status"] == "ok"]
        row = {"problem": problem, "optimizer": label, "runs": len(group), "ok": len(ok)}
        for m in SHOWN_METRICS:
            col = f"metric_{m}"
            if col in ok and ok[col].notna().any():
                row[m] = ok[col].median()
        for c in SHOWN_COSTS:
            col = f"spent_{c}"
            if col in ok and ok[col].notna().any():
                row[c] = ok[col].median()
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:.0f}"
    return str(value)


def format_table(frame: pd.DataFrame) -> str:
    """Fixed-width text with a header rule; NaN shows as '-'."""
    if frame.empty:
        return "(no results)"
    header = list(frame.columns)
    body = [[_fmt(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])
