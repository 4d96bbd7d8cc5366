"""Python bindings of exaone.cpp's data-compliance pipeline (``exaone comply``).

Everything runs in the C++ library the CLI uses (``src/comply``), so findings, masks,
pseudonyms, digests and manifest records are byte for byte those of ``exaone comply scan``.
Offsets (``start``/``end``) are bytes into the UTF-8 text, as in manifests; ``char_start``
and ``char_end`` index the Python ``str``.

Batch functions take a list of ``str`` or an Arrow string array and return columns; they
release the GIL and spread the documents over ``threads`` threads (0: all cores).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from . import _core
from ._core import ComplyError, Finding

__all__ = [
    "ComplyError", "Finding", "RULES_VERSION", "ACTIONS", "finding_types", "detect", "transform",
    "scan_document", "detect_batch", "process_batch", "scan", "verify_manifest", "to_arrow",
]

RULES_VERSION: str = _core.RULES_VERSION
ACTIONS = ("report", "mask", "pseudonymize", "drop")


def finding_types() -> List[str]:
    """The type names findings carry (``rrn``, ``phone``, ``card``, ...), as in manifests."""
    return list(_core.finding_types())


def detect(text: str, min_confidence: float = 0.5) -> List[Finding]:
    """Personal data and secrets in ``text``, sorted and non-overlapping.

    Each :class:`Finding` has ``type``, ``start``/``end`` (UTF-8 byte offsets, as in the
    manifest), ``char_start``/``char_end`` (``str`` indices), ``confidence`` and ``rule``.
    """
    return _core.detect(text, float(min_confidence))


def transform(text: str, action: str = "mask", key: Union[str, bytes, None] = None,
              min_confidence: float = 0.5) -> str:
    """``text`` with its findings masked (``action="mask"``, format kept: ``010-****-5678``)
    or replaced by keyed pseudonyms (``"pseudonymize"``: ``[phone:16 hex]``, HMAC-SHA256 with
    ``key``). ``"report"`` returns the text unchanged; ``"drop"`` masks, as a kept document is."""
    return _core.transform(text, action, _key(key), float(min_confidence))


def scan_document(text: str, *, id: Union[str, int, None] = None, source: Optional[str] = None,
                  license: Optional[str] = None, url: Optional[str] = None, author: Optional[str] = None,
                  date: Optional[str] = None, action: str = "report", key: Union[str, bytes, None] = None,
                  policy: Optional[str] = None, cards: Sequence[str] = (), drop_threshold: Optional[int] = None,
                  file: str = "input.jsonl") -> Dict[str, Any]:
    """The manifest record ``exaone comply scan`` writes for ``text`` as the only line of the
    JSONL file ``file``: findings, licence decision (from ``policy`` and the source ``cards``),
    digests and decision. With one document there are no duplicates; a kept document is
    recorded in ``data/shard-00000.jsonl``."""
    plan = _core.ScanPlan(_options(action=action, key=key, policy=policy, cards=cards,
                                   drop_threshold=drop_threshold))
    fields = {"id": id, "source": source, "license": license, "url": url, "author": author, "date": date}
    return plan.scan_document(text, fields, file)


def detect_batch(texts, min_confidence: float = 0.5, threads: int = 0) -> Dict[str, Any]:
    """Findings of many texts at once, as columns: ``doc`` (index of the text), ``type``,
    ``start``, ``end``, ``char_start``, ``char_end``, ``confidence``, ``rule`` (numpy arrays and
    lists of equal length). ``texts``: a list of ``str`` or an Arrow string array."""
    return process_batch(texts, action="report", min_confidence=min_confidence, output=False,
                         dedup=False, threads=threads)["findings"]


def process_batch(texts, action: str = "report", key: Union[str, bytes, None] = None,
                  min_confidence: float = 0.5, output: bool = True, dedup: bool = True,
                  num_perm: int = 128, threads: int = 0) -> Dict[str, Any]:
    """The per-document work of a scan over a batch: detection, the action, SHA-256 digests and
    the duplicate features. Returns a dict of columns:

    * ``findings``: the columns of :func:`detect_batch`;
    * ``num_findings`` (int64[n]), ``sha256_input``, ``sha256_output`` (hex), ``error``
      (``""`` or why the text was not processed, e.g. invalid UTF-8);
    * ``output``: the transformed texts as ``(offsets int64[n+1], data bytes)``, ready for
      ``pyarrow.LargeStringArray.from_buffers`` (see :func:`to_arrow`), when ``output``;
    * ``exact_key`` (uint64[n, 2]) and ``minhash`` (uint32[n, num_perm]) when ``dedup``.

    The GIL is released while the texts are processed on ``threads`` threads (0: all cores).
    """
    data, offsets = _texts(texts)
    return _core.process_batch(data, offsets, action, _key(key), float(min_confidence), bool(output),
                               bool(dedup), int(num_perm), int(threads))


def to_arrow(columns: Dict[str, Any]):
    """The per-document columns of :func:`process_batch` as a ``pyarrow.Table`` (findings are
    a table of their own: ``to_arrow(result["findings"])``)."""
    import pyarrow as pa

    cols = {}
    for name, value in columns.items():
        if name == "findings":
            continue
        if name == "output":
            off, data = value
            n = len(off) - 1
            cols[name] = pa.LargeStringArray.from_buffers(n, pa.py_buffer(off), pa.py_buffer(data))
        elif name == "minhash":
            cols[name] = pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)), value.shape[1])
        elif name == "exact_key":
            cols[name] = pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)), 2)
        else:
            cols[name] = pa.array(value)
    return pa.table(cols)


def scan(input: str, out: str, *, action: str = "report", key: Union[str, bytes, None] = None,
         policy: Optional[str] = None, cards: Sequence[str] = (), force: bool = False, resume: bool = False,
         near_threshold: float = 0.8, exact_dedup: bool = True, near_dedup: bool = True,
         drop_near_duplicates: bool = False, drop_threshold: Optional[int] = None, shard_mb: float = 256,
         threads: int = 0) -> Dict[str, Any]:
    """``exaone comply scan`` in this process: same options, same outputs in ``out``. Returns the
    summary (documents, kept, quarantined, ..., bytes, seconds, complete)."""
    return _core.scan(_options(input=input, out=out, action=action, key=key, policy=policy, cards=cards,
                               force=force, resume=resume, near_threshold=near_threshold,
                               exact_dedup=exact_dedup, near_dedup=near_dedup,
                               drop_near_duplicates=drop_near_duplicates, drop_threshold=drop_threshold,
                               shard_mb=shard_mb, threads=threads))


def verify_manifest(directory: str) -> int:
    """Checks ``directory/manifest.sha256`` as ``exaone comply verify`` does; raises
    :class:`ComplyError` naming the first missing or altered file. Returns the files checked."""
    return _core.verify_manifest(os.fspath(directory))


# ---------------------------------------------------------------- helpers
def _key(key) -> str:
    if key is None:
        return os.environ.get("EXAONE_COMPLY_KEY", "")
    return key.decode() if isinstance(key, bytes) else str(key)


def _options(**kw) -> Dict[str, Any]:
    kw["key"] = _key(kw.get("key"))
    kw["cards"] = [os.fspath(c) for c in kw.get("cards") or ()]
    for k in ("input", "out", "policy"):
        if kw.get(k) is not None:
            kw[k] = os.fspath(kw[k])
    return kw


def _texts(texts):
    """(data, offsets) for the C++ batch: a list of str as is (offsets None), an Arrow string
    array as its buffers (no copy)."""
    mod = type(texts).__module__
    if mod.startswith("pyarrow"):
        import numpy as np
        import pyarrow as pa

        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
        if pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type):
            if texts.null_count:
                raise ValueError("texts: the Arrow array has nulls")
            width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
            bufs = texts.buffers()
            offsets = np.frombuffer(bufs[1], dtype=width)[texts.offset:texts.offset + len(texts) + 1]
            data = bufs[2] if bufs[2] is not None else b""
            return memoryview(data), offsets
        raise TypeError(f"texts: expected an Arrow string array, got {texts.type}")
    if isinstance(texts, (list, tuple)):
        return texts, None
    return list(texts), None
