"""clean_output on answers shaped like real teacher outputs."""

import pytest

from fastdistill_tui.core.sql.clean import CleanResult, clean_output, split_statements

CASES = [
    # (id, teacher output, expected SQL)
    ("bare", "SELECT name FROM singer", "SELECT name FROM singer"),
    ("bare_semicolon", "SELECT name FROM singer;\n", "SELECT name FROM singer"),
    ("fenced_sql",
     "Here is the query:\n\n```sql\nSELECT count(*) FROM singer;\n```\n\nThis counts singers.",
     "SELECT count(*) FROM singer"),
    ("fenced_plain", "```\nSELECT a FROM t\n```", "SELECT a FROM t"),
    ("fenced_sqlite_multiline",
     "```sqlite\nSELECT name,\n       age\nFROM singer\nORDER BY age DESC\n```",
     "SELECT name,\n       age\nFROM singer\nORDER BY age DESC"),
    ("python_fence_then_sql_fence",
     "```python\nprint('hi')\n```\nThe SQL:\n```sql\nSELECT id FROM t\n```", "SELECT id FROM t"),
    ("fence_with_leading_comment",
     "```sql\n-- count the singers\nSELECT count(*) FROM singer\n```",
     "SELECT count(*) FROM singer"),
    ("unterminated_fence", "```sql\nSELECT a FROM t WHERE b > 2", "SELECT a FROM t WHERE b > 2"),
    ("think_block",
     "<think>The user wants names. Maybe SELECT * FROM x? No.</think>\nSELECT name FROM singer",
     "SELECT name FROM singer"),
    ("think_block_with_fence_inside",
     "<think>\n```sql\nSELECT wrong FROM t\n```\n</think>\n```sql\nSELECT right_col FROM t\n```",
     "SELECT right_col FROM t"),
    ("reasoning_block", "<reasoning>join singers</reasoning>\n\nSQL: SELECT a FROM t",
     "SELECT a FROM t"),
    ("orphan_closing_think", "I need the count of rows.\n</think>\n\nSELECT count(*) FROM t",
     "SELECT count(*) FROM t"),
    ("sql_label", "SQL: SELECT name FROM singer WHERE age > 30",
     "SELECT name FROM singer WHERE age > 30"),
    ("query_label_next_line", "Query:\nSELECT name FROM singer", "SELECT name FROM singer"),
    ("bold_label", "**SQL:** SELECT avg(age) FROM singer", "SELECT avg(age) FROM singer"),
    ("label_in_prose", "The final query: SELECT max(age) FROM singer; it returns one row.",
     "SELECT max(age) FROM singer"),
    ("comment_after_semicolon", "SELECT a FROM t; -- returns a", "SELECT a FROM t"),
    ("explanation_after_blank_line",
     "SELECT a\nFROM t\n\nThis query selects column a from t.", "SELECT a\nFROM t"),
    ("explanation_on_next_line", "SELECT a FROM t\nThis returns every a.", "SELECT a FROM t"),
    ("prose_then_sql_line",
     "To answer this we filter by age.\nSELECT name FROM singer WHERE age < 20",
     "SELECT name FROM singer WHERE age < 20"),
    ("lowercase_select", "select name from singer where age > 20",
     "select name from singer where age > 20"),
    ("cte", "WITH c AS (SELECT a FROM t) SELECT * FROM c",
     "WITH c AS (SELECT a FROM t) SELECT * FROM c"),
    ("recursive_cte_multiline",
     "with recursive n(x) as (\n  select 1 union all select x + 1 from n where x < 5\n)\n"
     "select x from n;",
     "with recursive n(x) as (\n  select 1 union all select x + 1 from n where x < 5\n)\n"
     "select x from n"),
    ("semicolon_in_string", "SELECT * FROM t WHERE name = 'a;b'; then more text",
     "SELECT * FROM t WHERE name = 'a;b'"),
    ("semicolon_in_quoted_identifier", 'SELECT "x;y" FROM t; -- done', 'SELECT "x;y" FROM t'),
    ("doubled_quote_escape", "SELECT 'it''s; fine' FROM t; extra", "SELECT 'it''s; fine' FROM t"),
    ("semicolon_in_comment", "SELECT a -- pick a; then\nFROM t",
     "SELECT a -- pick a; then\nFROM t"),
    ("inline_code", "The answer is `SELECT count(*) FROM singer`.", "SELECT count(*) FROM singer"),
    ("german_identifiers", "```sql\nSELECT name FROM sänger WHERE land = 'Frankreich'\n```",
     "SELECT name FROM sänger WHERE land = 'Frankreich'"),
    ("fenced_delete_is_extracted_for_rules", "```sql\nDELETE FROM t\n```", "DELETE FROM t"),
    # A blank line inside unfenced SQL does not end it when what follows continues it.
    ("blank_line_before_where", "SELECT name\nFROM singer\n\nWHERE age > 30",
     "SELECT name\nFROM singer\n\nWHERE age > 30"),
    ("blank_line_before_order_by_then_prose",
     "SELECT a\nFROM t\n\nORDER BY a\n\nThis sorts them.", "SELECT a\nFROM t\n\nORDER BY a"),
    ("blank_line_after_a_comma", "SELECT name,\n\nage FROM singer",
     "SELECT name,\n\nage FROM singer"),
    ("blank_lines_around_union", "SELECT a FROM t\n\nUNION\n\nSELECT b FROM u",
     "SELECT a FROM t\n\nUNION\n\nSELECT b FROM u"),
    ("blank_line_inside_a_literal", "SELECT count(*) FROM t WHERE note = 'a\n\nThe end'",
     "SELECT count(*) FROM t WHERE note = 'a\n\nThe end'"),
    # Reasoning tags inside a SQL string are text; an apostrophe in reasoning is not a quote.
    ("think_tag_in_string", "SELECT '</think>' FROM t", "SELECT '</think>' FROM t"),
    ("think_tags_in_strings", "SELECT count(*) FROM t WHERE a = '<think>' OR b = '</think>'",
     "SELECT count(*) FROM t WHERE a = '<think>' OR b = '</think>'"),
    ("apostrophe_in_reasoning", "<think>Let's count them</think>\nSELECT count(*) FROM t",
     "SELECT count(*) FROM t"),
    ("sql_in_orphan_reasoning", "I'd use SELECT 'x' here</think>\nSELECT a FROM t",
     "SELECT a FROM t"),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_extracts_the_first_statement(text, expected):
    assert clean_output(text) == CleanResult(expected, None)


@pytest.mark.parametrize("text, reason", [
    ("", "empty_output"),
    ("   \n\t", "empty_output"),
    ("<think>I would write SELECT a FROM t but I ran out of tokens", "empty_output"),
    ("<think>all of it</think>  \n", "empty_output"),
    ("I cannot answer this question with the given schema.", "no_sql_found"),
    ("With this table we cannot know the answer.", "no_sql_found"),
    ("```sql\n-- no query possible\n```", "no_sql_found"),
    # Never guess which of two statements is the answer.
    ("SELECT a FROM t; SELECT b FROM u;", "multiple_statements"),
    ("SELECT a FROM t; DROP TABLE t", "multiple_statements"),
    ("```sql\nSELECT a FROM t;\nSELECT b FROM u;\n```", "multiple_statements"),
    ("SELECT a FROM t\n\nSELECT b FROM u", "multiple_statements"),
    # Unfenced SQL cut by a blank line or prose where it cannot end: reject, never truncate.
    ("SELECT name FROM singer WHERE age >\nThe age is given in years.", "unclear_sql_end"),
    ("SELECT name FROM singer WHERE\n\nThe age is over 30", "unclear_sql_end"),
    ("SELECT name FROM singer WHERE age IN (30,\n\nHere I list the ages.", "unclear_sql_end"),
])
def test_no_sql(text, reason):
    assert clean_output(text) == CleanResult(None, reason)


def test_split_statements_ignores_comment_only_pieces():
    assert split_statements("SELECT 1; /* a; b */ ; -- c;\n SELECT 'x;y'") == [
        "SELECT 1", "-- c;\n SELECT 'x;y'"]
    assert split_statements(" ;; -- nothing") == []
