"""The offline teacher: a rule-based Text2SQL parser that reads only the prompt.

It sees exactly what an LLM sees (parse_prompt on the rendered messages: schema and question),
never table rows, gold SQL or the database file. It answers single-table queries of WikiSQL's
shape, `SELECT [AGG](col) FROM t WHERE col op value AND ...`:

1. columns are found in the question by token overlap with their names (case-folded, plural
   -s stripped, long-prefix matches for compounds, units in parentheses optional);
2. a mention followed by a connector ("is", "of", "=", ...), an optional comparison phrase
   ("more than", "below", ...) and a value (number, quoted text, or the words up to the next
   clause) is a condition; the first mention without a value is the selected column;
3. values no mention claims (quoted text, "higher than 8000", "in New Zealand") go to the first
   free column of their kind, and a name after a numeric column ("the height of Mont Blanc")
   makes that column the selected one;
4. aggregation comes from keywords outside mentions and values ("how many" -> COUNT, ...);
5. with several tables, the one whose name and columns the question covers best is used.
English keywords, plus common German ones (the project's real dev set is German).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ..prompt import (PromptFormatError, count_tokens, parse_prompt, prompt_tokens,
                      quote_ident, quote_string)
from ..types import Answer, Completion, Failure, GenParams, Schema, Table
from .base import Messages, Provider

NUMERIC_TYPES = {"real", "integer", "int", "numeric", "number", "float", "double", "decimal"}

COUNT_PHRASES = (("how", "many"), ("number", "of"), ("count",), ("wie", "viele"), ("anzahl",),
                 ("gesamtzahl",))
AGG_WORDS = {
    "MAX": {"highest", "most", "maximum", "max", "largest", "biggest", "greatest", "top",
            "latest", "höchste", "höchsten", "meisten", "maximale", "größte", "größten"},
    "MIN": {"lowest", "least", "minimum", "min", "smallest", "fewest", "earliest", "niedrigste",
            "niedrigsten", "wenigsten", "minimale", "kleinste", "kleinsten"},
    "SUM": {"total", "sum", "summe", "gesamt", "insgesamt"},
    "AVG": {"average", "mean", "avg", "durchschnitt", "durchschnittliche",
            "durchschnittlichen"},
}
COMPARATORS = (  # phrase -> operator; two-word phrases first, so "more than" beats "over"
    (("greater", "than"), ">"), (("more", "than"), ">"), (("larger", "than"), ">"),
    (("bigger", "than"), ">"), (("higher", "than"), ">"), (("later", "than"), ">"),
    (("at", "least"), ">="), (("at", "most"), "<="), (("less", "than"), "<"),
    (("fewer", "than"), "<"), (("smaller", "than"), "<"), (("lower", "than"), "<"),
    (("earlier", "than"), "<"), (("größer", "als"), ">"), (("mehr", "als"), ">"),
    (("weniger", "als"), "<"), (("kleiner", "als"), "<"), (("over",), ">"), (("above",), ">"),
    (("after",), ">"), (("exceeding",), ">"), (("under",), "<"), (("below",), "<"),
    (("before",), "<"), (("über",), ">"), (("unter",), "<"),
)
CONNECTORS = {"is", "was", "of", "equals", "equal", "to", "=", ":", "ist", "war", "von",
              "gleich"}
ARTICLES = {"the", "a", "an", "der", "die", "das", "den", "dem", "ein", "eine", "einen"}
CLAUSE_WORDS = {",", "and", "or", "when", "where", "with", "for", "that", "which", "whose",
                "who", "while", "if", "but", "has", "have", "had", "und", "oder", "wenn", "wo",
                "mit", "für", "bei", "deren", "dessen"}
STOP_WORDS = ARTICLES | {"of", "in", "on", "for", "by", "to", "and", "or", "at", "per", "with",
                         "is", "von", "und", "im", "für", "mit", "pro", "ist", "hat"}
PREPOSITIONS = {"in", "from", "of", "by", "at", "for", "with", "on", "aus", "von", "bei", "mit",
                "im", "nach"}
IMPERATIVES = {"name", "list", "show", "tell", "give", "find", "count", "return", "nenne",
               "zeige", "liste", "gib", "finde"}
END_PUNCT = {"?", "!", ";", "\n"}
MENTION_GLUE = set("()/.%-°²$#")  # punctuation a column mention may span, e.g. "area (km²)"

_TOKEN = re.compile(
    r'"[^"\n]+"|“[^”\n]+”|„[^“”\n]+[“”]|(?<!\w)\'[^\'\n]+\'(?!\w)'  # quoted
    r"|[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|[-+]?\d*\.?\d+"  # numbers, 45,320 and 2.43
    r"|[^\W_]+(?:['’][^\W_]+)*"  # words, with inner apostrophes (Queen's)
    r"|\n|[^\s\w]|_")


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int
    kind: str  # "quoted" | "number" | "word" | "punct"

    @property
    def lower(self) -> str:
        return self.text.lower()


@dataclass(frozen=True)
class Mention:
    column: int
    first: int  # token span [first, last]
    last: int
    score: float  # share of the column name's weight the span covers


@dataclass(frozen=True)
class Condition:
    column: int
    op: str
    value: str
    numeric: bool


@dataclass(frozen=True)
class Parse:
    table: Table
    score: float
    select: int | None
    agg: str
    conditions: tuple[Condition, ...]


def tokenize(text: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        piece = match.group()
        if piece[0] in "\"“„'" and len(piece) > 2:
            kind = "quoted"
        elif re.fullmatch(r"[-+]?[\d.,]*\d", piece):
            kind = "number"
        elif piece[0].isalnum():
            kind = "word"
        else:
            kind = "punct"
        tokens.append(Token(piece, match.start(), match.end(), kind))
    return tokens


def stem(word: str) -> str:
    word = word.lower()
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def word_similarity(a: str, b: str) -> float:
    """1 for the same stem, 0.8 when one stem is a prefix (>= 5 letters) of the other."""
    a, b = stem(a), stem(b)
    if a == b:
        return 1.0
    short, long_ = sorted((a, b), key=len)
    return 0.8 if len(short) >= 5 and long_.startswith(short) else 0.0


def name_words(name: str) -> list[tuple[str, float]]:
    """A table or column name as (word, weight): words in parentheses (units) and stop words
    weigh less, so "population" alone still covers "Population (millions)" well."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)  # camelCase
    words = []
    depth = 0
    for piece in re.findall(r"[^\W_]+|[()]", spaced):
        if piece == "(":
            depth += 1
        elif piece == ")":
            depth = max(0, depth - 1)
        else:
            low = piece.lower()
            weight = 0.2 if low in STOP_WORDS else 0.5 if depth else 1.0
            words.append((low, weight))
    return words


