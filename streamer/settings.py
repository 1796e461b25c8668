"""The one settings object of salespulse.

Settings are read once, in :func:`load_settings`, from (highest priority first)
explicit keyword arguments, ``SALESPULSE_*`` environment variables (nested
fields with ``__``, e.g. ``SALESPULSE_RULES__DEAL_STALLED__FACTOR=3``) and an
optional TOML file (``salespulse.toml`` in the working directory, or the path
in ``SALESPULSE_CONFIG``). The object is frozen and passed down; nothing else
reads the environment.

A malformed value raises :class:`SettingsError`, whose message names the
setting and what is allowed, so start-up stops with a sentence an operator
can act on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .gateway.config import GatewaySettings
from .notify.config import NotificationSettings

__all__ = [
    "DeadLetterSettings",
    "DeadLetterWindow",
    "DealStalledRule",
    "HealthSettings",
    "KafkaSettings",
    "RocksDBSettings",
    "RulesSettings",
    "Settings",
    "SettingsError",
    "TopicNames",
    "load_settings",
    "load_settings_file",
    "rule_fire_delays",
    "rules_for_team",
]

CONFIG_ENV = "SALESPULSE_CONFIG"
DEFAULT_CONFIG_FILE = "salespulse.toml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicNames(_Frozen):
    """Names of the contract's topics (section 1); all configurable."""

    activities: str = "crm.activities"
    deals: str = "crm.deals"
    quotas: str = "sales.quotas"
    org: str = "sales.org"
    commands: str = "sales.alert-commands"
    alerts: str = "sales.alerts"
    dlq: str = "crm.dlq"
    late: str = Field(
        "crm.late-events",
        description="events older than their partition's watermark less the allowed "
        "lateness, byte for byte (not part of contract v1's topic list; an extension)",
    )


