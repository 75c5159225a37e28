"""Dagster definitions: tap-vidnavigator's shards as one job, in parallel, retried one by one.

``vidnavigator_shards`` runs every shard of one pipeline (an extractor and a loader of
the Meltano project) as its own ``meltano run`` (orchestrate/shard.py, a subprocess whose
log lines stream into Dagster), each with its own state ID. Shards run in parallel on
Dagster's multiprocess executor, at most ``shards_per_key`` at once for one API key (a
tag concurrency limit within a run, and the pool ``vidnavigator-key-<name>`` across runs);
each shard keeps at most ``key_active_task_cap // shards_per_key`` tasks running, so the
shards of one key never draw 429 too_many_active_jobs from each other. A failed shard is
retried alone (its in-flight tasks are in its state: nothing is paid for twice). A
schedule runs the job daily.

Everything has a default in the job's config and can be set from the environment:

=============================  ===========================================  ===============
config                         environment variable                         default
=============================  ===========================================  ===============
environment                    VIDNAVIGATOR_MELTANO_ENVIRONMENT             dev
extractor                      VIDNAVIGATOR_EXTRACTOR                       tap-vidnavigator
loader                         VIDNAVIGATOR_LOADER                          target-postgres
shards                         VIDNAVIGATOR_SHARDS                          4
key_name                       VIDNAVIGATOR_KEY_NAME                        default
key_active_task_cap            VIDNAVIGATOR_KEY_ACTIVE_TASK_CAP             10
(executor) shards_per_key      VIDNAVIGATOR_SHARDS_PER_KEY                  2
meltano_database_uri           MELTANO_DATABASE_URI                         the project's
=============================  ===========================================  ===============

    .venv/bin/dagster dev -f orchestrate/definitions.py       # the UI on http://127.0.0.1:3000
    .venv/bin/dagster job execute -f orchestrate/definitions.py -j vidnavigator_shards
"""

# No `from __future__ import annotations`: Dagster reads the config class from the
# op signatures at run time.

import os
import sys
import time
import typing as t
from pathlib import Path

import dagster as dg

# `dagster dev -f orchestrate/definitions.py` loads this file by path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from orchestrate import shard

KEY_TAG = "vidnavigator/api_key"


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


KEY_NAME = _env("VIDNAVIGATOR_KEY_NAME", "default")
DEFAULT_SHARDS_PER_KEY = int(_env("VIDNAVIGATOR_SHARDS_PER_KEY", "2"))


class ShardsConfig(dg.Config):
    """Which pipeline to shard, into how many shards, and the API key's task cap."""

    environment: str = _env("VIDNAVIGATOR_MELTANO_ENVIRONMENT", "dev")
    extractor: str = _env("VIDNAVIGATOR_EXTRACTOR", "tap-vidnavigator")
    loader: str = _env("VIDNAVIGATOR_LOADER", "target-postgres")
    shards: int = int(_env("VIDNAVIGATOR_SHARDS", "4"))
    key_active_task_cap: int = int(_env("VIDNAVIGATOR_KEY_ACTIVE_TASK_CAP", "10"))
    meltano_database_uri: str = _env("MELTANO_DATABASE_URI", "")


def _executor_config(config: dict) -> dict:
    # Shards spend their time waiting on subprocesses and the API, not on this
    # machine's cores: the API key's limit is what bounds them.
    return {
        "max_concurrent": config["max_concurrent"],
        "tag_concurrency_limits": [
            {
                "key": KEY_TAG,
                "value": {"applyLimitPerUniqueValue": True},
                "limit": config["shards_per_key"],
            }
        ],
    }


#: Dagster's multiprocess executor with the per-key limit: ``shards_per_key`` shards of
#: one API key run at once (run config ``execution: config: shards_per_key: N``).
shards_executor = dg.multiprocess_executor.configured(
    _executor_config,
    name="shards_executor",
    config_schema={
        "shards_per_key": dg.Field(int, default_value=DEFAULT_SHARDS_PER_KEY),
        "max_concurrent": dg.Field(int, default_value=64),
    },
)


def _shards_per_key(context: dg.OpExecutionContext) -> int:
    execution = t.cast("dict", context.run_config.get("execution") or {})
    config = t.cast("dict", execution.get("config") or {})
    return int(config.get("shards_per_key", DEFAULT_SHARDS_PER_KEY))


@dg.op(out=dg.DynamicOut(int))
def plan_shards(context: dg.OpExecutionContext, config: ShardsConfig) -> object:
    """Create the Meltano system database once, check the shard count, fan out."""
    existing = shard.prepare(
        config.environment,
        config.extractor,
        config.loader,
        config.shards,
        database_uri=config.meltano_database_uri or None,
    )
    context.log.info(
        f"{config.shards} shard(s) of {config.extractor} -> {config.loader}; existing "
        f"states: {', '.join(existing) or 'none'}"
    )
    for index in range(config.shards):
        yield dg.DynamicOutput(index, mapping_key=f"shard_{index}")


@dg.op(
    tags={KEY_TAG: KEY_NAME},
    pool=f"vidnavigator-key-{KEY_NAME}",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL),
)
def run_shard(context: dg.OpExecutionContext, config: ShardsConfig, index: int) -> dict:
    """One shard's ``meltano run``, its log streamed into Dagster."""
    per_shard = max(1, config.key_active_task_cap // max(1, _shards_per_key(context)))
    started = time.time()
    code = shard.run_shard(
        config.environment,
        config.extractor,
        config.loader,
        index,
        config.shards,
        database_uri=config.meltano_database_uri or None,
        max_active_tasks=per_shard,
        on_line=context.log.info,
    )
    if code != 0:
        raise dg.Failure(
            description=f"shard {index} of {config.shards}: meltano run exited {code}",
            metadata={"exit code": code, "attempt": context.retry_number + 1},
        )
    state_id = (
        f"{shard.pipeline_id(config.environment, config.extractor, config.loader)}:"
        f"{shard.shard_suffix(index, config.shards)}"
    )
    context.add_output_metadata({"state_id": state_id, "seconds": time.time() - started})
    return {"shard": index, "state_id": state_id}


@dg.job(executor_def=shards_executor, tags={KEY_TAG: KEY_NAME})
def vidnavigator_shards() -> None:
    """Every shard of the pipeline, in parallel within the API key's limits."""
    plan_shards().map(run_shard)


daily = dg.ScheduleDefinition(
    job=vidnavigator_shards,
    cron_schedule=_env("VIDNAVIGATOR_SCHEDULE", "0 6 * * *"),
    execution_timezone="UTC",
)

defs = dg.Definitions(jobs=[vidnavigator_shards], schedules=[daily])
