"""Configuration: one TOML file plus environment overrides, validated once.

Read at the edge (``load_settings``) into a frozen :class:`Settings` and passed
down; nothing below the command line reads ``os.environ``. Environment
variables override file values: ``VERZUIM_<SECTION>__<KEY>`` (for example
``VERZUIM_AMQP__URL``). Every key is documented in ``docs/configuration.md``;
a test fails when one is not.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from adapter.domain.calendar import (
    DEFAULT_LESSONS,
    DEFAULT_REGION,
    DEFAULT_SCHOOL_DAYS,
    MAX_LESSONS,
    CalendarError,
    Calendars,
    Holiday,
    SchoolCalendar,
    parse_lesson,
    parse_lessons,
    parse_weekday,
)
from adapter.domain.regions import RegionalAgreements
from adapter.errors import ConfigError

OIN_PATTERN = r"^[0-9A-Z]{20}$"
BRIN_PATTERN = r"^[0-9]{2}[A-Z0-9]{2}$"
DUO_OIN = "00000001800866472000"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _lesson_text(text: str) -> str:
    lesson = parse_lesson(text, 1)  # CalendarError is a ValueError: names the rule
    return f"{lesson.start:%H:%M}-{lesson.end:%H:%M}"


LessonText = Annotated[str, AfterValidator(_lesson_text)]
Weekday = Annotated[int, BeforeValidator(parse_weekday)]


class HolidaySettings(_Section):
    """One of the school's own days off (or periods), added to its region's holidays."""

    name: str = Field("vrije dag", min_length=1, max_length=80)
    first: date
    last: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> HolidaySettings:
        if self.last is not None and self.last < self.first:
            raise ValueError("last must not lie before first")
        return self

    def period(self) -> Holiday:
        return Holiday(self.name, self.first, self.last or self.first)


class SchoolSettings(_Section):
    brin: str = Field("00AA", pattern=BRIN_PATTERN)
    oin: str = Field("00000099000000000001", pattern=OIN_PATTERN)
    region: Literal["noord", "midden", "zuid", "none"] = DEFAULT_REGION
    holidays: tuple[HolidaySettings, ...] = ()
    lessons: Annotated[tuple[LessonText, ...], Field(min_length=1, max_length=MAX_LESSONS)
                       ] = DEFAULT_LESSONS
    school_days: Annotated[tuple[Weekday, ...], Field(min_length=1)] = DEFAULT_SCHOOL_DAYS

    @field_validator("lessons")
    @classmethod
    def _lessons_in_order(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            parse_lessons(value)
        except CalendarError as exc:
            # "index" lets the one-line error name the lesson: lessons[2]
            raise PydanticCustomError("lesson_order", exc.rule, {"index": exc.index}) from None
        return value

    def calendar(self) -> SchoolCalendar:
        """This school's calendar: region holidays (unless ``none``) plus its own."""
        return SchoolCalendar.build(
            region=None if self.region == "none" else self.region,
            holidays=[h.period() for h in self.holidays], lessons=self.lessons,
            school_days=self.school_days)