class QuestionParser:
    """Parses one question against one table."""

    def __init__(self, table: Table, question: str, tokens: list[Token]) -> None:
        self.table = table
        self.question = question
        self.tokens = tokens
        self.columns = [name_words(c.name) for c in table.columns]

    def numeric(self, column: int) -> bool:
        return self.table.columns[column].type.lower() in NUMERIC_TYPES

    def mentions(self) -> list[Mention]:
        """Non-overlapping column mentions, best-covering first, then in question order.

        Words of a counting phrase ("number of") only mention a column they name fully, and
        an aggregation word right before another mention ("total gold") is the keyword.
        """
        reserved = {i for first in range(len(self.tokens)) for phrase in COUNT_PHRASES
                    if self._phrase_at(first, phrase) for i in range(first, first + len(phrase))}
        candidates = []
        for column, words in enumerate(self.columns):
            total = sum(w for _, w in words) or 1.0
            for first, token in enumerate(self.tokens):
                if token.kind != "word" or (first == 0 and token.lower in IMPERATIVES):
                    continue
                span = self._match_from(first, words)
                if span is None or not span[2]:
                    continue
                last, covered, _ = span
                mention = Mention(column, first, last, covered / total)
                if mention.score < 1 and (reserved & set(range(first, last + 1))
                                          or self._names_table(first, last)):
                    continue
                candidates.append(mention)
        candidates.sort(key=lambda m: (-m.score, -(m.last - m.first), m.first, m.column))
        taken: set[int] = set()
        used_columns: set[int] = set()
        chosen = []
        for mention in candidates:
            span = set(range(mention.first, mention.last + 1))
            if span & taken or mention.column in used_columns or mention.score < 0.3:
                continue
            taken |= span
            used_columns.add(mention.column)
            chosen.append(mention)
        chosen.sort(key=lambda m: m.first)
        starts = {m.first for m in chosen}
        return [m for m in chosen
                if not (m.first == m.last and m.last + 1 in starts
                        and any(self.tokens[m.first].lower in words
                                for words in AGG_WORDS.values()))]

    def _names_table(self, first: int, last: int) -> bool:
        """Whether every word of the span matches the table's name ("concerts" in
        "konzert_id" of table "konzert" names the table, not the column)."""
        table_words = [w for w, _ in name_words(self.table.name)]
        return all(any(word_similarity(t.text, w) for w in table_words)
                   for t in self.tokens[first:last + 1] if t.kind == "word")

    def _phrase_at(self, pos: int, phrase: tuple[str, ...]) -> bool:
        return tuple(t.lower for t in self.tokens[pos:pos + len(phrase)]) == phrase

    def _match_from(self, first: int, words: list[tuple[str, float]]
                    ) -> tuple[int, float, bool] | None:
        """Greedy in-order match of question tokens from `first` against a name's words:
        (last token, covered weight, whether a content word matched) or None."""
        pos, next_word, covered, content, last = first, 0, 0.0, False, None
        while pos < len(self.tokens):
            token = self.tokens[pos]
            if token.kind == "punct" and token.text in MENTION_GLUE and last is not None:
                pos += 1
                continue
            if token.kind not in ("word", "number"):
                break
            hit = next(((i, s) for i in range(next_word, len(words))
                        if (s := word_similarity(token.text, words[i][0])) > 0), None)
            if hit is None:
                break
            index, similarity = hit
            covered += words[index][1] * similarity
            content = content or (words[index][1] == 1.0 and len(words[index][0]) > 1)
            next_word, last, pos = index + 1, pos, pos + 1
        if last is None:
            return None
        for after in range(last + 1, len(self.tokens)):  # close a unit: "revenue (billion $)"
            if self.tokens[after].text not in MENTION_GLUE:
                break
            if self.tokens[after].text == ")":
                last = after
        return last, covered, content

    def comparator(self, pos: int) -> tuple[str, int]:
        """(operator, tokens consumed) of a comparison phrase at pos, or ("=", 0)."""
        for phrase, op in COMPARATORS:
            if self._phrase_at(pos, phrase):
                return op, len(phrase)
        return "=", 0

    def skip(self, pos: int, words: set[str]) -> int:
        """The first position from pos whose token is not one of `words` (as written: a
        capitalised "The" inside a value such as "The Signals" is not skipped)."""
        while pos < len(self.tokens) and self.tokens[pos].text in words:
            pos += 1
        return pos

    def starts_clause(self, pos: int, starts: set[int]) -> bool:
        """Whether a new clause begins at pos: end, a mention, a comparison, or a clause
        word (articles and connectors skipped)."""
        pos = self.skip(pos, ARTICLES | CONNECTORS)
        if pos >= len(self.tokens) or pos in starts:
            return True
        token = self.tokens[pos]
        return (token.text in END_PUNCT or token.lower in CLAUSE_WORDS
                or self.comparator(pos)[1] > 0)

    def value_after(self, pos: int, explicit: bool, starts: set[int]) -> tuple[str, int] | None:
        """(value text, last token) of the value starting at pos, or None.

        Without a connector ("the team Lakewood Lions") a value must look like one: a number,
        quoted text or a capitalised word. A clause word ("and", ",", "when", ...) ends the
        value only if a new clause follows it, so "Harland and Wolff" stays whole.
        """
        if pos >= len(self.tokens):
            return None
        token = self.tokens[pos]
        if token.kind == "quoted":
            return token.text[1:-1], pos
        if token.text in END_PUNCT or token.lower in CLAUSE_WORDS or token.kind == "punct":
            return None
        if not explicit and not (token.kind == "number" or token.text[0].isupper()):
            return None
        if pos in starts:
            return None
        last = pos
        nxt = pos + 1
        if token.kind == "number" and nxt < len(self.tokens) and self.tokens[nxt].kind == "word":
            return token.text, pos  # "in 2014 or 2015": the number alone
        while nxt < len(self.tokens):
            token = self.tokens[nxt]
            if token.text in END_PUNCT:
                break
            if token.text == "." and nxt == len(self.tokens) - 1:
                break
            if (token.lower in CLAUSE_WORDS or nxt in starts) and self.starts_clause(
                    nxt + (token.lower in CLAUSE_WORDS), starts):
                break
            last, nxt = nxt, nxt + 1
        return self.question[self.tokens[pos].start:self.tokens[last].end], last

    def parse(self) -> Parse:
        mentions = self.mentions()
        starts = {m.first for m in mentions}
        conditions: list[Condition] = []
        consumed: set[int] = set()
        select_candidates: list[int] = []
        unplaced: list[tuple[str, str, bool]] = []  # (op, value, is a number) with no column
        for mention in mentions:
            if mention.first in consumed:
                continue
            consumed.update(range(mention.first, mention.last + 1))
            pos = mention.last + 1
            after_connector = self.skip(pos, CONNECTORS - {"to"})
            op, used = self.comparator(after_connector)
            value_pos = self.skip(after_connector + used, ARTICLES)
            explicit = after_connector > pos or used > 0
            found = self.value_after(value_pos, explicit, starts)
            if found is None:
                select_candidates.append(mention.column)
                continue
            value, last = found
            consumed.update(range(mention.first, last + 1))
            is_number = _as_number(value) is not None
            if self.numeric(mention.column) and not is_number:
                # "the height of Mont Blanc": the name is not a height; the height is asked
                select_candidates.append(mention.column)
                unplaced.append((op, value, False))
                continue
            conditions.append(Condition(mention.column, op, value,
                                        self.numeric(mention.column) and is_number))
        unplaced += self.loose_values(consumed)
        select = select_candidates[0] if select_candidates else None
        for op, value, is_number in unplaced:
            column = self.free_column(is_number, select, conditions)
            if column is not None:
                conditions.append(Condition(column, op, value, is_number))
        agg = self.aggregation(consumed)
        score = sum(m.score for m in mentions if m.first in consumed or m.column == select)
        return Parse(self.table, score, select, agg, tuple(conditions))

    def loose_values(self, consumed: set[int]) -> list[tuple[str, str, bool]]:
        """Values no column mention claimed (marked consumed): quoted text, a number right
        after a comparison ("higher than 8000"), or capitalised words after a preposition
        ("in New Zealand")."""
        found = []
        pos = 0
        while pos < len(self.tokens):
            token = self.tokens[pos]
            if pos in consumed:
                pos += 1
                continue
            end = pos
            if token.kind == "quoted":
                found.append(("=", token.text[1:-1], False))
            elif token.kind == "number" and (op := self.comparator_before(pos, consumed)):
                found.append((op, token.text, True))
            elif token.kind == "word" and token.text[0].isupper() and self.after_preposition(pos):
                while (end + 1 < len(self.tokens) and end + 1 not in consumed
                       and self.tokens[end + 1].kind in ("word", "number")
                       and self.tokens[end + 1].text[0].isupper()):
                    end += 1
                found.append(("=", self.question[token.start:self.tokens[end].end], False))
            else:
                pos += 1
                continue
            consumed.update(range(pos, end + 1))
            pos = end + 1
        return found

    def after_preposition(self, pos: int) -> bool:
        """Whether a preposition, maybe with an article, comes right before pos."""
        before = pos - 1
        if before >= 0 and self.tokens[before].text in ARTICLES:
            before -= 1
        return before >= 0 and self.tokens[before].lower in PREPOSITIONS

    def comparator_before(self, pos: int, consumed: set[int]) -> str | None:
        """The operator of an unclaimed comparison phrase ending right before pos (marked
        consumed), or None."""
        for phrase, op in COMPARATORS:
            start = pos - len(phrase)
            if start >= 0 and self._phrase_at(start, phrase) and not consumed & set(
                    range(start, pos)):
                consumed.update(range(start, pos))
                return op
        return None

    def free_column(self, numeric: bool, select: int | None,
                    conditions: list[Condition]) -> int | None:
        """The first column of the wanted kind that is neither selected nor constrained."""
        used = {c.column for c in conditions} | {select}
        return next((i for i in range(len(self.table.columns))
                     if i not in used and self.numeric(i) == numeric), None)

    def aggregation(self, consumed: set[int]) -> str:
        words = [t.lower if i not in consumed else "" for i, t in enumerate(self.tokens)]
        for phrase in COUNT_PHRASES:
            for i in range(len(words)):
                if tuple(words[i:i + len(phrase)]) == phrase:
                    return "COUNT"
        for word in words:
            for agg, keywords in AGG_WORDS.items():
                if word in keywords:
                    return agg
        return ""


