"""A/B variants: named serving configurations, and which one a request gets.

Variants come from `PGREC_VARIANTS`, a JSON object of name -> {share, ranker, fusion,
diversity, freshness, popularity}. A request names one with `variant=`; otherwise a user is
assigned by a hash of the user id (the same user always lands in the same variant, and
users spread over the variants in proportion to their shares); an anonymous request is
assigned by a hash of its request id. Without configuration there is one variant, "default".
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from api.errors import BadParameter
from api.params import ListOptions
from api.rerank import RerankOptions

DEFAULT = "default"
FUSION_MODES = ("semantic", "terms", "title")
RERANK_KNOBS = ("diversity", "freshness", "popularity")
KNOWN_KEYS = {"share", "ranker", "fusion", *RERANK_KNOBS}
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class VariantConfigError(ValueError):
    """PGREC_VARIANTS is not a valid variant configuration."""


@dataclass(frozen=True)
class Variant:
    name: str
    share: float = 1.0
    ranker: str | None = None  # the user mode's ranking-model version ('fallback' or trained)
    fusion: tuple[tuple[str, float], ...] = ()  # hybrid mode: weight per list
    rerank: tuple[tuple[str, float], ...] = ()  # defaults for diversity, freshness, popularity

    def apply(self, options: ListOptions, given: Sequence[str]) -> ListOptions:
        """The request's options with this variant's defaults where the request set none."""
        rerank = options.rerank
        for knob, value in self.rerank:
            if knob not in given:
                rerank = _with(rerank, knob, value)
        return replace(
            options,
            rerank=rerank,
            fusion=self.fusion or options.fusion,
            ranker=self.ranker or options.ranker,
        )


@dataclass(frozen=True)
class Variants:
    variants: tuple[Variant, ...] = field(default_factory=lambda: (Variant(DEFAULT),))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    def named(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise BadParameter("variant", f"unknown variant {name!r} (known: {', '.join(self.names)})")

    def assign(self, key: str) -> Variant:
        """The variant for this key (a user id or request id), by a stable hash and the shares."""
        digest = hashlib.sha256(b"pgrec-variant\x00" + key.encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2.0**64
        total = sum(v.share for v in self.variants)
        edge = 0.0
        for v in self.variants:
            edge += v.share / total
            if point < edge:
                return v
        return self.variants[-1]


def _with(rerank: RerankOptions, knob: str, value: float) -> RerankOptions:
    if knob == "diversity":
        return replace(rerank, diversity=value)
    if knob == "freshness":
        return replace(rerank, freshness=value)
    return replace(rerank, popularity=value)


def _number(name: str, key: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise VariantConfigError(f"variant {name!r}: {key} must be a number")
    if not low <= value <= high:
        raise VariantConfigError(f"variant {name!r}: {key} must be in [{low}, {high}]")
    return float(value)


def _variant(name: str, spec: Any) -> Variant:
    if not NAME.match(name):
        raise VariantConfigError(f"variant name {name!r}: use 1..64 of A-Z a-z 0-9 _ . -")
    if not isinstance(spec, Mapping):
        raise VariantConfigError(f"variant {name!r}: expected an object")
    unknown = set(spec) - KNOWN_KEYS
    if unknown:
        raise VariantConfigError(f"variant {name!r}: unknown key {sorted(unknown)[0]!r}")
    share = _number(name, "share", spec.get("share", 1.0), 0.0, 1e6)
    ranker = spec.get("ranker")
    if ranker is not None and not isinstance(ranker, str):
        raise VariantConfigError(f"variant {name!r}: ranker must be a version string")
    fusion = spec.get("fusion") or {}
    if not isinstance(fusion, Mapping) or set(fusion) - set(FUSION_MODES):
        raise VariantConfigError(f"variant {name!r}: fusion takes weights for {FUSION_MODES}")
    weights = tuple((m, _number(name, f"fusion.{m}", w, 0.0, 100.0)) for m, w in fusion.items())
    rerank = tuple((k, _number(name, k, spec[k], 0.0, 1.0)) for k in RERANK_KNOBS if k in spec)
    return Variant(name=name, share=share, ranker=ranker, fusion=weights, rerank=rerank)


def parse_variants(raw: str | None) -> Variants:
    """PGREC_VARIANTS parsed and checked; an empty value means the single default variant."""
    if raw is None or not raw.strip():
        return Variants()
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as err:
        raise VariantConfigError(f"PGREC_VARIANTS is not JSON: {err}") from err
    if not isinstance(spec, Mapping) or not spec:
        raise VariantConfigError("PGREC_VARIANTS must be a non-empty object of name -> variant")
    variants = tuple(_variant(str(name), body) for name, body in spec.items())
    if sum(v.share for v in variants) <= 0:
        raise VariantConfigError("PGREC_VARIANTS: the shares must not all be 0")
    return Variants(variants)
