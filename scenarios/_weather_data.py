"""Forecast providers for the weather scenario: bundled sample data (default) or live Open-Meteo.

Both read the Open-Meteo `/v1/forecast` daily format with one parser, so the offline sample and
the live API produce the same `DailyForecast`. Live is opt-in (`ORCHLAB_WEATHER_LIVE=1`): runs
stay offline and reproducible unless a user asks for real weather.

Date rule of the sample provider: it serves one fixed day (SAMPLE_DAY, "tomorrow" relative to
SAMPLE_TODAY) and maps ANY requested date onto it. The live provider resolves "today" and
"tomorrow" in the city's own timezone (Open-Meteo `timezone=auto`) or looks up an ISO date.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from orchlab.scenario import env
from scenarios._common import load_json

SAMPLE_DATA_LABEL = "Sample data: invented forecasts in the Open-Meteo format, not real weather."
"""What the UI should show next to results from the sample provider."""
SAMPLE_TODAY = "2025-04-14"
SAMPLE_DAY = "2025-04-15"
"""The one day the sample provider serves, whatever date is asked for."""
LIVE_ENV = "ORCHLAB_WEATHER_LIVE"
OPEN_METEO_URL = "https://api.open-meteo.com/v1/forecast"
DAILY_FIELDS = ("temperature_2m_max", "temperature_2m_min", "precipitation_probability_max",
                "wind_speed_10m_max", "weather_code")
LIVE_TIMEOUT_S = 10.0

WMO_CONDITIONS = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast", 45: "fog",
    48: "depositing rime fog", 51: "light drizzle", 53: "moderate drizzle", 55: "dense drizzle",
    56: "light freezing drizzle", 57: "dense freezing drizzle", 61: "slight rain",
    63: "moderate rain", 65: "heavy rain", 66: "light freezing rain", 67: "heavy freezing rain",
    71: "slight snowfall", 73: "moderate snowfall", 75: "heavy snowfall", 77: "snow grains",
    80: "slight rain showers", 81: "moderate rain showers", 82: "violent rain showers",
    85: "slight snow showers", 86: "heavy snow showers", 95: "thunderstorm",
    96: "thunderstorm with slight hail", 99: "thunderstorm with heavy hail",
}
"""WMO weather interpretation codes as used by Open-Meteo's `weather_code`."""


class ForecastError(ValueError):
    """A forecast that cannot be served: unknown city, date outside the data, bad response."""


@dataclass(frozen=True)
class City:
    """A city the scenario knows, with the coordinates Open-Meteo needs."""

    id: str
    name: str
    country: str
    latitude: float
    longitude: float
    climate: str


