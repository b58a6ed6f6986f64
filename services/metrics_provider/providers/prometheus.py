"""Prometheus, Thanos and Cortex: one implementation, as in KLT (§6.2).

KLT uses the Go ``client_golang`` API, so klt sends what that client sends: a **POST** with a form body
(``query`` and ``time`` for an instant query; ``query``, ``start``, ``end`` and ``step`` in seconds for a
range query), retried as a GET only when the server answers 405. Values are kept exactly as Prometheus
wrote them: its JSON already carries each sample as the string Go's ``SampleValue.String()`` produces, so
``2`` stays ``2``. ``insecureSkipTlsVerify`` is not applied, as in KLT.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import aiohttp
import msgspec

from services.metrics_provider.providers.base import ProviderContext, ProviderError, register
from shared.durations import parse_duration
from shared.keptn.resources import KeptnMetric, KeptnMetricsProvider
from shared.runtime.secrets import SecretSourceError

NO_VALUES = "no values in query result"
TOO_MANY_VALUES = "too many values in query result"
COULD_NOT_CAST = "could not cast result"
BAD_SECRET = "secret key does not contain user and password"


class _Data(msgspec.Struct, rename="camel"):
    result_type: str
    result: msgspec.Raw


class _Answer(msgspec.Struct, rename="camel"):
    """The envelope of every Prometheus HTTP API answer."""

    status: str
    data: _Data | None = None
    error_type: str = ""
    error: str = ""


class _Series(msgspec.Struct):
    values: list[tuple[float, str]] = msgspec.field(default_factory=list)


class _Sample(msgspec.Struct):
    value: tuple[float, str]


_answer_decoder = msgspec.json.Decoder(_Answer)
_vector_decoder = msgspec.json.Decoder(list[_Sample])
_matrix_decoder = msgspec.json.Decoder(list[_Series])


def _seconds(value: float) -> str:
    """A time or step the way client_golang sends it: seconds, millisecond precision, no trailing zeros."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _decode_answer(body: bytes, status: int) -> _Data:
    """Check an API answer the way client_golang does; KLT passes its error text on unchanged."""
    try:
        answer = _answer_decoder.decode(body)
    except msgspec.DecodeError as exc:
        if status >= 300:
            raise ProviderError(f"server_error: server error: {status}") from exc
        raise ProviderError(f"bad_response: {exc}") from exc
    if answer.status == "error":
        raise ProviderError(f"{answer.error_type}: {answer.error}")
    if status >= 300:
        raise ProviderError(f"server_error: server error: {status}")
    if answer.data is None:
        raise ProviderError(COULD_NOT_CAST)
    return answer.data


def vector_value(data_type: str, result: bytes) -> tuple[str, bytes]:
    """The single sample of an instant query; the raw value is the sample value as JSON (``"2"``)."""
    if data_type != "vector":
        raise ProviderError(COULD_NOT_CAST)
    samples = _vector_decoder.decode(result)
    if not samples:
        raise ProviderError(NO_VALUES)
    if len(samples) > 1:
        raise ProviderError(TOO_MANY_VALUES)
    value = samples[0].value[1]
    return value, msgspec.json.encode(value)


def matrix_values(data_type: str, result: bytes) -> list[str]:
    """Every value of the single series of a range query."""
    if data_type != "matrix":
        raise ProviderError(COULD_NOT_CAST)
    series = _matrix_decoder.decode(result)
    if not series:
        raise ProviderError(NO_VALUES)
    if len(series) > 1:
        raise ProviderError(TOO_MANY_VALUES)
    if not series[0].values:
        raise ProviderError(NO_VALUES)
    return [value for _, value in series[0].values]


@dataclass(frozen=True, slots=True)
class PrometheusBackend:
    provider: KeptnMetricsProvider
    context: ProviderContext

    async def evaluate_query(self, metric: KeptnMetric) -> tuple[str, bytes]:
        if metric.spec.range is None:
            now = self.context.clock()
            data = await self._call("query", {"query": metric.spec.query, "time": _seconds(now)})
            return vector_value(data.result_type, data.result)
        values = await self._range(metric, step_field=False)
        return values[0], msgspec.json.encode(values[0])

    async def evaluate_query_for_step(self, metric: KeptnMetric) -> tuple[list[str], bytes]:
        values = await self._range(metric, step_field=True)
        return values, msgspec.json.encode(values)

    async def _range(self, metric: KeptnMetric, *, step_field: bool) -> list[str]:
        """A range query over ``[now - interval, now]``; the step is ``range.step`` for a step query and
        the interval itself otherwise (so the range holds one point per interval, as KLT asks)."""
        metric_range = metric.spec.range
        assert metric_range is not None
        interval = _duration(metric, "interval", metric_range.interval)
        step = _duration(metric, "step", metric_range.step) if step_field else interval
        if step <= 0:
            raise ProviderError(
                f"KeptnMetric '{metric.metadata.name}': range.{'step' if step_field else 'interval'} "
                "must be greater than zero"
            )
        now = self.context.clock()
        form = {
            "query": metric.spec.query,
            "start": _seconds(now - interval),
            "end": _seconds(now),
            "step": _seconds(step),
        }
        data = await self._call("query_range", form)
        return matrix_values(data.result_type, data.result)

    async def _auth(self) -> dict[str, str]:
        """Basic-auth headers from the provider's Secret (keys ``user``, ``password``) when one is named."""
        ref = self.provider.spec.secret_key_ref
        if ref is None or not ref.name:
            return {}
        namespace = self.provider.metadata.namespace
        if self.context.secrets is None:
            raise ProviderError(
                f"secret '{ref.name}' in namespace '{namespace}' cannot be read: no secret source"
            )
        try:
            data = await self.context.secrets.get(namespace, ref.name)
        except SecretSourceError as exc:  # an unreadable manifest, a 403 or an unreachable API
            raise ProviderError(str(exc)) from None
        if data is None:
            raise ProviderError(f'secrets "{ref.name}" not found')
        user, password = data.get("user"), data.get("password")
        if user is None or password is None:
            raise ProviderError(BAD_SECRET)
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    async def _call(self, endpoint: str, form: dict[str, str]) -> _Data:
        url = self.provider.spec.target_server.rstrip("/") + f"/api/v1/{endpoint}"
        headers = await self._auth()
        session = self.context.session
        timeout = aiohttp.ClientTimeout(total=self.context.timeout_s)
        method = "POST"
        try:
            async with session.post(url, data=form, headers=headers, timeout=timeout) as response:
                status, body = response.status, await response.read()
            if status == 405:
                method = "GET"
                async with session.get(url, params=form, headers=headers, timeout=timeout) as response:
                    status, body = response.status, await response.read()
        except TimeoutError as exc:
            raise ProviderError(f'{method.title()} "{url}": context deadline exceeded') from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise ProviderError(f'{method.title()} "{url}": {_reason(exc)}') from exc
        return _decode_answer(body, status)


def _duration(metric: KeptnMetric, field_name: str, text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ProviderError(f"KeptnMetric '{metric.metadata.name}': range.{field_name}: {exc}") from exc


def _reason(exc: BaseException) -> str:
    """A short reason for a transport error (aiohttp's messages name the host and the cause)."""
    return str(exc) or type(exc).__name__


def build(provider: KeptnMetricsProvider, context: ProviderContext) -> PrometheusBackend:
    return PrometheusBackend(provider=provider, context=context)


register(("prometheus", "thanos", "cortex"), build)
