from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from genesys_export.errors import ConfigError, SchemaMismatch
from genesys_export.transform.csv_columns import column_name
from genesys_export.transform.report_csv import (
    CsvOptions,
    ReportStream,
    read_report,
)
from genesys_export.transform.tables import RunContext
from genesys_export.validate import validate_table

CTX = RunContext(run_id="run-1", extracted_at=datetime(2024, 5, 2, 6, tzinfo=UTC))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def write(tmp_path: Path, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / "report.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def load(path: Path, **options: Any) -> tuple[pa.Table, ReportStream]:
    extras = options.pop("extra_columns", None)
    stream = read_report(path, CsvOptions(**options), CTX, extra_columns=extras)
    table = pa.Table.from_batches(list(stream), schema=stream.schema)
    return table, stream


def column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def test_bom_semicolon_summary_row_clock_durations_and_german_decimals(tmp_path: Path) -> None:
    """A de-DE export: BOM, `;`, 1.234,5 numbers, h:mm:ss durations and a Total row removed."""
    path = write(
        tmp_path,
        "Interval Start;Queue Name;Offer;Avg Handle;Total Talk;% Answered\r\n"
        "2024-05-01 08:00;Support;1.234;12,5;26:03:10;95,5\r\n"
        "2024-05-01 08:30;Sales;7;3,25;0:00:01,5;100\r\n"
        "Total;;1.241;15,75;26:03:11,5;\r\n",
        bom=True,
    )
    table, stream = load(path, delimiter=";", locale="de-DE", time_zone="Europe/Berlin")

    assert table.column_names[:6] == [
        "interval_start", "queue_name", "offer", "avg_handle", "total_talk", "pct_answered"
    ]  # fmt: skip
    assert column(table, "interval_start") == [utc(2024, 5, 1, 6), utc(2024, 5, 1, 6, 30)]
    assert column(table, "offer") == [1234, 7]
    assert column(table, "avg_handle") == [12.5, 3.25]
    assert column(table, "total_talk") == [(26 * 3600 + 3 * 60 + 10) * 1000, 1500]
    assert column(table, "pct_answered") == [95.5, 100.0]
    assert table.schema.field("offer").type == pa.int64()
    assert table.schema.field("total_talk").type == pa.int64()
    assert table.schema.field("interval_start").type == pa.timestamp("ms", tz="UTC")
    assert (stream.stats.rows, stream.stats.summary_rows_removed) == (2, 1)
    assert stream.stats.bytes_read == path.stat().st_size


def test_quoted_delimiters_quotes_and_newlines_stay_in_their_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'Agent Name,Notes,Offer\n"Smith, John","said ""hi""\nthen left",3\n"O\'Brien",plain,4\n',
    )
    table, _ = load(path)
    assert column(table, "agent_name") == ["Smith, John", "O'Brien"]
    assert column(table, "notes") == ['said "hi"\nthen left', "plain"]
    assert column(table, "offer") == [3, 4]


def test_empty_fields_are_null_in_every_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Interval Start,Queue Name,Offer,Avg Wait,Talk,Flag\n"
        "2024-05-01T08:00:00,Support,1,1.5,0:00:02,true\n"
        ',"",,,,\n',
    )
    table, _ = load(path)
    empty = table.slice(1).to_pylist()[0]
    assert {name: empty[name] for name in table.column_names[:6]} == dict.fromkeys(
        ["interval_start", "queue_name", "offer", "avg_wait", "talk", "flag"]
    )
    assert [f.type for f in table.schema][:6] == [
        pa.timestamp("ms", tz="UTC"), pa.string(), pa.int64(), pa.float64(), pa.int64(), pa.bool_()
    ]  # fmt: skip


def test_london_times_across_both_dst_changes_become_the_right_utc(tmp_path: Path) -> None:
    """Spring: 00:30 GMT then 02:00 BST; autumn: the repeated 01:00-02:00 is resolved in order."""
    rows = [
        "2024-03-31 00:30", "2024-03-31 02:00",
        "2024-10-27 00:30", "2024-10-27 01:00", "2024-10-27 01:30",
        "2024-10-27 01:00", "2024-10-27 01:30", "2024-10-27 02:00",
    ]  # fmt: skip
    path = write(tmp_path, "Interval Start,Offer\n" + "".join(f"{r},1\n" for r in rows))
    table, stream = load(path, time_zone="Europe/London", key_columns=("interval_start",))
    assert column(table, "interval_start") == [
        utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1),
        utc(2024, 10, 26, 23, 30), utc(2024, 10, 27, 0), utc(2024, 10, 27, 0, 30),
        utc(2024, 10, 27, 1), utc(2024, 10, 27, 1, 30), utc(2024, 10, 27, 2),
    ]  # fmt: skip
    assert stream.stats.ambiguous_times == 4