@dataclass
class DailyForecast:
    """One day's forecast: what get_forecast returns (as JSON) to either form."""

    city: str
    country: str
    date: str
    requested_date: str
    temperature_min_c: float
    temperature_max_c: float
    precipitation_probability_pct: float | None
    wind_speed_max_kmh: float | None
    weather_code: int | None
    conditions: str
    source: str
    label: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output and RunDeps.artifacts."""
        return asdict(self)


class ForecastProvider(Protocol):
    """The one interface both providers implement."""

    source: str

    def forecast(self, city: City, requested_date: str) -> DailyForecast:
        """The forecast for `city` on `requested_date` ("tomorrow", "today" or YYYY-MM-DD)."""
        ...


def cities() -> list[City]:
    """The bundled cities (the scenario's inputs are built from these)."""
    return [City(**{k: c[k] for k in ("id", "name", "country", "latitude", "longitude",
                                       "climate")})
            for c in load_json("weather/cities.json")["cities"]]


def find_city(name: str) -> City:
    """A known city by name, tolerating case, spaces and a ', Country' suffix."""
    wanted = name.split(",")[0].strip().lower()
    for city in cities():
        if wanted in (city.name.lower(), city.id):
            return city
    known = ", ".join(c.name for c in cities())
    raise ForecastError(f"unknown city {name!r}; known cities: {known}")


def parse_open_meteo(
    payload: dict[str, Any], city: City, day: str, requested_date: str, source: str, label: str
) -> DailyForecast:
    """The `day` entry of an Open-Meteo daily response; ForecastError if it is missing."""
    daily = payload.get("daily")
    if not isinstance(daily, dict) or not all(k in daily for k in ("time", *DAILY_FIELDS)):
        raise ForecastError("Open-Meteo response has no complete 'daily' block")
    try:
        index = list(daily["time"]).index(day)
    except ValueError:
        raise ForecastError(f"no forecast for {day} (days: {', '.join(daily['time'])})") from None
    values = {k: daily[k][index] for k in DAILY_FIELDS}
    code = None if values["weather_code"] is None else int(values["weather_code"])
    return DailyForecast(
        city=city.name, country=city.country, date=day, requested_date=requested_date,
        temperature_min_c=float(values["temperature_2m_min"]),
        temperature_max_c=float(values["temperature_2m_max"]),
        precipitation_probability_pct=values["precipitation_probability_max"],
        wind_speed_max_kmh=values["wind_speed_10m_max"], weather_code=code,
        conditions=WMO_CONDITIONS.get(code, "unknown") if code is not None else "unknown",
        source=source, label=label,
    )


class SampleProvider:
    """Bundled files `scenarios/data/weather/sample_<city>.json`; every date -> SAMPLE_DAY."""

    source = "sample"

    def forecast(self, city: City, requested_date: str) -> DailyForecast:
        payload = load_json(f"weather/sample_{city.id}.json")
        return parse_open_meteo(payload, city, SAMPLE_DAY, requested_date, self.source,
                                SAMPLE_DATA_LABEL)


Fetch = Callable[[str], dict[str, Any]]


def fetch_json(url: str) -> dict[str, Any]:
    """GET a JSON document with urllib (no extra dependency)."""
    request = urllib.request.Request(url, headers={"User-Agent": "orchlab-weather/0.1"})
    with urllib.request.urlopen(request, timeout=LIVE_TIMEOUT_S) as response:
        return json.loads(response.read().decode("utf-8"))


class OpenMeteoProvider:
    """Live forecasts from api.open-meteo.com (no key); `fetch` is injectable for tests."""

    source = "open-meteo"

    def __init__(self, fetch: Fetch | None = None) -> None:
        self.fetch = fetch or fetch_json

    @staticmethod
    def url(city: City) -> str:
        """The request: a week of daily values in the city's own timezone."""
        query = urllib.parse.urlencode({
            "latitude": city.latitude, "longitude": city.longitude,
            "daily": ",".join(DAILY_FIELDS), "timezone": "auto", "forecast_days": 7,
        })
        return f"{OPEN_METEO_URL}?{query}"

    def forecast(self, city: City, requested_date: str) -> DailyForecast:
        payload = self.fetch(self.url(city))
        day = resolve_day(payload, requested_date)
        return parse_open_meteo(payload, city, day, requested_date, self.source,
                                "Live forecast from Open-Meteo (open-meteo.com).")


def resolve_day(payload: dict[str, Any], requested_date: str) -> str:
    """'today'/'tomorrow' are the response's first/second local day; otherwise an ISO date."""
    days = list((payload.get("daily") or {}).get("time") or [])
    word = requested_date.strip().lower()
    offsets = {"today": 0, "tomorrow": 1}
    if word in offsets:
        if len(days) <= offsets[word]:
            raise ForecastError("Open-Meteo response has too few days")
        return days[offsets[word]]
    return requested_date.strip()


def provider_from_env() -> ForecastProvider:
    """Live Open-Meteo when ORCHLAB_WEATHER_LIVE=1 (env or .env), otherwise the bundled sample."""
    if env(LIVE_ENV) == "1":
        return OpenMeteoProvider()
    return SampleProvider()