class DuoSettings(_Section):
    url: str = "https://127.0.0.1:8443/verzuim/v1"
    oin: str = Field(DUO_OIN, pattern=OIN_PATTERN)
    ca_bundle: Path = Path("pki/trust-bundle.pem")
    client_cert: Path = Path("pki/school.pem")
    client_key: Path | None = Path("pki/school-key.pem")
    key_passphrase_env: str | None = None
    key_passphrase_file: Path | None = None
    signing_cert: Path | None = None
    signing_key: Path | None = None
    sign_requests: bool = True
    verify_responses: bool = True
    signature_cert: Path = Path("pki/duo.pem")
    clock_skew_seconds: float = Field(300.0, ge=0)
    timestamp_ttl_seconds: float = Field(300.0, gt=0)
    sender_oin: str | None = Field(None, pattern=OIN_PATTERN)
    certificate_check_interval: float = Field(3600.0, gt=0)
    expiry_warning_days: tuple[int, ...] = (60, 30, 14, 7)
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    max_concurrency: int = Field(4, ge=1, le=64)
    worker_process: bool = False
    max_attempts: int = Field(8, ge=1)
    retry_base_seconds: float = Field(5.0, gt=0)
    retry_max_seconds: float = Field(600.0, gt=0)
    poll_interval: float = Field(30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _https_only(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL (two-way TLS is mandatory)")
        return value


class AmqpSettings(_Section):
    url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    heartbeat: int = Field(20, ge=1)
    blocked_connection_timeout: float = Field(60.0, gt=0)
    connect_timeout: float = Field(10.0, gt=0)
    prefetch: int = Field(100, ge=1, le=10000)
    delivery_limit: int = Field(20, ge=1)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    declare_topology: bool = True
    sis_exchange: str = "verzuim.sis"
    inbox_queue: str = "verzuim.adapter.inbox"
    adapter_exchange: str = "verzuim.adapter"
    dead_exchange: str = "verzuim.dead"
    dead_queue: str = "verzuim.adapter.dead"
    reconnect_max_seconds: float = Field(30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _amqp_scheme(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value


class StoreSettings(_Section):
    url: str = "sqlite:///verzuim.db"
    #: encryption at rest of personal data (adapter.store.crypto); "off" only on purpose.
    encryption: Literal["on", "off"] = "on"
    encryption_key_file: Path | None = None
    encryption_key_env: str | None = None
    #: the secret student keys are HMACs with (adapter.store.pseudonyms); never shown.
    student_key_secret: SecretStr | None = None
    student_key_secret_file: Path | None = None
    #: replicas on one PostgreSQL store (adapter.store.leases): how long a claim and the
    #: feedback poller's lease hold unless renewed; a dead replica's are taken over after.
    claim_lease_seconds: float = Field(60.0, gt=0)
    leader_lease_seconds: float = Field(15.0, gt=0)

    @field_validator("student_key_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # imported late: the configuration does not import the store
        from adapter.store.pseudonyms import MIN_SECRET_CHARS
        if value is not None and len(value.get_secret_value().strip()) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> StoreSettings:
        if self.encryption_key_file is not None and self.encryption_key_env is not None:
            raise ValueError("give encryption_key_file or encryption_key_env, not both")
        if self.student_key_secret is not None and self.student_key_secret_file is not None:
            raise ValueError("give student_key_secret or student_key_secret_file, not both")
        return self


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class HealthSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8081, ge=0, le=65535)


class AttachmentSettings(_Section):
    max_bytes: int = Field(5 * 1024 * 1024, ge=1, le=5 * 1024 * 1024)
    allowed: tuple[Literal["application/pdf", "image/png", "image/jpeg"], ...] = (
        "application/pdf", "image/png", "image/jpeg")


class RetentionSettings(_Section):
    enabled: bool = True
    years: int = Field(5, ge=1, le=100)
    duo_keeps_days: int = Field(730, ge=0, le=36500)

    def cutoffs(self, now: datetime) -> tuple[datetime, datetime]:
        """(end of the retention period, DUO's horizon) as seen at ``now``."""
        return (now - timedelta(days=round(365.25 * self.years)),
                now - timedelta(days=self.duo_keeps_days))


class SignalSettings(_Section):
    enabled: bool = True
    count: Literal["clock", "lessons"] = "clock"
    missing_einddatum_after_days: int = Field(28, ge=1, le=366)
    interval: float = Field(60.0, gt=0)


class RevocationSettings(_Section):
    """Revocation checks of our certificates and DUO's server certificate (adapter.pki.revocation)."""

    check: bool = True
    interval: float = Field(3600.0, gt=0)
    timeout: float = Field(10.0, gt=0)
    soft_fail: bool = True
    ocsp: bool = True


class MunicipalitySettings(_Section):
    """One municipality's regional agreement, by its CBS gemeentecode."""

    code: str
    v4: bool = True

    @field_validator("code")
    @classmethod
    def _cbs_code(cls, value: str) -> str:
        if not (len(value) == 4 and value.isascii() and value.isdigit()):
            raise ValueError("must be a CBS gemeentecode of 4 digits (e.g. \"0344\")")
        return value


class PluginSettings(_Section):
    enabled: tuple[str, ...] = ()
    config: dict[str, dict[str, Any]] = {}


class Settings(BaseSettings):
    """The whole configuration, frozen after validation."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="VERZUIM_", env_nested_delimiter="__",
    )

    school: SchoolSettings = SchoolSettings()
    schools: tuple[SchoolSettings, ...] = ()
    duo: DuoSettings = DuoSettings()
    amqp: AmqpSettings = AmqpSettings()
    store: StoreSettings = StoreSettings()
    logging: LoggingSettings = LoggingSettings()
    health: HealthSettings = HealthSettings()
    signals: SignalSettings = SignalSettings()
    retention: RetentionSettings = RetentionSettings()
    attachments: AttachmentSettings = AttachmentSettings()
    revocation: RevocationSettings = RevocationSettings()
    municipalities: tuple[MunicipalitySettings, ...] = ()
    plugins: PluginSettings = PluginSettings()

    @field_validator("municipalities")
    @classmethod
    def _one_entry_per_code(cls, value: tuple[MunicipalitySettings, ...]
                            ) -> tuple[MunicipalitySettings, ...]:
        seen: set[str] = set()
        for index, entry in enumerate(value):
            if entry.code in seen:
                raise PydanticCustomError("duplicate_code", "code listed twice",
                                          {"index": index, "field": "code"})
            seen.add(entry.code)
        return value

    def regional_agreements(self) -> RegionalAgreements:
        """The ``[[municipalities]]`` agreements as the store applies them."""
        return RegionalAgreements(no_v4=frozenset(m.code for m in self.municipalities
                                                  if not m.v4))

    @property
    def all_schools(self) -> tuple[SchoolSettings, ...]:
        """Every school this adapter sends for: ``schools`` (SaaS) or just ``school``."""
        return self.schools or (self.school,)

    def school_for(self, brin: str) -> SchoolSettings | None:
        """The configured school with this BRIN, or None when we do not serve it."""
        return next((s for s in self.all_schools if s.brin == brin), None)

    def school_calendars(self) -> Calendars:
        """The calendar of every school, by BRIN; ``[school]``'s for any other BRIN."""
        return Calendars({s.brin: s.calendar() for s in self.all_schools},
                         default=self.school.calendar())

    @property
    def certificate_oin(self) -> str:
        """The OIN our certificate must carry: the sender's (SaaS) or the school's."""
        return self.duo.sender_oin or self.school.oin

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file (passed as init values).
        return (env_settings, init_settings)


def _describe(error: Any) -> str:
    """``schools[1].lessons[2]: <rule>`` for pydantic's loc ``("schools", 1, "lessons", 2)``."""
    key = ""
    for part in error["loc"]:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    ctx = error.get("ctx") or {}
    index = ctx.get("index") if error["type"] in ("lesson_order", "duplicate_code") else None
    if isinstance(index, int):
        key += f"[{index}]"
    if error["type"] == "duplicate_code":
        key += f".{ctx['field']}"
    # pydantic's "msg" never echoes the input; "input" is deliberately left out.
    return f"{key}: {error['msg']}"


def load_settings(path: Path | None, *, overrides: dict[str, Any] | None = None) -> Settings:
    """Read ``path`` (TOML) and the environment into :class:`Settings`.

    Relative paths in the file are resolved against the file's directory.
    Raises :class:`ConfigError` with one line naming the first bad key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"invalid configuration: {_describe(errors[0])}{more}") from None
    if path is not None:
        settings = _resolve_paths(settings, Path(path).resolve().parent)
    return settings


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def fix(section: BaseModel) -> BaseModel:
        updates = {name: base / value for name, value in section
                   if isinstance(value, Path) and not value.is_absolute()}
        return section.model_copy(update=updates) if updates else section

    store = settings.store
    if store.url.startswith("sqlite:///") and not store.url.startswith("sqlite:////"):
        relative = store.url[len("sqlite:///"):]
        if relative and relative != ":memory:":
            store = store.model_copy(update={"url": f"sqlite:///{base / relative}"})
    store = fix(store)  # type: ignore[assignment]
    return settings.model_copy(update={
        "duo": fix(settings.duo), "amqp": fix(settings.amqp), "store": store,
    })
