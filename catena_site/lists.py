"""One list screen: ``PortalListView``, the base of every list of the screens.

A list declares its queryset (``get_queryset``, always from ``for_portal``), its FilterSet (the API's), its
columns (heading, sort field, CSV value) and its row template; the base gives it filters, sortable columns on
keyset pages, a page-size choice, a total (exact on small tables, the planner's estimate on big ones) and a
CSV export of exactly the filtered rows (``?format=csv``).

Infrastructure: it imports no app. Filters that name a subscriber, package or channel may take a name instead of
an ID on the screens (``name_filters``): the list resolves the name to IDs before the FilterSet sees them, so an ID
means exactly what it means in the API, and the API itself never reads names.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import connections
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.utils import translation
from django.views.generic import TemplateView
from rest_framework.exceptions import ValidationError as InvalidCursor

from catena_site.api.pagination import Keyset
from catena_site.ids import InvalidId, decode_id, encode_id
from catena_site.text import text_problem
from catena_site.web import SCREEN_PAGE_SIZE, PortalMixin, ScreenPage, filter_errors, filter_params

PAGE_SIZES = (25, 50, 100, 200)
EXACT_COUNT_LIMIT = 10_000  # planner estimates below this are counted exactly (a cheap count); above, "about N"
EXPORT_BATCH = 500  # rows read per query while streaming a CSV export
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula
NAME_MATCHES = 100  # IDs a name may stand for in one filter


@dataclass(frozen=True)
class Column:
    """One column of a list: its heading, the model field it sorts by (``""``: not sortable) and its CSV value.

    ``csv`` is a function of a row (after ``decorate_rows``) giving the cell; ``None`` leaves the column out of
    the export (an action column, a logo).
    """

    label: str
    sort: str = ""
    csv: Callable[[object], object] | None = None


@dataclass
class Total:
    """How many rows match: ``exact`` or the planner's estimate (shown as "about N")."""

    value: int
    exact: bool


@dataclass
class SortLink:
    """A column heading as the template draws it: a link that sorts by it, and its current direction."""

    label: str
    url: str = ""
    direction: str = ""  # "asc", "desc" or "" when the list is not sorted by it


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting with ``= + - @`` (or tab, CR) gets a leading ``'``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _Echo:
    """A file-like object whose ``write`` returns what it was given, for ``csv.writer`` in a stream."""

    def write(self, value: str) -> str:
        return value


def count_rows(queryset) -> Total:
    """The number of rows of ``queryset``: exact on SQLite and on small results; on PostgreSQL a result the
    planner estimates at ``EXACT_COUNT_LIMIT`` rows or more is not counted (that would read them all) and its
    estimate is returned instead."""
    queryset = queryset.order_by()
    if connections[queryset.db].vendor != "postgresql":
        return Total(queryset.count(), exact=True)
    plan = json.loads(queryset.explain(format="json"))
    plan = plan[0] if isinstance(plan, list) else plan
    estimate = int(plan["Plan"]["Plan Rows"])
    if estimate < EXACT_COUNT_LIMIT:
        return Total(queryset.count(), exact=True)
    return Total(estimate, exact=False)


