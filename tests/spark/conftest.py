"""One real local Spark session for the whole run (``local[2,3]``: 2 threads, 3 task attempts).

Java is required: without it these tests fail, loudly, at the fixture (never a skip). The
session is bound to 127.0.0.1 with the UI off, and its Python workers run this interpreter
(this virtual environment, so executors import ``amplitude_legacy`` from this worktree).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.spark import _helpers

MASTER = "local[2,3]"


def java_executable() -> str | None:
    """The ``java`` Spark will start: ``$JAVA_HOME/bin/java``, else the one on ``PATH``."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home, "bin", "java")
        return str(candidate) if candidate.exists() else None
    return shutil.which("java")


@pytest.fixture(scope="session")
def spark_builder() -> Iterator[Any]:
    """The session's settings; fails every Spark test with the reason when Java is missing."""
    if java_executable() is None:
        pytest.fail(
            "Spark tests need Java 17 and found none (JAVA_HOME unset or wrong, no java on "
            "PATH): install it (Debian: apt-get install openjdk-17-jre-headless; "
            ".ci/system-packages does) or set JAVA_HOME",
            pytrace=False,
        )
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from pyspark import cloudpickle
    from pyspark.sql import SparkSession

    # Executors unpickle the helpers by value: they need not import the tests package.
    cloudpickle.register_pickle_by_value(_helpers)
    builder = (
        SparkSession.builder.master(MASTER)
        .appName("amplitude_legacy-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
    )
    yield builder
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.fixture
def spark(spark_builder: Any) -> Any:
    """The one session of the run (started by the first test that asks for it)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and active.sparkContext.master != MASTER:
        active.stop()  # e.g. one a docs page started with other settings
    session = spark_builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
