"""The same shards as an Airflow 3 DAG: one task per shard (an example, not run in CI).

Airflow is not installed by this project and this file is not tested: its `dag.test()`
runs tasks one after another, so no test could show shards in parallel without a running
scheduler. The engine-neutral part is orchestrate/shard.py, which the Dagster job
(tested) calls the same way. Copy this file into the DAGs folder of an Airflow whose
workers have this project (its .venv and installed Meltano plugins) at PROJECT.
"""

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

PROJECT = "/opt/tap-vidnavigator"
PIPELINE = "tap-vidnavigator target-postgres"
SHARDS = 4
#: Shards of one API key at once: its cap of 10 active tasks, 5 per shard.
SHARDS_PER_KEY = 2
SHARD = f"cd {PROJECT} && .venv/bin/python orchestrate/shard.py"

with DAG(
    dag_id="vidnavigator_shards",
    schedule="0 6 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # Within a run; across DAGs sharing the key, use an Airflow pool of SHARDS_PER_KEY slots.
    max_active_tasks=SHARDS_PER_KEY,
) as dag:
    prepare = BashOperator(
        task_id="prepare", bash_command=f"{SHARD} prepare --shards {SHARDS} {PIPELINE}"
    )
    for index in range(SHARDS):
        shard = BashOperator(
            task_id=f"shard_{index}",
            bash_command=(
                f"{SHARD} run --shard {index} --shards {SHARDS} --key-cap 10 "
                f"--concurrent {SHARDS_PER_KEY} {PIPELINE}"
            ),
            retries=2,
            retry_delay=pendulum.duration(seconds=30),
        )
        prepare >> shard
