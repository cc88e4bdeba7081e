"""A JSONSQL ``select`` compiled to a Django QuerySet: identifiers resolved against ``tables.TABLES``, values passed
as query parameters, every table (also in joins and sub-selects) filtered to the caller's portal.

Operands: in ``data``, ``group_by`` and ``order_by`` a string names a column; in an operator the first operand
may be a column name and the others are values; ``{"alias": "column"}`` always names a column.
Joins: ``from`` lists ``{"table", "as"}`` items. Tables linked by an ``eq`` of a foreign key and an ``id`` in the
top-level ``and`` of ``where`` (``{"eq": [{"sp": "subscriber_id"}, {"s": "id"}]}``) are joined along the key; the
others are cross-joined (every pair of rows, within the portal), and any condition of ``where`` may compare them.
A sub-select in ``in``/``not_in`` may name the tables of the selects around it (``{"s": "id"}``): a correlated
sub-select, compiled to ``OuterRef``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import reduce

from django.core.exceptions import FieldDoesNotExist, FieldError
from django.db.models import (
    BooleanField,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    FloatField,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    Sum,
    Value,
)
from django.db.models.expressions import Combinable, CombinedExpression
from django.db.models.functions import Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IRegex,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Regex,
)

from .errors import TOO_MANY_ROWS, JsonRpcError, invalid
from .tables import TABLES, Context, Table

MAX_ROWS = 10_000
MAX_DEPTH = 32
MAX_IN_ITEMS = 10_000
SELECT_CLAUSES = {"distinct", "data", "from", "where", "group_by", "order_by", "limit", "offset"}
COMPARISONS = {"eq": Exact, "lt": LessThan, "gt": GreaterThan, "lte": LessThanOrEqual, "gte": GreaterThanOrEqual}
MATH = {"add": Combinable.ADD, "sub": Combinable.SUB, "mul": Combinable.MUL, "div": Combinable.DIV,
        "mod": Combinable.MOD}
AGGREGATES = {"count": Count, "sum": Sum, "min": Min, "max": Max}
LITERALS = (str, int, float, bool, type(None))


def depth(node) -> int:
    """How deeply ``node`` nests lists and objects (a scalar is 0)."""
    if isinstance(node, dict):
        return 1 + max((depth(v) for v in node.values()), default=0)
    if isinstance(node, list):
        return 1 + max((depth(v) for v in node), default=0)
    return 0


@dataclass
class Scope:
    """The tables of one select: alias → (table, ORM path prefix from the first table); ``relations`` are the
    cross-joined tables' own joins (``FilteredRelation`` annotations); ``parent`` is the select a sub-select is in."""

    context: Context
    tables: dict[str, tuple[Table, str]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # aliases, the queryset's own table first, then ``from`` order
    relations: dict[str, FilteredRelation] = field(default_factory=dict)
    parent: Scope | None = None

    def aliases(self) -> set[str]:
        """The aliases an ``{"alias": "column"}`` may name here: this select's and the enclosing selects'."""
        return set(self.tables) | (self.parent.aliases() if self.parent is not None else set())

    def column(self, alias: str | None, name) -> object:
        return self._resolve(alias, name)[1]

    def ref(self, alias: str | None, name) -> tuple[str, str]:
        return self._resolve(alias, name)[0]

    def _resolve(self, alias, name):
        if not isinstance(name, str):
            raise invalid(f"A column name must be a string, not {json.dumps(name)}.")
        if alias is not None:
            if alias not in self.tables:
                return (alias, name), self._outer(alias, name)
            table, prefix = self.tables[alias]
            if name not in table.columns:
                raise invalid(f"Unknown column: {alias}.{name} (table {table.name}).")
            return (alias, name), table.columns[name](prefix, self.context)
        owners = [a for a in self.names if name in self.tables[a][0].columns]
        if not owners:
            raise invalid(f"Unknown column: {name}.")
        if len(owners) > 1:
            raise invalid(f"Column {name} is in several tables ({', '.join(owners)}): name it as "
                          f'{{"{owners[0]}": "{name}"}}.')
        return self._resolve(owners[0], name)

    def never_null(self, expression) -> bool:
        """Whether ``expression`` is a column that cannot be null here: a NOT NULL field of the first table or of
        one reached along NOT NULL foreign keys (so ``is`` needs no ``COALESCE``, and the planner sees the column)."""
        if type(expression) is not F:
            return False
        model = self.tables[self.names[0]][0].model
        *path, name = expression.name.split("__")
        try:
            for part in path:
                link = model._meta.get_field(part)
                if not (link.many_to_one and not link.null):
                    return False
                model = link.related_model
            return not model._meta.get_field(name).null
        except FieldDoesNotExist:  # a cross-joined table's relation: its columns may come from an outer join
            return False

    def _outer(self, alias: str, name: str):
        """A column of an enclosing select (a correlated sub-select): an ``OuterRef`` per level out."""
        scope, levels = self.parent, 1
        while alias not in scope.tables:
            scope, levels = scope.parent, levels + 1
        expression = scope.column(alias, name)
        if isinstance(expression, Value):
            return expression
        if type(expression) is not F:
            raise invalid(f"{alias}.{name}: a computed column of an enclosing select cannot be used inside a "
                          "sub-select; test it in the enclosing select's where instead.")
        reference = expression.name
        for _ in range(levels):
            reference = OuterRef(reference)
        return reference


def _from_items(clause) -> list[tuple[str, Table]]:
    items = clause if isinstance(clause, list) else [clause]
    if not items:
        raise invalid("from: name at least one table.")
    result = []
    for item in items:
        if isinstance(item, dict) and set(item) <= {"table", "as"} and "table" in item:
            name, alias = item["table"], item.get("as", item["table"])
        else:
            name = alias = item
        if not isinstance(name, str) or name not in TABLES:
            raise invalid(f"Unknown table: {name if isinstance(name, str) else json.dumps(name)}.")
        if not isinstance(alias, str) or not alias or alias in {a for a, _ in result}:
            raise invalid(f"from: the alias {json.dumps(alias)} is not a distinct name.")
        result.append((alias, TABLES[name]))
    return result


def _alias_ref(node, aliases) -> tuple[str, str] | None:
    """``(alias, column)`` when ``node`` is ``{"alias": "column"}``."""
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key in aliases and isinstance(value, str):
            return key, value
    return None


def _links(where, items: list[tuple[str, Table]]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """The ``eq`` of two named columns in the top-level ``and`` of ``where`` (the join conditions)."""
    conjuncts = where.get("and", []) if isinstance(where, dict) and len(where) == 1 and "and" in where else [where]
    aliases = {a for a, _ in items}
    pairs = []
    for conjunct in conjuncts if isinstance(conjuncts, list) else []:
        if isinstance(conjunct, dict) and list(conjunct) == ["eq"] and isinstance(conjunct["eq"], list):
            refs = [_alias_ref(operand, aliases) for operand in conjunct["eq"]]
            if len(refs) == 2 and all(refs):
                pairs += [(refs[0], refs[1]), (refs[1], refs[0])]
    return pairs


def _reach(root: str, tables: dict[str, Table], pairs, among: list[str]) -> dict[str, str]:
    """ORM prefixes, from ``root``, of the aliases of ``among`` reached along foreign keys named in ``pairs``."""
    prefixes = {root: ""}
    grown = True
    while grown:
        grown = False
        for (alias, column), (other, other_column) in pairs:
            link = tables[alias].links.get(column) if alias in prefixes else None
            if (link and other in among and other not in prefixes and other_column == "id"
                    and tables[other].name == link[0]):
                prefixes[other] = prefixes[alias] + link[1] + "__"
                grown = True
    return prefixes


def scope_of(params: dict, context: Context, parent: Scope | None = None) -> Scope:
    """The tables of a select: joined along the foreign keys its ``where`` names, and the groups of tables no
    such key links cross-joined (each reached through the portal, so the product never leaves it).

    Every condition of ``where`` stays a condition (a followed key just holds trivially), so any grouping
    answers the same rows; the largest groups first keep the joins on keys. A cross-joined group is its own
    ``FilteredRelation`` (a join of its own even when a table appears twice)."""
    items = _from_items(params.get("from"))
    tables = dict(items)
    order = [a for a, _ in items]
    pairs = _links(params.get("where"), items) if len(items) > 1 else []
    groups, unplaced = [], list(order)
    while unplaced:
        root = max(unplaced, key=lambda a: (len(_reach(a, tables, pairs, unplaced)), -order.index(a)))
        reach = _reach(root, tables, pairs, unplaced)
        groups.append((root, reach))
        unplaced = [a for a in unplaced if a not in reach]
    (first, reach), *crossed = groups
    scope = Scope(context=context, names=[first] + [a for a in order if a != first], parent=parent)
    located = dict(reach)
    for number, (root, reach) in enumerate(crossed):
        relation = f"jsonsql_cross_{number}"
        scope.relations[relation] = FilteredRelation(f"{tables[first].portal_path}__{tables[root].from_portal}")
        located.update({alias: f"{relation}__{prefix}" for alias, prefix in reach.items()})
    scope.tables = {alias: (tables[alias], located[alias]) for alias in scope.names}
    return scope


# --- Expressions ------------------------------------------------------------------------------------------------


def _operands(name: str, node, *, exactly: int | None = None, at_least: int = 1) -> list:
    if not isinstance(node, list):
        node = [node]
    if exactly is not None and len(node) != exactly:
        raise invalid(f"{name}: takes {exactly} operand(s), got {len(node)}.")
    if len(node) < at_least:
        raise invalid(f"{name}: takes at least {at_least} operand(s), got {len(node)}.")
    return node


def like_regex(pattern: str) -> str:
    """A LIKE pattern (``%`` any text, ``_`` one character, ``\\`` escapes) as an anchored regular expression."""
    parts, escaped = [], False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
    return "(?s)^" + "".join(parts) + "$"


class Arithmetic(CombinedExpression):
    """``+ - * / %`` of numbers: an integer when both sides are integers (of any width), else a float."""

    def _resolve_output_field(self):
        try:
            return super()._resolve_output_field()
        except FieldError:
            sources = list(self.get_source_fields())
            if not all(isinstance(s, (IntegerField, FloatField, DecimalField)) for s in sources):
                raise
            return IntegerField() if all(isinstance(s, IntegerField) for s in sources) else FloatField()


class Compiler:
    """Compiles the expressions of one select in ``scope``; ``subselect(params, scope)`` compiles a nested
    ``{"select"}`` (which may name the columns of ``scope``: a correlated sub-select)."""

    def __init__(self, scope: Scope, subselect=None):
        self.scope = scope
        self.subselect = subselect or (
            lambda inner, outer: compile_select(inner, outer.context, subquery=True, parent=outer).queryset)

    # Values: columns, literals, math, aggregates
    def value(self, node, *, column: bool):
        """An ORM expression for ``node``; a bare string is a column when ``column`` is true, else a value."""
        if isinstance(node, str):
            return self.scope.column(None, node) if column else Value(node)
        if isinstance(node, LITERALS):
            return Value(node)
        if isinstance(node, dict) and len(node) == 1:
            ref = _alias_ref(node, self.scope.aliases())
            if ref is not None:
                return self.scope.column(*ref)
            (operator, operands), = node.items()
            if operator in MATH:
                return self._math(operator, operands)
            if operator in AGGREGATES:
                raise invalid(f"{operator}: an aggregate belongs in data, not inside an expression.")
            return ExpressionWrapper(self.condition(node), output_field=BooleanField())
        raise invalid(f"Not an expression: {json.dumps(node)[:80]}.")

    def _math(self, operator: str, operands):
        operands = _operands(operator, operands, **({"at_least": 2} if operator in ("add", "mul") else {"exactly": 2}))
        values = [self.value(operand, column=i == 0) for i, operand in enumerate(operands)]
        symbol = MATH[operator]
        return reduce(lambda left, right: Arithmetic(left, symbol, right), values)

    def aggregate(self, node):
        """``{"count": ["id"]}`` (or ``"id"``, ``"*"``), ``sum``, ``min``, ``max``; None when not an aggregate."""
        if not (isinstance(node, dict) and len(node) == 1):
            return None
        (operator, operands), = node.items()
        if operator not in AGGREGATES:
            return None
        operand, = _operands(operator, operands, exactly=1)
        if operator == "count" and operand == "*":
            return Count(Value(1))
        return AGGREGATES[operator](self.value(operand, column=True))

    # Conditions: logical, comparison, match, subquery operators
    def condition(self, node) -> Q:
        """A ``Q`` for a where-tree."""
        if isinstance(node, str) or _alias_ref(node, self.scope.aliases()):
            return self._is(self.value(node, column=True), True)
        if not (isinstance(node, dict) and len(node) == 1):
            raise invalid(f"Not a condition: {json.dumps(node)[:80]}.")
        (operator, operands), = node.items()
        handler = self.CONDITIONS.get(operator)
        if handler is not None:
            return handler(self, operator, operands)
        if operator in COMPARISONS:
            left, right = self._pair(operator, operands)
            return Q(COMPARISONS[operator](left, right))
        raise invalid(f"Unknown operator: {operator}.")

    def _pair(self, operator, operands):
        left, right = _operands(operator, operands, exactly=2)
        return self.value(left, column=True), self._rhs(right)

    def _rhs(self, node):
        """A right-hand operand: a plain value stays a query parameter; anything else becomes an expression."""
        if isinstance(node, LITERALS) and not isinstance(node, bool):
            return node
        return self.value(node, column=False)

    def _logical(self, operator, operands) -> Q:
        conditions = [self.condition(operand) for operand in _operands(operator, operands)]
        if operator == "not":
            if len(conditions) != 1:
                raise invalid(f"not: takes 1 operand(s), got {len(conditions)}.")
            return ~conditions[0]
        return reduce(lambda a, b: a & b if operator == "and" else a | b, conditions)

    def _is(self, left, right) -> Q:
        if right is None:
            return Q(IsNull(left, True))
        if not isinstance(right, bool):
            raise invalid("is: compares with null, true or false only.")
        if self.scope.never_null(left):
            return Q(Exact(left, right))
        return Q(Exact(Coalesce(left, Value(not right)), right))

    def _is_operator(self, operator, operands) -> Q:
        left, right = _operands(operator, operands, exactly=2)
        condition = self._is(self.value(left, column=True), right)
        return ~condition if operator == "is_not" else condition

    def _neq(self, operator, operands) -> Q:
        left, right = self._pair(operator, operands)
        return ~Q(Exact(left, right))

    def _like(self, operator, operands) -> Q:
        left, *patterns = _operands(operator, operands, at_least=2)
        if not all(isinstance(p, str) for p in patterns):
            raise invalid(f"{operator}: a pattern must be a string.")
        lookup = Regex if operator == "like" else IRegex
        column = self.value(left, column=True)
        return reduce(lambda a, b: a | b, [Q(lookup(column, like_regex(p))) for p in patterns])

    def _in(self, operator, operands) -> Q:
        left, *values = _operands(operator, operands, at_least=2)
        if len(values) == 1 and isinstance(values[0], list):
            values = values[0]
        if len(values) == 1 and isinstance(values[0], dict) and list(values[0]) == ["select"]:
            right = self.subselect(values[0]["select"], self.scope)
        else:
            if len(values) > MAX_IN_ITEMS:
                raise invalid(f"{operator}: at most {MAX_IN_ITEMS} values, got {len(values)}.")
            if not all(isinstance(v, LITERALS) for v in values):
                raise invalid(f"{operator}: the values must be plain values or one {{\"select\"}}.")
            right = values
        condition = Q(In(self.value(left, column=True), right))
        return ~condition if operator == "not_in" else condition

    CONDITIONS = {"and": _logical, "or": _logical, "not": _logical, "is": _is_operator, "is_not": _is_operator,
                  "neq": _neq, "like": _like, "ilike": _like, "in": _in, "not_in": _in}


# --- The select -------------------------------------------------------------------------------------------------


def _key(node) -> str:
    return json.dumps(node, sort_keys=True)


@dataclass
class Select:
    """A compiled select: its QuerySet of value tuples (or of values when ``flat``) and its row window."""

    queryset: object
    flat: bool
    limit: int | None
    offset: int
    aggregate_only: dict | None = None  # aggregates without group_by: ``QuerySet.aggregate`` arguments


def _check_params(params) -> None:
    if not isinstance(params, dict):
        raise invalid("params: a select takes an object of clauses.")
    unknown = sorted(set(params) - SELECT_CLAUSES)
    if unknown:
        raise invalid(f"Unknown clause: {unknown[0]}.")
    if "data" not in params:
        raise invalid("data: name the columns to select.")
    for clause in ("limit", "offset"):
        value = params.get(clause)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise invalid(f"{clause}: a whole number ≥ 0.")


def _window(params) -> tuple[int | None, int]:
    limit = params.get("limit")
    if limit is not None and limit > MAX_ROWS:
        raise invalid(f"limit: at most {MAX_ROWS} rows per select; page with offset.")
    return limit, params.get("offset") or 0


def _order(items, compiler: Compiler, names: dict[str, str]) -> list:
    """``order_by``: a column, ``"-column"``, ``{"desc": column}``, ``{"asc": column}``, or a list of them."""
    result = []
    for item in items if isinstance(items, list) else [items]:
        descending = False
        if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in ("asc", "desc"):
            (direction, item), = item.items()
            descending = direction == "desc"
        elif isinstance(item, str) and item.startswith("-"):
            item, descending = item[1:], True
        if _key(item) in names:
            expression = F(names[_key(item)])
        else:
            expression = compiler.value(item, column=True)
        result.append(expression.desc() if descending else expression.asc())
    return result


def _filtered(params, scope: Scope, compiler: Compiler):
    """The rows of the first table (with the others joined), each table filtered to the portal, then ``where``.

    One ``filter()``: a cross-joined table is reached by a multi-valued join, which Django shares only between
    the conditions of one call — the portal condition comes first, so ``where`` and ``data`` reuse its join."""
    queryset = scope.tables[scope.names[0]][0].model.objects.order_by()
    if scope.relations:
        queryset = queryset.annotate(**scope.relations)
    condition = Q(*[Q(**{prefix + table.portal_path: scope.context.portal}) for table, prefix in scope.tables.values()])
    if params.get("where") is not None:
        condition &= compiler.condition(params["where"])
    return queryset.filter(condition)


def _data_items(params, *, subquery: bool) -> tuple[list, bool]:
    """The items of ``data`` and whether the answer is flat (``data`` names one column, not in a list)."""
    data = params["data"]
    flat = not isinstance(data, list)
    items = [data] if flat else data
    if not items:
        raise invalid("data: name at least one column.")
    if subquery and len(items) != 1:
        raise invalid("A sub-select in in/not_in selects exactly one column.")
    return items, flat


def compile_select(params, context: Context, *, subquery: bool = False, parent: Scope | None = None) -> Select:
    """Compile a select's clauses into a QuerySet over the portal's rows (a sub-select: one column, no cap, and
    ``parent`` the scope of the select it is in). Runs no query: the QuerySet is lazy."""
    _check_params(params)
    scope = scope_of(params, context, parent)
    compiler = Compiler(scope)
    queryset = _filtered(params, scope, compiler)
    items, flat = _data_items(params, subquery=subquery)
    aggregates = [compiler.aggregate(item) for item in items]
    limit, offset = _window(params)
    if any(a is not None for a in aggregates) or params.get("group_by") is not None:
        queryset, only = _grouped(queryset, compiler, items, aggregates, params.get("group_by"))
        if only is not None:
            if subquery:
                raise invalid("A sub-select in in/not_in cannot aggregate without group_by.")
            return Select(queryset, flat, limit, offset, aggregate_only=only)
    else:
        queryset = queryset.annotate(**{f"jsonsql_{i}": compiler.value(item, column=True)
                                        for i, item in enumerate(items)})
    queryset = queryset.values_list(*[f"jsonsql_{i}" for i in range(len(items))], flat=flat and not subquery)
    return Select(_arranged(queryset, params, compiler, items, subquery=subquery), flat, limit, offset)


def _arranged(queryset, params, compiler: Compiler, items, *, subquery: bool):
    """``distinct`` and ``order_by``; a sub-select's ``limit``/``offset`` too (a top-level select pages later)."""
    if params.get("distinct"):
        queryset = queryset.distinct()
    if params.get("order_by") is not None:
        names = {_key(item): f"jsonsql_{i}" for i, item in enumerate(items)}
        queryset = queryset.order_by(*_order(params["order_by"], compiler, names))
    limit, offset = _window(params)
    if subquery and (limit is not None or offset):
        queryset = queryset[offset:offset + limit] if limit is not None else queryset[offset:]
    return queryset


def _grouped(queryset, compiler: Compiler, items, aggregates, group_by):
    """Group by ``group_by`` (columns) and compute the aggregates of ``data``; every other data item must be
    one of the ``group_by`` columns. Without ``group_by``: the ``aggregate()`` arguments of one row."""
    groups = group_by if isinstance(group_by, list) else ([] if group_by is None else [group_by])
    group_keys = {_key(g) for g in groups}
    plain = {f"jsonsql_{i}": item for i, (item, agg) in enumerate(zip(items, aggregates)) if agg is None}
    for item in plain.values():
        if _key(item) not in group_keys and not isinstance(item, LITERALS[1:]):
            raise invalid(f"data: {json.dumps(item)} is neither an aggregate nor in group_by.")
    computed = {f"jsonsql_{i}": agg for i, agg in enumerate(aggregates) if agg is not None}
    if not groups:
        if plain:
            raise invalid("data: without group_by, select only aggregates.")
        return queryset, computed
    queryset = queryset.values(**{name: compiler.value(item, column=True) for name, item in plain.items()},
                               **{f"jsonsql_group_{i}": compiler.value(g, column=True)
                                  for i, g in enumerate(groups) if _key(g) not in {_key(p) for p in plain.values()}})
    return queryset.annotate(**computed), None


def run_select(params, context: Context) -> list:
    """The rows of a select: a list of arrays in ``data`` order (of values when ``data`` is one column)."""
    return run(compile_select(params, context))


def run(select: Select) -> list:
    """The rows of a compiled select, at most ``MAX_ROWS`` without a ``limit`` (else ``TOO_MANY_ROWS``).

    The cap is a ``LIMIT MAX_ROWS + 1`` of the query itself, so a large product (a cross join) is never
    materialised here: the database stops at the first row over the cap (or at the statement timeout)."""
    if select.aggregate_only is not None:
        row = select.queryset.aggregate(**select.aggregate_only)
        values = [row[name] for name in sorted(row, key=lambda n: int(n.rsplit("_", 1)[1]))]
        return values if select.flat else [values]
    end = select.offset + (select.limit if select.limit is not None else MAX_ROWS + 1)
    rows = list(select.queryset[select.offset:end])
    if select.limit is None and len(rows) > MAX_ROWS:
        raise JsonRpcError(TOO_MANY_ROWS, f"The select matches more than {MAX_ROWS} rows: add a limit "
                                          f"(at most {MAX_ROWS}) and page with offset.")
    return [row if select.flat else list(row) for row in rows]


def matching_rows(table_name: str, where, context: Context):
    """The model rows of one table that ``where`` selects, filtered to the portal (also inside sub-selects): the
    rows an ``update`` or ``delete`` changes."""
    params = {"from": table_name, "where": where}
    scope = scope_of(params, context)
    return _filtered(params, scope, Compiler(scope))