class PortalListView(PortalMixin, TemplateView):
    """A list screen of the caller's portal. Subclasses declare:

    - ``get_queryset()``: the rows, from ``for_portal`` (tenancy is decided there and nowhere else);
    - ``filterset_class`` and ``filter_names`` (the query parameters passed to it), ``filter_labels`` for errors;
    - ``columns`` (``Column``), ``default_sort`` (a ``Column.sort``, ``-`` for descending), ``row_template``;
    - optionally ``name_filters`` (parameter → ``(resolve, accepted)``: ``resolve(portal, text)`` returns the
      primary keys a typed name stands for, ``accepted`` says what the filter takes), ``keyset_class``, ``csv_filename``,
      ``decorate_rows(rows)`` (rows as the table shows them, one query per page at most) and ``filter_data()``.

    Query parameters of the base: ``sort`` (``field`` or ``-field``, whitelisted by ``columns``), ``perPage``,
    ``cursor`` and ``format=csv``.
    """

    filterset_class = None
    filter_names: tuple[str, ...] = ()
    filter_labels: dict[str, str] = {}
    columns: list[Column] = []
    default_sort = "-id"
    row_template = ""
    keyset_class = Keyset
    csv_filename = "export.csv"
    name_filters: dict[str, tuple[Callable[[object, str], list[int]], str]] = {}
    show_total = True

    def get_queryset(self):
        raise NotImplementedError

    def filter_data(self) -> tuple[QueryDict, list[str]]:
        """The query string as FilterSet parameters, and errors of parameters the screen reads itself."""
        return filter_params(self.request.GET, self.filter_names), []

    def decorate_rows(self, rows: list) -> list:
        return rows

    # --- Sorting and page size ----------------------------------------------------------------------------

    def sortable(self) -> set[str]:
        return {column.sort for column in self.columns if column.sort}

    def sort_key(self) -> tuple[str, list[str]]:
        """The ``sort`` parameter, checked against the sortable columns (default: ``default_sort``)."""
        raw = self.request.GET.get("sort", "").strip() or self.default_sort
        if raw.lstrip("-") not in self.sortable() | {self.default_sort.lstrip("-")}:
            names = ", ".join(sorted(self.sortable()))
            return self.default_sort, [f"Sort: {raw} is not a sortable column (use one of: {names})."]
        return raw, []

    @staticmethod
    def ordering_for(sort: str) -> tuple[str, ...]:
        """The keyset order of a sort key: the column, then the ID in the same direction as the tie-breaker."""
        name = sort.lstrip("-")
        descending = sort.startswith("-")
        if name == "id":
            return (sort,)
        return (sort, "-id" if descending else "id")

    def page_size(self) -> tuple[int, list[str]]:
        raw = self.request.GET.get("perPage", "").strip()
        if not raw:
            return SCREEN_PAGE_SIZE, []
        if raw.isdigit() and int(raw) in PAGE_SIZES:
            return int(raw), []
        sizes = ", ".join(str(size) for size in PAGE_SIZES)
        return SCREEN_PAGE_SIZE, [f"Rows per page: choose one of {sizes}."]

    def sort_links(self, sort: str) -> list[SortLink]:
        params = self.request.GET.copy()
        for name in ("cursor", "format"):
            params.pop(name, None)
        links = []
        for column in self.columns:
            if not column.sort:
                links.append(SortLink(column.label))
                continue
            current = sort.lstrip("-") == column.sort
            direction = ("desc" if sort.startswith("-") else "asc") if current else ""
            params["sort"] = f"-{column.sort}" if direction == "asc" else column.sort
            links.append(SortLink(column.label, f"?{params.urlencode()}", direction))
        return links

    # --- Filters ----------------------------------------------------------------------------------------------

    def resolve_names(self, data: QueryDict) -> tuple[QueryDict, list[str]]:
        """Replace each text of a ``name_filters`` parameter by the IDs it stands for; a well-formed ID stays as
        it is (it means what it means in the API). A text matching nothing is an error naming the filter."""
        errors = []
        for name, (resolve, accepted) in self.name_filters.items():
            values = data.getlist(name)
            if not values:
                continue
            resolved: list[str] = []
            for value in values:
                try:
                    decode_id(value)
                except InvalidId:
                    label = self.filter_labels.get(name, name)
                    problem = text_problem(value)
                    if problem:  # no name can hold it, and PostgreSQL refuses NUL in a query
                        errors.append(f"{label}: {problem}")
                        continue
                    found = [encode_id(pk) for pk in resolve(self.portal, value)[:NAME_MATCHES]]
                    if not found:
                        errors.append(f"{label}: nothing matches “{value}”; enter {accepted}.")
                    resolved.extend(found)
                else:
                    resolved.append(value)
            data.setlist(name, list(dict.fromkeys(resolved)))
        return data, errors

    def filtered_queryset(self):
        """The filtered rows (unordered), or ``None`` and the errors to show."""
        data, errors = self.filter_data()
        data, name_errors = self.resolve_names(data)
        filterset = self.filterset_class(data, queryset=self.get_queryset())
        if not filterset.is_valid():
            return None, errors + name_errors + filter_errors(filterset, self.filter_labels)
        if errors or name_errors:
            return None, errors + name_errors
        return filterset.qs, []

    # --- Rendering ------------------------------------------------------------------------------------------

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv":
            return self.export(request)
        return super().get(request, *args, **kwargs)

    def keyset_page(self, queryset, ordering: tuple[str, ...], limit: int) -> ScreenPage:
        cursor = self.request.GET.get("cursor") or None
        try:
            rows, next_cursor = self.keyset_class(queryset.model, ordering).page(queryset, cursor, limit)
        except InvalidCursor:
            raise Http404 from None  # a hand-edited page link, like a malformed ID in a path
        params = self.request.GET.copy()
        params.pop("cursor", None)
        first_url = f"?{params.urlencode()}" if cursor else None
        next_url = None
        if next_cursor:
            params["cursor"] = next_cursor
            next_url = f"?{params.urlencode()}"
        return ScreenPage(rows=rows, next_url=next_url, first_url=first_url)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sort, sort_errors = self.sort_key()
        limit, size_errors = self.page_size()
        queryset, errors = self.filtered_queryset()
        errors = sort_errors + size_errors + errors
        page = total = None
        if not errors:
            page = self.keyset_page(queryset, self.ordering_for(sort), limit)
            page.rows = self.decorate_rows(page.rows)
            if self.show_total:
                total = count_rows(queryset)
        export = self.request.GET.copy()
        export.pop("cursor", None)
        export["format"] = "csv"
        sizes = self.request.GET.copy()
        for name in ("cursor", "perPage"):
            sizes.pop(name, None)
        context.update(
            page=page,
            filter_errors=errors,
            columns=[column.label for column in self.columns],
            sort_links=self.sort_links(sort),
            sort=sort,
            total=total,
            page_sizes=PAGE_SIZES,
            per_page=limit,
            page_size_params=[(name, value) for name in sizes for value in sizes.getlist(name)],
            export_url=f"?{export.urlencode()}",
            row_template=self.row_template,
        )
        return context

    # --- CSV export -----------------------------------------------------------------------------------------

    def export(self, request):
        """Every filtered row in the list's order as CSV, streamed page by page over the keyset; an invalid
        filter is a 400 with the errors, a filter matching nothing gives the header line alone."""
        sort, sort_errors = self.sort_key()
        queryset, errors = self.filtered_queryset()
        errors = sort_errors + errors
        if errors:
            response = StreamingHttpResponse(iter(["\n".join(errors) + "\n"]), status=400,
                                             content_type="text/plain; charset=utf-8")
            return response
        columns = [column for column in self.columns if column.csv is not None]
        response = StreamingHttpResponse(self.csv_lines(queryset, self.ordering_for(sort), columns),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.csv_filename}"'
        response["Cache-Control"] = "no-store"
        return response

    def csv_lines(self, queryset, ordering: tuple[str, ...], columns: list[Column]) -> Iterator[str]:
        writer = csv.writer(_Echo())
        with translation.override("en"):  # the export's header stays English in every language (files, scripts)
            header = [str(column.label) for column in columns]
        yield writer.writerow(header)
        keyset = self.keyset_class(queryset.model, ordering)
        cursor = None
        while True:
            rows, cursor = keyset.page(queryset, cursor, EXPORT_BATCH)
            for row in self.decorate_rows(rows):
                yield writer.writerow([safe_cell(column.csv(row)) for column in columns])
            if cursor is None:
                return