def test_the_repeated_hour_resolves_per_entity_when_rows_are_grouped(tmp_path: Path) -> None:
    """Queue-major order: each queue's own run through the repeated hour restarts the pass."""
    hours = ["00:30", "01:00", "01:30", "01:00", "01:30", "02:00"]
    lines = [f"2024-10-27 {h},{q}" for q in ("A", "B") for h in hours]
    path = write(tmp_path, "Interval Start,Queue\n" + "\n".join(lines) + "\n")
    table, _ = load(path, time_zone="Europe/London")
    expected = [utc(2024, 10, 26, 23, 30), utc(2024, 10, 27, 0), utc(2024, 10, 27, 0, 30)]
    expected += [utc(2024, 10, 27, 1), utc(2024, 10, 27, 1, 30), utc(2024, 10, 27, 2)]
    assert column(table, "interval_start") == expected * 2


def test_a_time_in_the_spring_forward_gap_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Interval Start,Offer\n2024-03-31 00:30,1\n2024-03-31 01:30,1\n")
    with pytest.raises(SchemaMismatch, match=r"line 3, column 'Interval Start'"):
        load(path, time_zone="Europe/London")


def test_a_ragged_row_names_its_physical_line(tmp_path: Path) -> None:
    """The line counts the header, a quoted newline and a blank line before the bad row."""
    path = write(tmp_path, 'A,B,C\n1,"two\nlines",3\n\n4,5,6\n7,8\n9,10,11\n')
    with pytest.raises(SchemaMismatch, match=r"^report CSV line 6 has 2 fields, expected 3$"):
        load(path)


def test_a_row_with_too_many_fields_in_a_later_block_names_its_line(tmp_path: Path) -> None:
    body = "".join(f"{i},x{i},{i}\n" for i in range(2000))
    path = write(tmp_path, "A,B,C\n" + body + "1,2,3,4\n")
    with pytest.raises(SchemaMismatch, match=r"^report CSV line 2002 has 4 fields, expected 3$"):
        load(path, block_size=4096)


def test_a_late_value_that_does_not_fit_names_line_and_column(tmp_path: Path) -> None:
    """Types come from the first block; a later misfit is an error, never a silent null."""
    body = "".join(f'{i},"name\n{i}"\n' for i in range(3000))
    path = write(tmp_path, "Offer,Agent Name\n" + body + "n/a,last\n")
    with pytest.raises(SchemaMismatch) as err:
        load(path, block_size=4096)
    message = str(err.value)
    assert message.startswith("report CSV line 6002, column 'Offer' (offer): 'n/a' is not a int64")
    assert "type_overrides" in message


def test_rows_missing_a_key_are_kept_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "Queue Id,Interval Start,Offer\nq1,2024-05-01,1\n,2024-05-01,2\nq2,,3\n")
    table, stream = load(path, key_columns=("queue_id", "interval_start"))
    assert column(table, "offer") == [1, 2, 3]
    assert stream.stats.rows_missing_key == 2
    assert stream.spec("report_x").key == ("queue_id", "interval_start")
    assert "_row_number" not in table.column_names


def test_column_map_and_type_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "Interval Start,Queue Number,Handle,Code\n2024-05-01,0012,1500,42\n")
    table, _ = load(
        path,
        column_map={"Interval Start": "starts_at", "handle": "handle_ms"},
        type_overrides={"handle_ms": "duration", "code": "string", "queue_number": "string"},
        key_columns=("starts_at",),
    )
    assert table.column_names[:4] == ["starts_at", "queue_number", "handle_ms", "code"]
    assert table.to_pylist()[0] | {"_run_id": None, "_extracted_at": None} == {
        "starts_at": utc(2024, 5, 1), "queue_number": "0012", "handle_ms": 1500, "code": "42",
        "_run_id": None, "_extracted_at": None,
    }  # fmt: skip


def test_options_naming_absent_columns_or_types_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "A,B\n1,2\n")
    with pytest.raises(SchemaMismatch, match=r"key_columns names \['c'\]"):
        load(path, key_columns=("c",))
    with pytest.raises(SchemaMismatch, match="column_map names"):
        load(path, column_map={"Z": "z"})
    with pytest.raises(ConfigError, match="type_overrides"):
        CsvOptions(type_overrides={"a": "decimal"})
    with pytest.raises(ConfigError, match="two columns"):
        load(path, column_map={"A": "x", "B": "x"})