class KafkaSettings(_Frozen):
    """How to reach Kafka. Security settings are passed to aiokafka as they are."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None


class DeadLetterWindow(_Frozen):
    """What the dead-letter share is measured over: the last ``messages`` input messages,
    or, when ``seconds`` is set, the messages of the last ``seconds`` (set one of the two)."""

    messages: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="count window: the share is taken over the last this many input messages",
    )
    seconds: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description="time window: when set, the share is taken over the messages of the last "
        "this many seconds instead (of the worker's clock, in 100 slices, so a message counts "
        "for 99-100% of it)",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> DeadLetterWindow:
        if self.seconds is not None and "messages" in self.model_fields_set:
            raise ValueError("set either messages or seconds, not both")
        return self


class DeadLetterSettings(_Frozen):
    """The dead-letter limit: what the worker does when a large share of its input is
    rejected (a producer shipped a broken schema), instead of dead-lettering a whole topic."""

    max_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description="share of rejected input messages in the window above which the limit is "
        "exceeded (1 turns the limit off)",
    )
    window: DeadLetterWindow = DeadLetterWindow()
    min_messages: int = Field(
        100,
        ge=1,
        description="input messages the window must hold before the share is judged, so a few "
        "bad messages at start-up do not count as a broken producer",
    )
    on_exceeded: Literal["warn", "stop"] = Field(
        "warn",
        description="'warn': log, set salespulse_dead_letter_limit_exceeded and go on "
        "dead-lettering; 'stop': the same, then exit non-zero without committing the message "
        "that crossed the limit, so it is read again once the producer is fixed",
    )

    @model_validator(mode="after")
    def _window_can_hold_the_sample(self) -> DeadLetterSettings:
        if self.window.seconds is None and self.min_messages > self.window.messages:
            raise ValueError(
                f"min_messages ({self.min_messages}) must not exceed window.messages "
                f"({self.window.messages}): the limit could never be judged"
            )
        return self


class HealthSettings(_Frozen):
    """When a worker counts as stalled (not ready), stuck (not live) and when it exits by
    itself: "recover or exit, never hang" (docs/operations.md, *Health*).

    Progress is a record read from an input, internal or tick partition, or a batch's
    effects (alerts, forwards, dead letters) acknowledged by Kafka; a partition with
    messages waiting that reads none stalls on its own. It is only asked for
    while there is something to do: messages behind the high watermarks of the partitions
    the worker reads, records in the producer's buffer, effects awaiting acknowledgement,
    or a rebalance or table recovery under way."""

    stall_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="/ready answers 503 when the worker has had work for this long without "
        "progress (or an effect has waited this long for Kafka's acknowledgement)",
    )
    stuck_seconds: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="/live answers 503 when the worker has had work for this long without "
        "progress, an effect has waited this long for Kafka's acknowledgement, or the "
        "producer has failed; keep it above broker_session_timeout_seconds (a rebalance "
        "may wait that long for a member that left)",
    )
    exit_after_seconds: float = Field(
        360.0,
        ge=0,
        le=86_400,
        description="the worker exits with status 4 after this long without progress while "
        "it has work (at once when the producer has failed), so a supervisor restarts it; "
        "0: never (leave it to the liveness probe)",
    )

    @model_validator(mode="after")
    def _in_order(self) -> HealthSettings:
        if self.stuck_seconds < self.stall_seconds:
            raise ValueError(
                f"stuck_seconds ({self.stuck_seconds}) must not be below stall_seconds "
                f"({self.stall_seconds}): a worker is unready before it counts as stuck"
            )
        if self.exit_after_seconds and self.exit_after_seconds < self.stuck_seconds:
            raise ValueError(
                f"exit_after_seconds ({self.exit_after_seconds}) must be 0 or at least "
                f"stuck_seconds ({self.stuck_seconds})"
            )
        return self


class _Rule(_Frozen):
    """What every rule has besides its thresholds: a switch, and Prometheus' ``for`` on
    event time: an alert fires only once its condition has held for ``for_seconds`` (an
    episode shorter than that is not written and reaches nobody). The alert's
    ``started_at`` stays when the condition began to hold (Prometheus' "active since"):
    its firing is written ``for_seconds`` later. Measured on event time, so a worker and
    a replay decide the same."""

    enabled: bool = True
    for_seconds: float = Field(
        0.0,
        ge=0,
        le=90 * 86_400,
        description="the condition must hold this long before the alert fires (Prometheus' "
        "`for`); started_at stays when it began to hold",
    )


class _RepRule(_Rule):
    """A rep rule, whose condition can fail and hold again about the same rep, so it also
    has Prometheus' ``keep_firing_for``: once firing, the condition must have failed for
    ``keep_firing_for_seconds`` before the alert resolves; if it holds again meanwhile,
    the episode goes on with no new message. (A deal rule's episode is about one stay in
    a stage or one quiet spell, which the deal's move, close or touch ends for good.)"""

    # a rep's figures move hour by hour around a threshold: a day either way, chosen by
    # backtest (README, "Less flapping"), keeps a rep alert from firing and resolving
    # within the day
    for_seconds: float = Field(
        86_400.0,
        ge=0,
        le=90 * 86_400,
        description="the condition must hold this long before the alert fires (Prometheus' "
        "`for`); started_at stays when it began to hold",
    )
    keep_firing_for_seconds: float = Field(
        86_400.0,
        ge=0,
        le=90 * 86_400,
        description="once firing, the condition must have failed this long before the alert "
        "resolves (Prometheus' `keep_firing_for`); resolved_at is when it stopped holding",
    )


class DealStalledRule(_Rule):
    """``deal_stalled``: open deal in its stage longer than factor x the stage's average."""

    factor: float = Field(2.0, gt=1.0, description="multiple of the learned stage average")
    min_samples: int = Field(5, ge=1, description="completed moves before the average is used")
    default_stage_days: float = Field(
        14.0, gt=0, description="assumed stage average until min_samples moves are known"
    )
    stage_default_days: dict[str, float] = Field(
        default_factory=dict, description="per-stage assumed average, overriding the default"
    )

    @field_validator("stage_default_days")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for stage, days in value.items():
            if days <= 0:
                raise ValueError(f"stage {stage!r}: days must be > 0, got {days}")
        return value

    def default_days_for(self, stage: str) -> float:
        return self.stage_default_days.get(stage, self.default_stage_days)


class QuotaPaceRule(_RepRule):
    """``quota_pace``: attainment / elapsed share of the quota period below ``warning_ratio``."""

    min_elapsed: float = Field(0.2, ge=0, lt=1, description="share of the period before judging")
    warning_ratio: float = Field(0.8, gt=0, description="pace below this fires a warning")
    critical_ratio: float = Field(0.5, gt=0, description="pace below this is critical")


class LowContactRateRule(_RepRule):
    """``low_contact_rate``: conversations / outbound attempts over ``window_days`` too low."""

    window_days: int = Field(7, ge=1, le=90)
    min_attempts: int = Field(50, ge=1, description="outbound attempts before judging")
    min_rate: float = Field(0.032, gt=0, lt=1, description="32 conversations per 1,000 attempts")


class ActivityDropRule(_RepRule):
    """``activity_drop``: this week's outbound attempts below ``ratio`` x the weekly average
    of the ``baseline_weeks`` weeks before."""

    window_days: int = Field(7, ge=1, le=30)
    baseline_weeks: int = Field(4, ge=1, le=12)
    ratio: float = Field(0.5, gt=0, lt=1)
    min_baseline_weekly: float = Field(
        10.0, ge=0, description="ignore reps whose usual weekly volume is below this"
    )


class FollowUpGapRule(_Rule):
    """``follow_up_gap``: open deal with fewer than ``min_follow_ups`` and no touch for
    ``quiet_days`` days."""

    # none, chosen by backtest (README, "Less flapping"): a manager hears of a gap in the
    # day's digest, which leaves out the spells the next touch ended meanwhile; a day of
    # `for` on top lowered the lift on the CRM sample (0.93 to 0.91) and left as many told
    # flaps (touch gaps are memoryless: a spell ends within the next day as often however
    # long it has lasted)
    for_seconds: float = Field(
        0.0,
        ge=0,
        le=90 * 86_400,
        description="the condition must hold this long before the alert fires (Prometheus' "
        "`for`); started_at stays when it began to hold",
    )
    min_follow_ups: int = Field(5, ge=1)
    quiet_days: float = Field(7.0, gt=0)


class ConversionDropRule(_RepRule):
    """``conversion_drop``: rep's stage-to-stage conversion below ``ratio`` x the team's."""

    window_days: int = Field(90, ge=7, le=365)
    min_exits: int = Field(20, ge=1, description="deals leaving the stage before judging")
    ratio: float = Field(0.5, gt=0, lt=1)


class WinRateOutlierRule(_RepRule):
    """``win_rate_outlier``: win rate below ``low_ratio`` x the team's, or above ``high_rate``."""

    window_days: int = Field(90, ge=7, le=365)
    min_closed: int = Field(20, ge=1)
    low_ratio: float = Field(0.5, gt=0, lt=1)
    high_rate: float = Field(0.6, gt=0, le=1)


class PipelineLoadRule(_RepRule):
    """``pipeline_load``: open deals of a rep above ``max_open`` or below ``min_open``."""

    max_open: int = Field(60, ge=1)
    min_open: int = Field(5, ge=0)


class ActivityBarometerRule(_RepRule):
    """``activity_barometer``: new opportunities this week below the weekly number needed."""

    # Two days, chosen by backtest (README, "Less flapping"): the count of new opportunities
    # in a rolling week is a small whole number against a needed figure that moves every
    # hour, so it crosses the line and back within days as deals are created and age out of
    # the week. With one day, a rep could be told "too few", then "enough", then "too few"
    # again within three days; with two the episode goes on. resolved_at still says when
    # the condition stopped holding, so a real flap is still counted as one.
    keep_firing_for_seconds: float = Field(
        172_800.0,
        ge=0,
        le=90 * 86_400,
        description="once firing, the condition must have failed this long before the alert "
        "resolves (Prometheus' `keep_firing_for`); resolved_at is when it stopped holding",
    )
    window_days: int = Field(7, ge=1, le=30)
    history_days: int = Field(90, ge=7, le=365, description="won deals behind size and win rate")


class LeadsUncontactedRule(_RepRule):
    """``leads_uncontacted``: under ``min_share`` of recent leads touched within ``within_days``."""

    window_days: int = Field(30, ge=1, le=90)
    within_days: float = Field(2.0, gt=0)
    min_share: float = Field(0.5, gt=0, le=1)
    min_leads: int = Field(5, ge=1, description="leads that can be judged before judging")


class RulesSettings(_Frozen):
    deal_stalled: DealStalledRule = DealStalledRule()
    quota_pace: QuotaPaceRule = QuotaPaceRule()
    low_contact_rate: LowContactRateRule = LowContactRateRule()
    activity_drop: ActivityDropRule = ActivityDropRule()
    follow_up_gap: FollowUpGapRule = FollowUpGapRule()
    conversion_drop: ConversionDropRule = ConversionDropRule()
    win_rate_outlier: WinRateOutlierRule = WinRateOutlierRule()
    pipeline_load: PipelineLoadRule = PipelineLoadRule()
    activity_barometer: ActivityBarometerRule = ActivityBarometerRule()
    leads_uncontacted: LeadsUncontactedRule = LeadsUncontactedRule()

    def for_team(self, overrides: Mapping[str, Mapping[str, Any]]) -> RulesSettings:
        """These rules with a team's overrides (``[teams.<id>.rules.<rule>]``) applied."""
        if not overrides:
            return self
        data = self.model_dump()
        for rule, values in overrides.items():
            data[rule] = {**data[rule], **values}
        return RulesSettings.model_validate(data)


class TeamSettings(_Frozen):
    """Per-team settings: rule overrides (checked against the rule's own fields)."""

    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        allowed = set(RulesSettings.model_fields)
        for rule in value:
            if rule not in allowed:
                raise ValueError(f"unknown rule {rule!r}; rules are: {', '.join(sorted(allowed))}")
        RulesSettings().for_team(value)  # every overridden value must validate
        return value


class RocksDBSettings(_Frozen):
    """Memory of the ``rocksdb://`` store. Every table partition this worker holds is a
    database of its own with these budgets, so a worker's RocksDB memory is at most about
    (tables x partitions held) x (write_buffer_mib x max_write_buffers + block_cache_mib);
    Faust's defaults (64 MiB x 3 and a 2 GiB cache per database) let a million open deals
    keep hundreds of MiB in memtables and cache (bench/README.md, *state*)."""

    write_buffer_mib: int = Field(
        8, ge=1, le=1024, description="memtable size of each partition database, MiB"
    )
    max_write_buffers: int = Field(
        2, ge=1, le=16, description="memtables of each partition database (full ones flush)"
    )
    block_cache_mib: int = Field(
        8, ge=1, le=65536, description="block cache of each partition database, MiB"
    )

    def table_options(self) -> dict[str, int]:
        """Options for a Faust table on ``rocksdb://`` (``app.Table(..., options=...)``)."""
        return {
            "write_buffer_size": self.write_buffer_mib * 2**20,
            "max_write_buffer_number": self.max_write_buffers,
            "block_cache_size": self.block_cache_mib * 2**20,
        }


class Settings(BaseSettings):
    """Every setting of salespulse. See the README's configuration reference."""

    model_config = SettingsConfigDict(
        env_prefix="SALESPULSE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="comma-separated brokers")
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicNames = TopicNames()
    app_id: str = Field("salespulse", min_length=1, description="Kafka consumer group and prefix")
    partitions: int = Field(
        6, ge=1, le=1024, description="partitions of topics the worker creates when missing"
    )
    replication_factor: int = Field(1, ge=1)
    broker_session_timeout_seconds: float = Field(
        60.0,
        ge=6,
        le=1800,
        description="consumer group session timeout: a worker that sends no heartbeat for this "
        "long (killed, frozen, cut off) loses its partitions to the others; the takeover time "
        "after a crash is about this long (within the broker's group.min/max.session.timeout.ms)",
    )
    broker_heartbeat_interval_seconds: float = Field(
        3.0, gt=0, le=60, description="heartbeat interval; keep it below a third of the timeout"
    )
    store: str = Field(
        "rocksdb://",
        pattern=r"^(rocksdb|memory)://",
        description="table store: 'rocksdb://' (on disk, through the rocksdict binding) in "
        "production, 'memory://' for tests and short demos",
    )
    rocksdb: RocksDBSettings = RocksDBSettings()
    data_dir: Path = Field(Path("var"), description="local state; one per worker")
    web_port: int = Field(
        6066, ge=1, le=65535, description="HTTP port of /metrics, /ready, /progress, /kpis"
    )
    web_host: str = Field(
        "0.0.0.0",
        description="address the worker's web server binds (Prometheus and the probes must "
        "reach /metrics and /ready; /kpis needs kpis_token)",
    )
    kpis_token: SecretStr | None = Field(
        None,
        description="bearer token /kpis requires (per-rep figures: personal data in many "
        "jurisdictions); unset, /kpis answers 403",
    )
    clock: Literal["wall", "event"] = Field(
        "wall",
        description="'wall': elapsed time against the wall clock; 'event': against the newest "
        "occurred_at seen less allowed_lateness_seconds (replays, simulations)",
    )
    allowed_lateness_seconds: float = Field(300.0, ge=0)
    max_event_time_jump_seconds: float = Field(
        400 * 86_400.0,
        gt=0,
        description="an event whose occurred_at is more than this far ahead of the newest one "
        "read from its input partition is dead-lettered, not processed (unless the event just "
        "before it on that partition was dead-lettered for the same reason and this one agrees "
        "with it: then the partition's time did jump); the default, 400 days, lets annual "
        "quotas through",
    )
    earliest_event_year: int = Field(
        2000,
        ge=1,
        le=9999,
        description="an event whose occurred_at is before 1 January of this year (UTC) is "
        "dead-lettered: it bounds what the first event of a partition can be",
    )
    latest_event_year: int = Field(
        2099,
        ge=1,
        le=9999,
        description="an event whose occurred_at is after 31 December of this year (UTC) is "
        "dead-lettered: it bounds what the first event of a partition can be",
    )

    @field_validator("latest_event_year")
    @classmethod
    def _years_in_order(cls, value: int, info: ValidationInfo) -> int:
        earliest = info.data.get("earliest_event_year")
        if earliest is not None and value < earliest:
            raise ValueError(f"must not be before earliest_event_year ({earliest})")
        return value

    tick_interval_seconds: float = Field(5.0, gt=0, le=3600)
    stats_publish_interval_seconds: float = Field(2.0, gt=0, le=3600)
    reporting_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    currency_rates: dict[str, float] = Field(
        default_factory=dict, description="units of reporting currency per unit of the key"
    )
    rules: RulesSettings = RulesSettings()
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    health: HealthSettings = Field(
        default_factory=HealthSettings,
        description="progress-aware /ready and /live, and the exit of a stuck worker",
    )
    notifications: NotificationSettings = Field(
        default_factory=NotificationSettings,
        description="alert delivery to people: receivers, routes, quiet hours",
    )
    teams: dict[str, TeamSettings] = Field(
        default_factory=dict, description="per-team overrides, keyed by team_id"
    )
    gateway: GatewaySettings = Field(
        default_factory=GatewaySettings,
        description="`salespulse gateway`: CRM webhooks and Slack actions in (docs/gateway.md)",
    )
    rep_rules_interval_seconds: float = Field(
        3600.0,
        ge=3600,
        le=86400,
        description="rep rules are judged at every multiple of this interval of rule time; "
        "windows end there, so live workers and replays judge the very same instants",
    )

    @field_validator("rep_rules_interval_seconds")
    @classmethod
    def _whole_hours(cls, value: float) -> float:
        # activity buckets count by the hour, so windows must end on whole hours
        if value % 3600:
            raise ValueError("must be a whole number of hours (a multiple of 3600)")
        return value

    kpi_rep_labels: bool = Field(
        True, description="export per-rep KPI series (turn off for very large organisations)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    @field_validator("currency_rates")
    @classmethod
    def _rates_positive(cls, value: dict[str, float]) -> dict[str, float]:
        for code, rate in value.items():
            if len(code) != 3 or not code.isalpha() or not code.isupper():
                raise ValueError(f"{code!r} is not an ISO 4217 code")
            if rate <= 0:
                raise ValueError(f"{code}: rate must be > 0, got {rate}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def to_reporting(self, amount: float, currency: str | None) -> tuple[float, bool]:
        """Convert ``amount`` to the reporting currency.

        Returns the converted amount and whether a configured rate was missing
        (the amount is then taken at face value, as the contract says).
        """
        if currency is None or currency == self.reporting_currency:
            return amount, False
        rate = self.currency_rates.get(currency)
        if rate is None:
            return amount, True
        return amount * rate, False


def rules_for_team(settings: Settings, team_id: str | None) -> RulesSettings:
    """The rules in force for a team: the global ones with the team's overrides."""
    team = settings.teams.get(team_id) if team_id else None
    return settings.rules.for_team(team.rules) if team is not None else settings.rules


def rule_fire_delays(settings: Settings) -> dict[tuple[str | None, str], float]:
    """Every rule's ``for`` (seconds), globally (team ``None``) and per configured team:
    how long after its ``started_at`` an alert can first be written, which the
    notifications need to tell news from old news."""
    delays: dict[tuple[str | None, str], float] = {}
    for team in [None, *settings.teams]:
        rules = rules_for_team(settings, team)
        for name in RulesSettings.model_fields:
            delays[(team, name)] = getattr(rules, name).for_seconds
    return delays


class SettingsError(ValueError):
    """A setting is malformed; the message names it and says what is allowed."""


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "(settings)"
        env = "SALESPULSE_" + "__".join(str(p).upper() for p in item["loc"])
        given = item.get("input")
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"setting {name} [{env}]: {item['msg']}{shown}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once; raise :class:`SettingsError` naming any bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def load_settings_file(path: Path, **overrides: Any) -> Settings:
    """Read the settings as :func:`load_settings` does, with the TOML file ``path`` in
    place of ``salespulse.toml`` (environment variables still take precedence).

    For commands that compare configurations (``salespulse backtest --against``);
    raise :class:`SettingsError` when the file is missing or a setting is bad.
    """
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"no such configuration file: {path}")

    class _FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
            return (init_settings, env_settings, toml)

    try:
        return _FromFile(**overrides)
    except ValidationError as error:
        raise SettingsError(f"{path}: {_describe(error)}") from None
    except ValueError as error:  # TOML syntax
        raise SettingsError(f"{path}: {error}") from None
