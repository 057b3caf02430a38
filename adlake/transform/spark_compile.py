"""The clean plan compiled to PySpark column expressions: casts, checks, PII, deduplication.

The twin of the DuckDB compilation in :mod:`~adlake.transform.staging` and
:func:`~adlake.transform.clean_model.clean_values`: the same :class:`CleanPlan` in, the same
values, hashes and quarantine reasons out (``test_spark_engine`` holds them row by row).
Where Spark's own casts accept more than DuckDB's (``'2026'`` as a date, ``'14:30'`` as today's
time) or less (``1.5`` as an integer, which DuckDB rounds), the expressions here add the
difference. PII values that are not plain ASCII are normalized by
:func:`adlake.transform.pii.normalize`, the Python twin the tests hold DuckDB's SQL to, because
Spark has no Unicode normalization and lower-cases with the JVM's locale rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from adlake.config import ColumnConfig, PiiConfig
from adlake.transform import pii
from adlake.transform.plan import (
    BAD_JSON,
    SHOWN_CHARS,
    CleanPlan,
    Message,
    RowDate,
    Shown,
    WindowDate,
)

_INTEGER = r"^[+-]?[0-9]+$"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_HEX = r"^0[xX][0-9a-fA-F]+$"
_DATE_START = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"  # Spark alone takes '2026' or '14:30'
_BOUNDS = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
_NON_ASCII = r"[^\x00-\x7f]"


def spark_type(column: ColumnConfig) -> T.DataType:
    """The Spark type that holds a declared column (the twin of ``types.duckdb_type``)."""
    if column.type == "decimal":
        return T.DecimalType(column.precision, column.scale)
    return {
        "string": T.StringType(),
        "integer": T.IntegerType(),
        "bigint": T.LongType(),
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
        "date": T.DateType(),
        "timestamp": T.TimestampNTZType(),
        "timestamp_tz": T.TimestampType(),
    }[column.type]


def cast(value: Column, column: ColumnConfig) -> Column:
    """``value`` cast to the column's type as DuckDB's TRY_CAST does it, NULL when it fails."""
    kind = column.type
    if kind == "string":
        return value.cast("string")
    text = F.trim(value.cast("string"))
    if kind in ("integer", "bigint", "double", "decimal"):
        text = F.regexp_replace(text, r"(?<=[0-9])_(?=[0-9])", "")  # DuckDB reads 1_000
    if kind in ("integer", "bigint"):
        low, high = _BOUNDS[kind]
        # DuckDB rounds a fraction half away from zero; Spark would truncate it
        rounded = F.round(text.cast(T.DecimalType(38, 9)), 0)
        exact = text.cast(T.DecimalType(38, 0))
        whole = (
            F.when(text.rlike(_INTEGER), exact)
            .when(text.rlike(_HEX), F.conv(F.substring(text, 3, 64), 16, 10).cast("decimal(38,0)"))
            .when(text.rlike(_NUMBER), rounded)
        )
        return F.when(whole.between(low, high), whole.cast(spark_type(column)))
    if kind in ("date", "timestamp", "timestamp_tz"):
        return F.when(text.rlike(_DATE_START), text.cast(spark_type(column)))
    return text.cast(spark_type(column))


def message(
    parts: Message,
    src: Column,
    row_dt: Column | None = None,
    dates: Mapping[str, Column] | None = None,
) -> Column:
    """A plan message as a Spark string: the source value, the row's and window's dates."""
    columns = []
    for part in parts:
        if isinstance(part, Shown):
            shown = F.concat(
                F.lit("'"), F.substring(src.cast("string"), 1, SHOWN_CHARS), F.lit("'")
            )
            columns.append(F.lit("***") if part.masked else shown)
        elif isinstance(part, RowDate):
            columns.append(row_dt.cast("string"))
        elif isinstance(part, WindowDate):
            columns.append(dates[part.which].cast("string"))
        else:
            columns.append(F.lit(part))
    return F.concat(*columns)


def staged(df: DataFrame, plan: CleanPlan, delivery_dt: Column, typed_by_reader: bool) -> DataFrame:
    """Rows read from deliveries (``src__<column>``, ``_bad_json``) typed, checked and dated.

    Adds the typed columns, ``_error`` (NULL for a valid row) and ``dt``: the row's partition
    date, or its delivery's (``delivery_dt``, a DATE) when the row is invalid.
    """
    typed: dict[str, Column] = {}
    checks: list[Column] = [F.when(F.col("_bad_json"), F.lit(BAD_JSON))]
    for rule in plan.columns:
        src = F.col(f"src__{rule.name}")
        typed[rule.name] = src if typed_by_reader else cast(src, rule.column)
        if not typed_by_reader:
            bad = src.isNotNull() & typed[rule.name].isNull()
            checks.append(F.when(bad, message(rule.cast_error(), src)))
        if rule.required:
            checks.append(F.when(src.isNull(), message(rule.required_error(), src)))
    df = df.select("*", *(typed[rule.name].alias(rule.name) for rule in plan.columns))
    row_dt = F.lit(None).cast("date")
    if plan.partition_column is not None:
        value = F.col(plan.partition_column)
        row_dt = value.cast("date")
        # one expression serves every delivery: the window's dates are columns of delivery_dt
        window = plan.window("2000-01-01")
        newest = F.date_add(delivery_dt, 1)
        dates = {
            "delivery": delivery_dt,
            "newest": newest,
            "oldest": F.date_sub(newest, plan.lateness_days + 1),
        }
        outside = ~row_dt.between(dates["oldest"], newest)
        checks.append(F.when(value.isNull(), message(window.missing_error(), value)))
        checks.append(F.when(outside, message(window.outside_error(), value, row_dt, dates)))
    else:
        row_dt = delivery_dt
    error = F.concat_ws("; ", *checks)
    df = df.withColumn("_error", F.when(error != "", error))
    return df.withColumn("dt", F.when(F.col("_error").isNull(), row_dt).otherwise(delivery_dt))


def latest_per_key(valid: DataFrame, plan: CleanPlan) -> DataFrame:
    """The rows that win deduplication: per day and primary key, the latest delivery and record."""
    latest = Window.partitionBy("dt", *plan.primary_key).orderBy(
        F.col("_delivery").desc(), F.col("_record").desc()
    )
    return valid.withColumn("_rank", F.row_number().over(latest)).where("_rank = 1").drop("_rank")


def clean_columns(plan: CleanPlan, keys: Mapping[str, str]) -> list[Column]:
    """The clean zone's columns over staged rows: PII hashed, dropped columns left out.

    ``keys`` names, per HMAC secret, the columns holding its inner and outer pads (joined in
    from a one-row key table, so no key is ever part of a query's text).
    """
    out = []
    for rule in plan.output:
        value = F.col(rule.name)
        if rule.pii:
            value = protected(value.cast("string"), rule.pii, keys.get(rule.pii.secret or ""))
        out.append(value.alias(rule.name))
    return out


def protected(value: Column, config: PiiConfig, pads: str | None) -> Column:
    """The clean value of a PII column: SHA-256 or HMAC-SHA256 hex of its normalized value."""
    normalized = normalize(value, config)
    if config.policy == "sha256":
        return F.sha2(normalized, 256)
    inner = F.sha2(F.concat(F.col(f"{pads}_ipad"), F.encode(normalized, "UTF-8")), 256)
    return F.sha2(F.concat(F.col(f"{pads}_opad"), F.unhex(inner)), 256)


def normalize(value: Column, config: PiiConfig) -> Column:
    """The normalized identifier (NULL if unusable), by the rules of ``pii.normalize_sql``."""
    twin = F.udf(lambda text: pii.normalize(text, config), T.StringType())
    return F.when(value.rlike(_NON_ASCII), twin(F.when(value.rlike(_NON_ASCII), value))).otherwise(
        _normalize_ascii(value, config)
    )


# pii.SPACES of ASCII values, leading or trailing, as a Java regex (F.trim removes only ' ')
_ASCII_SPACES = r"^[\t\n\x0b\f\r\x1c-\x1f ]+|[\t\n\x0b\f\r\x1c-\x1f ]+$"


def _normalize_ascii(expr: Column, config: PiiConfig) -> Column:
    """:func:`pii.normalize_sql` in Spark expressions, for ASCII values."""
    trimmed = F.regexp_replace(expr, _ASCII_SPACES, "")
    value = F.when(trimmed != "", trimmed)
    identifier = config.identifier
    if identifier in ("email", "maid"):
        pattern = _java(pii._EMAIL if identifier == "email" else pii._MAID)
        return F.when(F.lower(value).rlike(pattern), F.lower(value))
    if identifier in ("first_name", "last_name"):
        letters = F.regexp_replace(F.lower(value), r"[^\p{L}]", "")
        return F.when(letters != "", letters)
    if identifier == "zip":
        compact = F.regexp_replace(F.lower(value), _java(r"[\s-]"), "")
        return F.when(compact.rlike("^[0-9]{5}([0-9]{4})?$"), F.substring(compact, 1, 5)).when(
            compact != "", compact
        )
    if identifier == "phone":
        e164 = _phone(value, config.region)
        return F.regexp_replace(e164, r"^\++", "") if config.phone_format == "digits" else e164
    return value


def _phone(value: Column, region: str) -> Column:
    """E.164 of a trimmed phone value, by the rules of ``pii._phone_sql``."""
    code, trunk, lengths, exit_code = pii._phone_rules(region)
    text = F.replace(
        F.regexp_replace(value, "(?i)" + _java(pii._EXTENSION), ""), F.lit("(0)"), F.lit("")
    )
    digits = F.regexp_replace(text, "[^0-9]", "")
    size = F.length(digits)
    national = digits
    if trunk:
        national = F.when(
            digits.startswith(trunk) & (size - len(trunk)).isin(*lengths),
            F.substring(digits, len(trunk) + 1, 64),
        ).otherwise(digits)
    written = (
        F.when(F.ltrim(text).startswith("+"), F.concat(F.lit("+"), digits))
        .when(digits.startswith("00"), F.concat(F.lit("+"), F.substring(digits, 3, 64)))
        .when(F.length(national).isin(*lengths), F.concat(F.lit(f"+{code}"), national))
    )
    if exit_code:
        written = written.when(
            digits.startswith(exit_code),
            F.concat(F.lit("+"), F.substring(digits, len(exit_code) + 1, 64)),
        )
    written = written.when(
        digits.startswith(code) & (size - len(code)).isin(*lengths), F.concat(F.lit("+"), digits)
    )
    return F.when(written.rlike(_java(pii._E164)), written)


def _java(pattern: str) -> str:
    r"""A DuckDB (RE2) pattern as Java reads it the same way.

    Java's ``\s`` also matches a vertical tab and its ``$`` also matches before a final line
    break; RE2's do neither.
    """
    pattern = re.sub(
        r"\[([^\]]*)\]", lambda m: "[" + m.group(1).replace(r"\s", r"\t\n\f\r ") + "]", pattern
    )
    pattern = pattern.replace(r"\s", r"[\t\n\f\r ]")
    return pattern[:-1] + r"\z" if pattern.endswith("$") else pattern


def hmac_key_table(
    spark, plan: CleanPlan, keys: Mapping[str, bytes]
) -> tuple[DataFrame, dict[str, str]]:
    """A one-row table of the HMAC pads the plan needs, and its column prefix per secret."""
    needed = sorted({r.pii.secret for r in plan.columns if r.pii and r.pii.policy == "hmac"})
    prefixes, row, fields = {}, [], []
    for number, name in enumerate(needed):
        if name not in keys:
            raise KeyError(f"HMAC key '{name}' was not provided to the clean run")
        prefixes[name] = f"_hmac{number}"
        ipad, opad = pii.hmac_pads(keys[name])
        row += [bytearray(ipad), bytearray(opad)]
        fields += [
            T.StructField(f"_hmac{number}_ipad", T.BinaryType()),
            T.StructField(f"_hmac{number}_opad", T.BinaryType()),
        ]
    return spark.createDataFrame([tuple(row)], T.StructType(fields)), prefixes