def test_without_key_columns_rows_are_keyed_by_request_and_position(tmp_path: Path) -> None:
    """Identical rows are all real: each keeps its own `_row_number`, whatever the blocks."""
    rows = "q1,5\nq2,6\nq1,5\n" * 60_000 + "Total,660000\n"
    path = write(tmp_path, "Queue,Offer\n" + rows)
    extras = {"_request_id": pa.scalar("req-1")}
    first, stream = load(path, block_size=64 << 10, extra_columns=extras)
    again, _ = load(path, block_size=1 << 20, extra_columns=extras)
    assert column(first, "_row_number") == list(range(1, 180_001))
    assert column(again, "_row_number") == column(first, "_row_number")
    assert column(first, "offer")[-3:] == [5, 6, 5]  # the summary row is not numbered
    spec = stream.spec("report_queue")
    assert (spec.key, spec.partition_by) == (("_request_id", "_row_number"), "_extracted_at")
    assert validate_table(spec, first).ok
    _, alone = load(path)
    assert alone.spec("report_queue").key == ("_row_number",)


def test_run_and_extra_columns_are_appended(tmp_path: Path) -> None:
    path = write(tmp_path, "Interval Start,Offer\n2024-05-01 00:00,1\n")
    extras = {
        "_request_id": pa.scalar("abc"),
        "_interval_start": pa.scalar(utc(2024, 5, 1), pa.timestamp("ms", tz="UTC")),
        "_partial": pa.scalar(False),
    }
    table, stream = load(path, key_columns=("interval_start",), extra_columns=extras)
    assert table.column_names[2:] == [
        "_run_id", "_extracted_at", "_request_id", "_interval_start", "_partial"
    ]  # fmt: skip
    row = table.to_pylist()[0]
    assert (row["_run_id"], row["_extracted_at"], row["_partial"]) == (
        "run-1",
        CTX.extracted_at,
        False,
    )
    assert stream.spec("t").partition_by == "_interval_start"
    assert stream.spec("t", partition_by="interval_start").partition_by == "interval_start"
    assert not table.schema.field("_request_id").nullable


def test_summary_last_row_removes_the_final_row_once(tmp_path: Path) -> None:
    path = write(tmp_path, "Queue,Offer\nq1,1\nq2,2\n,3\n")
    table, stream = load(path, summary_last_row=True, block_size=2048)
    assert column(table, "offer") == [1, 2]
    assert stream.stats.summary_rows_removed == 1
    labelled = write(tmp_path, "Queue,Offer\nq1,1\nTOTALS,1\n")
    table, stream = load(labelled, summary_last_row=True)
    assert (column(table, "offer"), stream.stats.summary_rows_removed) == ([1], 1)


def test_batches_stream_in_blocks(tmp_path: Path) -> None:
    body = "".join(f"2024-05-01 00:00,q{i},{i}\n" for i in range(5000))
    path = write(tmp_path, "Interval Start,Queue,Offer\n" + body)
    stream = read_report(path, CsvOptions(block_size=8192), CTX)
    batches = list(stream)
    assert len(batches) > 5
    assert sum(b.num_rows for b in batches) == stream.stats.rows == 5000
    assert all(b.schema == stream.schema for b in batches)
    with pytest.raises(RuntimeError, match="read once"):
        iter(stream)


@pytest.mark.parametrize(
    ("locale", "values", "expected"),
    [
        ("en-US", ['"1,234.5"', "0.5", "12%"], [1234.5, 0.5, 12.0]),
        ("fr-FR", ['"1\u202f234,5"', '"0,5"', '"1 000"'], [1234.5, 0.5, 1000.0]),
        ("de-DE", ['"1.234,5"', '"0,5"', "-3"], [1234.5, 0.5, -3.0]),
    ],
)
def test_locale_numbers(
    tmp_path: Path, locale: str, values: list[str], expected: list[float]
) -> None:
    path = write(tmp_path, "Avg Speed\n" + "\n".join(values) + "\n")
    table, _ = load(path, locale=locale)
    assert column(table, "avg_speed") == expected


def test_misgrouped_numbers_are_not_guessed(tmp_path: Path) -> None:
    """In de-DE `1.5` is neither 1.5 nor 15: the misfit is reported, not silently read."""
    path = write(tmp_path, "Offer\n" + "1.234\n" * 3000 + "1.5\n")
    with pytest.raises(SchemaMismatch, match=r"line 3002, column 'Offer'"):
        load(path, locale="de-DE", block_size=4096)


