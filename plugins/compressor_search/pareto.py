"""Pareto fronts of (latency, score) points, and the hypervolume that compares two of them."""

from __future__ import annotations

from collections.abc import Sequence

from compressor_search.metric import MetricInfo


def pareto_front(points: Sequence[tuple[float, float]], metric: MetricInfo) -> list[int]:
    """Indices of the points no other point beats: as fast or faster and scoring at least as
    well, strictly better in one (``points`` are ``(latency, score)``)."""
    front = []
    for i, (latency, score) in enumerate(points):
        dominated = any(
            other_latency <= latency
            and metric.better(other_score, score)
            and (other_latency < latency or other_score != score)
            for j, (other_latency, other_score) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


def hypervolume(
    points: Sequence[tuple[float, float]], reference: tuple[float, float], metric: MetricInfo
) -> float:
    """The area the points dominate up to ``reference`` (a latency no better than any point's
    and a score no better than any point's): larger is a better front.

    Args:
        points: ``(latency, score)`` pairs; those beyond the reference add nothing.
        reference: ``(latency, score)`` of the corner the area is measured from.
        metric: The score's direction.
    """
    sign = 1.0 if metric.higher_is_better else -1.0
    ref_latency, ref_score = reference
    useful = sorted(
        (lat, sign * score)
        for lat, score in points
        if lat < ref_latency and sign * score > sign * ref_score
    )
    area, best = 0.0, sign * ref_score
    for index, (latency, score) in enumerate(useful):
        best = max(best, score)
        right = useful[index + 1][0] if index + 1 < len(useful) else ref_latency
        area += (right - latency) * (best - sign * ref_score)
    return area
