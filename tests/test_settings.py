"""The environment variables taperwise reads, each refused with its name when it cannot be used."""

from __future__ import annotations

import datetime as dt

import pytest

from taperwise.plausible import DEFAULT_EARLIEST, DateRange, PlausibleRangeError
from taperwise.settings import EngineSettings, Settings, SettingsError


def test_server_settings_defaults_and_refusals() -> None:
    assert Settings.from_environment({}) == Settings()
    assert (
        Settings.from_environment({"TAPERWISE_LOG_FORMAT": "JSON", "TAPERWISE_DEV": "1"}).log_format == "json"
    )
    for name, value in [
        ("TAPERWISE_LOG_FORMAT", "xml"),
        ("TAPERWISE_LOG_LEVEL", "loud"),
        ("TAPERWISE_DEV", "yes"),
        ("TAPERWISE_PUBLIC_URL", "taperwise.example.org"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_environment({name: value})


def test_engine_settings_read_the_spark_and_duckdb_variables() -> None:
    assert EngineSettings.from_environment({}) == EngineSettings("local[*]", (), None)
    read = EngineSettings.from_environment(
        {
            "TAPERWISE_SPARK_MASTER": "spark://host:7077",
            "TAPERWISE_SPARK_CONF": "spark.executor.memory=4g; spark.sql.shuffle.partitions = 64;",
            "TAPERWISE_DUCKDB_MEMORY": "8GB",
        }
    )
    assert read.spark_master == "spark://host:7077"
    assert read.spark_conf == (("spark.executor.memory", "4g"), ("spark.sql.shuffle.partitions", "64"))
    assert read.duckdb_memory == "8GB"
    assert EngineSettings.from_environment({"TAPERWISE_DUCKDB_THREADS": "1"}).duckdb_threads == 1
    for threads in ("0", "two", "-1"):
        with pytest.raises(SettingsError, match="TAPERWISE_DUCKDB_THREADS"):
            EngineSettings.from_environment({"TAPERWISE_DUCKDB_THREADS": threads})


def test_the_cds_settings_are_read_with_the_public_url_without_its_slash() -> None:
    read = Settings.from_environment(
        {"TAPERWISE_PUBLIC_URL": "https://taperwise.example.org/", "TAPERWISE_CDS_ISSUERS": " /etc/ehr.json "}
    )
    assert read.public_url == "https://taperwise.example.org"
    assert read.cds_issuers == "/etc/ehr.json"


def test_an_engine_setting_that_is_not_key_value_is_refused_not_ignored() -> None:
    with pytest.raises(
        SettingsError, match=r"TAPERWISE_SPARK_CONF: 'spark\.executor\.memory' is not key=value"
    ):
        EngineSettings.from_environment({"TAPERWISE_SPARK_CONF": "spark.executor.memory"})


def test_the_plausible_date_range_defaults_to_1900_and_a_year_ahead() -> None:
    today = dt.date(2026, 12, 3)
    default = DateRange.from_environment({}, today=today)
    assert default == DateRange(DEFAULT_EARLIEST, dt.date(2027, 12, 4))
    assert default.problem(dt.date(1899, 12, 31), "start_date") is not None
    assert default.problem(dt.date(1900, 1, 1), "start_date") is None
    assert default.problem(dt.date(2027, 12, 5), "start_date") is not None
    site = DateRange.from_environment({"TAPERWISE_EARLIEST_DATE": "1850-01-01"}, today=today)
    assert site.problem(dt.date(1860, 1, 1), "start_date") is None


@pytest.mark.parametrize(
    "env",
    [
        {"TAPERWISE_EARLIEST_DATE": "01/01/1900"},
        {"TAPERWISE_LATEST_DATE": "soon"},
        {"TAPERWISE_EARLIEST_DATE": "2030-01-01", "TAPERWISE_LATEST_DATE": "2020-01-01"},
    ],
)
def test_an_unusable_date_range_is_refused_naming_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(PlausibleRangeError, match="TAPERWISE_"):
        DateRange.from_environment(env)