def test_durations_in_clock_and_millisecond_forms(tmp_path: Path) -> None:
    path = write(tmp_path, "Talk,Hold\n26:03:10,1500\n1:02:03.25,\n-0:00:05,20\n")
    table, _ = load(path, type_overrides={"hold": "duration"})
    assert column(table, "talk") == [93_790_000, 3_723_250, -5_000]
    assert column(table, "hold") == [1500, None, 20]


def test_us_timestamps_with_am_pm(tmp_path: Path) -> None:
    path = write(tmp_path, 'Interval Start\n"5/1/2024 1:30 PM"\n"12/31/2024 12:00 AM"\n')
    table, _ = load(path, time_zone="America/New_York")
    assert column(table, "interval_start") == [utc(2024, 5, 1, 17, 30), utc(2024, 12, 31, 5)]


def test_timestamps_with_offsets_ignore_the_zone(tmp_path: Path) -> None:
    path = write(tmp_path, "At\n2024-05-01T10:00:00Z\n2024-05-01T10:00:00.5+02:00\n")
    table, _ = load(path, time_zone="America/New_York")
    assert column(table, "at") == [utc(2024, 5, 1, 10), datetime(2024, 5, 1, 8, 0, 0, 500000, UTC)]


def test_identifier_columns_stay_strings(tmp_path: Path) -> None:
    path = write(tmp_path, "Queue Id,DNIS,Agent Name,Offer\n001,0800123,7,00\n")
    table, _ = load(path)
    assert table.to_pylist()[0]["queue_id"] == "001"
    assert [f.type for f in table.schema][:4] == [pa.string()] * 4  # "00" has a leading zero


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Avg Handle", "avg_handle"),
        ("Interval Start", "interval_start"),
        ("% Answered", "pct_answered"),
        ("Service Level %", "service_level_pct"),
        ("avgHandleTime", "avg_handle_time"),
        ("ACWTime", "acw_time"),
        ("Durée moyenne", "duree_moyenne"),
        ("30s SL", "col_30s_sl"),
    ],
)
def test_snake_case(header: str, name: str) -> None:
    assert column_name(header) == name


def test_repeated_and_empty_headers_get_unique_names(tmp_path: Path) -> None:
    path = write(tmp_path, "Offer,offer,,Offer\n1,2,3,4\n")
    table, _ = load(path)
    assert table.column_names[:4] == ["offer", "offer_2", "column_3", "offer_3"]


def test_an_empty_file_and_a_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaMismatch, match="empty"):
        load(write(tmp_path, ""))
    table, stream = load(write(tmp_path, "Queue,Offer\n"))
    assert table.num_rows == 0 and stream.stats.rows == 0
    assert table.schema.field("offer").type == pa.string()


def test_closing_a_stream_mid_way_releases_the_file(tmp_path: Path) -> None:
    """Stopping after one batch waits for the parsing thread, then closes the file."""
    body = "".join(f"2024-05-01 00:00,q{i},{i}\n" for i in range(20_000))
    path = write(tmp_path, "Interval Start,Queue,Offer\n" + body)
    with read_report(path, CsvOptions(block_size=8192), CTX) as stream:
        first = next(iter(stream))
    assert first.num_rows < 20_000
    assert 0 < stream.stats.bytes_read <= path.stat().st_size


def test_the_simulator_documented_shape(tmp_path: Path) -> None:
    """BOM, CRLF, ISO times with offsets, grouped decimal averages, Hms durations, Total row."""
    path = write(
        tmp_path,
        "Interval Start,Interval End,Queue Id,Queue Name,Offer,Avg Handle,Total Talk,Answer %\r\n"
        '2024-05-01T00:00:00-04:00,2024-05-01T00:30:00-04:00,q1,Support,12,"123,456.7",'
        "1h 02m 03s,91.7\r\n"
        "2024-05-01T00:30:00-04:00,2024-05-01T01:00:00-04:00,q1,Support,0,,0h 00m 00s,\r\n"
        'Total,,,,12,"123,456.7",1h 02m 03s,91.7\r\n',
        bom=True,
    )
    table, stream = load(
        path, time_zone="America/New_York", key_columns=("interval_start", "queue_id")
    )
    assert column(table, "interval_start") == [utc(2024, 5, 1, 4), utc(2024, 5, 1, 4, 30)]
    assert column(table, "avg_handle") == [123456.7, None]
    assert column(table, "total_talk") == [3_723_000, 0]
    assert column(table, "answer_pct") == [91.7, None]
    assert stream.stats.summary_rows_removed == 1
