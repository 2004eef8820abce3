"""forget: remove snapshot records (their data goes at the next gc). Tagged ones stay."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from snapkit.errors import Refused
from snapkit.snapshot.repo import Repo


@dataclass(frozen=True)
class ForgetPlan:
    forget: tuple[str, ...]
    keep: tuple[str, ...]
    protected: dict[str, tuple[str, ...]]  # snapshot → tags that keep it alive


def plan_forget(
    repo: Repo,
    specs: list[str],
    keep_last: int | None,
    kept_by: dict[str, list[str]] | None = None,
) -> ForgetPlan:
    """Snapshots named by `specs`, or all but the newest `keep_last` of each source.

    A snapshot a tag points to — or that `kept_by` names (snapshot → what keeps it, e.g.
    the pipeline runs that recorded it) — is never forgotten: naming one explicitly is
    refused; with --keep-last it is kept and not counted.
    """
    tags = repo.tags_by_snapshot()
    for sid, keepers in (kept_by or {}).items():
        tags.setdefault(sid, []).extend(keepers)
    if specs:
        ids = list(dict.fromkeys(repo.resolve(s) for s in specs))
        tagged = {i: tuple(tags[i]) for i in ids if i in tags}
        if tagged:
            names = "; ".join(f"{i[:12]} is kept by {', '.join(t)}" for i, t in tagged.items())
            raise Refused(
                f"not forgetting tagged snapshots: {names}",
                hint="delete the tags first (`snap tag --delete NAME`); run records keep "
                "the snapshots of their steps",
            )
        return ForgetPlan(tuple(ids), (), {})
    assert keep_last is not None
    by_source: dict[str, list[str]] = defaultdict(list)
    for sid, snap in reversed(repo.snapshots()):  # newest first
        by_source[snap.source].append(sid)
    forget, keep = [], []
    for ids in by_source.values():
        untagged = [i for i in ids if i not in tags]
        keep += untagged[:keep_last]
        forget += untagged[keep_last:]
    protected = {i: tuple(t) for i, t in tags.items()}
    return ForgetPlan(tuple(forget), tuple(keep), protected)


def apply_forget(repo: Repo, plan: ForgetPlan) -> int:
    for sid in plan.forget:
        repo.storage.delete(f"snapshots/{sid}")
        repo.objects.cache.discard(f"snapshots/{sid}")
    return len(plan.forget)
