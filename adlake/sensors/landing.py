"""Landing sensors: one per dataset, turning newly delivered files into raw runs, one per day.

The cursor is a high-water mark of (modification time, path), so each tick looks first at files
newer than the last one it handled, and handles at most ``max_files_per_tick`` files. A file
that arrives with an older modification time (``mv`` from a staging folder, ``cp -p``, rsync)
is still found: any file below the mark that has no delivery manifest yet is requested too,
with the spare capacity of the tick. Each run key is the file's path, size and modification
time, so Dagster starts one run per delivery however often it is requested, and a changed
file (new size or time) is a new delivery. Files of the same delivery date found in one tick
(an ad server's 24 hourly logs, say) go into one run, keyed by all their run keys.
"""

import hashlib
import json
from collections import defaultdict

import dagster as dg

from adlake.assets.keys import dataset_key, op_name
from adlake.assets.raw import RawIngestConfig
from adlake.config import AdlakeConfig, DatasetConfig
from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.landing import LandingFile, UnplacedFile, landing_prefix, scan_landing
from adlake.resources.lake import LakeResource


def build_landing_sensors(config: AdlakeConfig) -> dg.Definitions:
    """A landing sensor for every declared dataset, running by default."""
    return dg.Definitions(
        sensors=[
            build_landing_sensor(
                s, d, spec, config.sensors.interval_seconds, config.sensors.max_files_per_tick
            )
            for s, d, spec in config.push_datasets()
        ]
    )


def sensor_name(source: str, dataset: str) -> str:
    """The landing sensor's name for a dataset."""
    return f"landing_{source}__{dataset}_sensor"


def newer_than(files: list[LandingFile], cursor: str | None) -> list[LandingFile]:
    """Files after the cursor's (mtime, path) high-water mark, oldest first."""
    if not cursor:
        return files
    mark = json.loads(cursor)
    last = (int(mark["mtime_ns"]), str(mark["path"]))
    return [f for f in files if (f.mtime_ns, f.path) > last]


def files_to_request(
    files: list[LandingFile], cursor: str | None, ledger: DeliveryLedger, limit: int
) -> tuple[list[LandingFile], str | None]:
    """The files to request this tick (at most ``limit``) and the next cursor.

    Newer files come first. Then come stragglers: files at or below the mark with no delivery
    manifest that were never requested (a file moved in with an old modification time). The
    cursor remembers the run keys requested until their delivery is recorded or their file
    leaves landing, so every file is requested once and the list stays short.
    """
    mark = json.loads(cursor) if cursor else {}
    by_key = {f.run_key: f for f in files}
    requested = [
        key
        for key in mark.get("requested", [])
        if key in by_key and ledger.get(by_key[key].dt, by_key[key].delivery_id) is None
    ]
    newer = newer_than(files, cursor)
    chosen = newer[:limit]
    if len(chosen) < limit and cursor:
        newer_keys = {f.run_key for f in newer}
        skip = set(requested) | newer_keys
        stragglers = [
            f for f in files if f.run_key not in skip and ledger.get(f.dt, f.delivery_id) is None
        ]
        chosen = stragglers[: limit - len(chosen)] + chosen
    if not chosen:
        return [], cursor
    last = max((f for f in chosen if f in newer), key=lambda f: (f.mtime_ns, f.path), default=None)
    next_cursor = {
        "mtime_ns": last.mtime_ns if last else mark["mtime_ns"],
        "path": last.path if last else mark["path"],
        "requested": requested + [f.run_key for f in chosen],
    }
    return chosen, json.dumps(next_cursor)


def waiting_without_date(unplaced: list[UnplacedFile]) -> str:
    """The end of a skip reason naming files that wait in landing because they have no date."""
    if not unplaced:
        return ""
    shown = ", ".join(f.path for f in unplaced[:3])
    more = f" and {len(unplaced) - 3} more" if len(unplaced) > 3 else ""
    return (
        f"; {len(unplaced)} file(s) without a date are waiting: {shown}{more} "
        f"({unplaced[0].reason})"
    )


def build_landing_sensor(
    source: str, dataset: str, spec: DatasetConfig, interval: int, max_files: int
) -> dg.SensorDefinition:
    """The landing sensor of one dataset."""
    raw_key = dataset_key("raw", source, dataset)
    prefix = landing_prefix(source, dataset)

    @dg.sensor(
        name=sensor_name(source, dataset),
        asset_selection=[raw_key],
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Watches {prefix}/ and requests a raw run per delivery day of new files.",
    )
    def _landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
        store = lake.lake()
        files, unplaced = scan_landing(store, source, dataset, spec.landing)
        for file in unplaced:
            context.log.warning(f"{file.path}: {file.reason}")
        fresh, cursor = files_to_request(
            files, context.cursor, DeliveryLedger(store, source, dataset), max_files
        )
        if not fresh:
            return dg.SkipReason(f"no new files in {prefix}/{waiting_without_date(unplaced)}")
        requests = [
            dg.RunRequest(
                run_key=batch_run_key(batch),
                partition_key=dt,
                asset_selection=[raw_key],
                run_config=dg.RunConfig(
                    ops={op_name(raw_key): RawIngestConfig(files=[f.path for f in batch])}
                ),
                tags=batch_tags(batch),
            )
            for dt, batch in by_day(fresh).items()
        ]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _landing_sensor


def by_day(files: list[LandingFile]) -> dict[str, list[LandingFile]]:
    """Files grouped by delivery date, days in the order their first file came."""
    days: dict[str, list[LandingFile]] = defaultdict(list)
    for file in files:
        days[file.dt].append(file)
    return dict(days)


def batch_run_key(batch: list[LandingFile]) -> str:
    """The run key of one day's files: a lone file's own key, or a digest of all their keys.

    The same files requested again give the same key, so Dagster starts their run once.
    """
    if len(batch) == 1:
        return batch[0].run_key
    keys = "\n".join(sorted(f.run_key for f in batch))
    return f"{batch[0].dt}:{len(batch)}files:{hashlib.sha256(keys.encode()).hexdigest()[:16]}"


def batch_tags(batch: list[LandingFile]) -> dict[str, str]:
    """Run tags naming the landing file (one) or how many files (several) the run takes."""
    if len(batch) == 1:
        return {"adlake/landing_file": batch[0].path}
    return {"adlake/landing_files": str(len(batch)), "adlake/first_landing_file": batch[0].path}