def _as_number(text: str) -> str | None:
    cleaned = text.replace(",", "").strip()
    try:
        float(cleaned)
    except ValueError:
        return None
    return cleaned


def table_name_score(table: Table, tokens: list[Token]) -> float:
    words = name_words(table.name)
    total = sum(w for _, w in words) or 1.0
    covered = sum(max((word_similarity(t.text, word) for t in tokens if t.kind == "word"),
                      default=0.0) * weight for word, weight in words)
    return covered / total


def text_to_sql(schema: Schema, question: str) -> str:
    """The best single-table SELECT the rules find, whatever the question; ValueError only for
    a schema without tables."""
    if not schema.tables:
        raise ValueError("the schema has no tables")
    tokens = tokenize(question)
    parses = [QuestionParser(table, question, tokens).parse() for table in schema.tables]
    best = max(parses, key=lambda p: (p.score + 2 * table_name_score(p.table, tokens)))
    return render(best)


def render(parse: Parse) -> str:
    columns = parse.table.columns
    if parse.select is not None:
        target = quote_ident(columns[parse.select].name)
    elif parse.agg == "COUNT":
        target = "*"
    else:
        used = {c.column for c in parse.conditions}
        target = quote_ident(next((c.name for i, c in enumerate(columns) if i not in used),
                                  columns[0].name))
    select = f"{parse.agg}({target})" if parse.agg else target
    sql = f"SELECT {select} FROM {quote_ident(parse.table.name)}"
    where = []
    for cond in parse.conditions:
        value = _as_number(cond.value) if cond.numeric else quote_string(cond.value)
        where.append(f"{quote_ident(columns[cond.column].name)} {cond.op} {value}")
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql


class BuiltinTeacher(Provider):
    name = "builtin"
    model = "rules-v1"
    local = True
    deterministic = True

    async def complete(self, messages: Messages, params: GenParams) -> Answer:
        started = time.perf_counter()
        try:
            schema, question = parse_prompt(messages)
            sql = text_to_sql(schema, question)
        except (PromptFormatError, ValueError) as exc:
            return Failure("error", detail=f"builtin teacher cannot read the prompt: {exc}",
                           latency_s=time.perf_counter() - started)
        return Completion(text=sql, tokens_in=prompt_tokens(messages),
                          tokens_out=count_tokens(sql), cost=0.0,
                          latency_s=time.perf_counter() - started)
