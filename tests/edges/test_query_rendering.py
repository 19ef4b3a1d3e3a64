"""Query templates: placeholders, context-aware escaping, and the built-in Istio queries."""

from __future__ import annotations

import re

import pytest
from edges_helpers import make_canary

from canary.metrics.base import query_context
from canary.metrics.builtin import REQUEST_DURATION, REQUEST_SUCCESS_RATE, builtin_query, revision_queries
from canary.metrics.template import QueryContext, TemplateError, escape_string_content, render_query

CONTEXT = QueryContext(
    name="podinfo",
    namespace="test",
    target="podinfo",
    service="podinfo-svc",
    interval="1m",
    variables={"code": "5.*", "evil": 'x"} or vector(1) #', "limit": "0.5", "label": "destination_workload"},
)


def split_literals(query: str) -> tuple[str, list[str]]:
    """Independent PromQL lexer for the test: (query with literals replaced by "S", decoded literals)."""
    skeleton: list[str] = []
    literals: list[str] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char in "\"'`":
            j = i + 1
            content: list[str] = []
            while query[j] != char:
                if query[j] == "\\" and char != "`":
                    escaped = query[j + 1]
                    content.append({"n": "\n", "t": "\t", "r": "\r"}.get(escaped, escaped))
                    j += 2
                else:
                    content.append(query[j])
                    j += 1
            literals.append("".join(content))
            skeleton.append("S")
            i = j + 1
        else:
            skeleton.append(char)
            i += 1
    return "".join(skeleton), literals


def test_all_placeholders_with_and_without_spaces() -> None:
    template = 'x{a="{{name}}",b="{{ namespace }}",c="{{  target}}",d="{{service }}",e="{{ variables.code }}"}[{{ interval }}]'
    assert (
        render_query(template, CONTEXT) == 'x{a="podinfo",b="test",c="podinfo",d="podinfo-svc",e="5.*"}[1m]'
    )


def test_injection_stays_inside_the_string_literal() -> None:
    template = 'sum(rate(http_requests_total{namespace="{{ namespace }}", path="{{ variables.evil }}"}[{{ interval }}]))'
    rendered = render_query(template, CONTEXT)
    skeleton, literals = split_literals(rendered)
    assert skeleton == "sum(rate(http_requests_total{namespace=S, path=S}[1m]))"  # still one selector
    assert literals == ["test", 'x"} or vector(1) #']
    assert "or vector(1)" not in skeleton


def test_single_quoted_literal_is_escaped_too() -> None:
    rendered = render_query(
        "m{p='{{ variables.evil }}'}", QueryContext(**{**CONTEXT.__dict__, "variables": {"evil": "a'} or b"}})
    )
    skeleton, literals = split_literals(rendered)
    assert skeleton == "m{p=S}"
    assert literals == ["a'} or b"]


def test_backslashes_and_newlines_cannot_end_the_literal() -> None:
    assert escape_string_content('a\\"\nb') == 'a\\\\\\"\\nb'
    context = QueryContext(**{**CONTEXT.__dict__, "variables": {"v": 'end\\" or vector(1)\n#'}})
    skeleton, literals = split_literals(render_query('m{p="{{ variables.v }}"}', context))
    assert skeleton == "m{p=S}"
    assert literals == ['end\\" or vector(1)\n#']


def test_bare_values_must_be_single_tokens() -> None:
    assert render_query("m > {{ variables.limit }}", CONTEXT) == "m > 0.5"
    with pytest.raises(TemplateError, match="only a duration or a number"):
        render_query("sum by ({{ variables.label }}) (m)", CONTEXT)  # identifiers are expressions
    with pytest.raises(TemplateError, match="outside a string literal"):
        render_query("m > {{ variables.evil }}", CONTEXT)
    with pytest.raises(TemplateError, match="outside a string literal"):
        render_query(
            "m[{{ interval }}]", QueryContext(**{**CONTEXT.__dict__, "interval": "1m] or vector(1)"})
        )


def test_raw_string_rejects_backtick() -> None:
    context = QueryContext(**{**CONTEXT.__dict__, "variables": {"v": "a` or vector(1) #"}})
    with pytest.raises(TemplateError, match="raw"):
        render_query("m{p=`{{ variables.v }}`}", context)


def test_unknown_placeholder_and_missing_variable_are_errors() -> None:
    with pytest.raises(TemplateError, match="unknown placeholder"):
        render_query('m{a="{{ ingress }}"}', CONTEXT)
    with pytest.raises(TemplateError, match="'nope' is not set"):
        render_query('m{a="{{ variables.nope }}"}', CONTEXT)


def test_comment_quotes_do_not_confuse_the_scanner() -> None:
    template = '# don\'t "quote" me\nm{a="{{ target }}"}'
    assert render_query(template, CONTEXT).endswith('m{a="podinfo"}')


def test_builtin_queries_are_flaggers() -> None:
    success = re.sub(r"\s+", " ", builtin_query(REQUEST_SUCCESS_RATE, CONTEXT)).strip()
    assert success == (
        'sum( rate( istio_requests_total{ reporter="destination", destination_workload_namespace="test", '
        'destination_workload=~"podinfo", response_code!~"5.*" }[1m] ) ) / sum( rate( istio_requests_total{ '
        'reporter="destination", destination_workload_namespace="test", destination_workload=~"podinfo" }[1m] ) ) * 100'
    )
    duration = re.sub(r"\s+", " ", builtin_query(REQUEST_DURATION, CONTEXT)).strip()
    assert duration == (
        'histogram_quantile( 0.99, sum( rate( istio_request_duration_milliseconds_bucket{ reporter="destination", '
        'destination_workload_namespace="test", destination_workload=~"podinfo" }[1m] ) ) by (le) )'
    )


