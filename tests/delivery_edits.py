"""Editing and corrupting a synthetic delivery, shared by every study's bad-delivery corpus and
fuzz test: a delivery written by the study's generator is changed the way real deliveries
differ (a cell, a register year, an encoding) or broken at random (a frame edit or a byte
edit), and the study's reader must stop with a contract message or account for every row."""

from __future__ import annotations

import copy
import gzip
import io as _io
import random
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rehabkoord.io import DeliveryError


def load(path: Path) -> pd.DataFrame:
    """A delivery file as a frame (text files as text, categories as plain values)."""
    frame = read_frame(path)
    return frame.astype({c: object for c in frame.columns
                         if isinstance(frame[c].dtype, pd.CategoricalDtype)})


def save(frame: pd.DataFrame, path: Path, encoding: str = "latin-1") -> None:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep=";", index=False, encoding=encoding)


def edit(name: str, change: Callable[[pd.DataFrame], pd.DataFrame]):
    """A corpus case: `change` applied to the delivery's file `name`."""
    def mutate(raw: Path, params: dict) -> None:
        save(change(load(raw / name)), raw / name)
    return mutate


def cell(column: str, value, row: int = 0):
    def change(f):
        f = f.astype({column: str if isinstance(value, str) else object})
        f.loc[f.index[row], column] = value
        return f
    return change


def drop_year(year: int, name: str = "lisa.parquet"):
    return edit(name, lambda f: f[f["Ar"] != year])


def read_frame(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep=";", encoding="latin-1", dtype=str, keep_default_na=False)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        try:
            frame.to_parquet(path, index=False)
        except (TypeError, ValueError):  # mixed types or duplicated names: deliver as text
            arrays = [pa.array(frame.iloc[:, i].astype("string")) for i in range(frame.shape[1])]
            pq.write_table(pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns]),
                           path)
    else:
        frame.to_csv(path, sep=";", index=False, encoding="latin-1")


def _junk(rng: random.Random) -> str:
    return rng.choice(["abc", "", "-1", "1e9", "1,5", "NA", "2018-02-30", "9999999", " ", "ö",
                       "0000012", "12.0", "1.5", "20180101", "x;y"])


def drop_column(f, rng):
    return f.drop(columns=rng.choice(list(f.columns)))


def duplicate_column(f, rng):
    col = rng.choice(list(f.columns))
    g = f.copy()
    g.insert(0, col.upper() if rng.random() < 0.5 else col.lower(), f[col],
             allow_duplicates=True)
    return g


def rename_column(f, rng):
    col = rng.choice(list(f.columns))
    return f.rename(columns={col: rng.choice([col.upper(), col + "_x", "Okänd", col.lower()])})


def retype_column(f, rng):
    col = rng.choice(list(f.columns))
    g = f.copy()
    kind = rng.choice(["text", "float", "date", "empty", "bool"])
    g[col] = {"text": lambda s: s.astype(str) + "x",
              "float": lambda s: pd.to_numeric(s, errors="coerce") + 0.5,
              "date": lambda s: pd.Timestamp("2018-01-01"),
              "empty": lambda s: None,
              "bool": lambda s: True}[kind](g[col])
    return g


def junk_cells(f, rng):
    g = f.astype(object).copy()
    for _ in range(rng.randint(1, 5)):
        g.iat[rng.randrange(len(g)), rng.randrange(g.shape[1])] = _junk(rng)
    return g


def duplicate_rows(f, rng):
    return pd.concat([f, f.sample(n=rng.randint(1, 3), random_state=rng.randrange(1000))])


def shuffle_rows(f, rng):
    return f.sample(frac=1, random_state=rng.randrange(1000))


def drop_rows(f, rng):
    return f.drop(index=f.sample(n=min(len(f), rng.randint(1, 50)),
                                 random_state=rng.randrange(1000)).index)


FRAME_OPS = [drop_column, duplicate_column, rename_column, retype_column, junk_cells,
             duplicate_rows, shuffle_rows, drop_rows]