def test_revision_queries_select_one_workload_exactly() -> None:
    queries = revision_queries(
        QueryContext(**{**CONTEXT.__dict__, "target": "podinfo-primary", "interval": "30s"})
    )
    assert 'destination_workload="podinfo-primary"' in queries.requests
    assert queries.requests.startswith("istio_requests_total{"), (
        "raw counters: exact differences, no increase()"
    )
    assert queries.latency_buckets.startswith("istio_request_duration_milliseconds_bucket{")


def test_query_context_from_canary_defaults_interval_to_one_minute() -> None:
    canary = make_canary(
        service={
            "name": "frontend",
            "port": 80,
            "gatewayRefs": [{"name": "public-gateway", "namespace": "istio-ingress"}],
        }
    )
    metric = canary.spec.analysis.metrics[0].model_copy(update={"interval": None})  # type: ignore[index]
    context = query_context(canary, metric)
    assert (context.name, context.namespace, context.target, context.service, context.interval) == (
        "podinfo",
        "test",
        "podinfo",
        "frontend",
        "1m",
    )
    assert query_context(canary, metric, "30s").interval == "30s"


def _with_variables(**variables: str) -> QueryContext:
    return QueryContext(**{**CONTEXT.__dict__, "variables": variables})


def test_only_the_enclosing_quote_is_escaped() -> None:
    """PromQL rejects ``\\'`` inside "..." (and ``\\"`` inside '...'): "unknown escape sequence"."""
    assert escape_string_content('it\'s "x"') == 'it\'s \\"x\\"'
    assert escape_string_content('it\'s "x"', "'") == 'it\\\'s "x"'
    context = _with_variables(v="it's")
    assert render_query('m{p="{{ variables.v }}"}', context) == 'm{p="it\'s"}'
    assert render_query("m{p='{{ variables.v }}'}", context) == "m{p='it\\'s'}"
    with pytest.raises(ValueError, match="quote must be"):
        escape_string_content("x", "`")


@pytest.mark.parametrize("value", ["up", "vector", "Inf", "-Inf", "NaN", "nan", "by", "OR", "0x1f", "1m]"])
def test_identifiers_keywords_and_special_numbers_are_rejected_outside_literals(value: str) -> None:
    with pytest.raises(TemplateError, match="outside a string literal"):
        render_query("vector(1) > {{ variables.limit }}", _with_variables(limit=value))


@pytest.mark.parametrize("value", ["0.5", "-2", "1e3", "5m", "1h30m"])
def test_numbers_and_durations_are_allowed_outside_literals(value: str) -> None:
    assert (
        render_query("vector(1) > {{ variables.limit }}", _with_variables(limit=value))
        == f"vector(1) > {value}"
    )


def test_resource_names_outside_literals_must_be_dns_names_and_not_keywords() -> None:
    assert render_query("m_{{ target }}", CONTEXT) == "m_podinfo"
    with pytest.raises(TemplateError, match="a duration, a number or a DNS name"):
        render_query("m > {{ target }}", QueryContext(**{**CONTEXT.__dict__, "target": "Up"}))
    with pytest.raises(TemplateError, match="keyword"):
        render_query("m > {{ namespace }}", QueryContext(**{**CONTEXT.__dict__, "namespace": "inf"}))


def test_builtin_queries_use_resource_names_only_inside_literals() -> None:
    """So the DNS-name allowance outside literals is never exercised by the built-ins."""
    from canary.metrics.builtin import _BUCKETS, _REQUESTS, BUILTIN_QUERIES

    hostile = QueryContext(
        **{**CONTEXT.__dict__, "name": "a b", "namespace": "a b", "target": "a b", "service": "a b"}
    )
    for template in (*BUILTIN_QUERIES.values(), _REQUESTS, _BUCKETS):
        render_query(template, hostile)  # would raise if any resource key sat outside a literal


def test_window_counts_are_exact_counter_differences_series_by_series() -> None:
    """No extrapolation: the growth of each series between the window's two ends, resets included."""
    from canary.metrics.base import VectorSample, revision_sample

    class TwoReadings:
        def __init__(self) -> None:
            self.asked: list[float | None] = []

        def is_online(self) -> bool:
            return True

        def run_query(
            self, query: str, timeout: float | None = None, at: float | None = None
        ) -> float | None:
            raise AssertionError("counts come from vectors")

        def run_vector(
            self, query: str, timeout: float | None = None, at: float | None = None
        ) -> list[VectorSample]:
            self.asked.append(at)
            late = at == 1000.0
            if query.startswith("istio_requests_total"):
                return [
                    VectorSample({"pod": "a", "response_code": "200"}, 150.0 if late else 100.0),
                    VectorSample({"pod": "a", "response_code": "503"}, 7.0 if late else 5.0),
                    # restarted pod: its counter went down, so all of its new value counts
                    *([VectorSample({"pod": "b", "response_code": "200"}, 4.0)] if late else []),
                    *([] if late else [VectorSample({"pod": "b", "response_code": "200"}, 90.0)]),
                ]
            return [
                VectorSample({"pod": "a", "le": "100"}, 140.0 if late else 100.0),
                VectorSample({"pod": "a", "le": "+Inf"}, 157.0 if late else 105.0),
            ]

    provider = TwoReadings()
    sample = revision_sample(provider, QueryContext(**{**CONTEXT.__dict__, "interval": "30s"}), at=1000.0)
    assert sample is not None
    assert (sample.requests, sample.errors) == (50.0 + 2.0 + 4.0, 2.0)
    assert sample.latency_buckets == ((0.1, 40.0), (float("inf"), 52.0))
    assert set(provider.asked) == {1000.0, 970.0}