def truncate_bytes(raw, rng):
    return raw[: rng.randrange(max(len(raw), 1))]


def flip_bytes(raw, rng):
    b = bytearray(raw)
    for _ in range(rng.randint(1, 20)):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def junk_lines(raw, rng):
    return raw + rng.choice([b"\n;;;\n", b"\nfoo\n", b"\n1;2;3;4;5;6;7;8;9;10;11\n",
                             b"\x00\x01\x02", b"\n\n\n"])


def reencode(raw, rng):
    try:
        text = raw.decode("latin-1")
        return text.encode(rng.choice(["utf-16", "utf-8-sig", "utf-8", "cp1252"]),
                           errors="replace")
    except UnicodeError:
        return raw


def gzip_it(raw, rng):
    return gzip.compress(raw)


def swap_delimiter(raw, rng):
    return raw.replace(b";", rng.choice([b",", b"\t", b"|"]))


def empty(raw, rng):
    return b""


def other_format(raw, rng):
    buf = _io.BytesIO()
    pd.DataFrame({"a": [1, 2]}).to_parquet(buf)
    return rng.choice([buf.getvalue(), b"PK\x03\x04" + raw[:100], b"%PDF-1.4\n" + raw[:50]])


BYTE_OPS = [truncate_bytes, flip_bytes, junk_lines, reencode, gzip_it, swap_delimiter, empty,
            other_format]


def corrupt_or_corpus(raw: Path, rng: random.Random, params: dict, corpus: dict) -> str:
    """One random corruption of one file (a frame edit or a byte edit), or one of the corpus's
    faults (a fifth of the time); returns what was done, e.g. `junk_cells(lisa.parquet)`."""
    files = sorted(p for p in raw.rglob("*") if p.is_file())
    target = rng.choice(files)
    roll = rng.random()
    if roll < 0.2:
        case = rng.choice(sorted(corpus))
        corpus[case][0](raw, params)
        return f"corpus({case})"
    if roll < 0.6:
        op = rng.choice(FRAME_OPS)
        write_frame(op(load(target), rng), target)
    else:
        op = rng.choice(BYTE_OPS)
        target.write_bytes(op(target.read_bytes(), rng))
    return f"{op.__name__}({target.name})"


def fuzz(pristine: Path, raw: Path, params: dict, *, n: int, seed: int,
         corrupt: Callable[[Path, random.Random, dict], str],
         read: Callable[[dict], object], accounted: Callable[[object, dict], bool],
         title: str) -> Counter:
    """`n` corruptions of a copy of `pristine` at `raw`, each read with a fresh copy of
    `params`: a `DeliveryError` with a message, or a result `accounted` for; any other
    exception fails the test. Prints and returns the outcomes per kind of corruption."""
    rng = random.Random(seed)
    np.random.seed(seed)
    outcomes: Counter = Counter()
    for i in range(n):
        shutil.rmtree(raw, ignore_errors=True)
        shutil.copytree(pristine, raw)
        p = copy.deepcopy(params)
        what = corrupt(raw, rng, p)
        kind = what.split("(")[0]
        try:
            result = read(p)
        except DeliveryError as err:
            assert str(err).strip(), what
            outcomes[kind, "stopped"] += 1
            continue
        except Exception as err:  # noqa: BLE001 — the point of the test
            pytest.fail(f"corruption {i} ({what}) raised {type(err).__name__}: {err}")
        assert accounted(result, p), what
        outcomes[kind, "cleaned"] += 1
    print(f"\n{n} corruptions of {title} (kind: stopped with a contract message / read with "
          "every row accounted for; anything else fails)")
    for kind in sorted({k for k, _ in outcomes}):
        print(f"  {kind:18s} {outcomes[kind, 'stopped']:4d} {outcomes[kind, 'cleaned']:4d}")
    assert sum(outcomes.values()) == n
    return outcomes
